// Writes what ansible-playbook reads for one stage into `.hive/<stage>/`: the generated inventory,
// vars.yml (hive's variables) and ansible.cfg. The user's inventory group_vars/ and host_vars/
// reach Ansible through symlinks beside the generated inventory.yml: Ansible loads those folders
// relative to each inventory source, and a second `-i <inventory dir>` would make it try (and
// fail) to parse hive.yml and the service files as inventories of their own.
import { existsSync, lstatSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { ensureStateDir, writeAtomic } from '../state/files.js';
import { join } from 'node:path';
import type { HiveContext } from '../lib/context.js';
import type { PhaseName } from '../model/phases.js';
import type { Site } from '../model/site.js';
import { inventoryYamlText } from '../model/ansible-inventory.js';
import { readSettings } from '../state/settings.js';
import { StageDir } from '../state/stage-dir.js';
import type { RunOptions } from '../lib/run-options.js';
import { renderTemplate } from './templates.js';

export interface StageFiles {
  inventoryPath: string;
  varsPath: string;
  cfgPath: string;
}

export const DEFAULT_FORKS = 10;

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** hive's own playbook variables, then the caller's extra variables (which may override them). */
export function stageVars(ctx: HiveContext, phase: PhaseName | null, opts: RunOptions) {
  const hive: Record<string, unknown> = {
    hive_root_dir: ctx.rootDir,
    hive_stage: ctx.stage,
    hive_context_dir: ctx.stageDir,
    hive_inventory_dir: ctx.inventoryDir,
    hive_install_dir: ctx.installDir,
    hive_playbooks_dir: join(ctx.installDir, 'playbooks'),
    hive_phase: phase,
    hive_limit: opts.limit?.trim() ? opts.limit.trim() : null,
    hive_check: !!(opts.check || opts.dryRun),
    hive_destroy: !!opts.destroy,
    hive_halt: !!opts.halt,
    hive_force: !!opts.force,
    hive_prune: !!opts.prune,
    hive_verbose: (opts.verbose ?? 0) > 0,
  };
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(opts.extraVars ?? {})) {
    if (!VAR_NAME.test(key)) throw new Error(`extra variable name "${key}" is not a valid Ansible variable name`);
    if (key in hive) hive[key] = value;
    else extra[key] = value;
  }
  return { hive, extra };
}

/** Points `<stageDir>/<name>` at `<inventoryDir>/<name>`, or removes a stale link. */
function linkVarsDir(stageDir: StageDir, inventoryDir: string, name: 'group_vars' | 'host_vars'): void {
  const link = stageDir.varsLink(name);
  const target = join(inventoryDir, name);
  let current: string | undefined;
  try {
    const st = lstatSync(link);
    if (!st.isSymbolicLink()) return; // a real folder someone put there: leave it alone
    current = readlinkSync(link);
  } catch {
    current = undefined;
  }
  const wanted = existsSync(target) ? target : undefined;
  if (current === wanted) return;
  if (current !== undefined) rmSync(link, { force: true });
  if (wanted) symlinkSync(wanted, link, 'dir');
}

export function renderStageFiles(ctx: HiveContext, site: Site, phase: PhaseName | null, opts: RunOptions): StageFiles {
  const stageDir = new StageDir(ctx.stageDir);
  const paths: StageFiles = { inventoryPath: stageDir.inventory, varsPath: stageDir.vars, cfgPath: stageDir.ansibleCfg };
  ensureStateDir(ctx.stageDir);
  const templatesDir = join(ctx.installDir, 'templates');

  // toInventoryYaml as YAML 1.1 (Ansible's loader reads "yes" or "0777" back as strings), with
  // vaulted / unsafe values keeping their tags
  // inventory.yml holds the inventory's values, vars.yml extra variables that may be secrets:
  // like every file below .hive, only the owner reads them (writeAtomic: atomic, 0600)
  writeAtomic(paths.inventoryPath, inventoryYamlText(site, ctx.stage));
  linkVarsDir(stageDir, ctx.inventoryDir, 'group_vars');
  linkVarsDir(stageDir, ctx.inventoryDir, 'host_vars');

  writeAtomic(paths.varsPath, renderTemplate(templatesDir, 'vars.yml', stageVars(ctx, phase, opts)));

  const forks = Number(readSettings(ctx.hiveDir).forks ?? DEFAULT_FORKS);
  const cfg = renderTemplate(templatesDir, 'ansible.cfg', {
    ...paths,
    sshConfigPath: stageDir.sshConfig,
    knownHostsPath: stageDir.knownHosts,
    stage: ctx.stage,
    siteName: site.name,
    rootDir: ctx.rootDir,
    installDir: ctx.installDir,
    forks: Number.isInteger(forks) && forks > 0 ? forks : DEFAULT_FORKS,
  });
  writeAtomic(paths.cfgPath, cfg);
  return paths;
}
