import { HiveError } from '../errors.js';

export class UsageError extends HiveError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** The exit code of an error that ends a command: hive's own carry it, anything else is 1. */
export function exitCodeFor(err: unknown): number {
  return err instanceof HiveError ? err.exitCode : 1;
}
