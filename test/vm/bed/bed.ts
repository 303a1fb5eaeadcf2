// The VM test bed: Debian 12 VMs under qemu's software emulation (TCG), with the stock kernel and
// its in-tree DRBD 8.4 module, on a bridge of their own that only this machine is on (no NAT, no
// route out). hive reaches them over SSH as `prepared` hosts. A VM can be killed (SIGKILL to its
// qemu, not a shutdown), started again on the same disks, and cut from the network (its tap link
// down) while it keeps running.
//
// Why a test bed and not a `qemu` provider: a provider is something users run sites on, and a
// site on emulated VMs is only ever useful to test DRBD on a machine without it. The VMs are
// `prepared` hosts to hive, so the provider code under test is the one users run.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection } from 'node:net';
import { execa } from 'execa';
import { machineDebianMirrors } from '../../../src/providers/local/host-image.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = join(HERE, 'build-image.sh');
const CACHE_DIR = '/var/tmp/hive';

export interface VmImage {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  built: boolean;
  seconds: number;
}

const APT_CACHER = 'http://127.0.0.1:3142';

async function aptCacheAnswers(): Promise<boolean> {
  const r = await execa('curl', ['-sf', '-o', '/dev/null', '--max-time', '5', '-x', APT_CACHER, 'http://deb.debian.org/debian/dists/bookworm/Release'], {
    reject: false,
  });
  return r.exitCode === 0;
}

