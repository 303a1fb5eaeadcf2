// The stages section of hive.yml (stages.private / staging / production): the checks the JSON
// Schema cannot express (provider-specific keys, network arithmetic, the number of servers) and
// the typed build of a Stage with its hosts (names, addresses, zones, per-host variables) as
// hive-builder's hive_inventory plugin derived them.
import type { SourceDoc } from '../inventory/load.js';
import {
  SKIP_PER_SUBNET,
  SKIP_WITHOUT_SUBNETS,
  containsAddress,
  containsNetwork,
  formatIpv4,
  formatNetwork,
  hostCount,
  lastAddress,
  netmask,
  nthHost,
  overlaps,
  parseIpv4,
  parseIpv4Network,
  type Ipv4Network,
} from '../lib/ipv4.js';
import { reporter, show, type KeyPath, type Problem, type Report } from '../lib/problems.js';
import { STAGES, type Host, type ProviderName, type Stage, type StageName, type Subnet } from './site.js';
import { isObject } from '../lib/values.js';


// ---------------------------------------------------------------------------------------------
// checks

const CLOUDS: ProviderName[] = ['aws', 'azure', 'gcp', 'openstack'];

/**
 * Keys only meaningful on some providers (hive-builder's own refusals, plus aws-only encryption
 * and cloud-only sizing). Keys not listed are accepted on every provider except `local`.
 */
const ONLY_ON: Record<string, ProviderName[]> = {
  kickstart_config: ['kickstart'],
  prepared_resource_group: ['azure'],
  not_support_az: ['azure'],
  repository_memory_size: ['vagrant'],
  bridge: ['vagrant'],
  dev: ['vagrant'],
  memory_size: ['vagrant', 'prepared', 'kickstart', 'local'],
  kms_key_id: ['aws'],
  disk_encrypted: ['aws'],
  repository_disk_encrypted: ['aws'],
  mirrored_disk_encrypted: ['aws'],
  region: CLOUDS,
  az_suffix_list: CLOUDS,
  instance_type: CLOUDS,
  repository_instance_type: CLOUDS,
  filestore_cidr: ['gcp'],
};

/** The `local` provider (docker containers on this machine) takes only these keys. */
export const LOCAL_KEYS = [
  'provider',
  'cidr',
  'number_of_hosts',
  'separate_repository',
  'custom_hostname',
  'memory_size',
  'cpus',
  'internal_cidr',
];

/** Host names are `<custom_hostname><index>.<name>`; hive-builder required the two under 55 characters. */
export const MAX_HOSTNAME_STEM_AND_NAME = 55;

function checkNetwork(text: unknown, path: KeyPath, report: Report): Ipv4Network | null {
  if (typeof text !== 'string') return null;
  const net = parseIpv4Network(text);
  if (!net) return null; // the schema pattern reported it
  if (net.hostBits) {
    report(path, `${show(text)} is not an IPv4 network: host bits are set (did you mean ${formatNetwork(net)}?)`);
    return null;
  }
  return net;
}

export function numberOfHosts(stage: Record<string, any>): number {
  if (Array.isArray(stage.ip_address_list)) return stage.ip_address_list.length;
  if (Number.isInteger(stage.number_of_hosts)) return stage.number_of_hosts;
  return stage.separate_repository === false ? 3 : 4;
}

