// What the user sees of a run. Three reporters over the same events:
// --json: the events themselves, one JSON object a line on stdout;
// a terminal: one live line per phase (spinner, task, hosts done/total, elapsed), then a coloured
//   recap table;
// anything else (CI logs, pipes): one plain line per task and per failed host, then the recap.
// Failures always name host, task and message; a silent task is always shown.
import { Chalk, type ChalkInstance } from 'chalk';
import type { EventSink, HiveEvent, HostStats } from '../lib/events.js';
import type { RunOptions } from '../lib/run-options.js';

export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
  on?(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
}

const guarded = new WeakMap<OutputStream, { closed: boolean }>();

/**
 * Writes that survive a reader going away (`hive all --json | head`): the run goes on, its
 * record is kept, only the output stops. Other stream errors are not hidden.
 */
export function safeOutput(out: OutputStream): OutputStream {
  let state = guarded.get(out);
  if (!state) {
    const s = { closed: false };
    state = s;
    guarded.set(out, s);
    out.on?.('error', (err) => {
      if (err.code !== 'EPIPE') throw err;
      s.closed = true;
    });
  }
  const st = state;
  return {
    isTTY: out.isTTY,
    get columns() {
      return out.columns;
    },
    write: (chunk: string) => (st.closed ? false : out.write(chunk)),
  };
}

type PhaseEnd = Extract<HiveEvent, { event: 'phase_end' }>;
type Failure = NonNullable<PhaseEnd['failed']>[number];

