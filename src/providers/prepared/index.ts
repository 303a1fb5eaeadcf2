// The `prepared` provider: hosts that already exist, reached at the stage's `ip_address_list`.
// build-infra records their host keys (ssh-keyscan, once per address), writes ssh_config, and
// checks that the admin user logs in with the site's key and may sudo. When it cannot and the
// stage has `root_password`, it logs in once as root with that password (sshpass, the password
// passed in the environment only) to create the admin user, its sudo rule and authorized key;
// later runs use the key and never the password again. -H / -D leave the machines alone.
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import type { Host } from '../../model/site.js';
import { ensureSshKeyPair } from '../credentials.js';
import { ProviderError } from '../errors.js';
import { StageDir } from '../../state/stage-dir.js';
import type { Provider, ProviderContext } from '../provider.js';
import type { HostStatus } from '../../lib/events.js';
import { TaskReporter } from '../reporter.js';
import { inventoryVars, type InventoryVars } from '../../model/inventory-vars.js';
import { hostVar } from './inventory-vars.js';
import {
  appendKnownHosts,
  knownHostsHas,
  knownHostsName,
  renderSshConfig,
  writeIfChanged,
} from '../ssh-config.js';

export { renderSshConfig, writeIfChanged, knownHostsHas, forgetKnownHosts } from '../ssh-config.js';

export interface PreparedDeps {
  /** Seconds ssh / ssh-keyscan wait for a host to answer. */
  connectTimeout: number;
}

const defaults: PreparedDeps = { connectTimeout: 10 };

interface PreparedHost {
  host: Host;
  address: string;
  port: number;
  admin: string;
  adminGroup: string;
  adminUid?: number;
  adminGid?: number;
  rootPassword?: string;
}

const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}
function int(v: unknown): number | undefined {
  const s = str(v);
  return s && /^\d+$/.test(s) ? Number(s) : undefined;
}

function preparedHosts(ctx: ProviderContext, files: InventoryVars): PreparedHost[] {
  const { site, stage } = ctx;
  if (!stage.hosts.length) {
    throw new ProviderError(`stage ${stage.name} has no servers: set ip_address_list for the prepared hosts in the inventory`, { exitCode: 2 });
  }
  return stage.hosts.map((h) => {
    const v = (key: string) => hostVar(site, stage, h, key, files);
    const admin = str(v('hive_admin')) ?? 'admin';
    const adminGroup = str(v('hive_admin_group')) ?? admin;
    for (const [key, name] of [['hive_admin', admin], ['hive_admin_group', adminGroup]]) {
      if (!NAME.test(name)) throw new ProviderError(`${key} "${name}" is not a valid user or group name`, { exitCode: 2 });
    }
    return {
      host: h,
      address: h.privateIp,
      port: int(v('hive_sshd_port')) ?? 22,
      admin,
      adminGroup,
      adminUid: int(v('hive_admin_uid')),
      adminGid: int(v('hive_admin_gid')),
      rootPassword: str(v('hive_root_password')),
    };
  });
}

/** Creates the admin (group, user, NOPASSWD sudo rule) and installs the key; run as root. */
function bootstrapScript(p: PreparedHost, publicKey: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `set -eu
admin=${q(p.admin)}; group=${q(p.adminGroup)}; key=${q(publicKey)}
if [ "$admin" != root ]; then
  getent group "$group" >/dev/null || groupadd ${p.adminGid !== undefined ? `-g ${p.adminGid} ` : ''}"$group"
  if ! id -u "$admin" >/dev/null 2>&1; then
    useradd -m -s /bin/bash -g "$group" ${p.adminUid !== undefined ? `-u ${p.adminUid} ` : ''}"$admin"
  fi
  mkdir -p /etc/sudoers.d
  printf '%%%s ALL=(ALL) NOPASSWD: ALL\\n' "$group" > /etc/sudoers.d/hive-admin.tmp
  if [ "$group" = "$admin" ] && ! id -nG "$admin" | tr ' ' '\\n' | grep -qx "$group"; then
    usermod -aG "$group" "$admin"
  fi
  chmod 0440 /etc/sudoers.d/hive-admin.tmp
  mv /etc/sudoers.d/hive-admin.tmp /etc/sudoers.d/hive-admin
fi
home=$(getent passwd "$admin" | cut -d: -f6)
mkdir -p "$home/.ssh"
touch "$home/.ssh/authorized_keys"
grep -qxF "$key" "$home/.ssh/authorized_keys" || printf '%s\\n' "$key" >> "$home/.ssh/authorized_keys"
chmod 700 "$home/.ssh"; chmod 600 "$home/.ssh/authorized_keys"
chown -R "$admin:$(id -gn "$admin")" "$home/.ssh"
command -v sudo >/dev/null 2>&1 || echo HIVE_NO_SUDO
`;
}

