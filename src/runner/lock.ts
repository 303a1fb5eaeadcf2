// One hive run per stage at a time, with flock(2) on the persistent file `.hive/<stage>/lock`.
//
// Protocol (why it is race-free): the lock file is never removed, so every process locks the same
// inode. A process opens it and has util-linux `flock -n 3` lock that open file description: the
// child inherits the descriptor as its fd 3 and exits, but a flock belongs to the open file
// description, so the lock stays with our descriptor until we close it or die (the kernel closes
// it on kill -9 too). The kernel grants it to exactly one process; there is no read-then-remove
// window in which two takers of a stale lock could both win. Only the holder writes the file: it
// names the holder (pid, command, start time) for the message of the others, and release empties
// it. A file that still names a process when we get the lock was left by a run that died: that is
// the stale lock we took over (reported as takenOver). A file naming a live process although the
// flock was free comes from an older hive (which locked by the file's existence) or another host:
// it is respected.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { HiveError } from '../lib/errors.js';
import { ensureStateDir, STATE_FILE_MODE } from '../state/files.js';
import { StageDir } from '../state/stage-dir.js';

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

export class LockHeldError extends HiveError {
  constructor(
    readonly lockPath: string,
    readonly holder: LockInfo,
  ) {
    super(
      `another hive run holds ${lockPath}: pid ${holder.pid}` +
        (holder.host !== hostname() ? ` on ${holder.host}` : '') +
        `, command "${holder.command}", started ${holder.started}`,
      3,
    );
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

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** flock(LOCK_EX|LOCK_NB) on the open file description of `fd`: true when granted. */
function tryFlock(fd: number, path: string): boolean {
  const r = spawnSync('flock', ['--nonblock', '--conflict-exit-code', '75', '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
    encoding: 'utf8',
  });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(`cannot lock ${path}: ${missing ? 'the flock command (util-linux) is not installed' : r.error.message}`);
  }
  if (r.status === 0) return true;
  if (r.status === 75) return false;
  throw new Error(`cannot lock ${path}: flock exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim()}`);
}

/** The holder named in the file while another process has the flock (it may not have written yet). */
function currentHolder(path: string): LockInfo {
  let info: LockInfo | undefined;
  for (let i = 0; i < 40; i++) {
    info = readLock(path);
    if (info && holderAlive(info)) return info;
    sleep(25);
  }
  return info ?? { pid: 0, command: '(not yet written)', started: '?', host: hostname(), token: '' };
}

/** Takes the stage lock or throws LockHeldError (exit code 3). */
export function acquireStageLock(stageDir: string, command: string = process.argv.slice(1).join(' ')): StageLock {
  ensureStateDir(stageDir);
  const path = new StageDir(stageDir).lock;
  // created when missing, never truncated on open: what the holder wrote stays readable
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, STATE_FILE_MODE);
  try {
    if (!tryFlock(fd, path)) throw new LockHeldError(path, currentHolder(path));
    const text = readFileSync(path, 'utf8');
    const left = readLock(path);
    if (left && holderAlive(left)) throw new LockHeldError(path, left); // older hive or another host
    const mine: LockInfo = {
      pid: process.pid,
      command,
      started: new Date().toISOString(),
      host: hostname(),
      pidStart: procStart(process.pid),
      token: randomBytes(8).toString('hex'),
    };
    ftruncateSync(fd, 0);
    writeSync(fd, JSON.stringify(mine, null, 2) + '\n', 0);
    // a name left in the file: its run died holding the lock (or crashed while an old hive wrote it)
    const takenOver: LockInfo | undefined =
      left ?? (text.trim() ? { pid: 0, command: '(unreadable lock file)', started: '?', host: hostname(), token: '' } : undefined);
    let released = false;
    return {
      path,
      ...(takenOver ? { takenOver } : {}),
      release() {
        if (released) return;
        released = true;
        try {
          // empty means free and cleanly released; leave a file someone else wrote (old hive)
          if (readLock(path)?.token === mine.token) ftruncateSync(fd, 0);
        } finally {
          closeSync(fd); // drops the flock
        }
      },
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
