// The swarm parameters hive computes per service (src/model/service-spec.ts), from a real
// inventory read by readSite: what lands in the host variable hive_service_spec. The role's
// template on top of it is tested with Ansible in test/integration/services-roles.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnsibleUnsafe } from '../../src/lib/yaml-dialect.js';
import { readSite } from '../../src/model/index.js';
import { toAnsibleInventory } from '../../src/model/ansible-inventory.js';
import { duration, pythonJson } from '../../src/model/service-spec.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hive-service-spec-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function specsOf(provider: string, services: string): Record<string, any> {
  const dir = mkdtempSync(join(work, 'inv-'));
  const inventory = join(dir, 'inventory');
  mkdirSync(inventory);
  writeFileSync(
    join(inventory, 'hive.yml'),
    `plugin: hive_inventory\nname: demo.example.com\nstages:\n  private:\n    provider: ${provider}\n    cidr: 192.168.40.0/24\n` +
      (provider === 'prepared' ? '    ip_address_list: [192.168.40.10, 192.168.40.11, 192.168.40.12, 192.168.40.13]\n' : ''),
  );
  writeFileSync(join(inventory, 'services.yml'), `plugin: hive_services\n${services}`);
  const site = readSite({ inventoryDir: inventory, hiveDir: join(dir, '.hive'), stage: 'private' });
  const hostvars = toAnsibleInventory(site, 'private')._meta.hostvars as Record<string, Record<string, any>>;
  return Object.fromEntries(site.services.map((s) => [s.name, hostvars[s.name]!.hive_service_spec]));
}

describe('hive_service_spec', () => {
  it('swaps command and entrypoint the swarm way and splits strings into words', () => {
    const { web } = specsOf('local', `services:\n  web:\n    image: nginx\n    command: nginx -g "daemon off;"\n    entrypoint: [/docker-entrypoint.sh]\n`);
    expect(web.args).toEqual(['nginx', '-g', '"daemon', 'off;"']);
    expect(web.command).toEqual(['/docker-entrypoint.sh']);
    expect(web.image_ref).toBe('nginx');
  });

  it('keeps replicas 0 (scaled to zero), a template as it is for the deploy, and leaves replicas out of a global service', () => {
    const s = specsOf(
      'local',
      `services:\n  zero:\n    image: a\n    replicas: 0\n  templ:\n    image: a\n    replicas: "{{ web_replicas }}"\n  glob:\n    image: a\n    mode: global\n    replicas: 3\n`,
    );
    expect(s.zero.replicas).toBe(0);
    expect(s.templ.replicas).toBe('{{ web_replicas }}');
    expect(s.glob.mode).toBe('global');
    expect(s.glob.replicas).toBeUndefined();
  });

  it('mounts a drbd volume through the hive driver, with the placement on its replicas, except on the local provider', () => {
    const services = `services:\n  db:\n    image: a\n    volumes:\n      - source: db_data\n        target: /var/lib/db\n        type: volume\n        drbd: {fstype: xfs, size: 1G}\n`;
    const prepared = specsOf('prepared', services).db;
    expect(prepared.mounts).toEqual([{ target: '/var/lib/db', type: 'volume', readonly: false, source: 'db_data', driver: 'hive' }]);
    expect(prepared.placement).toEqual({ constraints: ['node.labels.hive.volume.db_data == true'] });
    expect(prepared.update_order).toBe('stop-first');
    const local = specsOf('local', services).db;
    expect(local.mounts[0].driver).toBeUndefined();
    expect(local.placement).toBeUndefined();
  });

  it('gives a standalone service its tmpfs mounts, capabilities and init once each', () => {
    const { sys } = specsOf('local', `services:\n  sys:\n    image: a\n    standalone: true\n    cap_add: [SYS_ADMIN]\n`);
    expect(sys.mounts.map((m: any) => `${m.type}:${m.target}`)).toEqual(['tmpfs:/run', 'tmpfs:/tmp', 'tmpfs:/sys/fs/cgroup']);
    expect(sys.cap_add.filter((c: string) => c === 'SYS_ADMIN')).toHaveLength(1);
    expect(sys.args.at(-1)).toMatch(/exec \/sbin\/init$/);
    expect(sys.labels.HIVE_STANDALONE).toBe('True');
  });

  it('deploys pull_from on a pull_on stage instead of the built image', () => {
    const s = specsOf(
      'local',
      `services:\n  built:\n    image: {from: debian, roles: [r]}\n  pulled:\n    image: {from: debian, roles: [r], pull_on: [private], pull_from: "reg.example.com/x:1"}\n`,
    );
    expect(s.built.image_build).toBe('image_built');
    expect(s.pulled.image_ref).toBe('reg.example.com/x:1');
    expect(s.pulled.image_build).toBeUndefined();
  });

  it('lists every server of the stage in /etc/hosts, long and short name', () => {
    const { web } = specsOf('local', `services:\n  web:\n    image: a\n    hosts: {ldap.example.com: 10.9.9.9}\n`);
    expect(Object.keys(web.hosts)).toEqual(expect.arrayContaining(['p-hive0.demo.example.com', 'p-hive0', 'ldap.example.com']));
    expect(web.hosts['p-hive0']).toBe(web.hosts['p-hive0.demo.example.com']);
  });
});

describe('the value rules of the spec', () => {
  it('writes non-string labels as Ansible to_json does (Python json.dumps spacing, ASCII)', () => {
    expect(pythonJson({ a: 1, b: [true, null, 'é'] })).toBe('{"a": 1, "b": [true, null, "\\u00e9"]}');
  });

  it('turns an integer duration (nanoseconds) into microseconds and keeps units as written', () => {
    expect(duration(1_500_000_000)).toBe('1500000us');
    expect(duration('1m30s')).toBe('1m30s');
  });

  it('passes an !unsafe value through untouched', () => {
    const raw = new AnsibleUnsafe('{{ not a template }}');
    const { web } = specsOf('local', `services:\n  web:\n    image: a\n    environment:\n      RAW: !unsafe "{{ not a template }}"\n`);
    expect(web.env.RAW).toEqual(raw);
  });
});
