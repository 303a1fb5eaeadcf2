// The `services:` of service files (plugin: hive_services): the checks across all files (valid
// and unique names, names that would collide as inventory hosts) composed with those of each
// service's ports, volumes and networks, and the typed build: one Service per entry with its
// hive_<key> variables as hive-builder's hive_services plugin gave them, image builds, volume and
// network hosts. Each walk over the documents calls the sections in the order a service lists
// them, so problems and allocations come in the same order as they always did.
import type { SourceDoc } from '../inventory/load.js';
import { keyPathText, reporter, show, whereText, type KeyPath, type Problem, type Report, type Where } from '../lib/problems.js';
import type { Allocator } from '../state/allocations.js';
import { NetworkBuilder, NetworkChecks } from './network.js';
import { PortChecks, buildPorts, reservePorts } from './port.js';
import type { ImageBuild, Network, PortSpec, Service, StageName, Volume } from './site.js';
import { serviceStages } from './stage.js';
import { VolumeBuilder, VolumeChecks, claimMinors } from './volume.js';
import { isObject } from '../lib/values.js';


export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const RESERVED_PREFIX = 'hive-';

// ---------------------------------------------------------------------------------------------
// checks

/** Checks across all service files (and against the hive definition's stages). */
export function checkServiceDocs(docs: SourceDoc[], problems: Problem[], definedStages: StageName[] | null): void {
  const services = new Map<string, Where>();
  const networks = new NetworkChecks();
  const volumes = new VolumeChecks();
  const ports = new PortChecks();

  for (const doc of docs) {
    const report = reporter(doc, problems);
    const data = doc.plain;
    networks.checkFile(doc, data.networks, report);
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
      networks.addRefs(doc, path, service.networks);
      if (Array.isArray(service.ports)) ports.check(doc, path, name, service.ports, stages, report);
      if (Array.isArray(service.volumes)) volumes.check(doc, path, service.volumes, report);
    }
  }

  networks.checkRefs(problems);

  // every service, image, volume and network becomes an inventory host: names must not collide
  const hostNames = new Map<string, string>();
  for (const name of services.keys()) hostNames.set(name, `service ${show(name)}`);
  for (const [name, where] of networks.declared) {
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
function checkBackupScripts(entries: unknown[], path: KeyPath, report: Report): void {
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

// ---------------------------------------------------------------------------------------------
// build

/** Service keys that are not copied 1:1 as hive_<key> (the plugin derives variables from them). */
const DERIVED_SERVICE_KEYS = new Set(['volumes', 'image', 'ports', 'available_on']);

export const STANDALONE_CAPS = ['NET_ADMIN', 'SYS_ADMIN', 'SYSLOG', 'SYS_PTRACE', 'AUDIT_CONTROL'];
export const STANDALONE_COMMAND = [
  '/bin/sh',
  '-c',
  'mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true; exec /sbin/init',
];

export interface ServicesContext {
  allocator: Allocator;
  /** The hives of the allocation stage (where DRBD replicas go); none without one. */
  allocationHives: string[];
  /** Where allocations are kept, for messages (`.hive/<stage>/allocations.yml`). */
  storeName: string;
}

export interface BuiltServices {
  services: Service[];
  images: ImageBuild[];
  volumes: Volume[];
  networks: Network[];
}

// Values are shared with the parsed documents, which nothing modifies after loading: no copies.

/** Services, images, volumes and networks of the service files; allocation problems are appended. */
export function buildServices(serviceDocs: SourceDoc[], ctx: ServicesContext, problems: Problem[]): BuiltServices {
  const { allocator, storeName } = ctx;

  // Pass 1: explicit values claim their numbers before anything is allocated automatically.
  for (const doc of serviceDocs) {
    const report = reporter(doc, problems);
    for (const [name, service] of Object.entries<any>(doc.data.services ?? {})) {
      claimMinors(service.volumes, ['services', name], allocator, storeName, report);
      reservePorts(service.ports, allocator);
    }
  }

  const services: Service[] = [];
  const images: ImageBuild[] = [];
  const volumes = new VolumeBuilder(allocator, ctx.allocationHives, storeName);
  const networks = new NetworkBuilder();

  for (const doc of serviceDocs) {
    const report = reporter(doc, problems);
    const fileStages = serviceStages({}, doc.data.available_on);
    for (const [name, raw] of Object.entries<any>(doc.data.services ?? {})) {
      const built = buildService(name, raw, doc, volumes, ctx, report);
      services.push(built.service);
      if (built.image) images.push(built.image);
    }
    // networks of this file; hive_default_network exists for the file's stages in any case
    networks.file(doc.data.networks ?? {}, fileStages);
  }

  // a service's volumes: the mounts that name a declared volume (wherever it is declared)
  for (const service of services) {
    service.volumes = service.volumes.filter((source) => volumes.has(source)).map((source) => `volume_${source}`);
  }
  return { services, images, volumes: volumes.all(), networks: networks.all() };
}

/** One service (its `volumes` are still the mounted sources: buildServices keeps the declared ones). */
function buildService(
  name: string,
  raw: any,
  doc: SourceDoc,
  volumes: VolumeBuilder,
  ctx: ServicesContext,
  report: Report,
): { service: Service; image?: ImageBuild } {
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
  let serviceVolumes: string[] = [];
  if (Array.isArray(raw.volumes) || standalone) {
    const { mounts, sources } = volumes.service(raw.volumes ?? [], standalone, stagesOfService, servicePath, report);
    serviceVolumes = sources;
    vars.hive_volumes = mounts;
  }

  let imageBuild: string | undefined;
  let image: ImageBuild | undefined;
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
    image = { name: imageBuild, service: name, stages: stagesOfService, vars: imageVars };
  }

  let ports: PortSpec[] = [];
  if (Array.isArray(raw.ports)) {
    ports = buildPorts(name, raw.ports, servicePath, ctx.allocator, ctx.storeName, report);
    vars.hive_ports = ports;
  }

  const service: Service = {
    name,
    stages: stagesOfService,
    vars,
    source: { file: doc.file, line: doc.lineOf(servicePath) },
    ports,
    ...(imageBuild ? { imageBuild } : {}),
    volumes: serviceVolumes,
  };
  return image ? { service, image } : { service };
}
