// The prepared provider against real machines: two throwaway Debian host containers (systemd +
// sshd, the local provider's hive-host image) on their own docker network, labelled
// hive.site=preparedtest and removed afterwards. One host has the site key installed for admin,
// the other only a root password.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host, Site, Stage } from '../../src/model/site.js';
import { ensureSshKeyPair } from '../../src/providers/credentials.js';
import { ProviderError } from '../../src/providers/errors.js';
import { ensureHostImage, HOST_IMAGE } from '../../src/providers/local/host-image.js';
import prepared, { createPreparedProvider } from '../../src/providers/prepared/index.js';
import type { ProviderContext } from '../../src/providers/provider.js';
import { waitForSshBanner } from '../../src/providers/aws/ssh-wait.js';
import type { HiveEvent } from '../../src/lib/events.js';
// the flags the local provider runs its systemd host containers with
import { SYSTEMD_FLAGS } from '../../src/providers/local/index.js';

const LABEL = 'hive.site=preparedtest';
const NETWORK = 'hive-preparedtest';
const KEYED = 'preparedtest-node0';
const PASSWORD_ONLY = 'preparedtest-node1';
const ROOT_PASSWORD = 'Pr3pared-root-pw';


const docker = (...args: string[]) => execa('docker', args);
const sh = (container: string, script: string, input?: string) => execa('docker', ['exec', '-i', container, 'sh', '-c', script], { input });
const ips: Record<string, string> = {};

async function cleanup() {
  const ids = (await docker('ps', '-aq', '--filter', `label=${LABEL}`)).stdout.split('\n').filter(Boolean);
  if (ids.length) await docker('rm', '-f', ...ids);
  const nets = (await docker('network', 'ls', '-q', '--filter', `label=${LABEL}`)).stdout.split('\n').filter(Boolean);
  if (nets.length) await docker('network', 'rm', ...nets);
}

async function waitForSshd(container: string) {
  for (let i = 0; i < 120; i++) {
    const r = await execa('docker', ['exec', container, 'systemctl', 'is-active', 'ssh'], { reject: false });
    if (r.stdout.trim() === 'active') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`sshd of ${container} did not start`);
}

beforeAll(async () => {
  await ensureHostImage({});
  await cleanup();
  await docker('network', 'create', '--label', LABEL, NETWORK);
  for (const name of [KEYED, PASSWORD_ONLY]) {
    await docker('run', '--detach', '--name', name, '--hostname', name, '--label', LABEL, '--network', NETWORK, ...SYSTEMD_FLAGS, HOST_IMAGE);
  }
  for (const name of [KEYED, PASSWORD_ONLY]) {
    await waitForSshd(name);
    ips[name] = (await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, name)).stdout.trim();
  }
  // The password-only machine: root may log in with a password, as on a fresh install.
  await sh(PASSWORD_ONLY, `echo 'root:${ROOT_PASSWORD}' | chpasswd && printf 'PermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/root-password.conf && systemctl reload ssh`);
}, 900_000);

afterAll(async () => {
  await cleanup();
});

function host(name: string, index: number, ip: string, vars: Record<string, unknown>): Host {
  return {
    name: `${name}.preparedtest`,
    shortName: name,
    index,
    isHive: true,
    isRepository: index === 1,
    isFirstHive: index === 0,
    privateIp: ip,
    netmask: '255.255.0.0',
    subnet: 'preparedtest-default',
    vars: { hive_private_ip: ip, ...vars },
  };
}

function site(hosts: Host[]): Site {
  const stage: Stage = {
    name: 'production',
    prefix: '',
    provider: 'prepared',
    cidr: '172.16.0.0/12',
    subnets: [],
    separateRepository: false,
    customHostname: 'node',
    hosts,
    settings: { provider: 'prepared' },
    motherVars: {},
    groupVars: { hive_provider: 'prepared' },
    motherName: 'mother.preparedtest',
    firstHive: 0,
    source: { file: 'inventory/hive.yml', line: 1 },
  };
  return {
    name: 'preparedtest',
    inventoryDir: '/nonexistent/inventory',
    stages: { production: stage },
    services: [],
    images: [],
    volumes: [],
    networks: [],
    allocations: { drbdMinors: {}, publishedPorts: {} },
  };
}

function context(s: Site, stageDir: string, opts: Partial<ProviderContext> = {}): ProviderContext & { recorded: HiveEvent[] } {
  const recorded: HiveEvent[] = [];
  return {
    site: s,
    stage: s.stages.production!,
    stageDir,
    rootDir: join(stageDir, '..', '..'),
    events: { emit: (e) => recorded.push(e) },
    halt: false,
    destroy: false,
    dryRun: false,
    ...opts,
    recorded,
  };
}

const newStageDir = () => join(mkdtempSync(join(tmpdir(), 'hive-prepared-')), '.hive', 'production');

const loginStatuses = (recorded: HiveEvent[]) =>
  Object.fromEntries(
    recorded
      .filter((e): e is Extract<HiveEvent, { event: 'host_result' }> => e.event === 'host_result' && e.task === 'prepared : admin login')
      .map((e) => [e.host, e.status]),
  );