export function checkHiveDoc(doc: SourceDoc, problems: Problem[]): void {
  const report = reporter(doc, problems);
  const data = doc.plain;
  const siteName: string = typeof data.name === 'string' ? data.name : '';
  if (!isObject(data.stages)) return;
  for (const [stageName, stage] of Object.entries<any>(data.stages)) {
    if (!isObject(stage)) continue;
    const at = (...rest: KeyPath): KeyPath => ['stages', stageName, ...rest];
    const provider = stage.provider as ProviderName;

    // provider-specific keys
    if (typeof provider === 'string') {
      for (const key of Object.keys(stage)) {
        if (provider === 'local') {
          if (!LOCAL_KEYS.includes(key) && key !== 'nameservers')
            report(at(key), `not allowed with provider "local" (it takes ${LOCAL_KEYS.slice(1).join(', ')})`);
          continue;
        }
        const allowed = ONLY_ON[key];
        if (allowed && !allowed.includes(provider))
          report(at(key), `not allowed with provider ${JSON.stringify(provider)} (only with ${allowed.join(', ')})`);
      }
    }

    // the aws provider takes the region from here only (src/providers/aws/desired.ts stageRegion:
    // stages.<s>.region, which is also the mother variable hive_region); without one build-infra
    // cannot even connect, so say so for every such stage, not when its build-infra runs
    if (provider === 'aws' && (typeof stage.region !== 'string' || stage.region.trim() === ''))
      report(at('region'), "missing required key: provider aws needs the stage's AWS region (e.g. region: ap-northeast-1)");

    for (const key of ['disk_encrypted', 'repository_disk_encrypted', 'mirrored_disk_encrypted']) {
      if (stage[key] === true && stage.kms_key_id === undefined) report(at(key), 'requires kms_key_id');
    }

    if (typeof stage.custom_hostname === 'string' && /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(stage.custom_hostname)) {
      if (stage.custom_hostname.length + siteName.length >= MAX_HOSTNAME_STEM_AND_NAME)
        report(
          at('custom_hostname'),
          `${show(stage.custom_hostname)} is too long: custom_hostname and name together must be under ${MAX_HOSTNAME_STEM_AND_NAME} characters`,
        );
    }

    if (stage.shared_repository !== undefined && stage.separate_repository === false)
      report(at('shared_repository'), 'requires separate_repository: true');

    const hosts = numberOfHosts(stage);
    if (hosts === 1 && stage.separate_repository !== false && stage.ip_address_list === undefined)
      report(
        at(stage.number_of_hosts !== undefined ? 'number_of_hosts' : 'separate_repository'),
        'one server with separate_repository: true leaves no hive (swarm node): use 2 or more servers, or separate_repository: false',
      );
    if (Array.isArray(stage.ip_address_list) && stage.ip_address_list.length === 1 && stage.separate_repository !== false)
      report(
        at('ip_address_list'),
        'one server with separate_repository: true leaves no hive (swarm node): list 2 or more addresses, or set separate_repository: false',
      );

    // networks
    const cidr = checkNetwork(stage.cidr, at('cidr'), report);
    const subnets: { net: Ipv4Network; index: number }[] = [];
    if (Array.isArray(stage.subnets)) {
      stage.subnets.forEach((s: any, index: number) => {
        if (!isObject(s)) return;
        const net = checkNetwork(s.cidr, at('subnets', index, 'cidr'), report);
        if (!net) return;
        if (cidr && !containsNetwork(cidr, net))
          report(at('subnets', index, 'cidr'), `${show(s.cidr)} is not inside the stage cidr ${formatNetwork(cidr)}`);
        for (const other of subnets) {
          if (overlaps(other.net, net))
            report(
              at('subnets', index, 'cidr'),
              `${show(s.cidr)} overlaps subnet ${other.index} (${formatNetwork(other.net)})`,
            );
        }
        subnets.push({ net, index });
      });
    }
    const internal = checkNetwork(stage.internal_cidr, at('internal_cidr'), report);
    if (internal && cidr && overlaps(internal, cidr))
      report(at('internal_cidr'), `${show(stage.internal_cidr)} overlaps the stage cidr ${formatNetwork(cidr)}`);
    checkNetwork(stage.filestore_cidr, at('filestore_cidr'), report);

    // addresses
    if (Array.isArray(stage.ip_address_list)) {
      if (stage.subnets !== undefined)
        report(at('ip_address_list'), 'cannot be combined with subnets (addresses come from the subnets)');
      if (Number.isInteger(stage.number_of_hosts) && stage.number_of_hosts !== stage.ip_address_list.length)
        report(
          at('number_of_hosts'),
          `is ${stage.number_of_hosts} but ip_address_list has ${stage.ip_address_list.length} address${stage.ip_address_list.length === 1 ? '' : 'es'}`,
        );
      const seen = new Map<number, number>();
      stage.ip_address_list.forEach((text: unknown, index: number) => {
        if (typeof text !== 'string') return;
        const addr = parseIpv4(text);
        if (addr === null) return;
        const first = seen.get(addr);
        if (first !== undefined) report(at('ip_address_list', index), `${show(text)} is listed twice (also item ${first})`);
        else seen.set(addr, index);
        if (cidr && stage.subnets === undefined) {
          if (!containsAddress(cidr, addr))
            report(at('ip_address_list', index), `${show(text)} is not inside the stage cidr ${formatNetwork(cidr)}`);
          else if (cidr.prefix < 31 && (addr === cidr.base || addr === lastAddress(cidr)))
            report(
              at('ip_address_list', index),
              `${show(text)} is the ${addr === cidr.base ? 'network' : 'broadcast'} address of ${formatNetwork(cidr)}`,
            );
        }
      });
    } else if (stage.subnets === undefined) {
      if (cidr) {
        const room = Math.max(0, hostCount(cidr) - SKIP_WITHOUT_SUBNETS);
        if (hosts > room)
          report(
            at('cidr'),
            `${formatNetwork(cidr)} is too small for ${hosts} servers (the first ${SKIP_WITHOUT_SUBNETS} addresses are reserved; room for ${room})`,
          );
      }
    } else if (subnets.length === (stage.subnets as unknown[]).length && subnets.length > 0) {
      // server i goes to subnet i mod n
      for (const { net, index } of subnets) {
        const needed = Math.ceil((hosts - index) / subnets.length);
        const room = Math.max(0, hostCount(net) - SKIP_PER_SUBNET);
        if (needed > room)
          report(
            at('subnets', index, 'cidr'),
            `${formatNetwork(net)} is too small for its ${needed} server${needed === 1 ? '' : 's'} (the first ${SKIP_PER_SUBNET} addresses are reserved; room for ${room})`,
          );
      }
    }
  }
}

