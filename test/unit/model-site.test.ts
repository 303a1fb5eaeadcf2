// The Site built from hive-builder's worked example (spec §2.6) and from our own small fixture:
// host names, groups, addresses, zones and per-host variables as hive-builder derived them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSite } from '../../src/model/index.js';
import { toAnsibleInventory } from '../../src/model/ansible-inventory.js';
import { stageConfig } from '../../src/model/config.js';
import type { Site, StageName } from '../../src/model/site.js';
import { pdnsDir, smallDir } from '../fixtures/inventory/helpers.js';

const hiveDir = mkdtempSync(join(tmpdir(), 'hive-model-'));
afterAll(() => rmSync(hiveDir, { recursive: true, force: true }));

const sites = new Map<string, Site>();
function site(dir: string, stage: StageName): Site {
  const key = `${dir} ${stage}`;
  if (!sites.has(key)) sites.set(key, readSite({ inventoryDir: dir, hiveDir: join(hiveDir, dir.replace(/\W/g, '_')), stage }));
  return sites.get(key)!;
}

type ListShape = { _meta: { hostvars: Record<string, Record<string, any>> } } & Record<string, { hosts?: string[]; children?: string[] }>;
const list = (dir: string, stage: StageName) => JSON.parse(JSON.stringify(toAnsibleInventory(site(dir, stage), stage))) as ListShape;

function serverRows(dir: string, stage: StageName) {
  return site(dir, stage).stages[stage]!.hosts.map((h) => ({
    name: h.name,
    groups: [h.isHive && 'hives', h.isRepository && 'repository', h.isFirstHive && 'first_hive'].filter(Boolean),
    ip: h.privateIp,
    netmask: h.netmask,
    subnet: h.subnet,
    zone: h.availableZone,
    instanceType: h.vars.hive_instance_type,
    disk: h.vars.hive_disk_size,
    mirrored: h.vars.hive_mirrored_disk_size,
    memory: h.vars.hive_memory_size,
  }));
}

