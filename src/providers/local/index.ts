// The `local` provider: the stage's hosts are systemd containers on this machine's docker
// engine, one docker network per site and stage with the stage's cidr, one data volume per host
// for /var/lib/docker (so the inner engine runs on overlay2). Everything it makes carries the
// labels hive.site / hive.stage (containers and volumes also hive.host), and -H / -D only touch
// what carries them. From the hosts on, Ansible reaches them over SSH like cloud hosts.
import { existsSync, rmSync } from 'node:fs';
import type { Host } from '../../model/site.js';
import { ensureSiteCa, ensureSshKeyPair } from '../credentials.js';
import { ProviderError } from '../errors.js';
import { StageDir } from '../../state/stage-dir.js';
import type { Provider, ProviderContext } from '../provider.js';
import { TaskReporter } from '../reporter.js';
import { aptProxyConf, resolveAptProxy, type AptProxy } from './apt-cache.js';
import { docker, execIn, findContainers, findNetworks, findVolumes, inspectNetwork, requireEngine, type ContainerInfo } from './docker.js';
import { ensureHostImage, HOST_IMAGE, machineDebianMirrors, SUITE } from './host-image.js';
import { renderSshConfig, writeIfChanged } from '../ssh-config.js';
import { ADMIN_USER, hostKeyLines, waitForSshd } from './ssh.js';

export const LABEL_SITE = 'hive.site';
export const LABEL_STAGE = 'hive.stage';
export const LABEL_HOST = 'hive.host';
export const LABEL_ROLE = 'hive.role';

export const networkName = (site: string, stage: string) => `hive-${site}-${stage}`;
export const containerName = (host: Host) => host.name;
export const volumeName = (host: Host) => `${host.name}-docker`;

/**
 * Flags that let systemd and a nested dockerd run without --privileged (cgroups v1 and v2
 * hosts): all capabilities but SYS_RESOURCE, no seccomp/apparmor confinement, writable /proc
 * and /sys paths, the host's cgroup tree, and tmpfs where systemd expects volatile state.
 */
export const SYSTEMD_FLAGS = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
  '--security-opt', 'systempaths=unconfined',
  '--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
  '--tmpfs', '/run', '--tmpfs', '/run/lock', '--tmpfs', '/tmp',
  '--stop-signal', 'SIGRTMIN+3',
];

/** First host address of an IPv4 cidr: the docker network's gateway (hive leaves .1–.3 free). */
export function gatewayOf(cidr: string): string {
  const [addr, bits] = cidr.split('/');
  const n = addr.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const first = Math.floor(n / size) * size + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(first / 2 ** s) % 256).join('.');
}

const sameCidr = (a?: string, b?: string) => !!a && !!b && a.trim() === b.trim();

/** The host the stage-wide results are reported on. */
const motherOf = (ctx: ProviderContext) => `${ctx.stage.prefix}mother.${ctx.site.name}`;

const siteLabels = (ctx: ProviderContext) => ({ [LABEL_SITE]: ctx.site.name, [LABEL_STAGE]: ctx.stage.name });

async function buildInfra(ctx: ProviderContext): Promise<void> {
  if (ctx.stage.provider !== 'local') {
    throw new ProviderError(`stage ${ctx.stage.name} uses provider ${ctx.stage.provider}, not local`);
  }
  const r = new TaskReporter(ctx.events, 'local');
  r.startPlay();
  await requireEngine();
  if (ctx.destroy) return destroy(ctx, r);
  if (ctx.halt) return halt(ctx, r);
  return build(ctx, r);
}