/** The --first-hive index (group first_hive) names a hive of each stage read. */
export function checkFirstHive(hiveDoc: SourceDoc, stages: StageName[], firstHive: number, problems: Problem[]): void {
  if (!Number.isInteger(firstHive) || firstHive < 0) {
    problems.push({ file: hiveDoc.file, line: 1, key: 'first_hive', message: `first hive index ${firstHive} is not a number 0 or more` });
    return;
  }
  for (const stage of stages) {
    const raw = hiveDoc.plain.stages[stage];
    if (!isObject(raw)) continue;
    const count = numberOfHosts(raw);
    const hives = raw.separate_repository === false ? count : count - 1;
    if (hives > 0 && firstHive >= hives) // no hive at all is reported by the semantic checks
      problems.push({
        file: hiveDoc.file,
        line: hiveDoc.lineOf(['stages', stage]),
        key: `stages.${stage}`,
        message: `first hive index ${firstHive} is not one of the stage's ${hives} hive${hives === 1 ? '' : 's'} (hive-builder's first_hive setting)`,
      });
  }
}

// ---------------------------------------------------------------------------------------------
// stages of services, volumes and networks

/** Stages of a service: its own available_on, else its file's, else all three. */
export function serviceStages(service: Record<string, any>, fileDefault: unknown): StageName[] {
  const list = Array.isArray(service.available_on)
    ? service.available_on
    : Array.isArray(fileDefault)
      ? fileDefault
      : STAGES;
  return STAGES.filter((s) => list.includes(s));
}

/** The stages of either. */
export function mergeStages(a: StageName[], b: StageName[]): StageName[] {
  return STAGES.filter((s) => a.includes(s) || b.includes(s));
}

// ---------------------------------------------------------------------------------------------
// build

export const STAGE_PREFIX: Record<StageName, string> = { private: 'p-', staging: 's-', production: '' };