describe('hive-builder example pdns (spec §2.6)', () => {
  it('private: vagrant, one combined server from 192.168.56.0/27', () => {
    expect(serverRows(pdnsDir, 'private')).toEqual([
      {
        name: 'p-hive0.pdns',
        groups: ['hives', 'repository', 'first_hive'],
        ip: '192.168.56.4',
        netmask: '255.255.255.224',
        subnet: 'pdns-default',
        zone: undefined,
        instanceType: undefined,
        disk: undefined,
        mirrored: undefined,
        memory: 4096,
      },
    ]);
  });

  it('staging: aws, 3 hives and a repository dealt round-robin over 3 subnets', () => {
    const common = { netmask: '255.255.255.192', disk: 20, mirrored: 20, memory: undefined };
    expect(serverRows(pdnsDir, 'staging')).toEqual([
      { name: 's-hive0.pdns', groups: ['hives', 'first_hive'], ip: '192.168.0.5', subnet: 'subnet-a', zone: 'ap-northeast-1d', instanceType: 't3.xlarge', ...common },
      { name: 's-hive1.pdns', groups: ['hives'], ip: '192.168.0.69', subnet: 'subnet-b', zone: 'ap-northeast-1b', instanceType: 't3.xlarge', ...common },
      { name: 's-hive2.pdns', groups: ['hives'], ip: '192.168.0.133', subnet: 'subnet-c', zone: 'ap-northeast-1c', instanceType: 't3.xlarge', ...common },
      // a separate repository gets the repository_* values only (no disk_size, no mirrored disk)
      { name: 's-hive3.pdns', groups: ['repository'], ip: '192.168.0.6', subnet: 'subnet-a', zone: 'ap-northeast-1d', instanceType: 't3.large', netmask: '255.255.255.192', disk: undefined, mirrored: undefined, memory: undefined },
    ]);
  });

  it('production: azure, 4 servers from 192.168.0.0/24 (skip 3), zones 1-3', () => {
    const rows = serverRows(pdnsDir, 'production');
    expect(rows.map((r) => [r.name, r.groups.join(','), r.ip, r.zone, r.instanceType, r.disk, r.mirrored])).toEqual([
      ['hive0.pdns', 'hives,first_hive', '192.168.0.4', 1, 'Standard_D2s_v3', 100, 20],
      ['hive1.pdns', 'hives', '192.168.0.5', 2, 'Standard_D2s_v3', 100, 20],
      ['hive2.pdns', 'hives', '192.168.0.6', 3, 'Standard_D2s_v3', 100, 20],
      ['hive3.pdns', 'repository', '192.168.0.7', 1, 'Standard_D2s_v3', 150, undefined],
    ]);
    expect(site(pdnsDir, 'production').stages.production!.hosts[0]!.vars.hive_vm_image_name).toEqual({
      offer: 'RHEL',
      publisher: 'RedHat',
      sku: '86-gen2',
      version: 'latest',
    });
  });

  it('names a mother per stage with the network variables', () => {
    const inv = list(pdnsDir, 'staging');
    expect(inv.mother!.hosts).toEqual(['s-mother.pdns']);
    const mother = inv._meta.hostvars['s-mother.pdns']!;
    expect(mother.hive_cidr).toBe('192.168.0.0/24');
    expect(mother.hive_region).toBe('ap-northeast-1');
    expect(mother.hive_subnets.map((s: any) => s.name)).toEqual(['subnet-a', 'subnet-b', 'subnet-c']);
    expect(mother.ansible_connection).toBe('local');
    expect(list(pdnsDir, 'private').mother!.hosts).toEqual(['p-mother.pdns']);
    expect(list(pdnsDir, 'production').mother!.hosts).toEqual(['mother.pdns']);
  });

  it('puts services, built images and volumes into the stages they are available on', () => {
    const priv = list(pdnsDir, 'private');
    expect(priv.services!.hosts).toEqual(['powerdns', 'pdnsdb', 'pdnsadmin', 'proxy', 'configure']);
    expect(priv.images!.hosts).toEqual(['image_pdnsdb', 'image_pdnsadmin', 'image_configure']);
    // every DRBD volume of the example is available on staging and production only
    expect(priv.drbd_volumes).toBeUndefined();
    expect(priv.networks!.hosts).toEqual(['hive_default_network']);
    const prod = list(pdnsDir, 'production');
    expect(prod.services!.hosts).toContain('certbot');
    expect(prod.drbd_volumes!.hosts).toEqual([
      'volume_pdnsdb_data',
      'volume_pdnsadmin_data',
      'volume_proxy_config',
      'volume_letsencrypt_data',
    ]);
    expect(prod.production!.hosts!.slice(0, 5)).toEqual(['mother.pdns', 'hive0.pdns', 'hive1.pdns', 'hive2.pdns', 'hive3.pdns']);
  });

  it('gives service, image and volume hosts the variables of the services plugin', () => {
    const vars = list(pdnsDir, 'production')._meta.hostvars;
    expect(vars.powerdns!.hive_image).toBe('procube/powerdns:latest');
    expect(vars.powerdns!.hive_ports).toEqual([
      { published_port: 53, target_port: 53, protocol: 'tcp' },
      { published_port: 53, target_port: 53, protocol: 'udp' },
    ]);
    expect(vars.powerdns!.hive_environment.MYSQL_DNSSEC).toBe('yes');
    expect(vars.powerdns!.hive_initialize_roles).toEqual(['python-aptk', 'powerdns-init']);
    expect(vars.pdnsdb!.hive_image_name).toBe('image_pdnsdb');
    expect(vars.pdnsdb!.hive_endpoint_mode).toBe('dnsrr');
    expect(vars.pdnsdb!.hive_volumes).toEqual([{ source: 'pdnsdb_data', target: '/var/lib/mysql', type: 'volume' }]);
    expect(vars.image_pdnsdb).toMatchObject({ hive_from: 'mariadb:10.4', hive_roles: ['python-aptk', 'powerdns-initdb'] });
    expect(vars.image_configure).toMatchObject({ hive_entrypoint: ['/usr/local/bin/python'], hive_command: ['/usr/sbin/proxy-configure'] });
    expect(vars.volume_pdnsdb_data!.hive_volume).toEqual({
      name: 'pdnsdb_data',
      drbd: {
        size: '500M',
        fstype: 'xfs',
        available_on: ['production', 'staging'],
        device_id: 1,
        // the pair used where the hives run DRBD 8.4, and the stage's DRBD 9 node-ids
        disk_nodes: ['hive0.pdns', 'hive1.pdns'],
        node_ids: { 'hive0.pdns': 0, 'hive1.pdns': 1, 'hive2.pdns': 2 },
      },
    });
    expect(vars.configure!.hive_labels).toEqual({ HIVE_MARK: 'proxy_config' });
    expect(vars.certbot!.hive_backup_scripts).toEqual([{ name: 'certificates', directory: '/etc/letsencrypt', cleanup_days_before: 3 }]);
  });

  it('sets the group variables hive-builder set and the ones its playbooks derived', () => {
    const vars = list(pdnsDir, 'staging')._meta.hostvars;
    for (const host of ['s-hive0.pdns', 's-mother.pdns', 'powerdns', 'volume_proxy_config']) {
      expect(vars[host]).toMatchObject({
        hive_name: 'pdns',
        hive_stage: 'staging',
        hive_provider: 'aws',
        hive_custom_hostname: 'hive',
        hive_registry: 's-hive3.pdns:5000',
        hive_published_ports_tcp: [53, 80, 443],
        hive_published_ports_udp: [53],
      });
    }
    expect(vars['s-hive1.pdns']!.hive_swarm_master).toBe('s-hive0.pdns');
    // per-stage files: a service host gets its own stage's provider, not the last stage's
    expect(list(pdnsDir, 'production')._meta.hostvars.powerdns!.hive_provider).toBe('azure');
  });

  it('lists the groups hive-builder creates', () => {
    const inv = list(pdnsDir, 'private');
    expect((inv.all as { children: string[] }).children).toEqual([
      'ungrouped', 'hosts', 'first_hive', 'private', 'services', 'images', 'volumes', 'drbd_volumes', 'nfs_volumes', 'networks',
    ]);
    expect(inv.hosts!.children).toEqual(['servers', 'mother']);
    expect(inv.servers!.children).toEqual(['hives', 'repository']);
  });
});