async function build(ctx: ProviderContext, r: TaskReporter): Promise<void> {
  const mother = motherOf(ctx);
  const { site, stage, stageDir } = ctx;
  const stageFiles = new StageDir(stageDir);
  const gateway = gatewayOf(stage.cidr);
  const net = networkName(site.name, stage.name);

  r.startTask('site credentials');
  const hadKey = existsSync(stageFiles.privateKey) && existsSync(stageFiles.caCert);
  if (!ctx.dryRun) {
    await ensureSshKeyPair(stageDir, `hive@${site.name}`);
    await ensureSiteCa(stageDir, site.name);
  }
  r.result(mother, hadKey ? 'ok' : 'changed', hadKey ? 'ssh key pair and CA exist' : `${ctx.dryRun ? 'would generate' : 'generated'} ssh key pair and CA in ${stageDir}`);

  r.startTask('apt cache');
  const mirrors = machineDebianMirrors();
  const { proxy, problem } = await resolveAptProxy(gateway, `${mirrors.mirror}/dists/${SUITE}/Release`);
  if (problem) r.warning(problem);
  r.result(
    mother,
    'ok',
    proxy
      ? `hosts download through ${proxy.forHosts} (${proxy.source})`
      : `no apt cache: hosts download from ${mirrors.mirror} directly${problem ? '' : ' (install apt-cacher-ng to cache)'}`,
  );

  r.startTask('host image');
  const image = await ensureHostImage({ aptProxy: proxy?.forMachine, dryRun: ctx.dryRun });
  r.result(
    mother,
    image.built ? 'changed' : 'ok',
    image.built
      ? `${ctx.dryRun ? 'would build' : `built in ${image.seconds}s:`} ${HOST_IMAGE} (version ${image.version})`
      : `${HOST_IMAGE} (version ${image.version}) is cached`,
  );

  r.startTask('site network');
  const existing = await inspectNetwork(net);
  if (existing) {
    if (!sameCidr(existing.subnet, stage.cidr)) {
      throw new ProviderError(
        `docker network ${net} has subnet ${existing.subnet ?? '(none)'} but stage ${stage.name} has cidr ${stage.cidr}: ` +
          `remove the site with "hive run --phase build-infra -D --stage ${stage.name}" (this deletes the hosts) or restore the cidr`,
      );
    }
    r.result(mother, 'ok', `network ${net} ${stage.cidr} exists`);
  } else if (ctx.dryRun) {
    r.result(mother, 'changed', `would create network ${net} ${stage.cidr}`);
  } else {
    const labels = Object.entries(siteLabels(ctx)).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const made = await docker(['network', 'create', '--driver', 'bridge', '--subnet', stage.cidr, '--gateway', gateway, ...labels, net], { reject: false });
    if (made.exitCode !== 0) {
      throw new ProviderError(
        `cannot create docker network ${net} with cidr ${stage.cidr}: ${made.stderr}` +
          (/overlap/i.test(made.stderr) ? ` (choose another cidr for stage ${stage.name} in inventory/hive.yml)` : ''),
      );
    }
    r.result(mother, 'changed', `created network ${net} ${stage.cidr} (gateway ${gateway})`);
  }

  r.startTask('host containers');
  const containers = await findContainers(siteLabels(ctx));
  const byHost = new Map(containers.map((c) => [c.labels[LABEL_HOST], c]));
  for (const c of containers) {
    if (!stage.hosts.some((h) => h.name === c.labels[LABEL_HOST])) {
      r.warning(`container ${c.name} (${LABEL_HOST}=${c.labels[LABEL_HOST]}) is not a host of stage ${stage.name} in the inventory; build-infra -D removes it`);
    }
  }
  const created = new Set<string>();
  for (const host of stage.hosts) {
    const c = byHost.get(host.name);
    if (c) {
      if (c.ip !== host.privateIp) {
        throw new ProviderError(
          `container ${c.name} has address ${c.ip ?? '(none)'} but the inventory gives ${host.name} ${host.privateIp}: ` +
            `remove the site with "hive run --phase build-infra -D --stage ${stage.name}" (this deletes the hosts) or restore the inventory`,
        );
      }
      if (c.running) {
        r.result(host.name, 'ok', `container ${c.name} is running`);
      } else if (ctx.dryRun) {
        r.result(host.name, 'changed', `would start container ${c.name}`);
      } else {
        await docker(['start', c.id]);
        r.result(host.name, 'changed', `started container ${c.name}`);
      }
    } else if (ctx.dryRun) {
      r.result(host.name, 'changed', `would create container ${containerName(host)} at ${host.privateIp}`);
    } else {
      await createHost(ctx, host, net);
      created.add(host.name);
      r.result(host.name, 'changed', `created container ${containerName(host)} at ${host.privateIp}`);
    }
  }
  if (ctx.dryRun) return;

  r.startTask('sshd');
  await Promise.all(stage.hosts.map((h) => waitForSshd(containerName(h), h.privateIp)));
  for (const h of stage.hosts) r.result(h.name, 'ok', `sshd answers at ${h.privateIp}:22`);

  r.startTask('admin key');
  const { publicKey } = await ensureSshKeyPair(stageDir, `hive@${site.name}`);
  const keyResults = await Promise.all(stage.hosts.map((h) => installAdminKey(containerName(h), publicKey)));
  stage.hosts.forEach((h, i) =>
    r.result(h.name, keyResults[i] ? 'changed' : 'ok', keyResults[i] ? `authorized the site key for ${ADMIN_USER}` : `site key of ${ADMIN_USER} in place`),
  );

  r.startTask('apt proxy');
  const proxyResults = await Promise.all(stage.hosts.map((h) => configureAptProxy(containerName(h), proxy, gateway)));
  stage.hosts.forEach((h, i) => {
    const p = proxyResults[i];
    if (p.warning) r.warning(`${h.name}: ${p.warning}`);
    r.result(h.name, p.changed ? 'changed' : 'ok', p.msg);
  });

  r.startTask('ssh_config');
  const keyLines = await Promise.all(stage.hosts.map((h) => hostKeyLines(containerName(h), h.name, h.privateIp)));
  // host keys read from the containers themselves: ssh checks them strictly from the first login
  const knownChanged = writeIfChanged(stageFiles.knownHosts, keyLines.flat().join('\n') + '\n');
  const configChanged = writeIfChanged(
    stageFiles.sshConfig,
    localSshConfig(stageDir, stage.hosts.map((h) => ({ name: h.name, privateIp: h.privateIp }))),
  );
  r.result(
    mother,
    knownChanged || configChanged ? 'changed' : 'ok',
    `${knownChanged || configChanged ? 'wrote' : 'unchanged:'} ${stageFiles.sshConfig} and known_hosts`,
  );
}

