// The options commands share (global, phase and vault flags) and their translation into the
// runner's options.
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import { phasesWith, type PhaseName } from '../model/phases.js';
import { STAGES } from '../model/site.js';
import type { Settings } from '../state/settings.js';
import { UsageError } from '../lib/errors.js';

/** Options every command accepts, before or after the command name. */
export interface GlobalOpts {
  root?: string;
  stage?: string;
  inventory?: string;
  verbose?: number;
}

export interface PhaseOpts extends GlobalOpts {
  phase?: string;
  limit?: string;
  tags?: string;
  check?: boolean;
  destroy?: boolean;
  halt?: boolean;
  json?: boolean;
  dryRun?: boolean;
  force?: boolean;
  from?: string;
  silentAfter?: string;
  taskTimeout?: string;
  yes?: boolean;
  prune?: boolean;
  vaultId?: string[];
  vaultPasswordFile?: string[];
  askVaultPass?: boolean;
}

const increase = (_: string, previous = 0) => previous + 1;
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addGlobalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-r, --root <dir>', 'project root folder (default: current folder)'))
    .addOption(new Option('--root_dir <dir>').hideHelp())
    .addOption(new Option('-s, --stage <stage>', 'stage to act on (default: `hive set stage`, else private)').choices(STAGES))
    .addOption(new Option('-i, --inventory <dir>', 'inventory folder (default: <root>/inventory)'))
    .addOption(new Option('--inventory_path <dir>').hideHelp())
    .addOption(new Option('-v, --verbose', 'more output (repeat for more); -v passes -vvv to ansible-playbook').argParser(increase));
}

/** ansible-vault flags, handed to every Ansible process the command starts (see lib/run-options.ts). */
export function addVaultOptions(cmd: Command): Command {
  return cmd
    .option('--vault-id <id>', 'vault identity for Ansible, [LABEL@]FILE or [LABEL@]prompt (repeatable)', collect)
    .option('--vault-password-file <file>', 'vault password file for Ansible (repeatable)', collect)
    .option('--ask-vault-pass', 'ask for the vault password once (on a terminal, else one line of stdin)');
}

export function addPhaseOptions(cmd: Command): Command {
  return addVaultOptions(cmd)
    .option('-l, --limit <names>', 'limit to these hosts / services / images / volumes (comma separated, per phase)')
    .option('-T, --tags <tags>', 'run only roles/tasks with these tags (comma separated)')
    .option('-C, --check', 'Ansible check mode: report what would change, change nothing')
    .option('-D, --destroy', `destroy what the phase builds (${phasesWith('destroy').join(', ')})`)
    .option('-H, --halt', `stop the hosts (${phasesWith('halt').join(', ')})`)
    .option('--yes', 'confirm -D without being asked (needed when not on a terminal)')
    .option('--prune', `${phasesWith('prune').join(', ')}: also remove services of the stage that are no longer in the inventory`)
    .option('--dry-run', 'print what would be done without changing anything')
    .option('--force', 'redo once-only work (initialize-services)')
    .option('--json', 'print NDJSON events on stdout instead of progress')
    .option('--silent-after <seconds>', 'report a task silent for this long (default 300)')
    .option('--task-timeout <seconds>', 'fail a task, naming it and its host, when it runs longer than this (default: `hive set task_timeout`, else no limit)');
}

/** The command's options with the global ones, hive-builder's spellings folded in. */
export function globals(cmd: Command): GlobalOpts {
  const o = cmd.optsWithGlobals() as GlobalOpts & { root_dir?: string; inventory_path?: string };
  return { ...o, root: o.root ?? o.root_dir, inventory: o.inventory ?? o.inventory_path };
}

/** The vault flags; relative files are made absolute here, since Ansible runs in the project root. */
export function vaultOptions(o: PhaseOpts) {
  const file = (f: string) => {
    const abs = resolvePath(f);
    if (!existsSync(abs)) throw new UsageError(`vault password file ${f} does not exist`);
    return abs;
  };
  const id = (v: string) => {
    const at = v.indexOf('@');
    const source = at >= 0 ? v.slice(at + 1) : v;
    return source === 'prompt' || source === '' ? v : `${at >= 0 ? v.slice(0, at + 1) : ''}${file(source)}`;
  };
  return {
    vaultIds: o.vaultId?.map(id),
    vaultPasswordFiles: o.vaultPasswordFile?.map(file),
    askVaultPass: o.askVaultPass,
  };
}

/** Refuses -D, -H and --prune on phases that do not take them (see the phase table). */
export function checkPhaseOptions(phase: PhaseName, o: PhaseOpts): void {
  const only = (option: 'destroy' | 'halt' | 'prune') => phasesWith(option).join(', ');
  if (o.destroy && !phasesWith('destroy').includes(phase)) throw new UsageError(`-D/--destroy is not available on ${phase} (only ${only('destroy')})`);
  if (o.halt && !phasesWith('halt').includes(phase)) throw new UsageError(`-H/--halt is only available on ${only('halt')}`);
  if (o.destroy && o.halt) throw new UsageError('-D/--destroy and -H/--halt cannot be used together');
  if (o.prune && !phasesWith('prune').includes(phase)) throw new UsageError(`--prune is only available on ${only('prune')}`);
}

/** The runner's options from the command line; --silent-after and --task-timeout default to the settings. */
export function runOptions(o: PhaseOpts, settings: Settings) {
  let silentAfter: number | undefined;
  if (o.silentAfter !== undefined) {
    silentAfter = Number(o.silentAfter);
    if (!Number.isFinite(silentAfter) || silentAfter <= 0) throw new UsageError(`--silent-after: "${o.silentAfter}" is not a number of seconds`);
  } else if (settings.silent_after !== undefined) {
    silentAfter = Number(settings.silent_after);
  }
  let taskTimeout: number | undefined;
  if (o.taskTimeout !== undefined) {
    taskTimeout = Number(o.taskTimeout);
    if (!Number.isInteger(taskTimeout) || taskTimeout < 0) throw new UsageError(`--task-timeout: "${o.taskTimeout}" is not a whole number of seconds`);
  } else if (settings.task_timeout !== undefined) {
    taskTimeout = Number(settings.task_timeout);
  }
  return {
    limit: o.limit,
    tags: o.tags,
    check: o.check,
    destroy: o.destroy,
    halt: o.halt,
    verbose: o.verbose,
    json: o.json,
    dryRun: o.dryRun,
    force: o.force,
    silentAfter,
    taskTimeout,
    prune: o.prune,
    ...vaultOptions(o),
  };
}