async function viaSsh(stageDir: string, hostName: string, command: string) {
  return execa('ssh', ['-F', join(stageDir, 'ssh_config'), '-o', 'BatchMode=yes', hostName, command], { reject: false });
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
}

describe('prepared build-infra on real hosts', () => {
  const stageDir = newStageDir();
  const hosts = () => [
    host('node0', 0, ips[KEYED], { hive_root_password: ROOT_PASSWORD }),
    host('node1', 1, ips[PASSWORD_ONLY], { hive_root_password: ROOT_PASSWORD }),
  ];

  it('uses the installed key, installs it with root_password where missing, and records the real host keys', async () => {
    const key = await ensureSshKeyPair(stageDir);
    await sh(KEYED, 'install -d -m 700 -o admin -g admin ~admin/.ssh && cat >> ~admin/.ssh/authorized_keys && chown admin: ~admin/.ssh/authorized_keys', `${key.publicKey}\n`);

    const ctx = context(site(hosts()), stageDir);
    await prepared.buildInfra(ctx);

    expect(loginStatuses(ctx.recorded)).toEqual({ 'node0.preparedtest': 'ok', 'node1.preparedtest': 'changed' });
    for (const [name, container] of [['node0.preparedtest', KEYED], ['node1.preparedtest', PASSWORD_ONLY]]) {
      const r = await viaSsh(stageDir, name, 'sudo -n id -u && hostname');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.split('\n')).toEqual(['0', container]);
      // known_hosts holds the machine's own key (read through docker, not through the network).
      const own = (await sh(container, 'cat /etc/ssh/ssh_host_ed25519_key.pub')).stdout.split(' ')[1];
      expect(readFileSync(join(stageDir, 'known_hosts'), 'utf8')).toContain(`${ips[container]} ssh-ed25519 ${own}`);
    }
    const config = readFileSync(join(stageDir, 'ssh_config'), 'utf8');
    expect(config).toContain(`Host node1.preparedtest\n  HostName ${ips[PASSWORD_ONLY]}\n  Port 22\n  User admin\n`);
    expect(config).toContain('StrictHostKeyChecking yes');
    // The password reaches no event and no file hive writes.
    for (const text of [JSON.stringify(ctx.recorded), config, readFileSync(join(stageDir, 'known_hosts'), 'utf8')]) {
      expect(text).not.toContain(ROOT_PASSWORD);
    }
    const sudoers = await sh(PASSWORD_ONLY, 'cat /etc/sudoers.d/hive-admin; stat -c %a /etc/sudoers.d/hive-admin');
    expect(sudoers.stdout).toBe('%admin ALL=(ALL) NOPASSWD: ALL\n440');
  }, 120_000);

  it('second run changes nothing and no longer needs the root password', async () => {
    await sh(PASSWORD_ONLY, "echo 'root:another-password' | chpasswd");
    const before = { config: readFileSync(join(stageDir, 'ssh_config'), 'utf8'), mtime: statSync(join(stageDir, 'ssh_config')).mtimeMs };
    const known = readFileSync(join(stageDir, 'known_hosts'), 'utf8');
    const ctx = context(site(hosts()), stageDir);
    await prepared.buildInfra(ctx);
    const statuses = ctx.recorded.filter((e) => e.event === 'host_result').map((e) => (e as { status: string }).status);
    expect(new Set(statuses)).toEqual(new Set(['ok']));
    expect(statSync(join(stageDir, 'ssh_config')).mtimeMs).toBe(before.mtime);
    expect(readFileSync(join(stageDir, 'known_hosts'), 'utf8')).toBe(known);
    expect(ctx.recorded.filter((e) => e.event === 'warning')).toEqual([]);
  }, 60_000);

  it('refuses a host whose key changed, saying how to accept the new one', async () => {
    const path = join(stageDir, 'known_hosts');
    const original = readFileSync(path, 'utf8');
    const other = (await ensureSshKeyPair(mkdtempSync(join(tmpdir(), 'hive-otherkey-')))).publicKey.split(' ').slice(0, 2).join(' ');
    writeFileSync(path, original.split('\n').filter((l) => !l.startsWith(`${ips[KEYED]} `)).concat(`${ips[KEYED]} ${other}`).join('\n') + '\n');
    try {
      const e = await failure(prepared.buildInfra(context(site(hosts()), stageDir)));
      expect(e.message).toBe(
        `the host key of node0.preparedtest (${ips[KEYED]}) differs from the one recorded in ${path}: if the machine was reinstalled, run "ssh-keygen -R ${ips[KEYED]} -f ${path}" and build-infra again`,
      );
      expect(e.exitCode).toBe(1);
    } finally {
      writeFileSync(path, original);
    }
  }, 60_000);

  it('-H and -D leave the machines and the files alone', async () => {
    const config = readFileSync(join(stageDir, 'ssh_config'), 'utf8');
    for (const opts of [{ halt: true }, { destroy: true }]) {
      const ctx = context(site(hosts()), stageDir, opts);
      await prepared.buildInfra(ctx);
      expect(ctx.recorded.map((e) => e.event)).toEqual(['warning']);
      expect((ctx.recorded[0] as { msg: string }).msg).toMatch(/^provider prepared: hive does not (stop|remove) machines it did not create/);
    }
    expect(readFileSync(join(stageDir, 'ssh_config'), 'utf8')).toBe(config);
    const r = await viaSsh(stageDir, 'node0.preparedtest', 'true');
    expect(r.exitCode).toBe(0);
  }, 60_000);
});

