// The host image of the local provider: Debian 12 with systemd and sshd, made with debootstrap
// and `docker import` (no registry needed), built once per machine and found again by the label
// `hive.image-version=<hash of the recipe>`. Whatever a host needs beyond booting and accepting
// SSH (docker.io, rsyslog, ...) is setup-hosts' work, as on a cloud image.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ProviderError } from '../errors.js';
import { docker } from './docker.js';

export const HOST_IMAGE = 'hive-host:bookworm';
export const IMAGE_VERSION_LABEL = 'hive.image-version';
export const SUITE = 'bookworm';

/** Packages on top of minbase: boot, log in, become root, let Ansible run. */
const INCLUDE = [
  'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'python3', 'python3-apt', 'sudo',
  'ca-certificates', 'iproute2', 'iptables', 'procps', 'netbase', 'iputils-ping',
];

/**
 * Units that cannot work in a container (no consoles, no udev, no kernel modules, read-only
 * kernel file systems) and timers that would take the apt lock while setup-hosts installs.
 */
const MASKED_UNITS = [
  'getty.target', 'console-getty.service', 'systemd-udevd.service', 'systemd-udev-trigger.service',
  'systemd-modules-load.service', 'systemd-remount-fs.service', 'systemd-firstboot.service',
  'systemd-pstore.service', 'sys-kernel-config.mount', 'sys-kernel-debug.mount', 'sys-kernel-tracing.mount',
  'sys-fs-fuse-connections.mount', 'dev-hugepages.mount', 'apt-daily.timer', 'apt-daily-upgrade.timer',
  'e2scrub_all.timer', 'e2scrub_reap.service', 'fstrim.timer',
];

/** Run on the machine after debootstrap with $1 = root folder, $2 = mirror, $3 = security mirror. */
const TAILOR_SCRIPT = `set -eu
root=$1
cat > "$root/etc/apt/sources.list" <<EOF
deb $2 ${SUITE} main
deb $2 ${SUITE}-updates main
deb $3 ${SUITE}-security main
EOF
# every host makes its own identity at first boot
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat > "$root/etc/systemd/system/ssh.service.d/hive-host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
for unit in ${MASKED_UNITS.join(' ')}; do ln -sf /dev/null "$root/etc/systemd/system/$unit"; done
rm -rf "$root/etc/systemd/system/getty.target.wants"
# the admin user Ansible logs in as; its key is installed per site when a host is created
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo admin
chroot "$root" usermod --password '*' admin
echo 'admin ALL=(ALL) NOPASSWD: ALL' > "$root/etc/sudoers.d/admin"
chmod 0440 "$root/etc/sudoers.d/admin"
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \\
  "$root"/var/log/*.log "$root"/var/log/apt/*
`;

const IMPORT_CHANGES = ['CMD ["/sbin/init"]', 'ENV container=docker'];

export interface DebianMirrors {
  mirror: string;
  security: string;
}

const DEBIAN_SUITES = /^(buster|bullseye|bookworm|trixie|forky|sid|oldstable|stable|testing|unstable)(-updates|-backports|-security)?$/;

/** The Debian mirror this machine's apt uses (so the hosts download from the same place). */
export function machineDebianMirrors(aptDir = '/etc/apt', env: NodeJS.ProcessEnv = process.env): DebianMirrors {
  const found: { uri: string; suites: string[] }[] = [];
  const files: string[] = [];
  if (existsSync(join(aptDir, 'sources.list'))) files.push(join(aptDir, 'sources.list'));
  if (existsSync(join(aptDir, 'sources.list.d'))) {
    for (const f of readdirSync(join(aptDir, 'sources.list.d')).sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join(aptDir, 'sources.list.d', f));
    }
  }
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
        if (!field('Types').includes('deb') || /^Enabled:\s*no/im.test(stanza)) continue;
        for (const uri of field('URIs')) found.push({ uri, suites: field('Suites') });
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m) found.push({ uri: m[1], suites: [m[2]] });
      }
    }
  }
  const debian = found.filter((f) => /^https?:/.test(f.uri) && f.suites.some((s) => DEBIAN_SUITES.test(s)));
  const strip = (u: string) => u.replace(/\/+$/, '');
  const main = debian.find((f) => f.suites.some((s) => !s.endsWith('-security')) && !/security/.test(f.uri));
  const sec = debian.find((f) => f.suites.some((s) => s.endsWith('-security')));
  const mirror = env.HIVE_DEBIAN_MIRROR ?? (main ? strip(main.uri) : 'http://deb.debian.org/debian');
  const security =
    env.HIVE_DEBIAN_SECURITY_MIRROR ?? (sec ? strip(sec.uri) : mirror.replace(/\/debian$/, '/debian-security'));
  return { mirror, security };
}

