// What the stage needs on AWS, derived from the Site model only (no API calls): names, tags,
// subnets, per-host launch parameters and security group rules.
import type { Host, Site, Stage } from '../../model/site.js';
import { ProviderError } from '../errors.js';
import type { InventoryVars } from '../../model/inventory-vars.js';
import { hostVar } from '../prepared/inventory-vars.js';

export const TAG_SITE = 'hive:site';
export const TAG_STAGE = 'hive:stage';
export const TAG_HOST = 'hive:host';
export const TAG_SUBNET = 'hive:subnet';

/** Debian's official AMI owner account; images are named `debian-12-<arch>-<date>-<build>`. */
export const DEBIAN_OWNER = '136693071363';
export const MIRRORED_DEVICE = '/dev/xvdb';
export const DEFAULT_ADMIN = 'admin';

export interface DesiredSubnet {
  name: string;
  cidr: string;
  az?: string;
}

export interface DesiredHost {
  host: Host;
  name: string;
  subnet: string;
  privateIp: string;
  instanceType: string;
  imageId?: string;
  diskSize?: number;
  diskEncrypted: boolean;
  mirroredDiskSize?: number;
  mirroredDiskEncrypted: boolean;
  kmsKeyId?: string;
  /** A user-owned Elastic IP to use instead of allocating one (never released by hive). */
  publishedIp?: string;
  admin: string;
  sshPort: number;
}

/** One ingress permission atom: a protocol/port range from one source. */
export interface IngressRule {
  /** 'tcp' | 'udp' | 'icmp' | '-1' (all) | protocol number as a string. */
  proto: string;
  from?: number;
  to?: number;
  /** Source cidr, or 'self' for the security group itself. */
  source: string;
}

/** What halt and destroy need: where to look and which tags mark the stage's resources. */
export interface InfraScope {
  site: string;
  stage: string;
  region: string;
  /** `hive-<site>-<stage>`: VPC, security group, key pair names. */
  baseName: string;
  /** Host name used in events for the site-wide resources. */
  motherName: string;
  tags: Record<string, string>;
}

export interface DesiredInfra extends InfraScope {
  cidr: string;
  keyName: string;
  subnets: DesiredSubnet[];
  hosts: DesiredHost[];
  ingress: IngressRule[];
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined;
const num = (v: unknown): number | undefined => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v.trim());
  return undefined;
};
const bool = (v: unknown): boolean => v === true || v === 'true' || v === 'yes' || v === 'True';

/** A stage-wide variable: the stage's group and mother vars, then the inventory's group_vars (read by Ansible). */
export function stageVar(site: Site, stage: Stage, key: string, files: InventoryVars): unknown {
  return stage.groupVars[key] ?? stage.motherVars[key] ?? hostVar(site, stage, undefined, key, files);
}

export function stageRegion(stage: Stage): string | undefined {
  return str(stage.settings.region) ?? str(stage.motherVars.hive_region);
}

export function infraScope(site: Site, stage: Stage): InfraScope {
  const region = stageRegion(stage);
  if (!region) {
    throw new ProviderError(
      `stage ${stage.name} uses provider aws but has no region: set stages.${stage.name}.region in the inventory's hive.yml`,
      { exitCode: 2 },
    );
  }
  return {
    site: site.name,
    stage: stage.name,
    region,
    baseName: `hive-${site.name}-${stage.name}`,
    motherName: stage.motherName ?? `${stage.prefix}mother.${site.name}`,
    tags: { [TAG_SITE]: site.name, [TAG_STAGE]: stage.name },
  };
}

/** `files`: the user's group_vars / host_vars as Ansible read them (inventoryVars). */
export function desiredInfra(site: Site, stage: Stage, files: InventoryVars): DesiredInfra {
  const scope = infraScope(site, stage);
  if (stage.hosts.length === 0) {
    throw new ProviderError(`stage ${stage.name} has no servers: set number_of_hosts in the inventory`, { exitCode: 2 });
  }

  // Without `subnets` the whole cidr is one subnet, named as the hosts' hive_subnet.
  const subnets: DesiredSubnet[] = stage.subnets.length
    ? stage.subnets.map((s) => ({
        name: s.name,
        cidr: s.cidr,
        az: s.availableZone ?? str(stage.hosts.find((h) => h.subnet === s.name)?.availableZone),
      }))
    : [{ name: stage.hosts[0].subnet, cidr: stage.cidr, az: str(stage.hosts[0].availableZone) }];

  const hosts = stage.hosts.map((h): DesiredHost => {
    const v = h.vars;
    const instanceType = str(v.hive_instance_type);
    if (!instanceType) {
      throw new ProviderError(
        `host ${h.name} has no instance type: set stages.${stage.name}.${h.isRepository && !h.isHive ? 'repository_instance_type (or instance_type)' : 'instance_type'} in the inventory`,
        { exitCode: 2 },
      );
    }
    const subnet = subnets.find((s) => s.name === h.subnet) ?? (stage.subnets.length ? undefined : subnets[0]);
    if (!subnet) {
      throw new ProviderError(`host ${h.name} is in subnet ${h.subnet}, which stage ${stage.name} does not define`, {
        exitCode: 2,
      });
    }
    const mirrored = h.isHive && !bool(v.hive_no_mirrored_device) ? num(v.hive_mirrored_disk_size) : undefined;
    return {
      host: h,
      name: h.name,
      subnet: subnet.name,
      privateIp: h.privateIp,
      instanceType,
      imageId: str(v.hive_vm_image_name),
      diskSize: num(v.hive_disk_size),
      diskEncrypted: bool(v.hive_disk_encrypted),
      mirroredDiskSize: mirrored,
      mirroredDiskEncrypted: bool(v.hive_mirrored_disk_encrypted),
      kmsKeyId: str(v.hive_kms_key_id),
      publishedIp: str(hostVar(site, stage, h, 'hive_published_ip', files)),
      admin: str(hostVar(site, stage, h, 'hive_admin', files)) ?? DEFAULT_ADMIN,
      sshPort: num(hostVar(site, stage, h, 'hive_sshd_port', files)) ?? 22,
    };
  });

  return {
    ...scope,
    cidr: stage.cidr,
    keyName: scope.baseName,
    subnets,
    hosts,
    ingress: ingressRules(site, stage, hosts[0]?.sshPort ?? 22, files),
  };
}

