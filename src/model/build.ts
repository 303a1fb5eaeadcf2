// Validated inventory documents → Site. Derivation rules follow hive-builder's hive_inventory and
// hive_services plugins (host names, address assignment, zones, per-host variables, service /
// image / volume / network hosts) so an existing inventory produces the same hosts and variables.
import { keyPathText, show, type KeyPath, type Problem } from '../lib/problems.js';
import {
  SKIP_PER_SUBNET,
  SKIP_WITHOUT_SUBNETS,
  formatIpv4,
  netmask,
  nthHost,
  parseIpv4,
  parseIpv4Network,
} from '../lib/ipv4.js';
import type { SourceDoc } from '../inventory/load.js';
import { numberOfHosts, parsePort, serviceStages } from './checks.js';
import type { Allocator } from '../state/allocations.js';
import {
  STAGES,
  type Host,
  type ImageBuild,
  type Network,
  type PortSpec,
  type ProviderName,
  type Service,
  type Site,
  type Stage,
  type StageName,
  type Subnet,
  type Volume,
} from './site.js';

export const STAGE_PREFIX: Record<StageName, string> = { private: 'p-', staging: 's-', production: '' };

/** Service keys that are not copied 1:1 as hive_<key> (the plugin derives variables from them). */
const DERIVED_SERVICE_KEYS = new Set(['volumes', 'image', 'ports', 'available_on']);

/** What a standalone (systemd) service gets on top of its own definition. */
export const STANDALONE_MOUNTS = [
  { source: '', target: '/run', type: 'tmpfs' },
  { source: '', target: '/tmp', type: 'tmpfs' },
  { source: '', target: '/sys/fs/cgroup', type: 'tmpfs' },
];
export const STANDALONE_CAPS = ['NET_ADMIN', 'SYS_ADMIN', 'SYSLOG', 'SYS_PTRACE', 'AUDIT_CONTROL'];
export const STANDALONE_COMMAND = [
  '/bin/sh',
  '-c',
  'mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true; exec /sbin/init',
];

const MOUNT_KEYS = ['source', 'target', 'type', 'readonly'];

export interface BuildOptions {
  inventoryDir: string;
  firstHive: number;
  allocator: Allocator;
  allocationStage?: StageName;
}

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

// Values are shared with the parsed documents, which nothing modifies after loading: no copies.