/** The cached image of the current recipe (build-image.sh + mirrors), built when missing. */
export async function ensureVmImage(): Promise<VmImage> {
  const mirrors = machineDebianMirrors();
  const version = createHash('sha256')
    .update(readFileSync(BUILD_SCRIPT))
    .update(JSON.stringify(mirrors))
    .digest('hex')
    .slice(0, 12);
  const dir = join(CACHE_DIR, `vm-image-${version}`);
  const image = (built: boolean, seconds: number): VmImage => ({
    dir,
    disk: join(dir, 'root.qcow2'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    built,
    seconds,
  });
  if (existsSync(join(dir, 'root.qcow2'))) return image(false, 0);
  mkdirSync(CACHE_DIR, { recursive: true });
  const started = Date.now();
  const proxy = (await aptCacheAnswers()) ? APT_CACHER : '';
  const r = await execa('bash', [BUILD_SCRIPT, dir, mirrors.mirror, mirrors.security, proxy], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`building the VM image failed:\n${r.all}`);
  return image(true, Math.round((Date.now() - started) / 1000));
}

export interface Vm {
  index: number;
  name: string;
  address: string;
  tap: string;
  disk: string;
  dataDisk: string;
  pidFile: string;
  console: string;
}

export interface BedOptions {
  /** Folder for the overlays, consoles and pid files. */
  dir: string;
  /** Inventory names of the VMs, e.g. p-hive0.vmsite; each VM's host name. */
  names: string[];
  /** Public key line the admin user accepts. */
  publicKey: string;
  /** First three octets of the bed's /24 (the bridge is .1, the VMs .10, .11, ...). */
  net?: string;
  bridge?: string;
  memoryMb?: number;
  dataDiskMb?: number;
}

async function sh(cmd: string, args: string[], reject = true) {
  return execa(cmd, args, { reject, all: true });
}

export class VmBed {
  readonly vms: Vm[];
  readonly bridge: string;
  readonly net: string;
  private readonly opts: Required<BedOptions>;

  constructor(
    readonly image: VmImage,
    opts: BedOptions,
  ) {
    this.opts = { net: '10.99.0', bridge: 'hivevm0', memoryMb: 1024, dataDiskMb: 1024, ...opts };
    this.bridge = this.opts.bridge;
    this.net = this.opts.net;
    this.vms = opts.names.map((name, index) => ({
      index,
      name,
      address: `${this.net}.${10 + index}`,
      tap: `${this.bridge}t${index}`,
      disk: join(opts.dir, `vm${index}.qcow2`),
      dataDisk: join(opts.dir, `vm${index}-data.qcow2`),
      pidFile: join(opts.dir, `vm${index}.pid`),
      console: join(opts.dir, `vm${index}.console`),
    }));
  }

  get addresses(): string[] {
    return this.vms.map((v) => v.address);
  }

  /** Bridge and taps; forwarding from the bridge is dropped, so the VMs reach nothing beyond it. */
  async createNetwork(): Promise<void> {
    await sh('ip', ['link', 'del', this.bridge], false);
    await sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${this.net}.1/24`, 'dev', this.bridge]);
    await sh('ip', ['link', 'set', this.bridge, 'up']);
    // bridged frames pass the FORWARD chain (br_netfilter), whose policy docker sets to DROP:
    // accept the VMs' traffic among themselves, drop what would leave the bridge
    for (const rule of this.forwardRules()) {
      if ((await sh('iptables', ['-C', ...rule], false)).exitCode !== 0) await sh('iptables', ['-I', ...rule]);
    }
    for (const vm of this.vms) {
      await sh('ip', ['link', 'del', vm.tap], false);
      await sh('ip', ['tuntap', 'add', 'dev', vm.tap, 'mode', 'tap']);
      await sh('ip', ['link', 'set', vm.tap, 'master', this.bridge]);
      await sh('ip', ['link', 'set', vm.tap, 'up']);
    }
  }

  private forwardRules(): string[][] {
    // inserted in this order at the top: the ACCEPT ends up first
    return [
      ['FORWARD', '-i', this.bridge, '!', '-o', this.bridge, '-j', 'DROP'],
      ['FORWARD', '-i', this.bridge, '-o', this.bridge, '-j', 'ACCEPT'],
    ];
  }

  async createDisks(): Promise<void> {
    mkdirSync(this.opts.dir, { recursive: true });
    for (const vm of this.vms) {
      rmSync(vm.disk, { force: true });
      rmSync(vm.dataDisk, { force: true });
      await sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', this.image.disk, '-F', 'qcow2', vm.disk]);
      await sh('qemu-img', ['create', '-q', '-f', 'qcow2', vm.dataDisk, `${this.opts.dataDiskMb}M`]);
    }
  }

  pid(vm: Vm): number | undefined {
    if (!existsSync(vm.pidFile)) return undefined;
    const pid = Number(readFileSync(vm.pidFile, 'utf8').trim());
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Boots the VM (its disks keep what they had: a restart after a kill is a crash recovery). */
  async start(vm: Vm): Promise<void> {
    if (this.pid(vm)) return;
    const mac = `52:54:00:99:00:${(0x10 + vm.index).toString(16).padStart(2, '0')}`;
    const key = Buffer.from(this.opts.publicKey.trim()).toString('base64');
    const append = [
      // no AppArmor: the image has no apparmor_parser, which docker needs once the kernel has it on
      'root=/dev/vda', 'rw', 'console=ttyS0', 'net.ifnames=0', 'quiet', 'apparmor=0',
      `hive.name=${vm.name}`, `hive.lan=${vm.address}/24`, `hive.key=${key}`,
    ].join(' ');
    writeFileSync(vm.console, '');
    await sh('qemu-system-x86_64', [
      '-machine', 'q35,accel=tcg', '-cpu', 'max', '-smp', '1', '-m', String(this.opts.memoryMb),
      '-kernel', this.image.kernel, '-initrd', this.image.initrd, '-append', append,
      '-drive', `file=${vm.disk},if=virtio,format=qcow2,cache=unsafe`,
      // the DRBD backing disk: writes reach the file before the guest sees them complete
      '-drive', `file=${vm.dataDisk},if=virtio,format=qcow2,cache=writethrough`,
      // entropy from this machine: without it the guest's first ssh-keygen waits for minutes
      '-object', 'rng-random,filename=/dev/urandom,id=rng', '-device', 'virtio-rng-pci,rng=rng',
      '-netdev', `tap,id=lan,ifname=${vm.tap},script=no,downscript=no`,
      '-device', `virtio-net-pci,netdev=lan,mac=${mac}`,
      // the console goes to a file and to a socket (a root shell there, for debugging a bed)
      '-chardev', `socket,id=console,path=${vm.console}.sock,server=on,wait=off,logfile=${vm.console}`,
      '-serial', 'chardev:console', '-display', 'none', '-monitor', 'none',
      '-pidfile', vm.pidFile, '-daemonize',
    ]);
  }

  /** The host dies: qemu gets SIGKILL, nothing in the guest runs its shutdown. */
  kill(vm: Vm): void {
    const pid = this.pid(vm);
    if (pid) process.kill(pid, 'SIGKILL');
    rmSync(vm.pidFile, { force: true });
  }

  /** Cuts (false) or restores (true) the VM's network while it keeps running. */
  async link(vm: Vm, up: boolean): Promise<void> {
    await sh('ip', ['link', 'set', vm.tap, up ? 'up' : 'down']);
  }

  /** Waits until sshd answers on the VM (its banner), up to `timeoutMs`. */
  async waitSsh(vm: Vm, timeoutMs = 300_000): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      // a key exchange takes seconds under emulation on a busy machine
      const r = await execa('ssh-keyscan', ['-T', '20', '-t', 'ed25519', vm.address], { reject: false });
      if (r.exitCode === 0 && r.stdout.includes('ssh-')) return Math.round((Date.now() - started) / 1000);
      if (!this.pid(vm)) throw new Error(`VM ${vm.name} stopped while booting (console: ${vm.console})`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    throw new Error(`VM ${vm.name} did not answer on ssh within ${timeoutMs / 1000} s (console: ${vm.console})`);
  }

  async destroy(): Promise<void> {
    for (const vm of this.vms) this.kill(vm);
    await new Promise((r) => setTimeout(r, 500));
    for (const vm of this.vms) await sh('ip', ['link', 'del', vm.tap], false);
    await sh('ip', ['link', 'del', this.bridge], false);
    for (const rule of this.forwardRules()) await sh('iptables', ['-D', ...rule], false);
  }
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a command on a VM as admin with sudo, with the given private key. */
export async function vmSsh(vm: Vm, key: string, command: string, opts: { timeoutMs?: number; reject?: boolean } = {}) {
  return execa(
    'ssh',
    [
      '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', 'ConnectTimeout=5', '-o', 'BatchMode=yes', `admin@${vm.address}`, 'sudo', 'sh', '-c', shellQuote(command),
    ],
    { reject: opts.reject ?? false, all: true, timeout: opts.timeoutMs ?? 60_000 },
  );
}

export const fileAge = (p: string) => (existsSync(p) ? Date.now() - statSync(p).mtimeMs : Infinity);

/**
 * Runs a command in the root shell on the VM's serial console: the way in when its network is
 * cut. Returns what the command printed and its exit code.
 */
export function consoleRun(vm: Vm, command: string, timeoutMs = 60_000): Promise<{ output: string; exitCode: number }> {
  const tag = `hive${Math.random().toString(36).slice(2, 10)}`;
  return new Promise((resolve, reject) => {
    const socket = createConnection(`${vm.console}.sock`);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on the console of ${vm.name} within ${timeoutMs / 1000} s to: ${command}\n${text.slice(-2000)}`));
    }, timeoutMs);
    socket.on('data', (d) => {
      text += d.toString('utf8');
      // the markers are printed by the shell, not echoed: the echo has them quoted apart
      const m = new RegExp(`${tag}B\\r?\\n([\\s\\S]*?)${tag}E (\\d+)`).exec(text);
      if (m) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ output: m[1]!.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''), exitCode: Number(m[2]) });
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('connect', () => {
      socket.write(`\nstty -echo 2>/dev/null; echo ${tag}"B"; ( ${command} ) 2>&1; echo ${tag}"E" $?\n`);
    });
  });
}