const PROTO_NUMBERS: Record<string, string> = { all: '-1', '-1': '-1', tcp: 'tcp', udp: 'udp', icmp: 'icmp', sctp: '132' };

/**
 * Ingress rules of the site's security group. Traffic inside the VPC cidr is always allowed (the
 * servers talk swarm, DRBD and docker TLS to each other). From the world: ssh and the published
 * ports below 10000 (auto-assigned ports 61001+ stay internal), or, when the inventory sets
 * `hive_ec2_group_rules`, exactly those rules instead.
 */
export function ingressRules(site: Site, stage: Stage, sshPort: number, files: InventoryVars): IngressRule[] {
  const rules: IngressRule[] = [{ proto: '-1', source: stage.cidr }];
  const custom = stageVar(site, stage, 'hive_ec2_group_rules', files);
  if (custom !== undefined && custom !== null) {
    rules.push(...customRules(custom));
  } else {
    rules.push({ proto: 'tcp', from: sshPort, to: sshPort, source: '0.0.0.0/0' });
    for (const svc of site.services) {
      if (!svc.stages.includes(stage.name)) continue;
      for (const p of svc.ports) {
        const proto = PROTO_NUMBERS[p.protocol];
        if (p.published_port >= 10000 || !proto) continue;
        rules.push({ proto, from: p.published_port, to: p.published_port, source: '0.0.0.0/0' });
      }
    }
  }
  return dedupeRules(rules);
}

export const ruleKey = (r: IngressRule): string =>
  r.proto === '-1' ? `-1::${r.source}` : `${r.proto}:${r.from ?? ''}-${r.to ?? ''}:${r.source}`;

function dedupeRules(rules: IngressRule[]): IngressRule[] {
  const seen = new Map<string, IngressRule>();
  for (const r of rules) seen.set(ruleKey(r), r);
  return [...seen.values()];
}

/** `hive_ec2_group_rules` in hive-builder's form: {proto, from_port, to_port | ports, cidr_ip | group_name}. */
function customRules(value: unknown): IngressRule[] {
  const bad = (i: number, why: string) =>
    new ProviderError(`hive_ec2_group_rules[${i}]: ${why}`, { exitCode: 2 });
  if (!Array.isArray(value)) throw new ProviderError('hive_ec2_group_rules: must be a list of rules', { exitCode: 2 });
  const out: IngressRule[] = [];
  value.forEach((raw, i) => {
    if (!raw || typeof raw !== 'object') throw bad(i, 'must be a map');
    const r = raw as Record<string, unknown>;
    const proto = PROTO_NUMBERS[String(r.proto ?? 'tcp').toLowerCase()] ?? (num(r.proto) !== undefined ? String(r.proto) : undefined);
    if (!proto) throw bad(i, `unknown proto ${String(r.proto)} (use tcp, udp, icmp, all or a number)`);
    const sources: string[] = [];
    if (r.group_name !== undefined) sources.push('self');
    const cidrs = r.cidr_ip === undefined ? [] : Array.isArray(r.cidr_ip) ? r.cidr_ip : [r.cidr_ip];
    for (const c of cidrs) {
      if (typeof c !== 'string' || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c)) throw bad(i, `cidr_ip ${String(c)} is not an IPv4 cidr`);
      sources.push(c);
    }
    if (!sources.length) throw bad(i, 'needs cidr_ip or group_name');
    const ranges: Array<[number | undefined, number | undefined]> = [];
    if (proto === '-1') ranges.push([undefined, undefined]);
    else if (r.ports !== undefined) {
      for (const p of Array.isArray(r.ports) ? r.ports : [r.ports]) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(String(p).trim());
        if (!m) throw bad(i, `port ${String(p)} is not a number or range`);
        ranges.push([Number(m[1]), Number(m[2] ?? m[1])]);
      }
    } else {
      const from = num(r.from_port);
      const to = num(r.to_port) ?? from;
      if (from === undefined && proto !== 'icmp') throw bad(i, 'needs from_port (and to_port) or ports');
      ranges.push(proto === 'icmp' && from === undefined ? [-1, -1] : [from, to]);
    }
    for (const source of sources) for (const [from, to] of ranges) out.push({ proto, from, to, source });
  });
  return out;
}
