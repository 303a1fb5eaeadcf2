// `hive config --stage S`: the stage as hive understands it, every default filled in: the stage
// settings, each server with its address and groups, and what is deployed on the stage.
// Secret values are masked (secrets.ts): the variable names stay, their values do not.
import { knownSecrets, maskValues } from './secrets.js';
import type { Site, StageName } from './site.js';

export function stageConfig(site: Site, stage: StageName): object {
  const st = site.stages[stage];
  if (!st) throw new Error(`stage ${stage} is not defined in the inventory`);
  const on = <T extends { stages: StageName[] }>(items: T[]) => items.filter((i) => i.stages.includes(stage));
  const servers = st.hosts.map((h) => {
    const groups = [h.isHive ? 'hives' : null, h.isRepository ? 'repository' : null, h.isFirstHive ? 'first_hive' : null];
    return {
      name: h.name,
      groups: groups.filter((g): g is string => g !== null),
      private_ip: h.privateIp,
      netmask: h.netmask,
      subnet: h.subnet,
      ...(h.availableZone !== undefined ? { available_zone: h.availableZone } : {}),
      vars: h.vars,
    };
  });
  return maskValues({
    name: site.name,
    stage,
    inventory: site.inventoryDir,
    source: `${st.source.file}:${st.source.line}`,
    settings: {
      provider: st.provider,
      ...st.settings,
    },
    mother: { name: st.motherName, vars: st.motherVars },
    group_vars: st.groupVars,
    servers,
    services: on(site.services).map((s) => ({
      name: s.name,
      source: `${s.source.file}:${s.source.line}`,
      ...(s.imageBuild ? { image_build: s.imageBuild } : {}),
      ...(s.volumes.length ? { volumes: s.volumes } : {}),
      vars: s.vars,
    })),
    images: on(site.images).map((i) => ({ name: i.name, service: i.service, vars: i.vars })),
    volumes: on(site.volumes).map((v) => ({ name: v.name, kind: v.kind, definition: v.definition })),
    networks: on(site.networks).map((n) => ({ name: n.name, vars: n.vars })),
    allocations:
      site.allocationStage === stage
        ? {
            drbd_minors: site.allocations.drbdMinors,
            published_ports: site.allocations.publishedPorts,
            drbd_disk_nodes: site.allocations.drbdDiskNodes,
            drbd_node_ids: site.allocations.drbdNodeIds,
          }
        : 'provisional (read without a stage)',
  }, knownSecrets(site, stage));
}
