// The phases of a site build, in the order `hive all` runs them, with what each one accepts.
// The one list of phase names: the CLI (commands, option checks) and the runner (limit
// patterns, resume) read it from here.

/** What a phase's `-l NAMES` names, i.e. how it becomes ansible-playbook's `--limit`. */
export type LimitKind =
  /** host names (short names are widened to inventory names) */
  | 'hosts'
  /** service names, built on their `image_<svc>` hosts and the repository */
  | 'images'
  /** service names, each an inventory host */
  | 'services'
  /** only passed on as `hive_limit`: the Ansible run stays on the whole stage */
  | 'vars';

/** What the names of `-l` must be, checked before Ansible starts (hosts take Ansible patterns). */
export type LimitNames = 'images' | 'volumes' | 'networks' | 'services';

export interface PhaseSpec {
  name: string;
  limit: LimitKind;
  names?: LimitNames;
  /** Takes -D/--destroy: destroys what it builds. */
  destroy?: boolean;
  /** Takes -H/--halt: stops the hosts. */
  halt?: boolean;
  /** Takes --prune: removes the stage's services that are no longer in the inventory. */
  prune?: boolean;
}

// hive-builder's mapping of -l, -D and -H
export const PHASE_TABLE = [
  { name: 'build-infra', limit: 'vars', destroy: true, halt: true },
  { name: 'setup-hosts', limit: 'hosts' },
  { name: 'build-images', limit: 'images', names: 'images' },
  { name: 'build-volumes', limit: 'vars', names: 'volumes', destroy: true },
  { name: 'build-networks', limit: 'vars', names: 'networks' },
  { name: 'deploy-services', limit: 'vars', names: 'services', destroy: true, prune: true },
  { name: 'initialize-services', limit: 'services', names: 'services' },
] as const satisfies readonly PhaseSpec[];

export type PhaseName = (typeof PHASE_TABLE)[number]['name'];

export const PHASES: readonly PhaseName[] = PHASE_TABLE.map((p) => p.name);

export function phaseSpec(phase: PhaseName): PhaseSpec {
  return PHASE_TABLE.find((p) => p.name === phase)!;
}

/** The phases that take an option, in phase order (for messages such as "only build-infra"). */
export function phasesWith(option: 'destroy' | 'halt' | 'prune'): PhaseName[] {
  return PHASES.filter((p) => phaseSpec(p)[option] === true);
}

export function isPhaseName(name: string): name is PhaseName {
  return (PHASES as readonly string[]).includes(name);
}
