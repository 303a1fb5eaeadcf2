// `hive plan [--stage S]`: what deploy-services would do, service by service, read from the live
// swarm without changing anything. It runs the deploy-services playbook in Ansible check mode
// with hive_plan_file set: the services role then compares every service with
// hive_swarm_services in check mode and writes a summary, which is read back here.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { HiveContext } from '../lib/context.js';
import { HiveError } from '../lib/errors.js';
import type { Site } from '../model/site.js';
import type { EventSink, HiveEvent } from '../lib/events.js';
import type { RunOptions } from '../lib/run-options.js';
import { failureLines } from '../runner/progress.js';
import { StageDir } from '../state/stage-dir.js';
import { knownSecrets, maskValues } from '../model/secrets.js';
import { runPhase, type PhaseResult } from '../runner/run-phase.js';
import { readImageRecords, targetVersion } from './images.js';

/** orphan: on the swarm with the stage's label but no longer in the inventory; kept unless --prune. */
export type PlanAction = 'create' | 'update' | 'remove' | 'orphan' | 'unchanged' | 'error';

export interface PlanChange {
  field: string;
  before?: unknown;
  after?: unknown;
  /** env only: the variables added, removed or changed (their values are never shown). */
  keys?: string[];
}

export interface PlanEntry {
  service: string;
  action: PlanAction;
  /** Image the deploy would run (create/update/unchanged). */
  image?: string;
  /** Image running now (update/remove). */
  liveImage?: string;
  /** Changed fields of an update (module parameter names: image, env, publish, args, ...). */
  changes?: PlanChange[];
  /** The service's image was never built in this stage: deploy-services would stop. */
  unbuilt?: boolean;
  /** Why the module refused the service (action error). */
  message?: string;
}

export interface ServicePlan {
  stage: string;
  services: PlanEntry[];
  /** Counts per action. */
  summary: Record<PlanAction, number>;
  /** The check run (its record is under .hive/<stage>/runs/). */
  phase: PhaseResult;
}

/** The check run itself failed (hosts unreachable, no swarm ...): nothing to show. */
export class PlanError extends HiveError {
  constructor(
    message: string,
    readonly phase: PhaseResult,
  ) {
    super(message, 1);
  }
}

export interface PlanOptions {
  /** Only these services (comma separated, as -l). */
  limit?: string;
  verbose?: number;
  /** Receives the check run's events (default: warnings only, on stderr). */
  reporter?: EventSink;
}

interface RawEntry {
  name: string;
  action: PlanAction;
  image?: string;
  live_image?: string;
  unbuilt?: boolean;
  changes?: string[];
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  message?: string;
}

/** Variables that differ between two env values (lists of K=V or maps). */
function changedKeys(before: unknown, after: unknown): string[] {
  const asMap = (v: unknown): Map<string, string> => {
    const m = new Map<string, string>();
    if (Array.isArray(v)) for (const kv of v) m.set(String(kv).split('=')[0], String(kv).slice(String(kv).split('=')[0].length + 1));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) m.set(k, String(x));
    return m;
  };
  const a = asMap(before);
  const b = asMap(after);
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
}

/** The labels without hive.spec (the hash of the rest of the spec). */
function withoutSpecLabel(field: string, value: unknown): unknown {
  if (field !== 'labels' || !value || typeof value !== 'object') return value;
  const { ['hive.spec']: _spec, ...rest } = value as Record<string, unknown>;
  return rest;
}

/**
 * plan.json (written by roles/services) → entries, sorted by action then name. Secret values are
 * masked: those in `secrets`, of secret-named keys, `SECRET_NAME=value` entries and URL passwords.
 */
export function parsePlanFile(text: string, secrets: string[] = []): { stage: string; services: PlanEntry[] } {
  const raw = JSON.parse(text) as { stage: string; services: RawEntry[] };
  const order: PlanAction[] = ['create', 'update', 'remove', 'orphan', 'error', 'unchanged'];
  const services = raw.services.map((r): PlanEntry => {
    const e: PlanEntry = { service: r.name, action: r.action };
    if (r.image) e.image = r.image;
    if (r.live_image) e.liveImage = r.live_image;
    if (r.unbuilt) e.unbuilt = true;
    if (r.message) e.message = r.message;
    if (r.action === 'update') {
      e.changes = (r.changes ?? [])
        .map((field): PlanChange => {
          // environment values may be passwords: name the variables, not their values
          if (field === 'env') return { field, keys: changedKeys(r.before?.env, r.after?.env) };
          return {
            field,
            ...(r.before && field in r.before ? { before: withoutSpecLabel(field, r.before[field]) } : {}),
            ...(r.after && field in r.after ? { after: withoutSpecLabel(field, r.after[field]) } : {}),
          };
        })
        // hive's own spec hash label changes with any other field: not a change worth a line
        .filter((c) => !(c.field === 'labels' && 'before' in c && JSON.stringify(c.before) === JSON.stringify(c.after)));
    }
    return e;
  });
  services.sort((a, b) => order.indexOf(a.action) - order.indexOf(b.action) || a.service.localeCompare(b.service));
  return { stage: raw.stage, services: maskValues(services, secrets) };
}

