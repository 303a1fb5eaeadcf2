// The stage lock between real processes (node children racing for one stale lock, a holder
// killed with -9). The lock's logic in one process is in test/unit/runner-lock.test.ts.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireStageLock } from '../../src/runner/lock.js';
import { lockPath, stageDir } from '../fixtures/stage-dirs.js';


/** A pid that surely does not run any more: a finished child's. */
const deadPid = () => spawnSync('true').pid!;

// Real processes racing for one stale lock: the sources are transpiled as they are (no build
// needed) and each child takes the lock at the same agreed instant.
describe('stage lock between processes', () => {
  const repo = resolve(__dirname, '../..');
  let modDir: string;
  beforeAll(() => {
    // not in `dirs`: afterEach would remove the transpiled module before the next test
    modDir = mkdtempSync(join(tmpdir(), 'hive-lock-mod-'));
    writeFileSync(join(modDir, 'package.json'), '{"type":"module"}');
    execFileSync(
      join(repo, 'node_modules/.bin/tsc'),
      ['--ignoreConfig', '--outDir', modDir, '--rootDir', join(repo, 'src'), '--module', 'nodenext', '--moduleResolution', 'nodenext',
        '--target', 'es2022', '--skipLibCheck', '--types', 'node', join(repo, 'src/runner/lock.ts')],
      { cwd: repo, stdio: 'inherit' },
    );
  });

  afterAll(() => rmSync(modDir, { recursive: true, force: true }));

  /** Child: waits for `at`, takes the lock, prints the outcome, holds a winning lock until stdin closes. */
  const child = `
    const { acquireStageLock } = await import(process.argv[1]);
    const [dir, at] = [process.argv[2], Number(process.argv[3])];
    while (Date.now() < at) {}
    try {
      const lock = acquireStageLock(dir, 'racer ' + process.pid);
      console.log(JSON.stringify({ won: process.pid, takenOver: lock.takenOver?.pid ?? null }));
      process.stdin.resume();
      process.stdin.on('end', () => { lock.release(); process.exit(0); });
    } catch (e) {
      console.log(JSON.stringify({ lost: process.pid, exitCode: e.exitCode, holder: e.holder?.pid, message: e.message }));
      process.exit(0);
    }`;

  const race = (dir: string, n: number) => {
    const at = Date.now() + 1500; // after every child has started
    const kids = Array.from({ length: n }, () =>
      spawn('node', ['--input-type=module', '-e', child, join(modDir, 'runner/lock.js'), dir, String(at)], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    return Promise.all(
      kids.map(
        (k) =>
          new Promise<{ won?: number; lost?: number; exitCode?: number; holder?: number; takenOver?: number | null; message?: string }>((ok) => {
            let out = '';
            k.stdout.on('data', (d) => {
              out += d;
              if (out.includes('\n')) ok(JSON.parse(out));
            });
          }),
      ),
    ).then((results) => {
      // every child has answered while the winner still holds the lock: now let it go
      for (const k of kids) k.stdin.end();
      return Promise.all(kids.map((k) => new Promise((ok) => (k.exitCode !== null ? ok(null) : k.on('exit', ok))))).then(() => results);
    });
  };

  it('exactly one of 8 processes taking over the same stale lock wins, each round', async () => {
    const dir = stageDir();
    acquireStageLock(dir).release();
    for (let round = 0; round < 5; round++) {
      const dead = deadPid();
      writeFileSync(lockPath(dir), JSON.stringify({ pid: dead, command: 'hive all', started: '2020-01-01T00:00:00.000Z', host: hostname(), token: `r${round}` }));
      const results = await race(dir, 8);
      const winners = results.filter((r) => r.won);
      expect(winners, `round ${round}: ${JSON.stringify(results)}`).toHaveLength(1);
      expect(winners[0]!.takenOver).toBe(dead);
      for (const r of results.filter((r) => r.lost)) {
        expect(r.exitCode).toBe(3);
        expect(r.holder).toBe(winners[0]!.won);
        expect(r.message).toContain(`"racer ${winners[0]!.won}"`);
      }
      // the winner released cleanly: the next run takes a free lock, not a stale one
      const next = acquireStageLock(dir);
      expect(next.takenOver).toBeUndefined();
      next.release();
    }
  }, 60_000);

  it('a lock of a process killed with -9 is free for the next run', async () => {
    const dir = stageDir();
    const [r] = await new Promise<any[]>((ok) => {
      const k = spawn('node', ['--input-type=module', '-e', child, join(modDir, 'runner/lock.js'), dir, '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
      k.stdout.once('data', (d) => {
        k.kill('SIGKILL');
        k.on('exit', () => ok([JSON.parse(String(d))]));
      });
    });
    const lock = acquireStageLock(dir, 'hive all');
    expect(lock.takenOver?.pid).toBe(r.won);
    lock.release();
  });
});
