// Runs one phase: stage lock, generated files, the caller's step before the playbook (the CLI
// puts build-infra's provider there), ansible-playbook with the hive_events callback, a watchdog
// for silent tasks, the run record, the resume state.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { HiveContext } from '../lib/context.js';
import type { PhaseName } from '../model/phases.js';
import type { Site } from '../model/site.js';
import { renderStageFiles } from '../render/stage-files.js';
import { now, type EventSink, type HiveEvent, type HostStats } from '../lib/events.js';
import { combineStats, FORWARDED, parseEventLine, PhaseTracker, statsFromCallback, Watchdog } from './tracking.js';
import { acquireStageLock, type LockInfo } from './lock.js';
import { changesNothing, silentAfterSeconds, vaultOf, type RunOptions } from '../lib/run-options.js';
import { phaseCommand } from './phase-command.js';
import { makeReporter, safeOutput, type OutputStream } from './progress.js';
import { knownSecrets, maskText, redactEvent } from '../model/secrets.js';
import { forgetFrom, recordSuccess } from './resume.js';
import { RunRecord } from './run-record.js';
import { saveAllocations } from '../state/allocations.js';

/**
 * Work done in TypeScript before a phase's playbook, inside the phase: under its lock, its events
 * redacted and recorded like the playbook's, its failure the phase's failure.
 */
export interface PhaseStep {
  /** A failure of the step is reported on this host ... */
  host: string;
  /** ... and this task when the step had not started one of its own. */
  task: string;
  /** Runs the step; resolves to whether the playbook runs after it. */
  run(events: EventSink): Promise<boolean>;
}

/** The step a phase runs before its playbook, if any. */
export type BeforePlaybook = (phase: PhaseName) => PhaseStep | undefined;

/** Where a run's output goes (the defaults are the process's own streams), and what runs before the playbook. */
export interface RunIO {
  /** Called once per phase, after the stage is checked. */
  before?: BeforePlaybook;
  /** Replaces the reporter chosen from the options (--json, terminal or plain). */
  reporter?: EventSink;
  /** More sinks that see every event (after secrets are removed), e.g. tests. */
  sinks?: EventSink[];
  stdout?: OutputStream;
  /** ansible-playbook's own text (with -v) and anything it prints that is not an event. */
  stderr?: OutputStream;
}

export interface PhaseResult {
  phase: PhaseName;
  ok: boolean;
  rc: number;
  stats: Record<string, HostStats>;
  failed: { host: string; task: string; msg?: string }[];
  /** Seconds. */
  duration: number;
  /** The run record (`.hive/<stage>/runs/...ndjson`). */
  runRecord: string;
  /** Stopped by SIGINT / SIGTERM. */
  interrupted?: boolean;
}

const lines = (stream: Readable | null | undefined, onLine: (line: string) => void): Promise<void> => {
  if (!stream) return Promise.resolve();
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', onLine);
  return new Promise((resolve) => rl.once('close', () => resolve()));
};

