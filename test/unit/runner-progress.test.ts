import { describe, expect, it } from 'vitest';
import type { HiveEvent } from '../../src/lib/events.js';
import { formatDuration, JsonReporter, makeReporter, PlainReporter, recapTable, TtyReporter } from '../../src/runner/progress.js';

const t = '2025-01-01T00:00:00.000Z';
const stats = {
  'p-hive0.demo': { ok: 3, changed: 1, failed: 1, unreachable: 0, skipped: 2 },
  'p-hive1.demo': { ok: 4, changed: 0, failed: 0, unreachable: 0, skipped: 0 },
};
const run: HiveEvent[] = [
  { event: 'phase_start', phase: 'setup-hosts', stage: 'private', time: t },
  { event: 'task_start', task: 'base : install packages', time: t },
  { event: 'host_start', host: 'p-hive0.demo', task: 'base : install packages', time: t },
  { event: 'host_result', host: 'p-hive1.demo', task: 'base : install packages', status: 'ok', time: t },
  { event: 'host_result', host: 'p-hive0.demo', task: 'base : install packages', status: 'failed', msg: 'No package matching "nope"\nsecond line', time: t },
  { event: 'host_result', host: 'p-hive0.demo', task: 'base : install packages', status: 'failed', ignored: true, msg: 'ignored one', time: t },
  { event: 'task_silent', task: 'base : wait', hosts: ['p-hive1.demo'], seconds: 300, time: t },
  { event: 'warning', msg: 'be careful', time: t },
  {
    event: 'phase_end',
    phase: 'setup-hosts',
    stage: 'private',
    ok: false,
    rc: 2,
    stats,
    duration: 75.2,
    failed: [{ host: 'p-hive0.demo', task: 'base : install packages', msg: 'No package matching "nope"\nsecond line' }],
    time: t,
  },
];

class Capture {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns = 120,
  ) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

describe('recap table', () => {
  it('has one aligned row per host, no colour unless asked', () => {
    expect(recapTable(stats)).toBe(
      [
        'host          ok  changed  failed  unreachable  skipped',
        'p-hive0.demo   3        1       1            0        2',
        'p-hive1.demo   4        0       0            0        0',
        '',
      ].join('\n'),
    );
  });
});

describe('reporters', () => {
  it('--json prints exactly the events, one per line', () => {
    const out = new Capture(true);
    const r = makeReporter({ json: true }, out);
    expect(r).toBeInstanceOf(JsonReporter);
    run.forEach((e) => r.emit(e));
    expect(out.text.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(run);
  });

  it('without a terminal: one plain line per task and per failure, then the recap and the failures', () => {
    const out = new Capture(false);
    const r = makeReporter({}, out);
    expect(r).toBeInstanceOf(PlainReporter);
    run.forEach((e) => r.emit(e));
    expect(out.text).not.toMatch(ANSI);
    expect(out.text).toContain('[setup-hosts] TASK base : install packages\n');
    expect(out.text).toContain('[setup-hosts] FAILED p-hive0.demo | base : install packages | No package matching "nope"');
    expect(out.text).not.toContain('ignored one');
    expect(out.text).not.toContain('p-hive1.demo | base : install packages'); // ok results stay quiet
    expect(out.text).toContain('SILENT for 300s | base : wait | still waiting for: p-hive1.demo');
    expect(out.text).toContain('WARNING be careful');
    expect(out.text).toContain('== setup-hosts FAILED (rc 2) in 1m15s\n' + recapTable(stats));
    expect(out.text).toContain('Failed:\n  p-hive0.demo | base : install packages | No package matching "nope"\n      second line\n');
  });

  it('on a terminal: a live line, then a coloured recap naming the failure', () => {
    const out = new Capture(true, 80);
    const r = makeReporter({}, out);
    expect(r).toBeInstanceOf(TtyReporter);
    run.forEach((e) => r.emit(e));
    expect(out.text).toMatch(ANSI);
    const plain = out.text.replace(ANSI, '');
    expect(plain).toContain('setup-hosts │ base : install packages │ 1/2 hosts │');
    expect(plain).toContain('✖ failed p-hive0.demo | base : install packages | No package matching "nope"');
    expect(plain).toContain('⏳ base : wait: silent for 300s, still waiting for p-hive1.demo');
    expect(plain).toContain('✖ setup-hosts failed (rc 2) in 1m15s\n' + recapTable(stats));
    expect(plain).toContain('Failed:\n  p-hive0.demo | base : install packages | No package matching "nope"');
  });

  it('formats durations', () => {
    expect(formatDuration(4.25)).toBe('4.3s');
    expect(formatDuration(62)).toBe('1m02s');
    expect(formatDuration(3725)).toBe('1h02m05s');
  });
});
