// The Ansible inventory of one stage, in the two shapes Ansible knows:
//  - toAnsibleInventory: what `ansible-inventory --list` prints (hostvars merged, groups as lists),
//  - toInventoryYaml: the YAML inventory file (`all: {vars, children}`) hive writes to
//    `.hive/<stage>/inventory.yml`. Ansible reading that file prints exactly toAnsibleInventory.
// Hosts, groups and variables are those of hive-builder's hive_inventory + hive_services plugins,
// restricted to the stage, plus the variables hive-builder derived in its playbook group_vars.
import { AnsibleUnsafe, AnsibleVault, yamlOutputTags } from '../lib/yaml-dialect.js';
import { yamlLib } from '../lib/yaml-lib.js';
import type { Site, Stage, StageName } from './site.js';
import { serviceSpec, type ServiceSpecContext } from './service-spec.js';

/** hive-builder's registry port (hive_registry_port default). */
export const REGISTRY_PORT = 5000;
/** Published ports below this are opened in cloud firewalls (hive_published_ports_tcp/udp). */
export const FIREWALL_PORT_LIMIT = 10000;

/** Groups of the generated inventory, in the order they are declared. */
export const GROUPS = [
  'hosts',
  'servers',
  'hives',
  'repository',
  'mother',
  'first_hive',
  'services',
  'images',
  'volumes',
  'drbd_volumes',
  'nfs_volumes',
  'networks',
] as const;

type Vars = Record<string, unknown>;

interface Group {
  hosts: string[];
  children: string[];
  vars: Vars;
}

interface StageInventory {
  /** Children of `all`, in order. */
  top: string[];
  groups: Map<string, Group>;
  allVars: Vars;
  /** Host → its own variables, in host order (mother, servers, services, images, volumes, networks). */
  hostVars: Map<string, Vars>;
}

function stageOf(site: Site, stage: StageName): Stage {
  const st = site.stages[stage];
  if (!st) throw new Error(`stage ${stage} is not defined in the inventory`);
  if (site.allocationStage && site.allocationStage !== stage)
    throw new Error(`the site was read for stage ${site.allocationStage}, not ${stage} (its allocations differ per stage)`);
  return st;
}

/** Variables hive-builder computed in playbooks/group_vars; here they are plain inventory variables. */
function derivedVars(site: Site, st: Stage): Vars {
  const repository = st.hosts.find((h) => h.isRepository);
  const registryHost = st.settings.shared_repository !== undefined ? 'shared-repository' : repository?.name;
  const tcp = new Set<number>();
  const udp = new Set<number>();
  for (const service of site.services) {
    if (!service.stages.includes(st.name)) continue;
    for (const port of service.ports) {
      if (port.published_port >= FIREWALL_PORT_LIMIT) continue;
      if (port.protocol === 'tcp') tcp.add(port.published_port);
      if (port.protocol === 'udp') udp.add(port.published_port);
    }
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return {
    hive_name: site.name,
    hive_stage: st.name,
    ...(registryHost ? { hive_registry: `${registryHost}:${REGISTRY_PORT}` } : {}),
    hive_published_ports_tcp: sorted(tcp),
    hive_published_ports_udp: sorted(udp),
  };
}

function buildStageInventory(site: Site, stage: StageName): StageInventory {
  const st = stageOf(site, stage);
  const groups = new Map<string, Group>();
  const group = (name: string): Group => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { hosts: [], children: [], vars: {} }));
    return g;
  };
  for (const name of GROUPS) group(name);
  group('hosts').children.push('servers', 'mother');
  group('servers').children.push('hives', 'repository');
  const stageGroup = group(stage);
  stageGroup.vars = { ...st.groupVars };

  const hostVars = new Map<string, Vars>();
  const add = (host: string, vars: Vars, ...groupNames: string[]) => {
    hostVars.set(host, vars);
    stageGroup.hosts.push(host);
    for (const g of groupNames) group(g).hosts.push(host);
  };

  add(st.motherName, { ...st.motherVars }, 'mother');
  // the mother is the machine hive runs on
  group('mother').vars = { ansible_connection: 'local', ansible_python_interpreter: '{{ ansible_playbook_python }}' };
  for (const host of st.hosts) {
    const groupNames: string[] = [];
    if (host.isHive) groupNames.push('hives');
    if (host.isRepository) groupNames.push('repository');
    add(host.name, { ...host.vars }, ...groupNames);
  }
  const firstHive = st.hosts.find((h) => h.isFirstHive);
  if (firstHive) {
    group('first_hive').hosts.push(firstHive.name);
    group('hives').vars = { hive_swarm_master: firstHive.name };
  }

  const specContext: ServiceSpecContext = {
    stage: st,
    drbdSources: new Set(site.volumes.filter((v) => v.kind === 'drbd' && v.stages.includes(stage)).map((v) => v.source)),
    // on the local provider drbd volumes are plain local volumes (no DRBD in containers)
    volumeDriver: st.provider !== 'local',
    defaultNetworks: site.networks.filter((n) => n.stages.includes(stage)).map((n) => n.name),
    imageVars: new Map(site.images.map((i) => [i.name, i.vars])),
  };
  for (const service of site.services) {
    if (service.stages.includes(stage)) add(service.name, { ...service.vars, hive_service_spec: serviceSpec(service, specContext) }, 'services');
  }
  for (const image of site.images) if (image.stages.includes(stage)) add(image.name, image.vars, 'images');
  for (const volume of site.volumes) {
    if (!volume.stages.includes(stage)) continue;
    const g = volume.kind === 'drbd' ? 'drbd_volumes' : volume.kind === 'nfs' ? 'nfs_volumes' : 'volumes';
    add(volume.name, { hive_volume: volume.definition }, g);
  }
  for (const network of site.networks) if (network.stages.includes(stage)) add(network.name, network.vars, 'networks');

  return {
    top: ['hosts', 'first_hive', stage, 'services', 'images', 'volumes', 'drbd_volumes', 'nfs_volumes', 'networks'],
    groups,
    allVars: derivedVars(site, st),
    hostVars,
  };
}