class PreparedRun {
  private readonly r: TaskReporter;
  constructor(
    private readonly ctx: ProviderContext,
    private readonly deps: PreparedDeps,
  ) {
    this.r = new TaskReporter(ctx.events, 'prepared');
  }

  private get stageFiles(): StageDir {
    return new StageDir(this.ctx.stageDir);
  }

  private sshArgs(): string[] {
    return ['-F', this.stageFiles.sshConfig, '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${this.deps.connectTimeout}`];
  }

  async run(): Promise<void> {
    const { ctx } = this;
    const hosts = preparedHosts(ctx, await inventoryVars(ctx.site, ctx.stage.name, ctx.vault));
    const mother = ctx.stage.motherName;
    const dry = ctx.dryRun;

    this.r.startTask('ssh key');
    const { publicKey: publicKeyPath, privateKey: privateKeyPath } = this.stageFiles;
    let publicKey: string | undefined;
    if (dry) {
      publicKey = existsSync(publicKeyPath) ? readFileSync(publicKeyPath, 'utf8').trim() : undefined;
      this.r.result(mother, publicKey ? 'ok' : 'changed', publicKey ? `found ${publicKeyPath}` : `would create ${privateKeyPath}`);
    } else {
      const existed = existsSync(privateKeyPath);
      publicKey = (await ensureSshKeyPair(ctx.stageDir, `hive-${ctx.site.name}-${ctx.stage.name}`)).publicKey;
      this.r.result(mother, existed ? 'ok' : 'changed', `${existed ? 'found' : 'created'} ${privateKeyPath}`);
    }

    // Host keys are recorded once per address; a changed key afterwards makes ssh refuse loudly.
    this.r.startTask('known_hosts');
    const known = this.stageFiles.knownHosts;
    const scanned = await Promise.all(
      hosts.map(async (p) => {
        if (knownHostsHas(known, p.address, p.port)) {
          this.r.result(p.host.name, 'ok', `host key of ${p.address} already known`);
          return [];
        }
        const lines = await this.keyscan(p);
        this.r.result(p.host.name, 'changed', `${dry ? 'would record' : 'recorded'} ${lines.length} host key(s) of ${p.address}`);
        return lines;
      }),
    );
    if (!dry && scanned.flat().length) appendKnownHosts(known, scanned.flat());

    this.r.startTask('ssh_config');
    const config = renderSshConfig(
      ctx.stageDir,
      privateKeyPath,
      hosts.map((p) => ({ alias: p.host.name, hostName: p.address, port: p.port, user: p.admin, strict: 'yes' })),
      'prepared',
    );
    const configPath = this.stageFiles.sshConfig;
    const same = existsSync(configPath) && readFileSync(configPath, 'utf8') === config;
    if (!dry) writeIfChanged(configPath, config);
    this.r.result(mother, same ? 'ok' : 'changed', `${same ? 'unchanged' : dry ? 'would write' : 'wrote'} ${configPath}`);

    this.r.startTask('admin login');
    if (dry && (!existsSync(configPath) || !same)) {
      for (const p of hosts) this.r.result(p.host.name, 'skipped', 'login is checked once ssh_config is written');
      return;
    }
    // One host at a time: a site has a handful, and failures then read in order.
    for (const p of hosts) {
      const check = await this.checkLogin(p);
      if (check.ok) {
        this.sudoResult(p, check.sudo, 'ok', `${p.admin}@${p.address} logs in with the site key`);
        continue;
      }
      if (check.hostKeyChanged) {
        throw new ProviderError(
          `the host key of ${p.host.name} (${p.address}) differs from the one recorded in ${known}: if the machine was reinstalled, run "ssh-keygen -R ${knownHostsName(p.address, p.port)} -f ${known}" and build-infra again`,
        );
      }
      if (!p.rootPassword) {
        throw new ProviderError(
          `cannot log in to ${p.host.name} (${p.address}) as ${p.admin} with ${privateKeyPath} (${check.reason}): add ${publicKeyPath} to ~${p.admin}/.ssh/authorized_keys there (with NOPASSWD sudo), or set root_password for stage ${ctx.stage.name} in the inventory's hive.yml`,
        );
      }
      if (dry) {
        this.r.result(p.host.name, 'changed', `would log in as root with root_password to create ${p.admin} and install the site key`);
        continue;
      }
      const noSudo = await this.bootstrap(p, publicKey!);
      const after = await this.checkLogin(p);
      if (!after.ok) {
        throw new ProviderError(
          `${p.admin} still cannot log in to ${p.host.name} (${p.address}) after installing the key as root (${after.reason}): check sshd's AllowUsers / AuthorizedKeysFile settings there`,
        );
      }
      if (noSudo) this.r.warning(`sudo is not installed on ${p.host.name}: setup-hosts needs it (apt-get install sudo / dnf install sudo as root)`);
      this.sudoResult(p, after.sudo, 'changed', `created ${p.admin} and installed the site key as root (root_password is not used again)`);
    }
  }

  private sudoResult(p: PreparedHost, sudo: boolean, status: HostStatus, msg: string) {
    if (!sudo && p.admin !== 'root') {
      this.r.warning(`${p.admin} on ${p.host.name} cannot sudo without a password: setup-hosts needs NOPASSWD sudo for it`);
    }
    this.r.result(p.host.name, status, msg);
  }

  private async keyscan(p: PreparedHost): Promise<string[]> {
    const r = await execa('ssh-keyscan', ['-T', String(this.deps.connectTimeout), '-p', String(p.port), p.address], { reject: false });
    if ((r as { code?: string }).code === 'ENOENT') {
      throw new ProviderError('ssh-keyscan is not installed: install openssh-client (apt-get install openssh-client)');
    }
    const lines = String(r.stdout ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    if (!lines.length) {
      throw new ProviderError(
        `${p.host.name} does not answer ssh at ${p.address}:${p.port}: check ip_address_list in the inventory's hive.yml and that sshd runs there`,
      );
    }
    return lines;
  }

  private async checkLogin(p: PreparedHost): Promise<{ ok: boolean; sudo: boolean; hostKeyChanged?: boolean; reason: string }> {
    const r = await execa(
      'ssh',
      [...this.sshArgs(), p.host.name, 'if sudo -n true 2>/dev/null; then echo HIVE_SUDO_OK; else echo HIVE_SUDO_NO; fi'],
      { reject: false },
    );
    const stderr = String(r.stderr ?? '').trim();
    const reason = stderr.split('\n').filter(Boolean).pop() ?? `ssh exit ${r.exitCode}`;
    if (r.exitCode === 0) return { ok: true, sudo: String(r.stdout).includes('HIVE_SUDO_OK'), reason };
    return { ok: false, sudo: false, hostKeyChanged: /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr), reason };
  }

  /** Returns whether sudo is missing on the host. */
  private async bootstrap(p: PreparedHost, publicKey: string): Promise<boolean> {
    const known = this.stageFiles.knownHosts;
    const r = await execa(
      'sshpass',
      [
        '-e',
        'ssh',
        '-o', `UserKnownHostsFile=${known}`,
        '-o', 'StrictHostKeyChecking=yes',
        '-o', 'PubkeyAuthentication=no',
        '-o', 'PreferredAuthentications=password,keyboard-interactive',
        '-o', 'NumberOfPasswordPrompts=1',
        '-o', `ConnectTimeout=${this.deps.connectTimeout}`,
        '-o', 'LogLevel=ERROR',
        '-p', String(p.port),
        `root@${p.address}`,
        'sh', '-s',
      ],
      // The password travels in the environment of sshpass only: never argv, logs or events.
      { reject: false, input: bootstrapScript(p, publicKey), env: { SSHPASS: p.rootPassword! }, extendEnv: true },
    );
    if ((r as { code?: string }).code === 'ENOENT') {
      throw new ProviderError('sshpass is not installed, and root_password needs it: apt-get install sshpass (as root)');
    }
    if (r.exitCode === 0) return String(r.stdout).includes('HIVE_NO_SUDO');
    const detail = String(r.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? '';
    const why =
      r.exitCode === 5 || /permission denied/i.test(detail)
        ? 'root_password was refused (wrong password, or sshd does not allow root to log in with a password: PermitRootLogin yes)'
        : `exit ${r.exitCode}${detail ? `: ${detail}` : ''}`;
    throw new ProviderError(
      `cannot log in to ${p.host.name} (${p.address}) as root to install the site key: ${why}; fix root_password in the inventory's hive.yml or install the key for ${p.admin} yourself`,
    );
  }
}

export function createPreparedProvider(overrides: Partial<PreparedDeps> = {}): Provider {
  const deps = { ...defaults, ...overrides };
  return {
    name: 'prepared',
    async buildInfra(ctx: ProviderContext): Promise<void> {
      if (ctx.halt || ctx.destroy) {
        const what = ctx.destroy ? 'destroy (-D)' : 'halt (-H)';
        new TaskReporter(ctx.events, 'prepared').warning(
          `provider prepared: hive does not ${ctx.destroy ? 'remove' : 'stop'} machines it did not create; ${what} changed nothing (stop or reinstall them yourself)`,
        );
        return;
      }
      await new PreparedRun(ctx, deps).run();
    },
  };
}

const prepared: Provider = createPreparedProvider();
export default prepared;
