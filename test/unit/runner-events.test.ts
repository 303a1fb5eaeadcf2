import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HiveEvent } from '../../src/lib/events.js';
import { knownSecrets, MASK, redactEvent } from '../../src/model/secrets.js';
import { combineStats, parseEventLine, PhaseTracker, Watchdog } from '../../src/runner/tracking.js';
import { fixtureSite } from '../fixtures/runner/site.js';

const t = '2025-01-01T00:00:00.000Z';

describe('parseEventLine', () => {
  it('reads marked JSON lines and skips everything else without throwing', () => {
    expect(parseEventLine('@@HIVE@@ {"event":"task_start","task":"x","time":"t"}')).toEqual({ event: 'task_start', task: 'x', time: 't' });
    expect(parseEventLine('[WARNING]: something')).toBeUndefined();
    expect(parseEventLine('{"event":"task_start"}')).toBeUndefined(); // no marker: not ours
    expect(parseEventLine('@@HIVE@@ {"event":"task_st')).toBeUndefined(); // torn
    expect(parseEventLine('@@HIVE@@ [1,2]')).toBeUndefined();
    expect(parseEventLine('@@HIVE@@ {"no_event":1}')).toBeUndefined();
    expect(parseEventLine('')).toBeUndefined();
  });
});

describe('PhaseTracker', () => {
  it('knows the running hosts, counts like Ansible and lists real failures only', () => {
    const tr = new PhaseTracker();
    const events: HiveEvent[] = [
      { event: 'task_start', task: 'one', time: t },
      { event: 'host_start', host: 'a', task: 'one', time: t },
      { event: 'host_start', host: 'b', task: 'one', time: t },
      { event: 'host_result', host: 'a', task: 'one', status: 'changed', time: t },
      { event: 'host_result', host: 'b', task: 'one', status: 'ok', item: 'x', time: t },
    ];
    events.forEach((e) => tr.update(e));
    expect([...tr.running]).toEqual(['b']); // an item result does not finish the task
    tr.update({ event: 'host_result', host: 'b', task: 'one', status: 'failed', ignored: true, time: t });
    tr.update({ event: 'task_start', task: 'two', time: t });
    tr.update({ event: 'host_result', host: 'a', task: 'two', status: 'failed', msg: 'boom', time: t });
    tr.update({ event: 'host_result', host: 'b', task: 'two', status: 'unreachable', msg: 'no route', time: t });
    expect(tr.tally).toEqual({
      a: { ok: 1, changed: 1, failed: 1, unreachable: 0, skipped: 0 },
      b: { ok: 1, changed: 0, failed: 0, unreachable: 1, skipped: 0 },
    });
    expect(tr.failed).toEqual([
      { host: 'a', task: 'two', msg: 'boom' },
      { host: 'b', task: 'two', msg: 'no route' },
    ]);
  });

  it('combineStats adds and subtracts per host', () => {
    const a = { h: { ok: 2, changed: 1, failed: 0, unreachable: 0, skipped: 1 } };
    const b = { h: { ok: 1, changed: 1, failed: 0, unreachable: 0, skipped: 1 }, g: { ok: 1, changed: 0, failed: 0, unreachable: 0, skipped: 0 } };
    expect(combineStats(a, b)).toEqual({ h: { ok: 3, changed: 2, failed: 0, unreachable: 0, skipped: 2 }, g: b.g });
    expect(combineStats(a, { h: a.h }, -1)).toEqual({});
  });
});

describe('Watchdog', () => {
  it('reports the silent task with the hosts still running, then again after the same time', () => {
    const tr = new PhaseTracker();
    tr.update({ event: 'task_start', task: 'wait for it', time: t });
    tr.update({ event: 'host_start', host: 'h2', task: 'wait for it', time: t });
    tr.update({ event: 'host_start', host: 'h1', task: 'wait for it', time: t });
    const seen: HiveEvent[] = [];
    const dog = new Watchdog(2, tr, (e) => seen.push(e));
    dog.touch();
    const start = Date.now();
    dog.check(start + 1000);
    expect(seen).toHaveLength(0);
    dog.check(start + 2100);
    dog.check(start + 3000);
    dog.check(start + 4200);
    expect(seen.map((e) => e.event === 'task_silent' && [e.task, e.hosts, e.seconds])).toEqual([
      ['wait for it', ['h1', 'h2'], 2],
      ['wait for it', ['h1', 'h2'], 4],
    ]);
  });
});

describe('redaction', () => {
  it('masks the registry password and password-like inventory values, drops secret keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hive-redact-'));
    try {
      writeFileSync(join(dir, 'registry_password'), 'Reg1stryPw\n');
      const site = fixtureSite();
      site.stages.private!.hosts[0].vars.hive_root_password = 'R00tPassw0rd';
      site.services[0].vars.hive_environment = { DB_PASSWORD: 'DbSecret99', MODE: 'prod' };
      const secrets = knownSecrets(site, 'private', dir, { api_token: 'Tok3nValue', plain: 'not-a-secret' });
      expect(secrets.sort()).toEqual(['DbSecret99', 'R00tPassw0rd', 'Reg1stryPw', 'Tok3nValue']);
      const e = redactEvent(
        { event: 'host_result', host: 'h', task: 'login', status: 'failed', msg: 'login with Reg1stryPw and DbSecret99 failed', time: t },
        secrets,
      );
      expect(e.event === 'host_result' && e.msg).toBe(`login with ${MASK} and ${MASK} failed`);
      const odd = redactEvent({ event: 'warning', msg: 'x', time: t, password: 'p' } as unknown as HiveEvent, secrets);
      expect(odd).not.toHaveProperty('password');
      // host names in stats are kept even if they look like secret keys
      const end = redactEvent(
        { event: 'phase_end', phase: 'p', stage: 's', ok: true, rc: 0, duration: 1, time: t, stats: { 'token-host': { ok: 1, changed: 0, failed: 0, unreachable: 0, skipped: 0 } } },
        secrets,
      );
      expect(end.event === 'phase_end' && Object.keys(end.stats)).toEqual(['token-host']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
