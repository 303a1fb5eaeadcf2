// Following a phase's events: the current task, which hosts are still busy with it, tallies and
// failures, the watchdog for silent tasks, and parsing the callback's event lines.
import { now, type HiveEvent, type HostStats } from '../lib/events.js';

/** Prefix of the callback's event lines (callback_plugins/hive_events.py). */
export const EVENT_MARKER = '@@HIVE@@ ';

/** Callback events passed on unchanged; `stats` is folded into phase_end, the rest dropped. */
export const FORWARDED = new Set(['play_start', 'task_start', 'host_start', 'host_result', 'retry', 'include', 'async_poll', 'warning']);

const emptyStats = (): HostStats => ({ ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 });

/** Follows the events of one phase: current task, hosts still busy with it, tallies, failures. */
export class PhaseTracker {
  task = '';
  readonly running = new Set<string>();
  readonly failed: { host: string; task: string; msg?: string }[] = [];
  /** Counted from host_result events (providers, or ansible when it printed no stats). */
  readonly tally: Record<string, HostStats> = {};

  update(e: HiveEvent): void {
    if (e.event === 'task_start') {
      this.task = e.task;
      this.running.clear();
    } else if (e.event === 'host_start') {
      this.running.add(e.host);
    } else if (e.event === 'host_result' && e.item === undefined) {
      this.running.delete(e.host);
      const s = (this.tally[e.host] ??= emptyStats());
      // Ansible's own counting: a changed result is also ok; an ignored failure is ok
      if (e.status === 'ok' || e.status === 'changed' || (e.status === 'failed' && e.ignored)) s.ok++;
      if (e.status === 'changed') s.changed++;
      if (e.status === 'failed' && !e.ignored) s.failed++;
      if (e.status === 'unreachable') s.unreachable++;
      if (e.status === 'skipped') s.skipped++;
      if ((e.status === 'failed' && !e.ignored) || e.status === 'unreachable') {
        this.failed.push({ host: e.host, task: e.task, ...(e.msg ? { msg: e.msg } : {}) });
      }
    }
  }
}

/** Emits task_silent when nothing happened for `seconds`, then again every `seconds`. */
export class Watchdog {
  private lastEvent = Date.now();
  private lastReport = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly seconds: number,
    private readonly tracker: PhaseTracker,
    private readonly emit: (e: HiveEvent) => void,
  ) {}

  touch(): void {
    this.lastEvent = this.lastReport = Date.now();
  }

  start(): void {
    const periodMs = Math.min(1000, (this.seconds * 1000) / 4);
    this.touch();
    this.timer = setInterval(() => this.check(), periodMs);
    this.timer.unref();
  }

  check(at = Date.now()): void {
    if (at - this.lastReport < this.seconds * 1000) return;
    this.lastReport = at;
    this.emit({
      event: 'task_silent',
      task: this.tracker.task || '(starting)',
      hosts: [...this.tracker.running].sort(),
      seconds: Math.round((at - this.lastEvent) / 1000),
      time: now(),
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The callback's counters → HostStats (rescued/ignored are already inside ok). */
export function statsFromCallback(raw: unknown): Record<string, HostStats> {
  const out: Record<string, HostStats> = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const [host, v] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    const n = (k: string) => (typeof v?.[k] === 'number' ? (v[k] as number) : 0);
    out[host] = { ok: n('ok'), changed: n('changed'), failed: n('failed'), unreachable: n('unreachable'), skipped: n('skipped') };
  }
  return out;
}

const STAT_KEYS = ['ok', 'changed', 'failed', 'unreachable', 'skipped'] as const;

/** a + sign * b, per host; hosts left with all zeros are dropped only when subtracting. */
export function combineStats(a: Record<string, HostStats>, b: Record<string, HostStats>, sign = 1): Record<string, HostStats> {
  const out: Record<string, HostStats> = {};
  for (const [host, s] of Object.entries(a)) out[host] = { ...s };
  for (const [host, s] of Object.entries(b)) {
    const t = (out[host] ??= emptyStats());
    for (const k of STAT_KEYS) t[k] += sign * s[k];
  }
  if (sign < 0) {
    for (const [host, s] of Object.entries(out)) if (STAT_KEYS.every((k) => s[k] === 0)) delete out[host];
  }
  return out;
}

/** Parses one line of the callback's output; undefined for anything that is not an event. */
export function parseEventLine(line: string): Record<string, unknown> | undefined {
  const at = line.indexOf(EVENT_MARKER);
  if (at < 0) return undefined;
  try {
    const value = JSON.parse(line.slice(at + EVENT_MARKER.length)) as unknown;
    if (value && typeof value === 'object' && typeof (value as { event?: unknown }).event === 'string') {
      return value as Record<string, unknown>;
    }
  } catch {
    // a torn or foreign line: skip it
  }
  return undefined;
}
