import { HiveError } from '../lib/errors.js';

// Failures of a provider that the user can act on: the CLI prints the message (one line,
// naming the resource and what to do) and exits with exitCode. No stack trace.
export class ProviderError extends HiveError {
  /** exitCode 1 (default): the infrastructure failed; 2: the inventory asks for something impossible (nothing was run). */
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.exitCode ?? 1, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
