// `hive rollback SERVICE [--to VERSION]`: pins a recorded earlier image version of a service and
// redeploys that service alone (deploy-services -l SERVICE), which waits until it converged. The
// pin holds until the next build of a new version, or `--to latest`. If the redeploy fails, the
// pin is put back as it was: swarm rolled the service back to what ran before.
import type { HiveContext } from '../lib/context.js';
import { HiveError } from '../lib/errors.js';
import type { Site } from '../model/site.js';
import type { EventSink } from '../lib/events.js';
import { acquireStageLock } from '../runner/lock.js';
import type { RunOptions } from '../lib/run-options.js';
import { makeReporter, type OutputStream } from '../runner/progress.js';
import { runPhaseLocked, takeoverWarning, type PhaseResult } from '../runner/run-phase.js';
import { readImageRecords, writeImageRecords, type ImageRecord } from './images.js';
import { NoVersionsError, versionsOf } from './versions.js';

export interface RollbackResult {
  ok: boolean;
  service: string;
  /** Version deployed before the rollback (if recorded). */
  from?: string;
  /** Version rolled back to. */
  to: string;
  phase: PhaseResult;
}

/** Bad service or version: nothing was run (exit 2). */
export class RollbackError extends HiveError {
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * The version to roll back to: `wanted` (a version, a unique prefix of one, or `latest`), else
 * the version deployed before the one deployed now.
 */
export function chooseVersion(service: string, record: ImageRecord, wanted?: string): string {
  const versions = (record.versions ?? []).map((v) => v.version);
  if (wanted !== undefined) {
    if (wanted === 'latest') {
      if (!record.latest) throw new RollbackError(`service ${service} has no latest build`);
      return record.latest;
    }
    const exact = versions.find((v) => v === wanted);
    if (exact) return exact;
    const matches = versions.filter((v) => v.startsWith(wanted));
    if (matches.length === 1) return matches[0];
    throw new RollbackError(
      matches.length > 1
        ? `version "${wanted}" of ${service} is ambiguous: ${matches.join(', ')}`
        : `service ${service} has no version "${wanted}" (versions: ${versions.join(', ')})`,
    );
  }
  const current = record.deployed ?? record.latest;
  const before = (record.history ?? []).find((d) => d.version !== current && versions.includes(d.version));
  if (before) return before.version;
  const i = current ? versions.indexOf(current) : -1;
  if (i >= 0 && i + 1 < versions.length) return versions[i + 1];
  throw new RollbackError(`service ${service} has no earlier version to roll back to (versions: ${versions.join(', ') || 'none'})`);
}

export interface RollbackIO {
  reporter?: EventSink;
  stdout?: OutputStream;
  stderr?: OutputStream;
}

/** Rolls `service` of the context's stage back to `version` (default: the one deployed before). */
export async function rollbackService(
  ctx: HiveContext,
  site: Site,
  service: string,
  version?: string,
  opts: RunOptions = {},
  io: RollbackIO = {},
): Promise<RollbackResult> {
  const def = site.services.find((s) => s.name === service);
  if (!def || !def.stages.includes(ctx.stage)) {
    const names = site.services.filter((s) => s.stages.includes(ctx.stage)).map((s) => s.name);
    throw new RollbackError(`no service ${service} in stage ${ctx.stage} (services: ${names.join(', ') || 'none'})`);
  }
  const lock = acquireStageLock(ctx.stageDir);
  try {
    const records = readImageRecords(ctx.stageDir);
    const record = records[service];
    try {
      versionsOf(service, ctx.stage, record);
    } catch (err) {
      if (err instanceof NoVersionsError) throw new RollbackError(err.message);
      throw err;
    }
    const to = chooseVersion(service, record!, version);
    const previousPin = record!.pinned ?? null;
    const from = record!.deployed ?? undefined;
    // --to latest (or the newest build) ends a pin instead of setting one
    records[service] = { ...record!, pinned: to === record!.latest ? null : to };
    writeImageRecords(ctx.stageDir, ctx.stage, records);

    const reporter = io.reporter ?? makeReporter(opts, io.stdout ?? process.stdout);
    let phase: PhaseResult;
    try {
      phase = await runPhaseLocked(ctx, site, 'deploy-services', { ...opts, limit: service, destroy: false }, {
        reporter,
        stderr: io.stderr,
        lockWarning: takeoverWarning(lock.path, lock.takenOver),
      });
    } catch (err) {
      restorePin(ctx, service, previousPin);
      throw err;
    }
    if (!phase.ok) restorePin(ctx, service, previousPin);
    return { ok: phase.ok, service, ...(from ? { from } : {}), to, phase };
  } finally {
    lock.release();
  }
}

function restorePin(ctx: HiveContext, service: string, pinned: string | null): void {
  const records = readImageRecords(ctx.stageDir);
  if (!records[service]) return;
  records[service] = { ...records[service], pinned };
  writeImageRecords(ctx.stageDir, ctx.stage, records);
}