/** Group variables that apply to a host, lowest precedence first (Ansible: by group depth). */
function groupVarLayers(inv: StageInventory, stage: StageName): (host: string) => Vars[] {
  const mother = new Set(inv.groups.get('mother')!.hosts);
  const hives = new Set(inv.groups.get('hives')!.hosts);
  const base = [inv.allVars, inv.groups.get(stage)!.vars];
  const motherLayers = [...base, inv.groups.get('mother')!.vars];
  const hiveLayers = [...base, inv.groups.get('hives')!.vars];
  return (host) => (mother.has(host) ? motherLayers : hives.has(host) ? hiveLayers : base);
}

/**
 * The inventory of one stage in the shape `ansible-inventory --list` prints: `_meta.hostvars`
 * (group variables merged into each host), `all.children`, and each non-empty group as
 * `{hosts?, children?}`. Groups, hosts and variable names are sorted like Ansible's JSON output
 * (keys inside variable values keep the inventory's order). Serialise with JSON.stringify:
 * vaulted values print as `{"__ansible_vault": ...}` as Ansible prints them.
 */
export function toAnsibleInventory(site: Site, stage: StageName): object {
  const inv = buildStageInventory(site, stage);
  const layersOf = groupVarLayers(inv, stage);
  const hostvars: Vars = {};
  for (const host of [...inv.hostVars.keys()].sort()) {
    const merged: Vars = {};
    for (const layer of layersOf(host)) Object.assign(merged, layer);
    Object.assign(merged, inv.hostVars.get(host));
    // variable names sorted like Ansible's output; values are shared, not copied
    const sorted: Vars = {};
    for (const key of Object.keys(merged).sort()) sorted[key] = merged[key];
    hostvars[host] = sorted;
  }
  const out: Vars = {
    _meta: { hostvars },
    all: { children: ['ungrouped', ...inv.top] },
  };
  for (const name of [...inv.groups.keys()].sort()) {
    const g = inv.groups.get(name)!;
    const entry: Vars = {};
    if (g.children.length) entry.children = [...g.children];
    if (g.hosts.length) entry.hosts = [...g.hosts];
    if (Object.keys(entry).length) out[name] = entry;
  }
  return out;
}

/** Values for the YAML file: vaulted / unsafe values keep their Ansible tags whoever stringifies. */
function yamlValue(value: unknown): unknown {
  if (value instanceof AnsibleVault) {
    const { Scalar } = yamlLib();
    const node = new Scalar(value.ciphertext);
    node.tag = '!vault';
    node.type = 'BLOCK_LITERAL';
    return node;
  }
  if (value instanceof AnsibleUnsafe) {
    const { Scalar } = yamlLib();
    const node = new Scalar(value.text);
    node.tag = '!unsafe';
    return node;
  }
  if (Array.isArray(value)) return value.map(yamlValue);
  if (value && typeof value === 'object') {
    const out: Vars = {};
    for (const [k, v] of Object.entries(value)) out[k] = yamlValue(v);
    return out;
  }
  return value;
}

/**
 * The inventory of one stage as a YAML inventory file (Ansible's yaml plugin form):
 * `{all: {vars, children: {hosts: {children: {servers: ..., mother: ...}}, first_hive, <stage>, services, ...}}}`.
 * Every host's variables sit under the stage group, which lists all hosts of the stage.
 * Stringify it with YAML 1.1 (see inventoryYamlText) so Ansible reads strings like "yes" back as strings.
 */
export function toInventoryYaml(site: Site, stage: StageName): object {
  const inv = buildStageInventory(site, stage);
  const groupNode = (name: string): Vars => {
    const g = inv.groups.get(name)!;
    const node: Vars = {};
    if (g.hosts.length) {
      const hosts: Vars = {};
      for (const h of g.hosts) hosts[h] = name === stage ? yamlValue(inv.hostVars.get(h)) : {};
      node.hosts = hosts;
    }
    if (Object.keys(g.vars).length) node.vars = yamlValue(g.vars);
    if (g.children.length) {
      const children: Vars = {};
      for (const c of g.children) children[c] = groupNode(c);
      node.children = children;
    }
    return node;
  };
  const children: Vars = {};
  for (const name of inv.top) children[name] = groupNode(name);
  return { all: { vars: yamlValue(inv.allVars), children } };
}

/** The text of `.hive/<stage>/inventory.yml`. */
export function inventoryYamlText(site: Site, stage: StageName): string {
  return (
    `# Generated by hive for stage ${stage} of site ${site.name}: do not edit (edit the inventory folder instead).\n` +
    yamlLib().stringify(toInventoryYaml(site, stage), { version: '1.1', customTags: yamlOutputTags, lineWidth: 0 })
  );
}
