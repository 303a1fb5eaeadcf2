// One hive run per stage at a time: `.hive/<stage>/lock` names the holder (pid, command line,
// start time). A lock whose process is gone (crash, kill -9) is stale and taken over.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface LockInfo {
  pid: number;
  command: string;
  /** ISO time the holder took the lock. */
  started: string;
  host: string;
  /** Kernel start time of the holder (from /proc), so a recycled pid is not mistaken for it. */
  pidStart?: string;
  token: string;
}

export class LockHeldError extends Error {
  readonly exitCode = 3;
  constructor(
    readonly lockPath: string,
    readonly holder: LockInfo,
  ) {
    super(
      `another hive run holds ${lockPath}: pid ${holder.pid}` +
        (holder.host !== hostname() ? ` on ${holder.host}` : '') +
        `, command "${holder.command}", started ${holder.started}`,
    );
    this.name = 'LockHeldError';
  }
  get pid(): number {
    return this.holder.pid;
  }
}

export interface StageLock {
  path: string;
  /** The stale holder this lock was taken over from, if any. */
  takenOver?: LockInfo;
  release(): void;
}

export const lockPath = (stageDir: string) => join(stageDir, 'lock');

/** Field 22 of /proc/<pid>/stat: the process start time in clock ticks since boot. */
function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `info` still runs (true when that cannot be known). */
export function holderAlive(info: LockInfo): boolean {
  if (info.host !== hostname()) return true; // a lock from another machine (shared folder): respect it
  if (!Number.isInteger(info.pid) || info.pid <= 0) return false;
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = procStart(info.pid);
  return !(info.pidStart && start && start !== info.pidStart);
}

function readLock(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof info?.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the stage lock or throws LockHeldError. The lock file is created complete and atomically
 * (written aside, then hard-linked into place, which fails if the name exists).
 */
export function acquireStageLock(stageDir: string, command: string = process.argv.slice(1).join(' ')): StageLock {
  mkdirSync(stageDir, { recursive: true, mode: 0o700 });
  const path = lockPath(stageDir);
  const mine: LockInfo = {
    pid: process.pid,
    command,
    started: new Date().toISOString(),
    host: hostname(),
    pidStart: procStart(process.pid),
    token: randomBytes(8).toString('hex'),
  };
  const tmp = `${path}.${process.pid}.${mine.token}`;
  writeFileSync(tmp, JSON.stringify(mine, null, 2) + '\n', { mode: 0o644 });
  let takenOver: LockInfo | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const holder = readLock(path);
      if (holder && holderAlive(holder)) throw new LockHeldError(path, holder);
      // stale (dead holder) or unreadable (a crash while writing an old-style lock): take it over
      takenOver = holder ?? { pid: 0, command: '(unreadable lock file)', started: '?', host: hostname(), token: '' };
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  return {
    path,
    takenOver,
    release() {
      if (readLock(path)?.token === mine.token) rmSync(path, { force: true });
    },
  };
}
