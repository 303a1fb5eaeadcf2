// The one base class of the errors hive reports to the user: the CLI prints the message and
// exits with exitCode (0 success, 1 a phase or provider failed, 2 bad input or usage, 3 another
// hive run holds the stage's lock). Leaf module: imports nothing of hive.
export class HiveError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line or a request that cannot be met: nothing was run (exit 2). */
export class UsageError extends HiveError {
  constructor(message: string) {
    super(message, 2);
  }
}
