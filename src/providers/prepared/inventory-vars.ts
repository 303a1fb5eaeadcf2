// Variables users set in the inventory's group_vars / host_vars (hive_admin, hive_ec2_group_rules,
// ...). The Site model carries the stage's own variables; Ansible reads the files itself, but
// build-infra runs before Ansible and needs a few of them: the provider reads them through
// Ansible first (src/model/inventory-vars.ts, vault flags applied) and looks them up here.
import type { Host, Site, Stage } from '../../model/site.js';
import type { InventoryVars } from '../../model/inventory-vars.js';

/**
 * A variable for a server, most specific first: the host's host_vars file (Ansible ranks it
 * above inventory host variables), host vars of the model, the stage's group vars, then the
 * group_vars files of the host's groups and `all`.
 */
export function hostVar(site: Site, stage: Stage, host: Host | undefined, key: string, files: InventoryVars): unknown {
  if (host && files.hosts[host.name]?.[key] !== undefined) return files.hosts[host.name]![key];
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
    const v = files.groups[g]?.[key];
    if (v !== undefined) return v;
  }
  return undefined;
}