export function buildStage(siteName: string, name: StageName, raw: Record<string, any>, firstHive: number, source: { file: string; line: number }): Stage {
  const prefix = STAGE_PREFIX[name];
  const provider = raw.provider as ProviderName;
  const separateRepository = raw.separate_repository !== false;
  const customHostname: string = raw.custom_hostname ?? 'hive';
  const count = numberOfHosts(raw);
  const motherName = `${prefix}mother.${siteName}`;

  const motherVars: Record<string, unknown> = { hive_cidr: raw.cidr };
  const toMother: [string, string][] = [
    ['prepared_resource_group', 'hive_prepared_resource_group'],
    ['not_support_az', 'hive_not_support_az'],
    ['region', 'hive_region'],
    ['bridge', 'hive_bridge'],
    ['dev', 'hive_dev'],
    ['kickstart_config', 'hive_kickstart_config'],
    ['filestore_cidr', 'hive_filestore_cidr'],
    ['shared_repository', 'hive_shared_repository'],
  ];
  for (const [key, variable] of toMother) if (raw[key] !== undefined) motherVars[variable] = raw[key];

  // address pools: the subnets (skip 4 each) or the stage cidr (skip 3) / ip_address_list
  let subnets: Subnet[];
  if (Array.isArray(raw.subnets)) {
    subnets = raw.subnets.map((s: any, i: number) => ({
      cidr: s.cidr,
      name: s.name ?? `${prefix}subnet${i}`,
      ...(s.available_zone !== undefined ? { availableZone: s.available_zone } : {}),
    }));
    motherVars.hive_subnets = raw.subnets; // as written (hive-builder does not add default names here)
  } else {
    subnets = [{ cidr: raw.cidr, name: `${siteName}-default` }];
    motherVars.hive_subnets = [{ cidr: raw.cidr, name: `${siteName}-default` }];
  }
  const nets = subnets.map((s) => parseIpv4Network(s.cidr)!);

  const hosts: Host[] = [];
  for (let index = 0; index < count; index++) {
    const isRepository = index === count - 1;
    const isHive = !isRepository || !separateRepository;
    const vars: Record<string, unknown> = {};
    const copy = (key: string, variable: string) => {
      if (raw[key] !== undefined) vars[variable] = raw[key];
    };
    copy('root_password', 'hive_root_password');
    copy('kernel_version', 'hive_kernel_version');
    copy('drbd_download_url', 'hive_drbd_download_url');
    copy('internal_cidr', 'hive_internal_cidr');
    copy('internal_cidr_v6', 'hive_internal_cidr_v6');
    copy('kms_key_id', 'hive_kms_key_id');
    copy('shared_repository', 'hive_shared_repository');
    if (isHive) {
      copy('memory_size', 'hive_memory_size');
      copy('cpus', 'hive_cpus');
      copy('disk_size', 'hive_disk_size');
      copy('disk_encrypted', 'hive_disk_encrypted');
      copy('instance_type', 'hive_instance_type');
      copy('mirrored_disk_size', 'hive_mirrored_disk_size');
      copy('mirrored_disk_encrypted', 'hive_mirrored_disk_encrypted');
    }
    if (isRepository) {
      // on a combined last server the repository_* values win
      copy('repository_memory_size', 'hive_memory_size');
      copy('repository_cpus', 'hive_cpus');
      copy('repository_disk_size', 'hive_disk_size');
      copy('repository_disk_encrypted', 'hive_disk_encrypted');
      copy('repository_instance_type', 'hive_instance_type');
    }
    copy('image_name', 'hive_vm_image_name');

    const slot = index % subnets.length;
    const subnet = subnets[slot]!;
    const net = nets[slot]!;
    vars.hive_subnet = subnet.name;
    let availableZone: string | number | undefined;
    if (raw.region !== undefined) {
      const suffixes: string[] = raw.az_suffix_list ?? ['-a', '-b', '-c'];
      const fallback = provider === 'azure' ? (index % 3) + 1 : raw.region + suffixes[index % suffixes.length];
      availableZone = subnet.availableZone ?? fallback;
      vars.hive_available_zone = availableZone;
    }
    let privateIp: string;
    if (Array.isArray(raw.subnets)) {
      // the k-th server dealt to this subnet
      privateIp = formatIpv4(nthHost(net, SKIP_PER_SUBNET + Math.floor(index / subnets.length)));
    } else if (Array.isArray(raw.ip_address_list)) {
      privateIp = formatIpv4(parseIpv4(raw.ip_address_list[index])!);
    } else {
      privateIp = formatIpv4(nthHost(net, SKIP_WITHOUT_SUBNETS + index));
    }
    vars.hive_private_ip = privateIp;
    vars.hive_netmask = netmask(net.prefix);

    const hostName = `${prefix}${customHostname}${index}.${siteName}`;
    hosts.push({
      name: hostName,
      shortName: `${prefix}${customHostname}${index}`,
      index,
      isHive,
      isRepository,
      isFirstHive: index === firstHive,
      privateIp,
      netmask: netmask(net.prefix),
      subnet: subnet.name,
      ...(availableZone !== undefined ? { availableZone } : {}),
      vars,
    });
  }

  const settings: Record<string, unknown> = {
    ...raw,
    separate_repository: separateRepository,
    number_of_hosts: count,
    custom_hostname: customHostname,
    subnets: subnets.map((s) => ({
      cidr: s.cidr,
      name: s.name,
      ...(s.availableZone !== undefined ? { available_zone: s.availableZone } : {}),
    })),
  };

  return {
    name,
    prefix,
    provider,
    cidr: raw.cidr,
    subnets,
    separateRepository,
    customHostname,
    hosts,
    settings,
    motherVars,
    groupVars: { hive_provider: provider, hive_custom_hostname: customHostname },
    motherName,
    firstHive,
    source,
  };
}

/** Every stage hive.yml defines, in its order. */
export function buildStages(hiveDoc: SourceDoc, firstHive: number): Partial<Record<StageName, Stage>> {
  const siteName: string = hiveDoc.data.name;
  const stages: Partial<Record<StageName, Stage>> = {};
  for (const name of Object.keys(hiveDoc.data.stages) as StageName[]) {
    stages[name] = buildStage(siteName, name, hiveDoc.data.stages[name], firstHive, {
      file: hiveDoc.file,
      line: hiveDoc.lineOf(['stages', name]),
    });
  }
  return stages;
}
