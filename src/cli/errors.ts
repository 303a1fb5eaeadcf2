// Exit codes: 0 success, 1 a phase or provider failed, 2 bad input or usage,
// 3 another hive run holds the stage's lock.

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeFor(err: unknown): number {
  const e = err as { name?: string; exitCode?: unknown; problems?: unknown } | undefined;
  if (!e) return 1;
  if (Array.isArray(e.problems)) return 2; // InventoryError
  if (e.name === 'LockHeldError') return 3;
  if (typeof e.exitCode === 'number') return e.exitCode;
  return 1;
}