const quietReporter = (stderr: NodeJS.WritableStream = process.stderr): EventSink => ({
  emit(e: HiveEvent) {
    if (e.event === 'warning') stderr.write(`hive plan: warning: ${e.msg}\n`);
  },
});

/** What deploy-services would change in the context's stage, read from the live swarm. */
export async function planServices(ctx: HiveContext, site: Site, opts: PlanOptions = {}): Promise<ServicePlan> {
  const planFile = new StageDir(ctx.stageDir).planFile(process.pid);
  rmSync(planFile, { force: true });
  const runOpts: RunOptions = {
    check: true,
    limit: opts.limit,
    verbose: opts.verbose,
    extraVars: { hive_plan_file: planFile },
  };
  try {
    const phase = await runPhase(ctx, site, 'deploy-services', runOpts, { reporter: opts.reporter ?? quietReporter() });
    if (!phase.ok || !existsSync(planFile)) {
      const why = phase.failed.length ? failureLines(phase.failed).join('\n') : `deploy-services (check mode) exited ${phase.rc}`;
      throw new PlanError(`hive plan: could not read the swarm of stage ${ctx.stage}:\n${why}`, phase);
    }
    const { inventoryVars } = await import('../model/inventory-vars.js');
    const files = await inventoryVars(site, ctx.stage);
    const parsed = parsePlanFile(readFileSync(planFile, 'utf8'), knownSecrets(site, ctx.stage, { stageDir: ctx.stageDir, files }));
    // an unbuilt image: say which version a build would need, not the placeholder tag
    const records = readImageRecords(ctx.stageDir);
    for (const e of parsed.services) {
      if (e.unbuilt && !targetVersion(records[e.service])) e.image = undefined;
    }
    const summary: Record<PlanAction, number> = { create: 0, update: 0, remove: 0, orphan: 0, unchanged: 0, error: 0 };
    for (const e of parsed.services) summary[e.action]++;
    return { stage: parsed.stage, services: parsed.services, summary, phase };
  } finally {
    rmSync(planFile, { force: true });
  }
}

const SIGN: Record<PlanAction, string> = { create: '+', update: '~', remove: '-', orphan: '?', unchanged: '=', error: '!' };

function show(value: unknown): string {
  if (value === undefined) return '(none)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? text.slice(0, 117) + '...' : text;
}

/** Text for the terminal. */
export function formatPlan(plan: ServicePlan): string {
  const lines = [`deploy-services plan for stage ${plan.stage}:`];
  const width = Math.max(8, ...plan.services.map((e) => e.service.length));
  for (const e of plan.services) {
    const head = `  ${SIGN[e.action]} ${e.action.padEnd(9)} ${e.service.padEnd(width)}`;
    switch (e.action) {
      case 'create':
        lines.push(`${head}  ${e.unbuilt ? 'image not built yet (run hive build-images)' : `image ${e.image}`}`);
        break;
      case 'update':
        lines.push(`${head}  ${(e.changes ?? []).map((c) => c.field).join(', ')}`);
        for (const c of e.changes ?? []) {
          if (c.keys) lines.push(`      ${c.field}: ${c.keys.join(', ') || '(order)'} (values not shown)`);
          else if (c.before !== undefined || c.after !== undefined) lines.push(`      ${c.field}: ${show(c.before)} → ${show(c.after)}`);
        }
        break;
      case 'remove':
        lines.push(`${head}  (no longer in the inventory; running ${e.liveImage ?? '?'})`);
        break;
      case 'orphan':
        lines.push(`${head}  (no longer in the inventory; running ${e.liveImage ?? '?'}; kept: hive deploy-services --prune removes it)`);
        break;
      case 'error':
        lines.push(`${head}  ${e.message ?? ''}`);
        break;
      default:
        lines.push(head.trimEnd());
    }
  }
  if (plan.services.length === 0) lines.push('  (no services in this stage)');
  const s = plan.summary;
  lines.push(`${s.create} to create, ${s.update} to update, ${s.remove} to remove, ${s.unchanged} unchanged` + (s.orphan ? `, ${s.orphan} left over (kept)` : '') + (s.error ? `, ${s.error} with errors` : '') + '.');
  return lines.join('\n') + '\n';
}
