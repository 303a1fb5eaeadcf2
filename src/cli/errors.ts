import { HiveError } from '../lib/errors.js';

/** The exit code of an error that ends a command: hive's own carry it, anything else is 1. */
export function exitCodeFor(err: unknown): number {
  return err instanceof HiveError ? err.exitCode : 1;
}
