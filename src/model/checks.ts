// Checks the JSON Schema cannot express: network arithmetic, rules that depend on the provider,
// and consistency across services and files. Every function tolerates data the schema already
// rejected (it skips what it cannot read) so all problems are reported in one go.
import { keyPathText, show, type KeyPath, type Problem } from '../lib/problems.js';
import {
  SKIP_PER_SUBNET,
  SKIP_WITHOUT_SUBNETS,
  containsAddress,
  containsNetwork,
  formatNetwork,
  hostCount,
  lastAddress,
  overlaps,
  parseIpv4,
  parseIpv4Network,
  type Ipv4Network,
} from '../lib/ipv4.js';
import type { SourceDoc } from '../inventory/load.js';
import { STAGES, type ProviderName, type StageName } from './site.js';

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function reporter(doc: SourceDoc, problems: Problem[]) {
  return (path: KeyPath, message: string) =>
    problems.push({ file: doc.file, line: doc.lineOf(path), key: keyPathText(path), message });
}

// ---------------------------------------------------------------------------------------------
// hive.yml

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

function checkNetwork(text: unknown, path: KeyPath, report: ReturnType<typeof reporter>): Ipv4Network | null {
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

// ---------------------------------------------------------------------------------------------
// service files

export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const RESERVED_PREFIX = 'hive-';

/** Stages of a service: its own available_on, else its file's, else all three. */
export function serviceStages(service: Record<string, any>, fileDefault: unknown): StageName[] {
  const list = Array.isArray(service.available_on)
    ? service.available_on
    : Array.isArray(fileDefault)
      ? fileDefault
      : STAGES;
  return STAGES.filter((s) => list.includes(s));
}

export interface ParsedPort {
  target_port: number;
  published_port?: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode?: 'ingress' | 'host';
}

/** A port element as hive-builder normalised it (short syntax or map; protocol defaults to tcp). */
export function parsePort(value: unknown): ParsedPort | null {
  if (typeof value === 'string') {
    const m = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(value);
    if (!m) return null;
    const port: ParsedPort = { target_port: Number(m[2]), protocol: (m[3] as ParsedPort['protocol']) ?? 'tcp' };
    if (m[1] !== undefined) return { published_port: Number(m[1]), ...port };
    return port;
  }
  if (isObject(value) && Number.isInteger(value.target_port)) {
    return { ...value, protocol: value.protocol ?? 'tcp' } as ParsedPort;
  }
  return null;
}

interface Where {
  doc: SourceDoc;
  path: KeyPath;
}

const whereText = (w: Where) => `${w.doc.file}:${w.doc.lineOf(w.path)} (${keyPathText(w.path)})`;

const VOLUME_KINDS = ['drbd', 'nfs', 'driver'] as const;

/** Checks across all service files (and against the hive definition's stages). */
export function checkServiceDocs(docs: SourceDoc[], problems: Problem[], definedStages: StageName[] | null): void {
  const services = new Map<string, Where>();
  const networks = new Map<string, Where & { def: string }>();
  const volumes = new Map<string, Where & { kind: string; def: any }>();
  const deviceIds = new Map<number, Where & { source: string }>();
  // stage → "port/protocol" → first user
  const ports = new Map<string, Where & { service: string }>();
  const networkRefs: (Where & { name: string })[] = [];

  for (const doc of docs) {
    const report = reporter(doc, problems);
    const data = doc.plain;
    if (isObject(data.networks)) {
      for (const [name, def] of Object.entries(data.networks)) {
        const path = ['networks', name];
        if (!SERVICE_NAME.test(name))
          report(path, `${show(name)} is not a valid network name (letters, digits, '_', '.', '-')`);
        const canonical = JSON.stringify(def ?? {});
        const first = networks.get(name);
        if (first && first.def !== canonical)
          report(path, `network ${show(name)} is declared differently in ${whereText(first)}`);
        else if (!first) networks.set(name, { doc, path, def: canonical });
      }
    }
    if (!isObject(data.services)) continue;
    for (const [name, service] of Object.entries<any>(data.services)) {
      const path: KeyPath = ['services', name];
      if (!SERVICE_NAME.test(name))
        report(path, `${show(name)} is not a valid service name (letters, digits, '_', '.', '-'; starting with a letter or digit)`);
      if (name.startsWith(RESERVED_PREFIX))
        report(path, `service names starting with ${show(RESERVED_PREFIX)} are reserved for hive's own services`);
      const first = services.get(name);
      if (first) report(path, `service ${show(name)} is already defined at ${whereText(first)}`);
      else services.set(name, { doc, path });
      if (!isObject(service)) continue;
      const stages = serviceStages(service, data.available_on).filter((s) => !definedStages || definedStages.includes(s));

      if (Array.isArray(service.backup_scripts)) checkBackupScripts(service.backup_scripts, [...path, 'backup_scripts'], report);

      if (Array.isArray(service.networks)) {
        service.networks.forEach((n: unknown, i: number) => {
          if (typeof n === 'string') networkRefs.push({ doc, path: [...path, 'networks', i], name: n });
        });
      }

      if (Array.isArray(service.ports)) {
        service.ports.forEach((value: unknown, i: number) => {
          const port = parsePort(value);
          if (!port) return;
          const portPath = [...path, 'ports', i];
          for (const [label, n] of [
            ['target', port.target_port],
            ['published', port.published_port],
          ] as const) {
            if (n !== undefined && (n < 1 || n > 65535)) report(portPath, `${label} port ${n} is not in 1-65535`);
          }
          if (port.published_port === undefined) return;
          for (const stage of stages) {
            const id = `${stage} ${port.published_port}/${port.protocol}`;
            const firstUse = ports.get(id);
            if (!firstUse) {
              ports.set(id, { doc, path: portPath, service: name });
              continue;
            }
            report(
              portPath,
              firstUse.service === name
                ? `published port ${port.published_port}/${port.protocol} is listed twice in this service (first at ${whereText(firstUse)})`
                : `published port ${port.published_port}/${port.protocol} is already used on stage ${stage} by service ${show(firstUse.service)} at ${whereText(firstUse)}`,
            );
            break; // one report per port is enough
          }
        });
      }

      if (Array.isArray(service.volumes)) {
        service.volumes.forEach((volume: unknown, i: number) => {
          if (!isObject(volume)) return;
          const volPath = [...path, 'volumes', i];
          const kinds = VOLUME_KINDS.filter((k) => volume[k] !== undefined);
          if (kinds.length > 1)
            report([...volPath, kinds[1]!], `a volume takes only one of drbd, nfs and driver (${kinds.join(' and ')} given)`);
          if (volume.driver_opts !== undefined && volume.driver === undefined)
            report([...volPath, 'driver_opts'], 'requires driver');
          if (kinds.length === 0 || typeof volume.source !== 'string') return;
          const source: string = volume.source;
          if (!VOLUME_NAME.test(source)) {
            report([...volPath, 'source'], `${show(source)} is not a valid volume name (letters, digits, '_', '.', '-')`);
            return;
          }
          const kind = kinds[0]!;
          const def = kind === 'driver' ? { driver: volume.driver, driver_opts: volume.driver_opts } : volume[kind];
          const firstDecl = volumes.get(source);
          if (firstDecl) {
            const difference = describeDifference(firstDecl.kind, firstDecl.def, kind, def);
            if (difference)
              report(
                [...volPath, kind, ...difference.path],
                `volume ${show(source)} ${difference.text} here but ${difference.firstText} at ${whereText(firstDecl)}`,
              );
          } else {
            volumes.set(source, { doc, path: volPath, kind, def });
          }
          if (kind === 'drbd' && isObject(volume.drbd) && Number.isInteger(volume.drbd.device_id)) {
            const id = volume.drbd.device_id as number;
            const owner = deviceIds.get(id);
            if (owner && owner.source !== source)
              report(
                [...volPath, 'drbd', 'device_id'],
                `DRBD device_id ${id} is already used by volume ${show(owner.source)} at ${whereText(owner)}`,
              );
            else if (!owner) deviceIds.set(id, { doc, path: [...volPath, 'drbd', 'device_id'], source });
          }
        });
      }
    }
  }

  for (const ref of networkRefs) {
    if (ref.name === 'hive_default_network' || networks.has(ref.name)) continue;
    problems.push({
      file: ref.doc.file,
      line: ref.doc.lineOf(ref.path),
      key: keyPathText(ref.path),
      message: `network ${show(ref.name)} is not declared (declare it under networks: in a service file)`,
    });
  }

  // every service, image, volume and network becomes an inventory host: names must not collide
  const hostNames = new Map<string, string>();
  for (const name of services.keys()) hostNames.set(name, `service ${show(name)}`);
  for (const [name, where] of networks) {
    const other = hostNames.get(name);
    if (other)
      problems.push({
        file: where.doc.file,
        line: where.doc.lineOf(where.path),
        key: keyPathText(where.path),
        message: `network ${show(name)} has the same name as ${other} (both become inventory hosts)`,
      });
  }
  for (const [name, where] of services) {
    const m = /^(image|volume)_(.+)$/.exec(name);
    if (!m) continue;
    if ((m[1] === 'image' && services.has(m[2]!)) || (m[1] === 'volume' && volumes.has(m[2]!)))
      problems.push({
        file: where.doc.file,
        line: where.doc.lineOf(where.path),
        key: keyPathText(where.path),
        message: `service ${show(name)} has the name hive gives to the ${m[1]} of ${show(m[2])}`,
      });
  }
}

/**
 * Entry names of one service's backup_scripts: they name the backup files
 * (`<name>-<time>.<ext>`, `<name>-prerestore-<time>.<ext>`, `<name>-latest.<ext>`) in the
 * service's one backup folder, so two entries of the same name would restore and clean up each
 * other's files, and `<x>-prerestore` would take the prerestore files of an entry `<x>`.
 */
function checkBackupScripts(entries: unknown[], path: KeyPath, report: ReturnType<typeof reporter>): void {
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    if (!isObject(entry) || typeof entry.name !== 'string') return;
    const name = entry.name;
    const first = seen.get(name);
    if (first !== undefined)
      report([...path, i, 'name'], `backup_scripts entry ${show(name)} is already defined in this service (entry ${first + 1}): entry names must be unique per service`);
    else seen.set(name, i);
    if (name.endsWith('-prerestore'))
      report([...path, i, 'name'], `${show(name)}: a backup entry name cannot end in -prerestore (its files would look like the prerestore files of ${show(name.slice(0, -'-prerestore'.length))})`);
  });
}

function describeDifference(
  firstKind: string,
  firstDef: any,
  kind: string,
  def: any,
): { path: KeyPath; text: string; firstText: string } | null {
  if (firstKind !== kind) return { path: [], text: `is declared as ${kind}`, firstText: `as ${firstKind}` };
  const a = isObject(firstDef) ? firstDef : {};
  const b = isObject(def) ? def : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  for (const key of keys) {
    if (JSON.stringify(a[key]) === JSON.stringify(b[key])) continue;
    const describe = (v: unknown) => (v === undefined ? `no ${key}` : `${key} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    return { path: b[key] === undefined ? [] : [key], text: `is declared with ${describe(b[key])}`, firstText: describe(a[key]) };
  }
  return null;
}