/** Short hash of everything that shapes the image: a changed recipe means a new image. */
export function imageVersion(m: DebianMirrors): string {
  const recipe = JSON.stringify({ SUITE, INCLUDE, MASKED_UNITS, TAILOR_SCRIPT, IMPORT_CHANGES, m });
  return createHash('sha256').update(recipe).digest('hex').slice(0, 12);
}

/** Id of the cached image of this version, if any. */
export async function findHostImage(version: string): Promise<string | undefined> {
  const r = await docker(['images', '-q', '--no-trunc', '--filter', `label=${IMAGE_VERSION_LABEL}=${version}`]);
  return r.stdout.split('\n').find(Boolean);
}

const WORK_DIR = '/var/tmp/hive';
const LOCK_DIR = join(WORK_DIR, 'host-image.lock');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** One image build at a time on the machine (several projects or test runs may start together). */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(WORK_DIR, { recursive: true });
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch {
      let pid = NaN;
      try {
        pid = Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8'));
      } catch {
        // the holder has not written its pid yet
      }
      const stale = Number.isNaN(pid) && Date.now() - (statSync(LOCK_DIR, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 60_000;
      if ((Number.isInteger(pid) && !alive(pid)) || stale) {
        rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new ProviderError(`timed out waiting for the host image build of process ${pid} (lock ${LOCK_DIR})`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

export interface HostImageResult {
  image: string;
  version: string;
  built: boolean;
  seconds?: number;
}

/**
 * Finds the host image of the current recipe or builds it. `aptProxy` (a URL reachable from this
 * machine) makes debootstrap download through the apt cache.
 */
export async function ensureHostImage(opts: { aptProxy?: string; dryRun?: boolean }): Promise<HostImageResult> {
  const mirrors = machineDebianMirrors();
  const version = imageVersion(mirrors);
  if (await findHostImage(version)) return { image: HOST_IMAGE, version, built: false };
  if (opts.dryRun) return { image: HOST_IMAGE, version, built: true };
  return withBuildLock(async () => {
    if (await findHostImage(version)) return { image: HOST_IMAGE, version, built: false };
    const started = Date.now();
    await buildHostImage(version, mirrors, opts.aptProxy);
    // earlier versions of the image that no container uses any more
    await docker(['image', 'prune', '--force', '--filter', `label=${IMAGE_VERSION_LABEL}`], { reject: false });
    return { image: HOST_IMAGE, version, built: true, seconds: Math.round((Date.now() - started) / 1000) };
  });
}

async function buildHostImage(version: string, m: DebianMirrors, aptProxy?: string): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new ProviderError(
      `the host image ${HOST_IMAGE} is not built yet and building it needs root (debootstrap): ` +
        'run this build-infra once as root (e.g. with sudo); later runs reuse the image',
    );
  }
  const which = await execa('sh', ['-c', 'command -v debootstrap || test -x /usr/sbin/debootstrap'], { reject: false });
  if (which.exitCode !== 0) throw new ProviderError('debootstrap is not installed: install it with "apt-get install debootstrap" (as root)');

  const rootfs = join(WORK_DIR, `host-image-${version}.${process.pid}`);
  const log = join(WORK_DIR, `host-image-${version}.log`);
  rmSync(rootfs, { recursive: true, force: true });
  try {
    const env = aptProxy ? { http_proxy: aptProxy } : {};
    const boot = await execa(
      'debootstrap',
      ['--variant=minbase', `--include=${INCLUDE.join(',')}`, SUITE, rootfs, m.mirror],
      { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, ...env }, reject: false, all: true },
    );
    writeFileSync(log, String(boot.all ?? ''));
    if (boot.exitCode !== 0) {
      const tail = String(boot.all ?? '').trim().split('\n').slice(-3).join(' | ');
      throw new ProviderError(`debootstrap of ${SUITE} from ${m.mirror} failed (log: ${log}): ${tail}`);
    }
    const tailor = await execa('bash', ['-c', TAILOR_SCRIPT, 'tailor', rootfs, m.mirror, m.security], { reject: false, all: true });
    if (tailor.exitCode !== 0) throw new ProviderError(`preparing the host image failed: ${String(tailor.all).trim()}`);
    const changes = [...IMPORT_CHANGES, `LABEL ${IMAGE_VERSION_LABEL}=${version}`].flatMap((c) => ['--change', c]);
    // tar streams straight into the engine; nothing of the file system is kept in memory
    const tar = execa('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', rootfs, '-c', '.'], {
      reject: false,
      buffer: false,
      stderr: 'pipe',
    });
    const imported = await tar.pipe('docker', ['import', ...changes, '-', HOST_IMAGE], { reject: false, all: true });
    const tarResult = await tar;
    if (tarResult.exitCode !== 0 || imported.exitCode !== 0) {
      throw new ProviderError(`docker import of ${HOST_IMAGE} failed: ${String(imported.all ?? '').trim()} ${String(tarResult.stderr ?? '').trim()}`);
    }
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}