/** ssh_config of a local stage: each host by its private address, as the admin user, with the
 * site key and host keys checked strictly (they are read from the containers beforehand). */
export function localSshConfig(stageDir: string, hosts: { name: string; privateIp: string }[]): string {
  return renderSshConfig(
    stageDir,
    new StageDir(stageDir).privateKey,
    hosts.map((h) => ({ alias: h.name, hostName: h.privateIp, port: 22, user: ADMIN_USER, strict: 'yes' as const })),
    'local',
  );
}

async function createHost(ctx: ProviderContext, host: Host, net: string): Promise<void> {
  const labels = { ...siteLabels(ctx), [LABEL_HOST]: host.name };
  const labelArgs = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const volume = volumeName(host);
  if ((await docker(['volume', 'inspect', volume], { reject: false })).exitCode !== 0) {
    await docker(['volume', 'create', ...labelArgs, volume]);
  }
  // every server's name resolves on every host from the first boot (setup-hosts manages /etc/hosts too)
  const addHosts = ctx.stage.hosts.flatMap((h) => ['--add-host', `${h.name}:${h.privateIp}`]);
  const role = host.isRepository && !host.isHive ? 'repository' : host.isRepository ? 'hive,repository' : 'hive';
  const run = await docker(
    [
      'run', '--detach', '--name', containerName(host), '--hostname', host.name,
      '--network', net, '--ip', host.privateIp, ...addHosts,
      ...labelArgs, '--label', `${LABEL_ROLE}=${role}`,
      ...SYSTEMD_FLAGS,
      '-v', `${volume}:/var/lib/docker`,
      '--restart', 'unless-stopped',
      HOST_IMAGE,
    ],
    { reject: false },
  );
  if (run.exitCode !== 0) {
    throw new ProviderError(`cannot start host container ${containerName(host)}: ${run.stderr}`);
  }
}

/** Adds the site's public key to the admin's authorized_keys; true when it was missing. */
async function installAdminKey(container: string, publicKey: string): Promise<boolean> {
  const script = `set -e
home=$(getent passwd ${ADMIN_USER} | cut -d: -f6)
f="$home/.ssh/authorized_keys"
if [ -f "$f" ] && grep -qxF "$1" "$f"; then echo ok; exit 0; fi
install -d -m 700 -o ${ADMIN_USER} -g ${ADMIN_USER} "$home/.ssh"
printf '%s\\n' "$1" >> "$f"
chown ${ADMIN_USER}:${ADMIN_USER} "$f"
chmod 600 "$f"
echo changed`;
  return (await execIn(container, script, [publicKey])).trim() === 'changed';
}

const PROXY_FILE = '/etc/apt/apt.conf.d/01proxy';