describe('prepared build-infra: other admins and failures', () => {
  it('creates a missing admin user with its uid, group and sudo rule', async () => {
    const stageDir = newStageDir();
    await sh(PASSWORD_ONLY, "echo 'root:ops-test-pw' | chpasswd");
    const ctx = context(
      site([host('node1', 0, ips[PASSWORD_ONLY], { hive_root_password: 'ops-test-pw', hive_admin: 'ops', hive_admin_uid: 1500, hive_admin_gid: 1600 })]),
      stageDir,
    );
    await prepared.buildInfra(ctx);
    expect(loginStatuses(ctx.recorded)).toEqual({ 'node1.preparedtest': 'changed' });
    expect((await sh(PASSWORD_ONLY, 'id ops')).stdout).toBe('uid=1500(ops) gid=1600(ops) groups=1600(ops)');
    const r = await viaSsh(stageDir, 'node1.preparedtest', 'sudo -n whoami');
    expect(r.stdout).toBe('root');
  }, 60_000);

  it('dry-run contacts the hosts read-only and writes nothing', async () => {
    const stageDir = newStageDir();
    const ctx = context(site([host('node1', 0, ips[PASSWORD_ONLY], { hive_root_password: 'another-password' })]), stageDir, { dryRun: true });
    await prepared.buildInfra(ctx);
    expect(existsSync(stageDir)).toBe(false);
    const msgs = ctx.recorded.filter((e) => e.event === 'host_result').map((e) => (e as { msg: string }).msg);
    expect(msgs.some((m) => m.startsWith('would create '))).toBe(true);
    expect(msgs.some((m) => /^would record \d host key\(s\) of /.test(m))).toBe(true);
    expect(msgs.some((m) => m.startsWith('would write '))).toBe(true);
  }, 60_000);

  it('no key and no root_password: one line saying what to do', async () => {
    const stageDir = newStageDir();
    const e = await failure(prepared.buildInfra(context(site([host('node0', 0, ips[KEYED], {})]), stageDir)));
    expect(e.message).toMatch(
      new RegExp(
        `^cannot log in to node0\\.preparedtest \\(${ips[KEYED].replace(/\./g, '\\.')}\\) as admin with ${stageDir}/id_ed25519 \\(.*\\): add ${stageDir}/id_ed25519\\.pub to ~admin/\\.ssh/authorized_keys there \\(with NOPASSWD sudo\\), or set root_password for stage production`,
      ),
    );
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(1);
  }, 60_000);

  it('a wrong root_password is reported without revealing it', async () => {
    const stageDir = newStageDir();
    const e = await failure(prepared.buildInfra(context(site([host('node1', 0, ips[PASSWORD_ONLY], { hive_root_password: 'wrong-secret' })]), stageDir)));
    expect(e.message).toMatch(/^cannot log in to node1\.preparedtest \(.*\) as root to install the site key: root_password was refused/);
    expect(e.message).not.toContain('wrong-secret');
    expect(e.exitCode).toBe(1);
  }, 60_000);

  it("the aws provider's SSH wait: answers for a real sshd, gives up where nothing listens", async () => {
    await waitForSshBanner(ips[KEYED], 22, { timeoutMs: 10_000 });
    const [a, b, c, d] = ips[KEYED].split('.').map(Number);
    await expect(waitForSshBanner(`${a}.${b}.${c}.${d + 60}`, 22, { timeoutMs: 2_000, intervalMs: 500 })).rejects.toThrow('no SSH banner within 2s');
    // a port that accepts connections but does not speak SSH does not count either
    await docker('exec', '-d', KEYED, 'python3', '-m', 'http.server', '8000');
    for (let i = 0; i < 40 && (await execa('docker', ['exec', KEYED, 'sh', '-c', 'ss -ltn | grep -q :8000'], { reject: false })).exitCode !== 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
    }
    await expect(waitForSshBanner(ips[KEYED], 8000, { timeoutMs: 3_000, intervalMs: 500 })).rejects.toThrow('no SSH banner');
  }, 60_000);

  it('an address where nothing answers', async () => {
    // A free address on the test network: the gateway's next neighbour after both hosts.
    const [a, b, c, d] = ips[PASSWORD_ONLY].split('.').map(Number);
    const free = `${a}.${b}.${c}.${d + 50}`;
    const e = await failure(
      createPreparedProvider({ connectTimeout: 2 }).buildInfra(context(site([host('node9', 0, free, {})]), newStageDir())),
    );
    expect(e.message).toBe(`node9.preparedtest does not answer ssh at ${free}:22: check ip_address_list in the inventory's hive.yml and that sshd runs there`);
  }, 60_000);
});
