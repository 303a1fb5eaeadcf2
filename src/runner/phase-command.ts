// The ansible-playbook command line and environment for one phase: pure, so it is unit-tested
// argument by argument. `-l` is mapped per phase the way hive-builder did it.
import { join } from 'node:path';
import type { HiveContext } from '../lib/context.js';
import { UsageError } from '../lib/errors.js';
import { phaseSpec, type LimitNames, type PhaseName } from '../model/phases.js';
import type { Site, StageName } from '../model/site.js';
import type { StageFiles } from '../render/stage-files.js';
import { vaultArgs, vaultPrompts, type RunOptions } from '../lib/run-options.js';

/** File descriptor on which the callback writes its events (see callback_plugins/hive_events.py). */
export const EVENTS_FD = 3;

const names = (list: string | undefined): string[] =>
  (list ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);

/**
 * The `--limit` pattern of a phase. Without `-l` every phase is limited to the stage group.
 * What `-l` names is the phase's `limit` in the phase table: host names for setup-hosts (a short
 * name such as `p-hive0` is widened to its inventory name), service names for build-images (their
 * `image_<svc>` hosts plus the repository that builds them) and initialize-services; the other
 * phases only pass `-l` on as `hive_limit`.
 */
/** What `-l` may name in a phase on a stage, as "what" and the names (e.g. service: web, db). */
function limitChoices(site: Site, stage: StageName, kind: LimitNames): { what: string; names: string[] } {
  const on = <T extends { stages: StageName[] }>(list: T[]) => list.filter((x) => x.stages.includes(stage));
  switch (kind) {
    case 'images':
      return { what: 'image', names: on(site.images).map((i) => i.name.replace(/^image_/, '')) };
    case 'volumes':
      return { what: 'volume', names: on(site.volumes).map((v) => v.source) };
    case 'networks':
      return { what: 'network', names: on(site.networks).map((n) => n.name) };
    case 'services':
      return { what: 'service', names: on(site.services).map((s) => s.name) };
  }
}

/**
 * Refuses `-l` names the phase cannot act on in the stage (exit 2, before Ansible starts): a
 * typo would otherwise run the phase on nothing, or fail only once the playbook checks it.
 */
export function checkLimitNames(site: Site, stage: StageName, phase: PhaseName, limit: string | undefined): void {
  const kind = phaseSpec(phase).names;
  const wanted = names(limit);
  if (!kind || wanted.length === 0) return;
  const { what, names: known } = limitChoices(site, stage, kind);
  // build-volumes also takes the inventory names (volume_<name>)
  const unknown = wanted.filter((n) => !known.includes(kind === 'volumes' ? n.replace(/^volume_/, '') : n));
  if (unknown.length === 0) return;
  throw new UsageError(
    `${phase} -l: no ${what} ${unknown.join(', ')} in stage ${stage} (${what}s: ${known.join(', ') || 'none'})`,
  );
}

export function limitPattern(site: Site, stage: string, phase: PhaseName, limit: string | undefined): string {
  const wanted = names(limit);
  if (wanted.length === 0) return stage;
  switch (phaseSpec(phase).limit) {
    case 'hosts': {
      const hosts = site.stages[stage as keyof Site['stages']]?.hosts ?? [];
      const full = wanted.map((n) => hosts.find((h) => h.name === n || h.shortName === n)?.name ?? n);
      return [...full, `&${stage}`].join(':');
    }
    case 'images':
      return [...wanted.map((n) => `image_${n}`), 'repository', `&${stage}`].join(':');
    case 'services':
      return [...wanted, `&${stage}`].join(':');
    case 'vars':
      return stage;
  }
}

/** -v → -vvv (as hive-builder), -vv → -vvvv, up to Ansible's -vvvvvv. */
export function verbosityFlag(verbose: number | undefined): string | undefined {
  if (!verbose || verbose <= 0) return undefined;
  return `-${'v'.repeat(Math.min(verbose + 2, 6))}`;
}

export interface PhaseCommand {
  argv: string[];
  env: Record<string, string>;
  /** Ansible prompts for a vault password: it needs the terminal (stdin, controlling tty). */
  interactive: boolean;
}

export function phaseCommand(
  ctx: HiveContext,
  site: Site,
  phase: PhaseName,
  opts: RunOptions,
  files: StageFiles,
): PhaseCommand {
  checkLimitNames(site, ctx.stage as StageName, phase, opts.limit);
  const argv = ['ansible-playbook', '-i', files.inventoryPath, '--limit', limitPattern(site, ctx.stage, phase, opts.limit)];
  const tags = names(opts.tags);
  if (tags.length) argv.push('--tags', tags.join(','));
  if (opts.check || opts.dryRun) argv.push('-C');
  const v = verbosityFlag(opts.verbose);
  if (v) argv.push(v);
  argv.push(...vaultArgs(opts));
  argv.push('-e', `@${files.varsPath}`, join(ctx.installDir, 'playbooks', `${phase}.yml`));

  const env: Record<string, string> = {
    ANSIBLE_CONFIG: files.cfgPath,
    ANSIBLE_STDOUT_CALLBACK: 'hive_events',
    ANSIBLE_CALLBACK_PLUGINS: join(ctx.installDir, 'callback_plugins'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    PYTHONUNBUFFERED: '1',
    HIVE_EVENTS_FD: String(EVENTS_FD),
  };
  if (opts.taskTimeout && opts.taskTimeout > 0) env.ANSIBLE_TASK_TIMEOUT = String(opts.taskTimeout);
  return { argv, env, interactive: vaultPrompts(opts) };
}
