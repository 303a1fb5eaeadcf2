// The hive command as a user runs it: bin/hive.js in a project folder, checked by output and
// exit code.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '../..');
const bin = join(repo, 'bin/hive.js');
const pdns = resolve(repo, '../shared/examples/hive-builder-pdns');

const projects: string[] = [];
function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hive-cli-'));
  projects.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterAll(() => projects.forEach((d) => rmSync(d, { recursive: true, force: true })));

function hive(cwd: string, ...args: string[]) {
  const r = spawnSync('node', [bin, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const goodHive = `plugin: hive_inventory
name: clitest
stages:
  private:
    provider: local
    cidr: 172.31.90.0/24
  staging:
    provider: prepared
    cidr: 10.20.0.0/24
    ip_address_list: [10.20.0.10, 10.20.0.11, 10.20.0.12, 10.20.0.13]
`;
const goodServices = `plugin: hive_services
services:
  web:
    image: nginx:latest
    ports: ["8080:80"]
`;

describe('hive command line', () => {
  it('lists every command in --help', () => {
    const r = hive(repo, '--help');
    expect(r.code).toBe(0);
    for (const c of ['run', 'all', 'inventory', 'validate', 'config', 'set', 'ssh', 'init', 'setup-hosts', 'deploy-services']) {
      expect(r.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  });

  it('refuses -l names of no service before Ansible starts: exit 2, no run record', () => {
    const dir = project({ 'inventory/hive.yml': goodHive, 'inventory/services.yml': goodServices });
    const r = hive(dir, 'deploy-services', '--stage', 'staging', '-l', 'web,wbe');
    expect(r.code).toBe(2);
    expect(r.err).toContain('deploy-services -l: no service wbe in stage staging (services: web)');
    expect(existsSync(join(dir, '.hive', 'staging', 'runs'))).toBe(false);
  });

  it('--version prints the version of package.json', () => {
    const r = hive(repo, '--version');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version);
  });

  it('validates hive-builder\'s pdns example unchanged and exits 0', () => {
    const dir = project();
    const r = hive(dir, 'validate', '-i', pdns);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('valid');
    // validate writes nothing, not even allocations
    expect(existsSync(join(dir, '.hive'))).toBe(false);
  });

  it('prints the stage inventory as ansible-inventory --list does', () => {
    const dir = project();
    const r = hive(dir, 'inventory', '--list', '-s', 'staging', '-i', pdns);
    expect(r.code).toBe(0);
    const inv = JSON.parse(r.out);
    expect(inv.hives.hosts).toEqual(['s-hive0.pdns', 's-hive1.pdns', 's-hive2.pdns']);
    expect(inv.repository.hosts).toEqual(['s-hive3.pdns']);
    expect(inv._meta.hostvars['s-hive1.pdns'].hive_private_ip).toBe('192.168.0.69');
    expect(inv._meta.hostvars['s-hive1.pdns'].hive_available_zone).toBe('ap-northeast-1b');
  });

  it('reports bad input with file, line and key, exit 2, before anything runs', () => {
    const dir = project({
      'inventory/hive.yml': goodHive.replace('172.31.90.0/24', '10.90.0.0/33'),
      'inventory/services.yml': goodServices,
    });
    for (const args of [['validate'], ['run', '--phase', 'setup-hosts'], ['all'], ['inventory', '--list']]) {
      const r = hive(dir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toContain('inventory/hive.yml:6: stages.private.cidr: "10.90.0.0/33" is not an IPv4 network');
    }
    // nothing was generated for Ansible, no run was recorded
    expect(existsSync(join(dir, '.hive/private/ansible.cfg'))).toBe(false);
    expect(existsSync(join(dir, '.hive/private/runs'))).toBe(false);
  });

  it('exits 2 on usage errors', () => {
    const dir = project({ 'inventory/hive.yml': goodHive, 'inventory/services.yml': goodServices });
    expect(hive(dir, 'run', '--phase', 'nope').code).toBe(2);
    expect(hive(dir, 'frobnicate').code).toBe(2);
    expect(hive(dir, 'run', '--phase', 'setup-hosts', '-H').code).toBe(2);
    const r = hive(dir, 'inventory', '--list', '-s', 'production');
    expect(r.code).toBe(2);
    expect(r.err).toContain('stage "production" is not defined');
  });

  it('remembers the stage with hive set stage, and -s still wins', () => {
    const dir = project({ 'inventory/hive.yml': goodHive, 'inventory/services.yml': goodServices });
    expect(hive(dir, 'set', 'stage', 'staging').code).toBe(0);
    const inv = JSON.parse(hive(dir, 'inventory', '--list').out);
    expect(inv.staging.hosts).toContain('s-hive0.clitest');
    const priv = JSON.parse(hive(dir, '-s', 'private', 'inventory', '--list').out);
    expect(priv.private.hosts).toContain('p-hive0.clitest');
    const bad = hive(dir, 'set', 'stage', 'prod');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('"prod" is not one of');
  });

  it('prints the merged, defaulted stage with hive config', () => {
    const dir = project({ 'inventory/hive.yml': goodHive, 'inventory/services.yml': goodServices });
    const r = hive(dir, 'config', '--stage', 'private', '--json');
    expect(r.code).toBe(0);
    const config = JSON.parse(r.out);
    expect(JSON.stringify(config)).toContain('172.31.90.4');
    expect(JSON.stringify(config)).toContain('web');
  });

  it('hive config and hive inventory allocate in memory but never write allocations.yml', () => {
    const dir = project({
      'inventory/hive.yml': goodHive,
      'inventory/services.yml': `plugin: hive_services
services:
  db:
    image: postgres:15
    ports: ["5432"]
    volumes:
      - {source: db_data, target: /var/lib/postgresql/data, drbd: {fstype: xfs, size: 1G}}
`,
    });
    const inv = hive(dir, 'inventory', '--list', '-s', 'private');
    expect(inv.code, inv.err).toBe(0);
    const config = hive(dir, 'config', '--stage', 'private', '--json');
    expect(config.code, config.err).toBe(0);
    expect(existsSync(join(dir, '.hive/private/allocations.yml'))).toBe(false);
  });

  it('hive init --list-samples, then hive init --sample gslb demo writes a site named after its folder', () => {
    const dir = project();
    const list = hive(dir, 'init', '--list-samples');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^gslb {2}\S.*PowerDNS/m);
    const r = hive(dir, 'init', '--sample', 'gslb', 'demo');
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(dir, 'demo/inventory/hive.yml'), 'utf8')).toMatch(/^name: demo$/m);
    const v = hive(join(dir, 'demo'), 'validate');
    expect(v.code, v.err).toBe(0);
    expect(v.out).toContain('stages private, staging, production; 3 services');
    const again = hive(dir, 'init', '--sample', 'gslb', 'demo');
    expect(again.code).toBe(2);
    expect(again.err).toContain('already exist');
    expect(hive(dir, 'init', '--sample', 'nope', 'other').code).toBe(2);
  });

  it('exits 3 naming the holder when another run holds the stage lock', () => {
    const dir = project({ 'inventory/hive.yml': goodHive, 'inventory/services.yml': goodServices });
    mkdirSync(join(dir, '.hive/private'), { recursive: true });
    // this test process is alive: its lock is not stale
    const holder = { pid: process.pid, command: 'hive run --phase setup-hosts', started: '2026-11-25T10:00:00Z', host: hostname(), token: 't' };
    writeFileSync(join(dir, '.hive/private/lock'), JSON.stringify(holder));
    const r = hive(dir, 'run', '--phase', 'build-networks');
    expect(r.code).toBe(3);
    expect(r.err).toContain(`pid ${process.pid}`);
    expect(r.err).toContain('hive run --phase setup-hosts');
    expect(r.err).toContain('2026-11-25T10:00:00Z');
  });

  it('keeps hive-builder spellings: the phase as command, -s, -r', () => {
    const dir = project({ 'inventory/hive.yml': goodHive, 'inventory/services.yml': goodServices });
    const r = hive(repo, '-r', dir, '-s', 'private', 'inventory', '--list');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).repository.hosts).toEqual(['p-hive3.clitest']);
    expect(hive(dir, 'setup-hosts', '--help').out).toContain('--tags');
  });
});
