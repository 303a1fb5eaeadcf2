// Failures of a provider that the user can act on: the CLI prints the message (one line,
// naming the resource and what to do) and exits with exitCode. No stack trace.
export class ProviderError extends Error {
  /** 1: the infrastructure failed; 2: the inventory asks for something impossible (nothing was run). */
  exitCode = 1;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    if (options?.exitCode !== undefined) this.exitCode = options.exitCode;
  }
}
