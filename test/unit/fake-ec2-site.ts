// A Site model for the aws provider tests, shaped like the pdns example's staging stage
// (4 servers over 3 subnets in ap-northeast-1), plus a ProviderContext that records events.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host, Site, Stage, StageName } from '../../src/model/site.js';
import type { ProviderContext } from '../../src/providers/provider.js';
import type { HiveEvent } from '../../src/lib/events.js';

export interface SiteOptions {
  site?: string;
  stage?: StageName;
  instanceType?: string;
  repositoryInstanceType?: string;
  subnets?: { cidr: string; name: string; availableZone?: string }[];
  stageSettings?: Record<string, unknown>;
  hostVars?: Record<string, unknown>;
  groupVars?: Record<string, unknown>;
  ports?: { published_port: number; target_port: number; protocol: 'tcp' | 'udp'; auto?: boolean }[];
  inventoryDir?: string;
}

const PREFIX: Record<StageName, string> = { private: 'p-', staging: 's-', production: '' };

export function awsSite(o: SiteOptions = {}): Site {
  const siteName = o.site ?? 'pdns';
  const stageName = o.stage ?? 'staging';
  const prefix = PREFIX[stageName];
  const subnets = o.subnets ?? [
    { cidr: '192.168.0.0/26', name: 'subnet-a', availableZone: 'ap-northeast-1d' },
    { cidr: '192.168.0.64/26', name: 'subnet-b', availableZone: 'ap-northeast-1b' },
    { cidr: '192.168.0.128/26', name: 'subnet-c', availableZone: 'ap-northeast-1c' },
  ];
  // Addresses as the inventory derives them: round robin over subnets, skipping .0-.3 (+1 per round).
  const ips = ['192.168.0.5', '192.168.0.69', '192.168.0.133', '192.168.0.6'];
  const hosts: Host[] = [0, 1, 2, 3].map((i) => {
    const isRepository = i === 3;
    const subnet = subnets[i % subnets.length];
    return {
      name: `${prefix}hive${i}.${siteName}`,
      shortName: `${prefix}hive${i}`,
      index: i,
      isHive: !isRepository,
      isRepository,
      isFirstHive: i === 0,
      privateIp: ips[i],
      netmask: '255.255.255.192',
      subnet: subnet.name,
      availableZone: subnet.availableZone,
      vars: {
        hive_private_ip: ips[i],
        hive_subnet: subnet.name,
        hive_available_zone: subnet.availableZone,
        hive_instance_type: isRepository ? (o.repositoryInstanceType ?? 't3.large') : (o.instanceType ?? 't3.xlarge'),
        hive_disk_size: isRepository ? 40 : 20,
        ...(isRepository ? {} : { hive_mirrored_disk_size: 20 }),
        ...o.hostVars,
      },
    };
  });
  const stage: Stage = {
    name: stageName,
    prefix,
    provider: 'aws',
    cidr: '192.168.0.0/24',
    subnets,
    separateRepository: true,
    customHostname: 'hive',
    hosts,
    settings: { provider: 'aws', cidr: '192.168.0.0/24', region: 'ap-northeast-1', subnets, ...o.stageSettings },
    motherVars: { hive_region: 'ap-northeast-1', hive_cidr: '192.168.0.0/24', hive_subnets: subnets },
    groupVars: { hive_provider: 'aws', hive_custom_hostname: 'hive', ...o.groupVars },
    motherName: `${prefix}mother.${siteName}`,
    firstHive: 0,
    source: { file: 'inventory/hive.yml', line: 3 },
  };
  const ports = o.ports ?? [
    { published_port: 53, target_port: 53, protocol: 'udp' as const },
    { published_port: 53, target_port: 53, protocol: 'tcp' as const },
    { published_port: 8081, target_port: 8081, protocol: 'tcp' as const },
    // auto-assigned: stays internal
    { published_port: 61001, target_port: 3306, protocol: 'tcp' as const, auto: true },
  ];
  return {
    name: siteName,
    inventoryDir: o.inventoryDir ?? '/nonexistent/inventory',
    stages: { [stageName]: stage },
    services: [
      {
        name: 'powerdns',
        stages: ['private', 'staging', 'production'],
        vars: { hive_ports: ports },
        ports,
        volumes: [],
        source: { file: 'powerdns.yml', line: 1 },
      },
      {
        name: 'only-production',
        stages: ['production'],
        vars: { hive_ports: [{ published_port: 443, target_port: 443, protocol: 'tcp' }] },
        ports: [{ published_port: 443, target_port: 443, protocol: 'tcp' }],
        volumes: [],
        source: { file: 'powerdns.yml', line: 40 },
      },
    ],
    images: [],
    volumes: [],
    networks: [],
    allocationStage: stageName,
    allocations: { drbdMinors: {}, publishedPorts: { powerdns3306: 61001 } },
  };
}

export interface TestContext extends ProviderContext {
  recorded: HiveEvent[];
}

export function contextFor(site: Site, opts: { stageDir?: string; halt?: boolean; destroy?: boolean; dryRun?: boolean } = {}): TestContext {
  const stage = Object.values(site.stages)[0]!;
  const rootDir = opts.stageDir ? join(opts.stageDir, '..', '..') : mkdtempSync(join(tmpdir(), 'hive-aws-'));
  const recorded: HiveEvent[] = [];
  return {
    site,
    stage,
    rootDir,
    stageDir: opts.stageDir ?? join(rootDir, '.hive', stage.name),
    events: { emit: (e) => recorded.push(e) },
    halt: opts.halt ?? false,
    destroy: opts.destroy ?? false,
    dryRun: opts.dryRun ?? false,
    recorded,
  };
}