export class JsonReporter implements EventSink {
  constructor(private readonly out: OutputStream) {}
  emit(e: HiveEvent): void {
    this.out.write(JSON.stringify(e) + '\n');
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${rest}s` : `${m}m${rest}s`;
}

const COLUMNS = ['ok', 'changed', 'failed', 'unreachable', 'skipped'] as const;

/** host | ok | changed | failed | unreachable | skipped, hosts sorted; colour only when `c` is given. */
export function recapTable(stats: Record<string, HostStats>, c?: ChalkInstance): string {
  const hosts = Object.keys(stats).sort();
  if (hosts.length === 0) return '(no hosts)\n';
  const header = ['host', ...COLUMNS];
  const rows = hosts.map((h) => [h, ...COLUMNS.map((k) => String(stats[h][k] ?? 0))]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i].length)));
  const cell = (text: string, i: number) => (i === 0 ? text.padEnd(widths[i]) : text.padStart(widths[i]));
  const line = (cells: string[]) => cells.join('  ').trimEnd();
  const colourOf = (key: (typeof COLUMNS)[number], n: number): ((s: string) => string) => {
    if (!c) return (s) => s;
    if (n === 0) return c.dim;
    return { ok: c.green, changed: c.yellow, failed: c.red, unreachable: c.red, skipped: c.cyan }[key];
  };
  const out = [c ? c.bold(line(header.map(cell))) : line(header.map(cell))];
  for (const [r, host] of rows.map((row, i) => [row, hosts[i]] as const)) {
    const s = stats[host];
    let hostColour: (x: string) => string = (x) => x;
    if (c) hostColour = s.failed || s.unreachable ? c.red : s.changed ? c.yellow : c.green;
    const cells = r.map((text, i) => {
      const padded = cell(text, i);
      return i === 0 ? hostColour(padded) : colourOf(COLUMNS[i - 1], Number(text))(padded);
    });
    out.push(cells.join('  ').trimEnd());
  }
  return out.join('\n') + '\n';
}

/** `host | task | message` per failure (a message may span lines). */
export function failureLines(failed: Failure[]): string[] {
  return failed.map((f) => {
    return `${f.host} | ${f.task}${f.msg ? ` | ${f.msg}` : ''}`;
  });
}

/** Continuation lines of a message indented under its first line (and every line by `all`). */
const indent = (text: string, all = ''): string =>
  text
    .split('\n')
    .map((l, i) => (i === 0 ? all + l : `${all}    ${l}`))
    .join('\n');

/** Tracks the current task and which hosts answered it, for both human reporters. */
class PhaseView {
  phase = '';
  stage = '';
  task = '';
  started = Date.now();
  readonly running = new Set<string>();
  readonly done = new Set<string>();
  retry = '';

  update(e: HiveEvent): void {
    switch (e.event) {
      case 'phase_start':
        this.phase = e.phase;
        this.stage = e.stage;
        this.task = '';
        this.started = Date.now();
        this.running.clear();
        this.done.clear();
        break;
      case 'task_start':
        this.task = e.task;
        this.running.clear();
        this.done.clear();
        this.retry = '';
        break;
      case 'host_start':
        this.running.add(e.host);
        break;
      case 'host_result':
        if (e.item === undefined) {
          this.running.delete(e.host);
          this.done.add(e.host);
        }
        break;
      case 'retry':
        this.retry = `retry ${e.attempt ?? '?'}/${e.retries ?? '?'}`;
        break;
    }
  }

  get total(): number {
    return new Set([...this.running, ...this.done]).size;
  }
}

abstract class HumanReporter implements EventSink {
  protected readonly view = new PhaseView();
  constructor(
    protected readonly out: OutputStream,
    protected readonly verbose: number,
  ) {}

  emit(e: HiveEvent): void {
    this.view.update(e);
    this.show(e);
  }

  protected abstract show(e: HiveEvent): void;
}

export class PlainReporter extends HumanReporter {
  private say(text: string): void {
    this.out.write(`[${this.view.phase || 'hive'}] ${text}\n`);
  }

  protected show(e: HiveEvent): void {
    switch (e.event) {
      case 'all_start':
        this.out.write(
          `all (stage ${e.stage}): ${e.phases.join(', ')}` +
            (e.skipped.length ? ` (already succeeded: ${e.skipped.join(', ')})` : '') +
            '\n',
        );
        break;
      case 'phase_start':
        this.out.write(`== ${e.phase} (stage ${e.stage}) started\n`);
        break;
      case 'play_start':
        if (this.verbose) this.say(`PLAY ${e.play}`);
        break;
      case 'task_start':
        this.say(`TASK ${e.kind ? `(${e.kind}) ` : ''}${e.task}`);
        break;
      case 'host_result':
        if ((e.status === 'failed' && !e.ignored) || e.status === 'unreachable') {
          this.say(`${e.status.toUpperCase()} ${e.host} | ${e.task}${e.item ? ` (item ${e.item})` : ''}${e.msg ? ` | ${indent(e.msg)}` : ''}`);
        } else if (this.verbose) {
          this.say(`${e.ignored ? 'failed (ignored)' : e.status} ${e.host}${e.item ? ` (item ${e.item})` : ''}${e.msg ? ` | ${e.msg}` : ''}`);
        }
        break;
      case 'retry':
        this.say(`RETRY ${e.host} | ${e.task} (${e.attempt ?? '?'}/${e.retries ?? '?'})`);
        break;
      case 'include':
        if (this.verbose) this.say(`INCLUDE ${e.file} for ${e.hosts.join(', ')}`);
        break;
      case 'warning':
        this.say(`WARNING ${e.host ? `${e.host}: ` : ''}${e.msg}`);
        break;
      case 'task_silent':
        this.say(`SILENT for ${e.seconds}s | ${e.task} | still waiting for: ${e.hosts.length ? e.hosts.join(', ') : '(no host reported yet)'}`);
        break;
      case 'phase_end':
        this.out.write(
          `== ${e.phase} ${e.ok ? 'succeeded' : `FAILED (rc ${e.rc})`} in ${formatDuration(e.duration)}\n` + recapTable(e.stats),
        );
        if (e.failed?.length) this.out.write(['Failed:', ...failureLines(e.failed).map((l) => indent(l, '  '))].join('\n') + '\n');
        break;
    }
  }
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class TtyReporter extends HumanReporter {
  private readonly c: ChalkInstance;
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private live = false;

  constructor(out: OutputStream, verbose: number, env: NodeJS.ProcessEnv = process.env) {
    super(out, verbose);
    this.c = new Chalk({ level: env.NO_COLOR ? 0 : 1 });
  }

  private clearLine(): void {
    if (this.live) this.out.write('\r\x1b[2K');
  }

  private draw(): void {
    const v = this.view;
    const elapsed = formatDuration((Date.now() - v.started) / 1000);
    const hosts = v.total ? ` │ ${v.done.size}/${v.total} hosts` : '';
    const retry = v.retry ? ` │ ${v.retry}` : '';
    const plain = ` ${v.phase} │ ${v.task || 'starting'}${hosts}${retry} │ ${elapsed}`;
    const width = Math.max((this.out.columns ?? 100) - 3, 20);
    const text = plain.length > width ? plain.slice(0, width - 1) + '…' : plain;
    this.out.write(`\r\x1b[2K${this.c.cyan(SPINNER[this.frame % SPINNER.length])}${text}`);
    this.live = true;
  }

  /** Prints a finished line above the live one. */
  private above(text: string): void {
    this.clearLine();
    this.out.write(text + '\n');
    this.live = false;
    if (this.timer) this.draw();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearLine();
    this.live = false;
  }

  protected show(e: HiveEvent): void {
    const c = this.c;
    switch (e.event) {
      case 'all_start':
        this.above(
          c.bold(`all (stage ${e.stage}): `) + e.phases.join(' → ') + (e.skipped.length ? c.dim(` (already succeeded: ${e.skipped.join(', ')})`) : ''),
        );
        break;
      case 'phase_start':
        this.stop();
        this.timer = setInterval(() => {
          this.frame++;
          this.draw();
        }, 120);
        this.timer.unref();
        this.draw();
        break;
      case 'host_result':
        if ((e.status === 'failed' && !e.ignored) || e.status === 'unreachable') {
          this.above(c.red(`✖ ${e.status} ${e.host} | ${e.task}${e.item ? ` (item ${e.item})` : ''}${e.msg ? ` | ${e.msg.split('\n')[0]}` : ''}`));
        } else if (this.verbose) {
          this.above(c.dim(`  ${e.status} ${e.host} | ${e.task}${e.item ? ` (item ${e.item})` : ''}${e.msg ? ` | ${e.msg}` : ''}`));
        } else if (this.timer) this.draw();
        break;
      case 'warning':
        this.above(c.yellow(`⚠ ${e.host ? `${e.host}: ` : ''}${e.msg}`));
        break;
      case 'task_silent':
        this.above(
          c.yellow(`⏳ ${e.task}: silent for ${e.seconds}s, still waiting for ${e.hosts.length ? e.hosts.join(', ') : '(no host reported yet)'}`),
        );
        break;
      case 'phase_end': {
        this.stop();
        const head = e.ok
          ? c.green(`✔ ${e.phase} succeeded in ${formatDuration(e.duration)}`)
          : c.red(`✖ ${e.phase} failed (rc ${e.rc}) in ${formatDuration(e.duration)}`);
        this.out.write(head + '\n' + recapTable(e.stats, c));
        if (e.failed?.length) this.out.write([c.red.bold('Failed:'), ...failureLines(e.failed).map((l) => c.red(indent(l, '  ')))].join('\n') + '\n');
        break;
      }
      default:
        if (this.timer) this.draw();
    }
  }
}

/** The reporter for these options and this output: --json, a terminal, or plain lines. */
export function makeReporter(opts: RunOptions, stream: OutputStream = process.stdout): EventSink {
  const out = safeOutput(stream);
  if (opts.json) return new JsonReporter(out);
  return out.isTTY ? new TtyReporter(out, opts.verbose ?? 0) : new PlainReporter(out, opts.verbose ?? 0);
}
