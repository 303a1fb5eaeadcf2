// callback_plugins/hive_events.py on its own, with the real ansible-playbook: the events a
// stock JSON callback lacks (handlers, includes, retries, loop items), and clean Python.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseEventLine } from '../../src/runner/tracking.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const plugin = join(repo, 'callback_plugins/hive_events.py');
// Ansible's own interpreter (Debian's python3 with the ansible package)
const python = '/usr/bin/python3';
const hasFlake8 = (await execa(python, ['-m', 'flake8', '--version'], { reject: false })).exitCode === 0;

describe('hive_events callback', () => {
  it('reports handlers, includes, retries and loop items, on stdout when no events fd is given', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hive-cb-'));
    try {
      const r = await execa('ansible-playbook', ['-i', 'localhost,', join(repo, 'test/fixtures/runner/callback-events.yml')], {
        env: {
          ANSIBLE_STDOUT_CALLBACK: 'hive_events',
          ANSIBLE_CALLBACK_PLUGINS: join(repo, 'callback_plugins'),
          ANSIBLE_RETRY_FILES_ENABLED: '0',
          HIVE_TEST_COUNTER: join(tmp, 'counter'),
          HIVE_EVENTS_FD: '',
        },
        reject: false,
      });
      expect(r.exitCode, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      const events = lines.map(parseEventLine).filter((e) => e !== undefined);
      expect(events.length).toBe(lines.filter((l) => l.trim()).length); // stdout holds nothing else
      const kinds = new Set(events.map((e) => e.event));
      for (const k of ['playbook_start', 'play_start', 'task_start', 'host_start', 'host_result', 'include', 'retry', 'stats']) expect(kinds).toContain(k);

      expect(events.find((e) => e.event === 'task_start' && e.kind === 'handler')).toMatchObject({ task: 'Handle it' });
      expect(events.find((e) => e.event === 'include')).toMatchObject({ hosts: ['localhost'], file: expect.stringMatching(/callback-included\.yml$/) });
      expect(events.filter((e) => e.event === 'retry').map((e) => e.attempt)).toEqual([1, 2]);
      const items = events.filter((e) => e.event === 'host_result' && e.task === 'Loop with a failing item');
      expect(items.map((e) => [e.item, e.status, e.ignored])).toEqual([
        ['good', 'ok', undefined],
        ['bad', 'failed', undefined],
        [undefined, 'failed', true],
      ]);
      expect(events.find((e) => e.event === 'host_result' && e.task === 'Warn' && e.item)).toMatchObject({ item: 'label-one', msg: 'one' });
      expect(events.at(-1)).toMatchObject({
        event: 'stats',
        stats: { localhost: { ok: 7, changed: 1, failed: 0, unreachable: 0, skipped: 0, ignored: 1 } },
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('compiles with Ansible\'s Python', async () => {
    expect(existsSync(plugin)).toBe(true);
    const r = await execa(python, ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', plugin], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it.skipIf(!hasFlake8)('is flake8-clean', async () => {
    const r = await execa(python, ['-m', 'flake8', plugin], { reject: false });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