interface AnsibleOutcome {
  rc: number;
  stats?: Record<string, HostStats>;
  errors: string[];
  interrupted: boolean;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

async function runAnsible(
  cwd: string,
  cmd: { argv: string[]; env: Record<string, string>; interactive?: boolean },
  emit: (e: HiveEvent) => void,
  verbose: boolean,
  stderr: OutputStream,
  secrets: string[],
): Promise<AnsibleOutcome> {
  // ansible-playbook's own text (shown with -v) is masked like the events
  const pass = (line: string) => stderr.write(maskText(line, secrets) + '\n');
  const child = execa(cmd.argv[0], cmd.argv.slice(1), {
    cwd,
    env: cmd.env,
    extendEnv: true,
    // a vault password prompt (--ask-vault-pass) reads the terminal: stdin and the controlling
    // tty stay Ansible's, so it runs in hive's process group (Ctrl-C reaches all of it anyway)
    stdio: [cmd.interactive ? 'inherit' : 'ignore', 'pipe', 'pipe', 'pipe'],
    buffer: false,
    reject: false,
    // otherwise its own process group, so a signal reaches ansible-playbook, its forked workers
    // and the commands they run alike (the workers hold our pipes: killing the main process
    // alone would leave us waiting for them)
    detached: !cmd.interactive,
  });
  let stats: Record<string, HostStats> | undefined;
  const errors: string[] = [];
  const onEvent = (raw: Record<string, unknown>) => {
    if (raw.event === 'stats') stats = statsFromCallback(raw.stats);
    else if (FORWARDED.has(raw.event as string)) emit(raw as unknown as HiveEvent);
  };
  const onText = (line: string) => {
    const ev = parseEventLine(line);
    if (ev) return onEvent(ev);
    if (verbose) pass(line);
  };
  const onStderr = (line: string) => {
    const warning = /^\[(?:DEPRECATION )?WARNING\]:\s*(.*)$/.exec(line);
    if (warning) emit({ event: 'warning', msg: warning[1], time: now() });
    else if (line.trim()) {
      if (/^ERROR!|^fatal|^\S+Error/.test(line) || errors.length > 0) errors.push(line);
      if (verbose) pass(line);
    }
  };

  let interrupted = false;
  let running = true;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (!running || !child.pid) return;
    try {
      if (cmd.interactive) child.kill(signal);
      else process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  let escalation: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return signalGroup('SIGKILL'); // asked twice: stop now
    interrupted = true;
    // Ctrl-C lets Ansible stop cleanly; whatever still runs 10 s later is killed
    signalGroup(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    escalation = setTimeout(() => signalGroup('SIGKILL'), 10_000);
    escalation.unref();
  };
  const onExit = () => signalGroup('SIGKILL'); // hive itself ends: never leave a run behind
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', onExit);
  try {
    const events = child.stdio[3] as Readable | undefined;
    const [result] = await Promise.all([
      child,
      lines(events, (l) => {
        const ev = parseEventLine(l);
        if (ev) onEvent(ev);
      }),
      lines(child.stdout, onText),
      lines(child.stderr, onStderr),
    ]);
    running = false;
    let rc = typeof result.exitCode === 'number' ? result.exitCode : 1;
    if (result.signal) rc = 128 + (SIGNALS[result.signal] ?? 0);
    if (result.failed && result.exitCode === undefined && !result.signal) {
      // could not start at all (ENOENT ...)
      errors.push(result.message ?? 'ansible-playbook could not be started');
      rc = 127;
    }
    return { rc, stats, errors: errors.slice(0, 20), interrupted };
  } finally {
    running = false;
    if (escalation) clearTimeout(escalation);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('exit', onExit);
  }
}

/** Message of the stale lock a run took over, or undefined. */
const takeoverWarning = (path: string, info: LockInfo | undefined): string | undefined =>
  info &&
  `took over the stale lock ${path} of pid ${info.pid} (command "${info.command}", started ${info.started}): that process no longer runs`;

/** What the run must never show: see model/secrets.ts. The user's group_vars / host_vars are read (decrypted) through Ansible once per process. */
async function secretsOfRun(ctx: HiveContext, site: Site, opts: RunOptions): Promise<string[]> {
  const { inventoryVars } = await import('../model/inventory-vars.js');
  const files = await inventoryVars(site, ctx.stage, vaultOf(opts));
  // --vault-id label@file: the file part (prompt is no file)
  const vaultFiles = [...(opts.vaultPasswordFiles ?? []), ...(opts.vaultIds ?? []).map((id) => id.slice(id.indexOf('@') + 1))];
  return knownSecrets(site, ctx.stage, { stageDir: ctx.stageDir, extraVars: opts.extraVars, files, vaultFiles });
}

/** runPhase without taking the lock: for runAll, which holds it across all phases. */
export async function runPhaseLocked(
  ctx: HiveContext,
  site: Site,
  phase: PhaseName,
  opts: RunOptions,
  io: RunIO & { reporter: EventSink; lockWarning?: string },
): Promise<PhaseResult> {
  const stage = site.stages[ctx.stage];
  if (!stage) throw new Error(`stage "${ctx.stage}" is not defined in the inventory of ${site.inventoryDir}`);
  const step = io.before?.(phase);
  const started = new Date();
  // the allocation step: new DRBD minors and automatic ports are saved under the lock this run holds
  if (!changesNothing(opts)) saveAllocations(ctx.hiveDir, site);
  const files = renderStageFiles(ctx, site, phase, opts);
  const cmd = phaseCommand(ctx, site, phase, opts, files);
  const secrets = await secretsOfRun(ctx, site, opts);
  const record = new RunRecord(ctx.stageDir, phase, started);
  const tracker = new PhaseTracker();
  const sinks = [record, io.reporter, ...(io.sinks ?? [])];
  let watchdog: Watchdog | undefined;
  const emit = (e: HiveEvent) => {
    const clean = redactEvent(e, secrets);
    if (clean.event !== 'task_silent') watchdog?.touch();
    tracker.update(clean);
    for (const sink of sinks) sink.emit(clean);
  };
  watchdog = new Watchdog(silentAfterSeconds(opts), tracker, emit);

  let rc = 0;
  let ansibleStats: Record<string, HostStats> = {};
  let providerStats: Record<string, HostStats> = {};
  let failuresBeforePlaybook = 0;
  const extraFailures: { host: string; task: string; msg?: string }[] = [];
  let interrupted = false;
  try {
    emit({ event: 'phase_start', phase, stage: ctx.stage, argv: cmd.argv, time: now() });
    if (io.lockWarning) emit({ event: 'warning', msg: io.lockWarning, time: now() });
    watchdog.start();

    let runPlaybook = true;
    if (step) {
      try {
        runPlaybook = await step.run({ emit });
      } catch (err) {
        rc = 1;
        runPlaybook = false;
        extraFailures.push({ host: step.host, task: tracker.task || step.task, msg: (err as Error).message });
      }
    }

    // provider results are counted from its events; the playbook's come from Ansible's stats
    providerStats = combineStats(tracker.tally, {});
    failuresBeforePlaybook = tracker.failed.length;
    if (runPlaybook) {
      const outcome = await runAnsible(ctx.rootDir, cmd, emit, (opts.verbose ?? 0) > 0, safeOutput(io.stderr ?? process.stderr), secrets);
      rc = outcome.rc;
      interrupted = outcome.interrupted;
      // the callback's stats are Ansible's own; without them (crash) count what we saw
      ansibleStats = outcome.stats ?? combineStats(tracker.tally, providerStats, -1);
      if (rc !== 0 && tracker.failed.length === failuresBeforePlaybook) {
        extraFailures.push({
          host: 'ansible-playbook',
          task: tracker.task || phase,
          msg: interrupted ? 'interrupted' : outcome.errors.join('\n') || `exit code ${rc}`,
        });
      }
    }
  } catch (err) {
    // a fault of hive itself: still end the phase properly (record, lock, exit code)
    rc = 1;
    extraFailures.push({ host: 'hive', task: tracker.task || phase, msg: (err as Error).message });
  } finally {
    watchdog.stop();
  }

  const stats = combineStats(providerStats, ansibleStats);
  // a failure a rescue block handled is not in Ansible's final count: drop it
  const playbookFailures = tracker.failed.slice(failuresBeforePlaybook).filter((f) => {
    const s = ansibleStats[f.host];
    return !s || s.failed + s.unreachable > 0;
  });
  const failed = [...tracker.failed.slice(0, failuresBeforePlaybook), ...playbookFailures, ...extraFailures];
  const ok = rc === 0 && failed.length === 0;
  const duration = Math.round(Date.now() - started.getTime()) / 1000;
  emit({
    event: 'phase_end',
    phase,
    stage: ctx.stage,
    ok,
    rc: ok ? 0 : rc || 1,
    stats,
    duration,
    ...(failed.length ? { failed } : {}),
    time: now(),
  });
  record.close();

  if (!changesNothing(opts)) {
    if (!ok || opts.destroy || opts.halt) forgetFrom(ctx.stageDir, phase);
    else if (!opts.limit?.trim() && !opts.tags?.trim()) recordSuccess(ctx.stageDir, phase);
  }
  return { phase, ok, rc: ok ? 0 : rc || 1, stats, failed, duration, runRecord: record.path, ...(interrupted ? { interrupted } : {}) };
}

/** Runs one phase under the stage lock (LockHeldError when another run holds it). */
export async function runPhase(ctx: HiveContext, site: Site, phase: PhaseName, opts: RunOptions, io: RunIO = {}): Promise<PhaseResult> {
  const lock = acquireStageLock(ctx.stageDir);
  try {
    const reporter = io.reporter ?? makeReporter(opts, io.stdout ?? process.stdout);
    return await runPhaseLocked(ctx, site, phase, opts, { ...io, reporter, lockWarning: takeoverWarning(lock.path, lock.takenOver) });
  } finally {
    lock.release();
  }
}

export { takeoverWarning };
export { EVENT_MARKER, parseEventLine, PhaseTracker, Watchdog } from './tracking.js';
