// `hive init`: the project it writes, and what it refuses.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultSiteName, initProject, listSamples, pickCidr } from '../../src/init/index.js';
import { validateInventory } from '../../src/model/index.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hive-init-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('initProject (local)', () => {
  it('writes the inventory, sample services, their roles, .gitignore and README', async () => {
    const dir = tmp();
    const written = (await initProject(dir, { provider: 'local', name: 'demo' })).map((p) => relative(dir, p)).sort();
    expect(written).toEqual(
      expect.arrayContaining([
        '.gitignore', 'README.md', 'inventory/hive.yml', 'inventory/services.yml', 'inventory/group_vars/all.yml',
        'roles/web/tasks/main.yml', 'roles/notes/tasks/main.yml', 'roles/notes_init/tasks/main.yml',
      ]),
    );
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\.hive\/$/m);

    const hive = parse(readFileSync(join(dir, 'inventory/hive.yml'), 'utf8'));
    expect(hive).toMatchObject({ plugin: 'hive_inventory', name: 'demo', stages: { private: { provider: 'local', separate_repository: true, number_of_hosts: 4 } } });
    expect(hive.stages.private.cidr).toMatch(/^172\.\d+\.\d+\.0\/24$/);
    expect(readFileSync(join(dir, 'inventory/hive.yml'), 'utf8')).toMatch(/hive run --phase build-infra --stage private/);

    const services = parse(readFileSync(join(dir, 'inventory/services.yml'), 'utf8'));
    expect(services.plugin).toBe('hive_services');
    expect(services.services.web).toMatchObject({ image: { from: 'debian:bookworm', roles: ['web'] }, replicas: 2, endpoint_mode: 'dnsrr' });
    expect(services.services.web.ports[0]).toMatchObject({ mode: 'host' });
    expect(services.services.notes.volumes[0]).toMatchObject({ source: 'notes_data', type: 'volume' });
    // every role a service names is in the project
    const roles = [services.services.web.image.roles, services.services.notes.image.roles, services.services.notes.initialize_roles].flat();
    for (const r of roles) expect(existsSync(join(dir, 'roles', r, 'tasks', 'main.yml')), r).toBe(true);
    // no placeholder left anywhere
    for (const f of written) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/__[A-Z]+__/);
  });

  it('refuses to overwrite and then writes nothing; --force overwrites', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'README.md'), 'mine\n');
    await expect(initProject(dir, { provider: 'local', name: 'demo' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/README\.md already exists.*--force/) });
    expect(existsSync(join(dir, 'inventory'))).toBe(false);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe('mine\n');

    await initProject(dir, { provider: 'local', name: 'demo', force: true });
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/# Site demo/);
  });

  it('rejects a name that cannot be a host domain', async () => {
    await expect(initProject(tmp(), { provider: 'local', name: 'My_Site' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/My_Site/) });
  });
});

describe('pickCidr', () => {
  const prefix = (cidr: string) => {
    const [ip, bits] = cidr.split('/');
    return { net: ip.split('.').reduce((a, o) => a * 256 + Number(o), 0), bits: Number(bits) };
  };

  it('is stable for a name', () => {
    expect(pickCidr('demo', [])).toBe(pickCidr('demo', []));
    expect(pickCidr('demo', [])).toMatch(/^172\.30\.\d+\.0\/24$/);
  });

  it('moves past ranges in use on the machine', () => {
    const first = pickCidr('demo', []);
    const next = pickCidr('demo', [prefix(first)]);
    expect(next).not.toBe(first);
    expect(pickCidr('demo', [prefix('172.30.0.0/16')])).toMatch(/^172\.29\./);
  });
});

describe('hive init --sample', () => {
  it('lists the samples of inventories/ with one line each', () => {
    const samples = listSamples();
    expect(samples.map((s) => s.name)).toContain('gslb');
    const gslb = samples.find((s) => s.name === 'gslb')!;
    expect(gslb.summary).toMatch(/PowerDNS/);
    expect(gslb.summary).not.toMatch(/^#|^gslb:/);
  });

  it('writes the gslb sample: a valid site with a local private stage and aws staging and production', async () => {
    const dir = tmp();
    const written = (await initProject(dir, { provider: 'local', name: 'dnsdemo', sample: 'gslb' })).map((p) => relative(dir, p)).sort();
    expect(written).toEqual(
      expect.arrayContaining(['.gitignore', 'README.md', 'inventory/hive.yml', 'inventory/services.yml', 'inventory/group_vars/all.yml', 'roles/powerdns/files/gslb-pdns']),
    );
    for (const f of written) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/__[A-Z]+__/);
    const hive = parse(readFileSync(join(dir, 'inventory/hive.yml'), 'utf8'));
    expect(hive.name).toBe('dnsdemo');
    expect(Object.fromEntries(Object.entries(hive.stages).map(([k, v]) => [k, (v as { provider: string }).provider]))).toEqual({ private: 'local', staging: 'aws', production: 'aws' });
    const services = parse(readFileSync(join(dir, 'inventory/services.yml'), 'utf8')).services;
    expect(services.dns.ports).toEqual(expect.arrayContaining([expect.objectContaining({ published_port: 53, protocol: 'udp', mode: 'host' }), expect.objectContaining({ published_port: 53, protocol: 'tcp' })]));
    expect(services.web).toMatchObject({ mode: 'global', ports: [expect.objectContaining({ published_port: 80 })] });
    expect(services.pdns.initialize_roles).toEqual(['powerdns_zone']);
    // secrets are generated, not written in the inventory
    expect(readFileSync(join(dir, 'inventory/group_vars/all.yml'), 'utf8')).toMatch(/gslb_api_key: "\{\{ lookup\('ansible\.builtin\.password'/);
    // every role the services name is in the project
    for (const r of [services.web.image.roles, services.pdns.image.roles, services.pdns.initialize_roles].flat()) expect(existsSync(join(dir, 'roles', r, 'tasks', 'main.yml')), r).toBe(true);
    // and the site reads without a problem, every stage
    validateInventory(join(dir, 'inventory'));
  });

  it('refuses a sample it does not have, writing nothing', async () => {
    const dir = tmp();
    await expect(initProject(dir, { provider: 'local', name: 'demo', sample: 'nope' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/no sample "nope" \(samples: .*gslb/) });
    expect(existsSync(join(dir, 'inventory'))).toBe(false);
  });

  it('names the site after its folder', () => {
    expect(defaultSiteName('/tmp/x/demo')).toBe('demo');
    expect(defaultSiteName('/tmp/x/My_Site')).toBe('demo');
  });
});
