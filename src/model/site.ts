import type { StageAllocations } from '../state/allocations.js';
// The Site model: pure data, every default resolved. Built once from the validated inventory
// (src/model/build.ts composing stage.ts and service.ts) and only read afterwards: renderers, providers and the runner never
// go back to the YAML.

import type { StageName } from '../lib/stages.js';
export { STAGES, type StageName } from '../lib/stages.js';

/** Providers hive-builder accepted; `local` is new (docker containers as hosts). */
export const PROVIDERS = ['local', 'aws', 'prepared', 'vagrant', 'azure', 'gcp', 'openstack', 'kickstart'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Where a value came from, for error messages: file path (as given) and 1-based line. */
export interface SourceRef {
  file: string;
  line: number;
}

export interface Host {
  /** Inventory name, e.g. `p-hive0.demo`. */
  name: string;
  /** Short host name (first label), e.g. `p-hive0`. */
  shortName: string;
  index: number;
  isHive: boolean;
  isRepository: boolean;
  isFirstHive: boolean;
  privateIp: string;
  netmask: string;
  /** Subnet name (hive_subnet). */
  subnet: string;
  availableZone?: string | number;
  /** Host variables handed to Ansible (hive_private_ip, hive_netmask, ... ). */
  vars: Record<string, unknown>;
}

export interface Subnet {
  cidr: string;
  name: string;
  availableZone?: string;
}

export interface Stage {
  name: StageName;
  /** `p-`, `s-` or empty. */
  prefix: string;
  provider: ProviderName;
  cidr: string;
  subnets: Subnet[];
  separateRepository: boolean;
  customHostname: string;
  hosts: Host[];
  /** The stage object as written (after defaults), for `hive config`. */
  settings: Record<string, unknown>;
  /** Variables of the mother host (hive_cidr, hive_subnets, ...). */
  motherVars: Record<string, unknown>;
  /** Group variables of the stage group (hive_provider, hive_custom_hostname). */
  groupVars: Record<string, unknown>;
  /** Inventory name of the stage's mother (the machine hive runs on), e.g. `p-mother.demo`. */
  motherName: string;
  /** Index of the swarm bootstrap server (group first_hive). */
  firstHive: number;
  /** Where the stage is defined (hive.yml and the line of its key). */
  source: SourceRef;
}

export interface PortSpec {
  target_port: number;
  published_port: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode?: 'ingress' | 'host';
  /** The published port was allocated by hive (kept in allocations.yml), not written in the inventory. */
  auto?: boolean;
}

export interface MountSpec {
  source: string;
  target: string;
  type?: 'volume' | 'bind' | 'tmpfs';
  readonly?: boolean;
}

export interface ImageBuild {
  /** Inventory host name `image_<svc>`. */
  name: string;
  service: string;
  stages: StageName[];
  vars: Record<string, unknown>;
}

export interface Volume {
  /** Inventory host name `volume_<source>`. */
  name: string;
  source: string;
  kind: 'drbd' | 'nfs' | 'driver';
  stages: StageName[];
  /** hive_volume as hive-builder gives it: {name, drbd|nfs|driver, ...}. */
  definition: Record<string, unknown>;
}

export interface Network {
  name: string;
  stages: StageName[];
  vars: Record<string, unknown>;
}

export interface Service {
  name: string;
  stages: StageName[];
  /** hive_<key> host variables as hive-builder's hive_services plugin gives them. */
  vars: Record<string, unknown>;
  source: SourceRef;
  /** Published ports, normalised, with automatic ones resolved (same as vars.hive_ports). */
  ports: PortSpec[];
  /** `image_<name>` when the service's image is built, else undefined. */
  imageBuild?: string;
  /** Names of the volumes (`volume_<source>` hosts) this service declares or mounts. */
  volumes: string[];
}

export interface Site {
  name: string;
  /** Absolute path of the inventory folder. */
  inventoryDir: string;
  stages: Partial<Record<StageName, Stage>>;
  services: Service[];
  images: ImageBuild[];
  volumes: Volume[];
  networks: Network[];
  /**
   * Stage whose persistent allocations (DRBD minors, automatic published ports) are resolved in
   * services' and volumes' variables. Undefined when the site was read without a stage: then the
   * values are provisional (computed in memory, never saved).
   */
  allocationStage?: StageName;
  /** The allocations used (those of allocationStage). */
  allocations: StageAllocations;
  /** Something was allocated that allocations.yml does not hold yet (saved by a run, not by reading). */
  allocationsChanged?: boolean;
}