/** Builds the Site; allocation problems (explicit DRBD ids clashing with stored ones, ...) are appended. */
export function buildSite(hiveDoc: SourceDoc, serviceDocs: SourceDoc[], opts: BuildOptions, problems: Problem[]): Site {
  const siteName: string = hiveDoc.data.name;
  const stages: Partial<Record<StageName, Stage>> = {};
  for (const name of Object.keys(hiveDoc.data.stages) as StageName[]) {
    stages[name] = buildStage(siteName, name, hiveDoc.data.stages[name], opts.firstHive, {
      file: hiveDoc.file,
      line: hiveDoc.lineOf(['stages', name]),
    });
  }

  const { allocator } = opts;
  const storeName = opts.allocationStage ? `.hive/${opts.allocationStage}/allocations.yml` : 'the allocations';
  const report = (doc: SourceDoc, path: KeyPath, message: string) =>
    problems.push({ file: doc.file, line: doc.lineOf(path), key: keyPathText(path), message });

  // Pass 1: explicit values claim their numbers before anything is allocated automatically.
  for (const doc of serviceDocs) {
    for (const [name, service] of Object.entries<any>(doc.data.services ?? {})) {
      for (const [i, volume] of (service.volumes ?? []).entries()) {
        const id = volume?.drbd?.device_id;
        if (!Number.isInteger(id)) continue;
        const owner = allocator.minorOwner(id);
        if (owner !== undefined && owner !== volume.source) {
          report(
            doc,
            ['services', name, 'volumes', i, 'drbd', 'device_id'],
            `DRBD device_id ${id} is already allocated to volume ${show(owner)} (${storeName})`,
          );
          continue;
        }
        allocator.recordMinor(volume.source, id);
      }
      for (const value of service.ports ?? []) {
        const port = parsePort(value);
        if (port?.published_port !== undefined) allocator.reservePort(port.published_port);
      }
    }
  }

  // Where a drbd volume's replicas go on the allocation stage: the pair of disk nodes (used when
  // the hives run DRBD 8.4) and the stage-wide node-ids (DRBD 9), both kept once chosen.
  const allocationHives = opts.allocationStage ? (stages[opts.allocationStage]?.hosts ?? []).filter((h) => h.isHive).map((h) => h.name) : [];
  const drbdPlacement = (source: string, diskless: unknown): Record<string, unknown> => {
    if (allocationHives.length === 0) return {};
    const without = Array.isArray(diskless) ? diskless.filter((d): d is string => typeof d === 'string') : [];
    const nodeIds: Record<string, number> = {};
    for (const h of allocationHives) {
      const id = allocator.nodeIdFor(h);
      if (id !== null) nodeIds[h] = id;
    }
    const pair = allocator.diskNodesFor(source, allocationHives, without);
    return { node_ids: nodeIds, ...(pair ? { disk_nodes: pair } : {}) };
  };

  const services: Service[] = [];
  const images: ImageBuild[] = [];
  const volumes = new Map<string, Volume>();
  const networks = new Map<string, Network>();

  for (const doc of serviceDocs) {
    const fileStages = serviceStages({}, doc.data.available_on);
    for (const [name, raw] of Object.entries<any>(doc.data.services ?? {})) {
      const servicePath = ['services', name];
      const stagesOfService = serviceStages(raw, doc.data.available_on);
      const vars: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(raw)) {
        if (!DERIVED_SERVICE_KEYS.has(key)) vars[`hive_${key}`] = value;
      }
      const standalone = raw.standalone === true;
      if (standalone) {
        const caps: string[] = Array.isArray(raw.cap_add) ? [...raw.cap_add] : [];
        for (const cap of STANDALONE_CAPS) if (!caps.includes(cap)) caps.push(cap);
        vars.hive_cap_add = caps;
        const command = raw.command;
        if (command === undefined || command === null || command === '' || (Array.isArray(command) && command.length === 0))
          vars.hive_command = [...STANDALONE_COMMAND];
      }

      // volumes: mounts for the service, definitions become volume hosts
      const serviceVolumes: string[] = [];
      if (Array.isArray(raw.volumes) || standalone) {
        const mounts: Record<string, unknown>[] = standalone ? STANDALONE_MOUNTS.map((m) => ({ ...m })) : [];
        for (const [i, volume] of (raw.volumes ?? []).entries()) {
          const mount: Record<string, unknown> = {};
          for (const [k, v] of Object.entries<unknown>(volume)) if (MOUNT_KEYS.includes(k)) mount[k] = v;
          mounts.push(mount);
          let kind: Volume['kind'] | null = null;
          let definition: Record<string, unknown> = {};
          let volumeStages: StageName[] = stagesOfService;
          if (volume.drbd !== undefined) {
            kind = 'drbd';
            let id: number | null = Number.isInteger(volume.drbd.device_id) ? volume.drbd.device_id : allocator.minorFor(volume.source);
            if (id === null) {
              report(doc, [...servicePath, 'volumes', i, 'drbd'], `no free DRBD minor (1-255) left for volume ${show(volume.source)} in ${storeName}`);
              id = 0;
            }
            definition = { name: volume.source, drbd: { ...volume.drbd, device_id: id, ...drbdPlacement(volume.source, volume.drbd.diskless) } };
            if (Array.isArray(volume.drbd.available_on)) volumeStages = serviceStages({ available_on: volume.drbd.available_on }, null);
          } else if (volume.nfs !== undefined) {
            kind = 'nfs';
            definition = { name: volume.source, nfs: volume.nfs };
            if (Array.isArray(volume.nfs.available_on)) volumeStages = serviceStages({ available_on: volume.nfs.available_on }, null);
          } else if (volume.driver !== undefined) {
            kind = 'driver';
            definition = { name: volume.source, driver: volume.driver };
            if (volume.driver_opts !== undefined) definition.driver_options = volume.driver_opts;
          }
          if (kind) {
            const hostName = `volume_${volume.source}`;
            const existing = volumes.get(volume.source);
            if (existing) existing.stages = mergeStages(existing.stages, volumeStages);
            else volumes.set(volume.source, { name: hostName, source: volume.source, kind, stages: volumeStages, definition });
          }
          if (typeof volume.source === 'string' && !serviceVolumes.includes(volume.source)) serviceVolumes.push(volume.source);
        }
        vars.hive_volumes = mounts;
      }

      let imageBuild: string | undefined;
      if (typeof raw.image === 'string') {
        vars.hive_image = raw.image;
      } else if (raw.image && typeof raw.image === 'object') {
        imageBuild = `image_${name}`;
        vars.hive_image_name = imageBuild;
        const imageVars: Record<string, unknown> = {};
        if (standalone) {
          imageVars.hive_standalone = true;
          imageVars.hive_privileged = true;
        }
        for (const [key, value] of Object.entries(raw.image)) imageVars[`hive_${key}`] = value;
        images.push({ name: imageBuild, service: name, stages: stagesOfService, vars: imageVars });
      }

      const ports: PortSpec[] = [];
      if (Array.isArray(raw.ports)) {
        for (const [i, value] of raw.ports.entries()) {
          const parsed = parsePort(value)!;
          let auto = false;
          let published = parsed.published_port;
          if (published === undefined) {
            const key = `${name}${parsed.target_port}`;
            const allocated = allocator.portFor(key);
            if (allocated === null) {
              report(doc, [...servicePath, 'ports', i], `no free port (61001-65534) left to publish ${key} in ${storeName}`);
              published = 0;
            } else {
              published = allocated;
              auto = true;
            }
          } else {
            // pinning a service's own automatic port explicitly is fine; taking another's is not
            const key = `${name}${parsed.target_port}`;
            const owner = Object.entries(allocator.state.publishedPorts).find(([, n]) => n === published)?.[0];
            if (owner !== undefined && owner !== key)
              report(
                doc,
                [...servicePath, 'ports', i],
                `published port ${published} is already allocated automatically to ${owner} (${storeName})`,
              );
          }
          const port: PortSpec = { ...parsed, published_port: published };
          ports.push(port);
          if (auto) Object.defineProperty(port, 'auto', { value: true, enumerable: false });
        }
        vars.hive_ports = ports;
      }

      services.push({
        name,
        stages: stagesOfService,
        vars,
        source: { file: doc.file, line: doc.lineOf(servicePath) },
        ports,
        ...(imageBuild ? { imageBuild } : {}),
        volumes: serviceVolumes,
      });
    }

    // networks of this file; hive_default_network exists for the file's stages in any case
    const declared: Record<string, any> = doc.data.networks ?? {};
    const fileNetworks: [string, any][] = Object.entries(declared);
    if (!('hive_default_network' in declared)) fileNetworks.push(['hive_default_network', null]);
    for (const [name, def] of fileNetworks) {
      const existing = networks.get(name);
      if (existing) {
        existing.stages = mergeStages(existing.stages, fileStages);
        continue;
      }
      const vars: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(def ?? {})) vars[`hive_${key}`] = value;
      networks.set(name, { name, stages: fileStages, vars });
    }
  }

  // a service's volumes: the mounts that name a declared volume (wherever it is declared)
  for (const service of services) {
    service.volumes = service.volumes.filter((source) => volumes.has(source)).map((source) => `volume_${source}`);
  }

  return {
    name: siteName,
    inventoryDir: opts.inventoryDir,
    stages,
    services,
    images,
    volumes: [...volumes.values()],
    networks: [...networks.values()],
    ...(opts.allocationStage ? { allocationStage: opts.allocationStage } : {}),
    allocations: allocator.state,
  };
}

function mergeStages(a: StageName[], b: StageName[]): StageName[] {
  return STAGES.filter((s) => a.includes(s) || b.includes(s));
}
