// Pure parts of the local provider: addresses, the mirror the hosts use, the ssh_config text.
// The provider itself is checked end to end on docker (test/e2e/local-site.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayOf, localSshConfig, networkName, volumeName } from '../../src/providers/local/index.js';
import { imageVersion, machineDebianMirrors } from '../../src/providers/local/host-image.js';
import { aptProxyConf } from '../../src/providers/local/apt-cache.js';

const dirs: string[] = [];
function aptDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hive-apt-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('gatewayOf', () => {
  it('is the first host address of the cidr', () => {
    expect(gatewayOf('172.30.123.0/24')).toBe('172.30.123.1');
    expect(gatewayOf('10.1.0.0/16')).toBe('10.1.0.1');
    expect(gatewayOf('192.168.56.32/27')).toBe('192.168.56.33');
  });
});

describe('names on the docker engine', () => {
  it('names the network after site and stage, the data volume after the host', () => {
    expect(networkName('demo', 'private')).toBe('hive-demo-private');
    expect(volumeName({ name: 'p-hive0.demo' } as never)).toBe('p-hive0.demo-docker');
  });
});

describe('machineDebianMirrors', () => {
  it('reads a deb822 sources file, skipping commented URIs', () => {
    const dir = aptDir({
      'sources.list.d/debian.sources': [
        'Types: deb',
        '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
        'URIs: http://mirror.example.org/debian/',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://mirror.example.org/debian-security',
        'Suites: bookworm-security',
        'Components: main',
      ].join('\n'),
    });
    expect(machineDebianMirrors(dir, {})).toEqual({
      mirror: 'http://mirror.example.org/debian',
      security: 'http://mirror.example.org/debian-security',
    });
  });

  it('reads one-line sources.list entries and derives the security mirror', () => {
    const dir = aptDir({ 'sources.list': 'deb [arch=amd64] http://ftp.jp.debian.org/debian bookworm main contrib\n' });
    expect(machineDebianMirrors(dir, {})).toEqual({
      mirror: 'http://ftp.jp.debian.org/debian',
      security: 'http://ftp.jp.debian.org/debian-security',
    });
  });

  it('ignores non-Debian sources (an Ubuntu machine) and falls back to deb.debian.org', () => {
    const dir = aptDir({ 'sources.list': 'deb http://archive.ubuntu.com/ubuntu jammy main\ndeb https://deb.nodesource.com/node_20.x nodistro main\n' });
    expect(machineDebianMirrors(dir, {})).toEqual({
      mirror: 'http://deb.debian.org/debian',
      security: 'http://deb.debian.org/debian-security',
    });
  });

  it('lets HIVE_DEBIAN_MIRROR override the machine', () => {
    const dir = aptDir({ 'sources.list': 'deb http://ftp.jp.debian.org/debian bookworm main\n' });
    expect(machineDebianMirrors(dir, { HIVE_DEBIAN_MIRROR: 'http://cache.lan/debian' }).mirror).toBe('http://cache.lan/debian');
  });
});

describe('imageVersion', () => {
  it('changes with the mirror written into the image', () => {
    const a = imageVersion({ mirror: 'http://a/debian', security: 'http://a/debian-security' });
    expect(a).toMatch(/^[0-9a-f]{12}$/);
    expect(imageVersion({ mirror: 'http://a/debian', security: 'http://a/debian-security' })).toBe(a);
    expect(imageVersion({ mirror: 'http://b/debian', security: 'http://a/debian-security' })).not.toBe(a);
  });
});

const sshConfigText = (stageDir: string, hosts: { name: string; ip: string }[]) =>
  localSshConfig(stageDir, hosts.map((h) => ({ name: h.name, privateIp: h.ip })));

describe('ssh_config of the local provider', () => {
  it('has one block per host with the private address, admin user, site key and pinned host keys', () => {
    const text = sshConfigText('/p/.hive/private', [
      { name: 'p-hive0.demo', ip: '172.30.1.4' },
      { name: 'p-hive3.demo', ip: '172.30.1.7' },
    ]);
    const blocks = text.split(/\n(?=Host )/).slice(1);
    expect(blocks).toHaveLength(2);
    expect(blocks[1]).toContain('Host p-hive3.demo\n  HostName 172.30.1.7\n  Port 22\n  User admin\n');
    for (const line of ['IdentityFile /p/.hive/private/id_ed25519', 'IdentitiesOnly yes', 'UserKnownHostsFile /p/.hive/private/known_hosts', 'StrictHostKeyChecking yes', 'LogLevel ERROR', 'ServerAliveInterval 15', 'ServerAliveCountMax 4']) {
      expect(blocks[0]).toContain(line);
    }
  });

  it('quotes paths with spaces', () => {
    expect(sshConfigText('/my sites/.hive/private', [{ name: 'h', ip: '10.0.0.4' }])).toContain('IdentityFile "/my sites/.hive/private/id_ed25519"');
  });
});

describe('aptProxyConf', () => {
  it('points apt at the proxy', () => {
    expect(aptProxyConf('http://172.30.1.1:3142')).toContain('Acquire::http::Proxy "http://172.30.1.1:3142";');
  });
});
