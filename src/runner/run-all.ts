// `hive all`: every phase in order under one stage lock, from `--from` or from the first phase
// that has not succeeded since the last complete run; the first failure stops it. When every
// phase has succeeded the record is cleared, so the next `hive all` runs all phases again.
import type { HiveContext } from '../lib/context.js';
import type { PhaseName } from '../model/phases.js';
import type { Site } from '../model/site.js';
import { now } from '../lib/events.js';
import { acquireStageLock } from './lock.js';
import { changesNothing, type RunOptions } from '../lib/run-options.js';
import { makeReporter } from './progress.js';
import { firstPending, phasesToRun, readProgress, resetProgress } from './resume.js';
import { runPhaseLocked, takeoverWarning, type PhaseResult, type RunIO } from './run-phase.js';

export { phasesToRun };

export interface AllResult {
  ok: boolean;
  rc: number;
  phases: PhaseResult[];
  /** The phase that failed, if any. */
  failedPhase?: PhaseName;
}

export async function runAll(ctx: HiveContext, site: Site, opts: RunOptions & { from?: PhaseName }, io: RunIO = {}): Promise<AllResult> {
  const lock = acquireStageLock(ctx.stageDir);
  try {
    const reporter = io.reporter ?? makeReporter(opts, io.stdout ?? process.stdout);
    const { run, skipped } = phasesToRun(ctx.stageDir, opts.from);
    const start = { event: 'all_start' as const, stage: ctx.stage, phases: run, skipped, time: now() };
    reporter.emit(start);
    for (const sink of io.sinks ?? []) sink.emit(start);

    const results: PhaseResult[] = [];
    let lockWarning = takeoverWarning(lock.path, lock.takenOver);
    for (const phase of run) {
      const result = await runPhaseLocked(ctx, site, phase, opts, { ...io, reporter, lockWarning });
      lockWarning = undefined;
      results.push(result);
      if (!result.ok) return { ok: false, rc: result.rc, phases: results, failedPhase: phase };
    }
    if (!changesNothing(opts) && !firstPending(readProgress(ctx.stageDir))) resetProgress(ctx.stageDir);
    return { ok: true, rc: 0, phases: results };
  } finally {
    lock.release();
  }
}