describe('first hive', () => {
  it('follows the firstHive option', () => {
    const s = readSite({ inventoryDir: pdnsDir, hiveDir: join(hiveDir, 'fh'), stage: 'production', firstHive: 2 });
    const inv = toAnsibleInventory(s, 'production') as ListShape;
    expect(inv.first_hive!.hosts).toEqual(['hive2.pdns']);
    expect(inv._meta.hostvars['hive0.pdns']!.hive_swarm_master).toBe('hive2.pdns');
  });
});

describe('small fixture (local, aws with subnets, prepared with addresses)', () => {
  it('derives local servers from the cidr, both hives, the last also the repository', () => {
    const rows = serverRows(smallDir, 'private');
    expect(rows.map((r) => [r.name, r.groups.join(','), r.ip, r.memory])).toEqual([
      ['p-hive0.demo.example.com', 'hives,first_hive', '10.90.0.4', 2048],
      ['p-hive1.demo.example.com', 'hives,repository', '10.90.0.5', 2048],
    ]);
    const vars = site(smallDir, 'private').stages.private!.hosts[1]!.vars;
    expect(vars).toMatchObject({ hive_cpus: 2, hive_internal_cidr: '172.31.252.0/22' });
  });

  it('uses the subnet zone when given, else region + suffix', () => {
    const rows = serverRows(smallDir, 'staging');
    expect(rows.map((r) => [r.name, r.ip, r.subnet, r.zone])).toEqual([
      ['s-hive0.demo.example.com', '10.91.0.5', 'subnet-a', 'ap-northeast-1a'],
      ['s-hive1.demo.example.com', '10.91.1.5', 's-subnet1', 'ap-northeast-1-b'],
      ['s-hive2.demo.example.com', '10.91.0.6', 'subnet-a', 'ap-northeast-1a'],
      ['s-hive3.demo.example.com', '10.91.1.6', 's-subnet1', 'ap-northeast-1-a'],
    ]);
    const hosts = site(smallDir, 'staging').stages.staging!.hosts;
    expect(hosts[0]!.vars).toMatchObject({ hive_mirrored_disk_encrypted: true, hive_kms_key_id: '0f1e2d3c-aaaa-bbbb-cccc-1234567890ab' });
    expect(hosts[3]!.vars.hive_mirrored_disk_encrypted).toBeUndefined();
    expect(hosts[3]!.vars.hive_disk_size).toBe(40);
  });

  it('takes prepared addresses from ip_address_list with the custom host name', () => {
    const rows = serverRows(smallDir, 'production');
    expect(rows.map((r) => [r.name, r.groups.join(','), r.ip])).toEqual([
      ['node0.demo.example.com', 'hives,first_hive', '192.168.20.5'],
      ['node1.demo.example.com', 'hives', '192.168.20.6'],
      ['node2.demo.example.com', 'hives,repository', '192.168.20.7'],
    ]);
    expect(site(smallDir, 'production').stages.production!.groupVars).toEqual({ hive_provider: 'prepared', hive_custom_hostname: 'node' });
  });

  it('normalises ports, allocating published ports from 61001 for the ones without', () => {
    const web = site(smallDir, 'private').services.find((s) => s.name === 'web')!;
    expect(web.vars.hive_ports).toEqual([
      { published_port: 80, target_port: 80, protocol: 'tcp' },
      { target_port: 8080, protocol: 'tcp', published_port: 61001 },
      { target_port: 53, published_port: 53, protocol: 'udp', mode: 'host' },
    ]);
    expect(web.ports.map((p) => p.auto === true)).toEqual([false, true, false]);
    expect(web.vars.hive_environment).toMatchObject({ ANSWER: true, QUOTED: 'no' });
    expect(web.vars.hive_update_config).toEqual({ parallelism: 1, delay: '10s', order: 'start-first' });
  });

  it('gives volumes their kind, stages and definition', () => {
    const s = site(smallDir, 'staging');
    expect(s.volumes.map((v) => [v.name, v.kind, v.stages.join(',')])).toEqual([
      ['volume_web_conf', 'drbd', 'private,staging,production'],
      ['volume_db_data', 'drbd', 'staging,production'],
      ['volume_db_backup', 'nfs', 'staging'],
      ['volume_scratch', 'driver', 'private'],
    ]);
    expect(s.volumes[3]!.definition).toEqual({ name: 'scratch', driver: 'local', driver_options: { type: 'tmpfs', device: 'tmpfs' } });
    const inv = list(smallDir, 'staging');
    expect(inv.nfs_volumes!.hosts).toEqual(['volume_db_backup']);
    expect(inv.volumes).toBeUndefined();
    expect(list(smallDir, 'private').volumes!.hosts).toEqual(['volume_scratch']);
  });

  it('adds the standalone mounts, capabilities and init command', () => {
    const vars = list(smallDir, 'private')._meta.hostvars;
    expect(vars.sysbox!.hive_volumes.slice(0, 3).map((m: any) => `${m.type}:${m.target}`)).toEqual([
      'tmpfs:/run',
      'tmpfs:/tmp',
      'tmpfs:/sys/fs/cgroup',
    ]);
    expect(vars.sysbox!.hive_cap_add).toEqual(['NET_ADMIN', 'SYS_ADMIN', 'SYSLOG', 'SYS_PTRACE', 'AUDIT_CONTROL']);
    expect(vars.sysbox!.hive_command.join(' ')).toContain('exec /sbin/init');
    expect(vars.image_sysbox).toMatchObject({ hive_standalone: true, hive_privileged: true });
  });

  it('keeps a built image on pull_on stages and declares networks per stage', () => {
    const inv = list(smallDir, 'production');
    expect(inv._meta.hostvars.image_db).toMatchObject({ hive_pull_on: ['production'], hive_pull_from: 'registry.example.com/db:1.0' });
    expect(inv.networks!.hosts).toEqual(['backend', 'hive_default_network']);
    expect(inv._meta.hostvars.backend).toMatchObject({ hive_driver_opts: { encrypted: '' }, hive_ipam: { config: [{ subnet: '10.10.0.0/24' }] } });
    expect(inv._meta.hostvars.web!.hive_environment.SECRET).toEqual({ __ansible_vault: '$ANSIBLE_VAULT;1.1;AES256\n6162636465\n' });
  });

  it('refuses to render a stage other than the one the allocations were read for', () => {
    expect(() => toAnsibleInventory(site(smallDir, 'private'), 'staging')).toThrow(/read for stage private/);
  });
});

describe('stageConfig', () => {
  it('shows the stage with defaults and what runs on it', () => {
    const config = stageConfig(site(smallDir, 'staging'), 'staging') as any;
    expect(config.settings).toMatchObject({
      provider: 'aws',
      separate_repository: true,
      number_of_hosts: 4,
      custom_hostname: 'hive',
      subnets: [
        { cidr: '10.91.0.0/24', name: 'subnet-a', available_zone: 'ap-northeast-1a' },
        { cidr: '10.91.1.0/24', name: 's-subnet1' },
      ],
    });
    expect(config.servers[3]).toMatchObject({ name: 's-hive3.demo.example.com', groups: ['repository'], private_ip: '10.91.1.6' });
    expect(config.services.map((s: any) => s.name)).toEqual(['web', 'db']);
    expect(config.services[1]).toMatchObject({ image_build: 'image_db', volumes: ['volume_db_data', 'volume_db_backup'] });
    expect(config.source).toBe(`${join('test/fixtures/inventory/small/hive.yml')}:13`);
    expect(config.allocations.drbd_minors).toEqual({ web_conf: 1, db_data: 2 });
  });
});