async function configureAptProxy(
  container: string,
  proxy: AptProxy | undefined,
  gateway: string,
): Promise<{ changed: boolean; msg: string; warning?: string }> {
  let wanted = proxy ? aptProxyConf(proxy.forHosts) : undefined;
  let warning: string | undefined;
  if (proxy && proxy.forHosts.includes(`//${gateway}:`)) {
    // the cache answers on this machine, but a firewall may keep the hosts from reaching it
    const port = Number(/:(\d+)/.exec(proxy.forHosts.replace(/^\w+:\/\//, ''))?.[1] ?? 3142);
    const probe = `python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)' "$1" "$2" && echo yes || echo no`;
    if ((await execIn(container, probe, [gateway, String(port)])).trim() !== 'yes') {
      warning = `the apt cache at ${gateway}:${port} cannot be reached from the host; downloading directly`;
      wanted = undefined;
    }
  }
  const current = await execIn(container, `cat ${PROXY_FILE} 2>/dev/null || true`);
  if (wanted === undefined) {
    if (!current.trim()) return { changed: false, msg: 'no apt proxy', warning };
    await execIn(container, `rm -f ${PROXY_FILE}`);
    return { changed: true, msg: `removed ${PROXY_FILE}`, warning };
  }
  if (current.trim() === wanted.trim()) return { changed: false, msg: `apt proxy ${proxy!.forHosts}` };
  await execIn(container, `printf '%s' "$1" > ${PROXY_FILE}`, [wanted]);
  return { changed: true, msg: `apt proxy set to ${proxy!.forHosts}` };
}

async function halt(ctx: ProviderContext, r: TaskReporter): Promise<void> {
  const mother = motherOf(ctx);
  r.startTask('stop hosts');
  const containers = await findContainers(siteLabels(ctx));
  if (containers.length === 0) {
    r.result(mother, 'ok', `no host container of site ${ctx.site.name} stage ${ctx.stage.name}`);
    return;
  }
  await Promise.all(
    containers.map(async (c) => {
      const host = c.labels[LABEL_HOST] ?? c.name;
      if (!c.running) return r.result(host, 'ok', `container ${c.name} is stopped`);
      if (ctx.dryRun) return r.result(host, 'changed', `would stop container ${c.name}`);
      await docker(['stop', '--time', '30', c.id]);
      r.result(host, 'changed', `stopped container ${c.name}`);
    }),
  );
}

async function destroy(ctx: ProviderContext, r: TaskReporter): Promise<void> {
  const mother = motherOf(ctx);
  const labels = siteLabels(ctx);
  r.startTask('remove hosts');
  const containers: ContainerInfo[] = await findContainers(labels);
  if (containers.length === 0) r.result(mother, 'ok', 'no host container to remove');
  await Promise.all(
    containers.map(async (c) => {
      const host = c.labels[LABEL_HOST] ?? c.name;
      if (ctx.dryRun) return r.result(host, 'changed', `would remove container ${c.name}`);
      await docker(['rm', '--force', '--volumes', c.id]);
      r.result(host, 'changed', `removed container ${c.name}`);
    }),
  );

  r.startTask('remove data volumes');
  const volumes = await findVolumes(labels);
  if (volumes.length === 0) r.result(mother, 'ok', 'no data volume to remove');
  for (const v of volumes) {
    const host = v.replace(/-docker$/, '');
    if (ctx.dryRun) {
      r.result(host, 'changed', `would remove volume ${v}`);
    } else {
      await docker(['volume', 'rm', '--force', v]);
      r.result(host, 'changed', `removed volume ${v}`);
    }
  }

  r.startTask('remove site network');
  const networks = await findNetworks(labels);
  if (networks.length === 0) r.result(mother, 'ok', 'no site network to remove');
  for (const n of networks) {
    if (ctx.dryRun) {
      r.result(mother, 'changed', `would remove network ${n}`);
    } else {
      await docker(['network', 'rm', n]);
      r.result(mother, 'changed', `removed network ${n}`);
    }
  }

  // the hosts are gone, so are their keys and addresses; the site's key pair and CA stay
  r.startTask('ssh_config');
  const stageFiles = new StageDir(ctx.stageDir);
  const files = [stageFiles.sshConfig, stageFiles.knownHosts].filter((f) => existsSync(f));
  if (!ctx.dryRun) for (const f of files) rmSync(f);
  r.result(mother, files.length ? 'changed' : 'ok', files.length ? `${ctx.dryRun ? 'would remove' : 'removed'} ${files.join(', ')}` : 'no ssh_config to remove');
}

const localProvider: Provider = { name: 'local', buildInfra };
export default localProvider;
