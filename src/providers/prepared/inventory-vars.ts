// Variables users set in the inventory's group_vars (hive_admin, hive_ec2_group_rules, ...). The
// Site model carries the stage's own variables; Ansible reads group_vars itself, but build-infra
// runs before Ansible and needs a few of them, so they are looked up here.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Host, Site, Stage } from '../../model/site.js';

function readVarsFile(path: string): Record<string, unknown> {
  try {
    const v = parse(readFileSync(path, 'utf8'), { logLevel: 'silent' }) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** group_vars/<group>.yml, .yaml, or every file of group_vars/<group>/. */
function groupFile(inventoryDir: string, group: string): Record<string, unknown> {
  const base = join(inventoryDir, 'group_vars', group);
  let out: Record<string, unknown> = {};
  for (const ext of ['', '.yml', '.yaml']) {
    const p = base + ext;
    if (!existsSync(p)) continue;
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p).sort()) if (/\.ya?ml$/.test(f)) out = { ...out, ...readVarsFile(join(p, f)) };
    } else if (ext) out = { ...out, ...readVarsFile(p) };
  }
  return out;
}

/**
 * A variable for a server, by Ansible's precedence (most specific first): host vars of the
 * model, the stage's group vars, then group_vars files of the host's groups and `all`.
 */
export function hostVar(site: Site, stage: Stage, host: Host | undefined, key: string): unknown {
  if (host && host.vars[key] !== undefined) return host.vars[key];
  if (stage.groupVars[key] !== undefined) return stage.groupVars[key];
  const groups = [
    stage.name,
    ...(host?.isFirstHive ? ['first_hive'] : []),
    ...(host?.isRepository ? ['repository'] : []),
    ...(host?.isHive ? ['hives'] : []),
    'servers',
    'hosts',
    'all',
  ];
  for (const g of groups) {
    const v = groupFile(site.inventoryDir, g)[key];
    if (v !== undefined) return v;
  }
  return undefined;
}
