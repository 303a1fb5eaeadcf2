import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { acquireStageLock, LockHeldError } from '../../src/runner/lock.js';
import { lockPath, stageDir } from '../fixtures/stage-dirs.js';


/** A pid no process can have: one above the kernel's limit. */
const deadPid = () => Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;

describe('stage lock', () => {
  it('writes pid, command and start time (file 0600), and empties the file on release', () => {
    const dir = stageDir();
    const lock = acquireStageLock(dir, 'hive run --phase setup-hosts');
    const info = JSON.parse(readFileSync(lockPath(dir), 'utf8'));
    expect(info).toMatchObject({ pid: process.pid, command: 'hive run --phase setup-hosts', host: hostname() });
    expect(Date.parse(info.started)).toBeGreaterThan(Date.now() - 60_000);
    expect(statSync(lockPath(dir)).mode & 0o777).toBe(0o600);
    lock.release();
    // the file stays (every process must flock the same inode) but names nobody
    expect(readFileSync(lockPath(dir), 'utf8')).toBe('');
    const again = acquireStageLock(dir);
    expect(again.takenOver).toBeUndefined();
    again.release();
  });

  it('refuses a second holder while the first runs, naming pid, command and start time', () => {
    const dir = stageDir();
    const first = acquireStageLock(dir, 'hive all');
    let err: unknown;
    try {
      acquireStageLock(dir, 'hive run --phase build-infra');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LockHeldError);
    const held = err as LockHeldError;
    expect(held.name).toBe('LockHeldError');
    expect(held.exitCode).toBe(3);
    expect(held.pid).toBe(process.pid);
    expect(held.message).toContain(`pid ${process.pid}`);
    expect(held.message).toContain('"hive all"');
    expect(held.message).toContain(JSON.parse(readFileSync(lockPath(dir), 'utf8')).started);
    first.release();
    acquireStageLock(dir).release();
  });

  it('takes over a stale lock left by a dead process and says whose it was', () => {
    const dir = stageDir();
    const pid = deadPid();
    acquireStageLock(dir).release(); // makes the folder
    writeFileSync(lockPath(dir), JSON.stringify({ pid, command: 'hive all', started: '2020-01-01T00:00:00.000Z', host: hostname(), token: 'x' }));
    const lock = acquireStageLock(dir, 'hive setup-hosts');
    expect(lock.takenOver).toMatchObject({ pid, command: 'hive all' });
    expect(JSON.parse(readFileSync(lockPath(dir), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('treats a recycled pid (another process start time) as stale', () => {
    const dir = stageDir();
    acquireStageLock(dir).release();
    // our own pid, but a start time that is not ours: the holder is gone, the pid reused
    writeFileSync(lockPath(dir), JSON.stringify({ pid: process.pid, command: 'old', started: 'x', host: hostname(), pidStart: '1', token: 'y' }));
    const lock = acquireStageLock(dir);
    expect(lock.takenOver?.command).toBe('old');
    lock.release();
  });

  it('release leaves a lock that someone else took in the meantime', () => {
    const dir = stageDir();
    const lock = acquireStageLock(dir);
    writeFileSync(lockPath(dir), JSON.stringify({ pid: 1, command: 'other', started: 'x', host: hostname(), token: 'other' }));
    lock.release();
    expect(existsSync(lockPath(dir))).toBe(true);
  });
});
