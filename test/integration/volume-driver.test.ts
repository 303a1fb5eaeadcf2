// hive-volume-driver (roles/volume_driver): the real daemon on a temporary socket, talked to
// with docker's volume plugin protocol over the unix socket. drbdadm, drbdsetup, docker, mount
// and umount are fakes first in PATH that record their calls and answer from files each test
// writes: this checks the driver's decisions (when it promotes, mounts, demotes); real DRBD is
// exercised in the VM tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DRIVER = join(repo, 'roles/volume_driver/files/hive-volume-driver');
// the hosts run it with Debian's python3; any python3 does (standard library only)
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

// One script for every fake: `<cmd> <first arg> ...` answers from <answers>/<cmd>-<first arg>.{sleep,out,err,rc}.
const FAKE = (answers: string) => `#!/bin/sh
cmd=$(basename "$0")
echo "$cmd $*" >> "${answers}/calls.log"
key="${answers}/$cmd-$(printf %s "$1" | tr / _)"
if [ -f "$key.sleep" ]; then sleep "$(cat "$key.sleep")"; fi
if [ -f "$key.out" ]; then cat "$key.out"; fi
if [ -f "$key.err" ]; then cat "$key.err" >&2; fi
if [ -f "$key.rc" ]; then exit "$(cat "$key.rc")"; fi
exit 0
`;

const RES = `resource "vol1" {
  on hive0 {
    node-id 0;
    address 192.168.0.10:7007;
    device minor 7;
    disk /dev/drbdvg/vol1;
    meta-disk internal;
  }
}
`;

const SWARM_OK = JSON.stringify({ NodeID: 'n0', LocalNodeState: 'active', ControlAvailable: true, Error: '', Nodes: 3, Managers: 3 });

/** `drbdadm status vol1` as DRBD 9 prints it: local role and disk, then peer hive2. */
function status9({ disk = 'UpToDate', peerRole = 'Secondary', peerConnection = 'Connected' } = {}): string {
  const peer =
    peerConnection === 'Connected' ? `  hive2 role:${peerRole}\n    peer-disk:UpToDate\n` : `  hive2 connection:${peerConnection}\n`;
  return `vol1 role:Secondary\n  disk:${disk}\n${peer}`;
}

interface Reply {
  status: number;
  type: string | undefined;
  body: Record<string, any>;
}

function call(socketPath: string, endpoint: string, body: unknown = {}): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        path: endpoint,
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          try {
            resolvePromise({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: JSON.parse(text) });
          } catch (e) {
            reject(new Error(`${endpoint}: not JSON: ${text}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

let dir: string;
let answers: string;
let bin: string;
let configDir: string;
let mountBase: string;
let socketPath: string;
let daemon: ChildProcess | undefined;
let daemonLog = '';

/** Answers of the fakes: what `drbdadm status`, `docker info`, ... print or exit with. */
function answer(key: string, what: { out?: string; err?: string; rc?: number; sleep?: number }): void {
  for (const [ext, value] of Object.entries(what)) {
    if (value !== undefined) writeFileSync(join(answers, `${key}.${ext}`), String(value));
  }
}

function calls(): string[] {
  const log = join(answers, 'calls.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
}

// The decision tests run with the watch quiet (no background drbdadm/docker calls in calls.log)
// and no promote grace; the watchdog and grace tests restart the daemon with short intervals.
const QUIET = ['--fence-interval', '3600', '--promote-grace', '0'];

const driverArgs = (extra: string[] = QUIET) => [
  DRIVER,
  '--socket',
  socketPath,
  '--mount-base',
  mountBase,
  '--config-dir',
  configDir,
  '--quorum-timeout',
  '1',
  ...extra,
];
const env = () => ({ ...process.env, HIVE_VOLUME_DRIVER_BIN_DIR: bin });

async function startDaemon(extra: string[] = QUIET): Promise<void> {
  daemonLog = '';
  const child = spawn(PYTHON, driverArgs(extra), { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk) => (daemonLog += chunk));
  daemon = child;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the driver exited: ${daemonLog}`);
    if (existsSync(socketPath)) {
      try {
        await call(socketPath, '/Plugin.Activate');
        return;
      } catch {
        // not accepting yet
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the driver did not listen on ${socketPath}: ${daemonLog}`);
}

async function stopDaemon(): Promise<void> {
  const child = daemon;
  daemon = undefined;
  if (!child || child.exitCode !== null) return;
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hive-volume-driver-'));
  answers = join(dir, 'answers');
  bin = join(dir, 'bin');
  configDir = join(dir, 'drbd.d');
  mountBase = join(dir, 'run/hive-volumes');
  socketPath = join(dir, 'plugins/hive.sock');
  for (const d of [answers, bin, configDir]) mkdirSync(d, { recursive: true });
  for (const cmd of ['drbdadm', 'drbdsetup', 'docker', 'mount', 'umount']) {
    writeFileSync(join(bin, cmd), FAKE(answers), { mode: 0o755 });
  }
  writeFileSync(join(configDir, 'vol1.res'), RES);
  writeFileSync(join(configDir, 'global_common.conf'), 'global { usage-count no; }\n');
  // a safe world: DRBD 9 status with a Secondary peer, an active manager with quorum
  answer('drbdadm-status', { out: status9() });
  answer('drbdadm-sh-dev', { out: '/dev/drbd7\n' });
  answer('drbdsetup-status', { rc: 10, err: 'fake drbdsetup: not used unless drbdadm status fails' });
  answer('docker-info', { out: SWARM_OK + '\n' });
  answer('docker-node', { out: 'n0\nn1\nn2\n' });
  await startDaemon();
});

afterEach(async () => {
  await stopDaemon();
  rmSync(dir, { recursive: true, force: true });
});

const mountpoint = () => join(mountBase, 'vol1');
const promotions = () => calls().filter((c) => c === 'drbdadm primary vol1');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    if (what()) return true;
  }
  return what();
}

describe('hive-volume-driver: the plugin protocol', () => {
  it('activates as a VolumeDriver, global scope, with the plugin content type', async () => {
    const act = await call(socketPath, '/Plugin.Activate');
    expect(act.status).toBe(200);
    expect(act.type).toBe(CONTENT_TYPE);
    expect(act.body).toEqual({ Implements: ['VolumeDriver'] });
    const caps = await call(socketPath, '/VolumeDriver.Capabilities');
    expect(caps.body).toEqual({ Capabilities: { Scope: 'global' } });
  });

  it('refuses to create a volume that has no DRBD resource file, accepts a known one', async () => {
    const unknown = await call(socketPath, '/VolumeDriver.Create', { Name: 'nope', Opts: {} });
    expect(unknown.body.Err).toMatch(/no DRBD volume 'nope'/);
    expect(unknown.body.Err).toMatch(/build-volumes/);
    const known = await call(socketPath, '/VolumeDriver.Create', { Name: 'vol1', Opts: {} });
    expect(known.body.Err).toBe('');
  });

  it('lists and gets the volumes of the resource files, unmounted', async () => {
    const list = await call(socketPath, '/VolumeDriver.List');
    expect(list.body).toEqual({ Volumes: [{ Name: 'vol1', Mountpoint: '' }], Err: '' });
    const get = await call(socketPath, '/VolumeDriver.Get', { Name: 'vol1' });
    expect(get.body.Volume).toMatchObject({ Name: 'vol1', Mountpoint: '' });
    expect((await call(socketPath, '/VolumeDriver.Get', { Name: 'nope' })).body.Err).toMatch(/no DRBD volume/);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body).toEqual({ Mountpoint: '', Err: '' });
  });
});

describe('hive-volume-driver: Mount refuses to promote when it is not safe', () => {
  it('refuses when a peer is Primary, and runs no drbdadm primary', async () => {
    answer('drbdadm-status', { out: status9({ peerRole: 'Primary' }) });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/^hive: not promoting vol1 on \S+: peer hive2 is Primary$/);
    expect(r.body.Mountpoint ?? '').toBe('');
    expect(promotions()).toEqual([]);
    expect(calls().filter((c) => c.startsWith('mount '))).toEqual([]);
    expect(daemonLog).toMatch(/mount vol1 id=a: not promoting: peer hive2 is Primary/);
  });

  it('refuses when the swarm has no quorum (docker node ls fails)', async () => {
    answer('docker-node', { rc: 1, err: 'Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader.' });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/^hive: not promoting vol1 on \S+: swarm has no quorum: docker node ls failed: .*does not have a leader/);
    expect(promotions()).toEqual([]);
  });

  it('refuses when docker node ls hangs past the timeout, and answers in time', async () => {
    answer('docker-node', { sleep: 20 });
    const started = Date.now();
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/swarm has no quorum: docker node ls did not answer within 1s/);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(promotions()).toEqual([]);
  });

  it('refuses on a swarm worker (no control: it cannot see the quorum)', async () => {
    answer('docker-info', { out: JSON.stringify({ LocalNodeState: 'active', ControlAvailable: false }) });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/not a swarm manager/);
    expect(promotions()).toEqual([]);
  });

  it('refuses when the local disk is Outdated', async () => {
    answer('drbdadm-status', { out: status9({ disk: 'Outdated' }) });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/^hive: not promoting vol1 on \S+: local disk is Outdated, not UpToDate$/);
    expect(promotions()).toEqual([]);
  });

  it('refuses a disconnected peer when the local disk is Inconsistent', async () => {
    answer('drbdadm-status', { out: status9({ disk: 'Inconsistent', peerConnection: 'Connecting' }) });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/local disk is Inconsistent/);
    expect(promotions()).toEqual([]);
  });

  it('reads DRBD 8.4 roles (drbdadm role: Secondary/Primary) when drbdadm status fails', async () => {
    answer('drbdadm-status', { rc: 10, err: 'status: unknown command' });
    answer('drbdadm-role', { out: 'Secondary/Primary\n' });
    answer('drbdadm-dstate', { out: 'UpToDate/UpToDate\n' });
    answer('drbdadm-cstate', { out: 'Connected\n' });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/not promoting vol1 on \S+: peer peer is Primary/);
    expect(promotions()).toEqual([]);
  });

  it('refuses to mount a volume without a resource file', async () => {
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'nope', ID: 'a' });
    expect(r.body.Err).toMatch(/no DRBD volume 'nope'/);
    expect(calls()).toEqual([]);
  });
});

describe('hive-volume-driver: Mount and Unmount when it is safe', () => {
  it('promotes, then mounts the device, and returns the mountpoint', async () => {
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body).toEqual({ Mountpoint: mountpoint(), Err: '' });
    const log = calls();
    const primary = log.indexOf('drbdadm primary vol1');
    const mount = log.indexOf(`mount /dev/drbd7 ${mountpoint()}`);
    expect(primary).toBeGreaterThanOrEqual(0);
    expect(mount).toBeGreaterThan(primary);
    // the checks came before the promotion
    expect(log.indexOf('docker node ls --quiet')).toBeLessThan(primary);
    expect(existsSync(mountpoint())).toBe(true);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body.Mountpoint).toBe(mountpoint());
  });

  it('promotes with a disconnected peer when the local disk is UpToDate', async () => {
    answer('drbdadm-status', { out: status9({ peerConnection: 'Connecting' }) });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body).toEqual({ Mountpoint: mountpoint(), Err: '' });
    expect(promotions()).toHaveLength(1);
  });

  it('a second mount ID adds a user without a second promotion; only the last Unmount unmounts and demotes', async () => {
    await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    const second = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'b' });
    expect(second.body).toEqual({ Mountpoint: mountpoint(), Err: '' });
    expect(promotions()).toHaveLength(1);
    expect(calls().filter((c) => c.startsWith('mount '))).toHaveLength(1);

    const before = calls().length;
    expect((await call(socketPath, '/VolumeDriver.Unmount', { Name: 'vol1', ID: 'a' })).body).toEqual({ Err: '' });
    expect(calls().slice(before)).toEqual([]);

    expect((await call(socketPath, '/VolumeDriver.Unmount', { Name: 'vol1', ID: 'b' })).body).toEqual({ Err: '' });
    expect(calls().slice(before)).toEqual([`umount ${mountpoint()}`, 'drbdadm secondary vol1']);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body.Mountpoint).toBe('');
  });

  it('releases a Mount whose answer docker did not wait for: unmounted and demoted, no traceback', async () => {
    answer('drbdadm-primary', { sleep: 1 });
    // docker's plugin call times out: the connection is closed before the answer
    await new Promise<void>((done) => {
      const data = JSON.stringify({ Name: 'vol1', ID: 'a' });
      const req = http.request({ socketPath, path: '/VolumeDriver.Mount', method: 'POST', agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } });
      req.on('error', () => done());
      req.end(data);
      setTimeout(() => { req.destroy(); done(); }, 300);
    });
    expect(await waitFor(() => calls().includes('drbdadm secondary vol1'), 5000)).toBe(true);
    expect(calls().slice(-2)).toEqual([`umount ${mountpoint()}`, 'drbdadm secondary vol1']);
    expect(daemonLog).toMatch(/VolumeDriver.Mount: docker closed the connection before the answer/);
    expect(daemonLog).not.toMatch(/Traceback/);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body.Mountpoint).toBe('');
  });

  it('keeps the mount IDs over a restart of the daemon', async () => {
    await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    await stopDaemon();
    await startDaemon();
    expect((await call(socketPath, '/VolumeDriver.Get', { Name: 'vol1' })).body.Volume.Mountpoint).toBe(mountpoint());
    await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'b' });
    expect(promotions()).toHaveLength(1);
    await call(socketPath, '/VolumeDriver.Unmount', { Name: 'vol1', ID: 'a' });
    await call(socketPath, '/VolumeDriver.Unmount', { Name: 'vol1', ID: 'b' });
    expect(calls().slice(-2)).toEqual([`umount ${mountpoint()}`, 'drbdadm secondary vol1']);
  });

  it('demotes again when the mount fails, and says why', async () => {
    answer(`mount-_dev_drbd7`, { rc: 32, err: 'mount: wrong fs type, bad option, bad superblock on /dev/drbd7' });
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(/mounting \/dev\/drbd7 on \S+ failed: mount: wrong fs type/);
    expect(calls().slice(-2)).toEqual([`mount /dev/drbd7 ${mountpoint()}`, 'drbdadm secondary vol1']);
  });

  it('takes the device from the resource file when drbdadm sh-dev does not answer', async () => {
    answer('drbdadm-sh-dev', { rc: 1 });
    writeFileSync(join(answers, 'drbdadm-sh-dev.out'), '');
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toBe('');
    expect(calls()).toContain(`mount /dev/drbd7 ${mountpoint()}`);
  });
});

describe('hive-volume-driver --check', () => {
  const check = () => spawnSync(PYTHON, [...driverArgs(), '--check', 'vol1'], { env: env(), encoding: 'utf8', timeout: 30_000 });

  it('prints a safe decision as JSON and exits 0', () => {
    const r = check();
    expect(r.status, r.stderr).toBe(0);
    const decision = JSON.parse(r.stdout);
    expect(decision).toMatchObject({ resource: 'vol1', safe: true, disks: ['UpToDate'] });
    expect(decision.peers).toEqual([{ name: 'hive2', connection: 'Connected', role: 'Secondary', disks: ['UpToDate'] }]);
    expect(decision).toMatchObject({ fenced: null, disconnected_for: null });
    expect(promotions()).toEqual([]);
  });

  it('prints the reason and exits 1 when a peer is Primary', () => {
    answer('drbdadm-status', { out: status9({ peerRole: 'Primary' }) });
    const r = check();
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ resource: 'vol1', safe: false, reason: 'peer hive2 is Primary' });
  });
});

// Two disk nodes on DRBD 8.4 (no DRBD quorum): the Primary cut off from the network must stop
// writing (the watchdog, after fence-after) before the other one promotes (after promote-grace).
describe('hive-volume-driver: the watchdog fences a node that lost the swarm majority', () => {
  const FAST = ['--fence-interval', '0.2', '--fence-after', '0.6'];
  const volumeMount = (name: string, driver = 'hive') =>
    JSON.stringify([{ Type: 'volume', Name: name, Source: join(mountBase, name), Destination: '/data', Driver: driver, RW: true }]);
  const fenceCalls = () => calls().filter((c) => /^(docker (ps|inspect|kill)|umount|drbdadm secondary)/.test(c));
  const NO_LEADER = { rc: 1, err: 'Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader.' };

  beforeEach(() => {
    // c1 uses vol1, c2 another volume of another driver
    answer('docker-ps', { out: 'c1\nc2\n' });
    answer('docker-inspect', { out: `c1 ${volumeMount('vol1')}\nc2 ${volumeMount('other', 'local')}\n` });
  });

  it('kills the containers of the volume, unmounts and demotes it after fence-after without quorum', async () => {
    await stopDaemon();
    await startDaemon(FAST);
    expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
    await sleep(500);
    expect(fenceCalls()).toEqual([]); // the checks succeed: nothing happens

    answer('docker-node', NO_LEADER);
    const cut = Date.now();
    expect(await waitFor(() => /hive: fenced vol1/.test(daemonLog), 5000)).toBe(true);
    expect(Date.now() - cut).toBeLessThan(3000);
    // counted from the start of the last check that succeeded (the majority went at some point
    // after it), so up to an interval before the cut
    const lost = daemonLog.match(/hive: fenced vol1 on \S+: lost the swarm majority for ([\d.]+) s/);
    expect(lost, daemonLog).not.toBeNull();
    expect(Number(lost![1])).toBeGreaterThanOrEqual(0.6);
    expect(fenceCalls()).toEqual([
      'docker ps -q',
      'docker inspect --format {{.Id}} {{json .Mounts}} c1 c2',
      'docker kill c1',
      `umount ${mountpoint()}`,
      'drbdadm secondary vol1',
    ]);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body).toEqual({ Mountpoint: '', Err: '' });
    expect((await call(socketPath, '/VolumeDriver.Get', { Name: 'vol1' })).body.Volume.Mountpoint).toBe('');
    // docker's Unmount for the killed container finds nothing left to do
    expect((await call(socketPath, '/VolumeDriver.Unmount', { Name: 'vol1', ID: 'a' })).body).toEqual({ Err: '' });
    expect(calls().filter((c) => c === 'drbdadm secondary vol1')).toHaveLength(1);

    // it stays unmounted: a Mount here still finds no quorum
    const again = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'b' });
    expect(again.body.Err).toMatch(/swarm has no quorum/);
    expect(promotions()).toHaveLength(1);

    const r = spawnSync(PYTHON, [...driverArgs(FAST), '--check', 'vol1'], { env: env(), encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(r.stdout).fenced).toMatchObject({ demoted: true, reason: expect.stringMatching(/does not have a leader/) });
  });

  it('does not wait for a hanging docker node ls (quorum timeout 5 s) to fence', async () => {
    await stopDaemon();
    await startDaemon([...FAST, '--quorum-timeout', '5']);
    expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
    answer('docker-node', { sleep: 20 });
    const cut = Date.now();
    expect(await waitFor(() => calls().includes('drbdadm secondary vol1'), 5000)).toBe(true);
    expect(Date.now() - cut).toBeLessThan(3000);
    expect(calls()).toContain('docker kill c1');
  });

  it('logs it loudly when the device stays open, and keeps trying while the majority is away', async () => {
    await stopDaemon();
    await startDaemon(FAST);
    expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
    answer('drbdadm-secondary', { rc: 11, err: 'vol1: State change failed: (-12) Device is held open by someone' });
    answer('docker-node', NO_LEADER);
    expect(await waitFor(() => /FENCING INCOMPLETE/.test(daemonLog), 8000)).toBe(true);
    expect(daemonLog).toMatch(/FENCING INCOMPLETE: vol1 stays Primary on \S+ .*held open by someone/);
    expect(daemonLog).not.toMatch(/hive: fenced vol1/);
    // the next rounds try again (4 tries per round)
    expect(await waitFor(() => calls().filter((c) => c === 'drbdadm secondary vol1').length > 4, 8000)).toBe(true);
    // and once the device is let go, the fencing completes
    rmSync(join(answers, 'drbdadm-secondary.rc'));
    rmSync(join(answers, 'drbdadm-secondary.err'));
    expect(await waitFor(() => /hive: fenced vol1/.test(daemonLog), 8000)).toBe(true);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body.Mountpoint).toBe('');
  });

  it('kills the processes that hold the device in their mount table, without docker', async () => {
    // a real process and a device node of the volume's major:minor; the driver reads a /proc
    // whose mountinfo says that process has the device mounted
    const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    const proc = join(dir, 'proc');
    mkdirSync(join(proc, String(holder.pid)), { recursive: true });
    writeFileSync(join(proc, String(holder.pid), 'mountinfo'), '612 580 147:7 / /data rw,relatime - ext4 /dev/drbd7 rw\n');
    mkdirSync(join(proc, '1'), { recursive: true });
    writeFileSync(join(proc, '1', 'mountinfo'), '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n');
    // (under /dev: the driver takes only a /dev path from drbdadm sh-dev)
    const node = `/dev/hive-test-drbd7-${process.pid}`;
    spawnSync('mknod', [node, 'b', '147', '7']);
    answer('drbdadm-sh-dev', { out: `${node}\n` });
    answer('docker-ps', { rc: 1, err: 'Cannot connect to the Docker daemon' });
    const exited = new Promise<string | null>((r) => holder.once('exit', (_code, signal) => r(signal)));
    try {
      await stopDaemon();
      daemonLog = '';
      const child = spawn(PYTHON, driverArgs(FAST), { env: { ...env(), HIVE_VOLUME_DRIVER_PROC: proc }, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (chunk) => (daemonLog += chunk));
      daemon = child;
      expect(await waitFor(() => existsSync(socketPath), 10_000)).toBe(true);
      expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
      answer('docker-node', NO_LEADER);
      expect(await Promise.race([exited, sleep(8000).then(() => daemonLog)])).toBe('SIGKILL');
      expect(await waitFor(() => /hive: fenced vol1/.test(daemonLog), 8000)).toBe(true);
      expect(daemonLog).toMatch(new RegExp(`killed 1 process\\(es\\) that held ${node}: ${holder.pid}`));
    } finally {
      holder.kill('SIGKILL');
      rmSync(node, { force: true });
    }
  });

  it('does not fence while the swarm elects a leader and a majority of the managers is reachable', async () => {
    // two of the three managers answer on their swarm port: this one and a listener of the test
    const { createServer } = await import('node:net');
    const peer = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => peer.once('listening', r));
    const port = (peer.address() as { port: number }).port;
    const managers = [{ NodeID: 'n0', Addr: '127.0.0.3:2377' }, { NodeID: 'n1', Addr: `127.0.0.1:${port}` }, { NodeID: 'n2', Addr: '127.0.0.1:1' }];
    answer('docker-info', { out: JSON.stringify({ ...JSON.parse(SWARM_OK), NodeAddr: '127.0.0.3', RemoteManagers: managers }) });
    try {
      await stopDaemon();
      await startDaemon(FAST);
      expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
      answer('docker-node', NO_LEADER);
      await sleep(2000);
      // the managers the Mount's check named answer: no leader is not a reason to fence
      expect(daemonLog).not.toMatch(/swarm check failed/);
      expect(fenceCalls()).toEqual([]);
      // dockerd stops answering: the managers it named last are still reachable, no fencing
      answer('docker-info', { sleep: 10 });
      await sleep(2500);
      expect(fenceCalls()).toEqual([]);
      // the listener goes away: only this node is left of three, so it fences
      await new Promise((r) => peer.close(r));
      expect(await waitFor(() => /hive: fenced vol1/.test(daemonLog), 6000)).toBe(true);
    } finally {
      peer.close();
    }
  });

  it('does not fence when the check fails for less than fence-after', async () => {
    await stopDaemon();
    await startDaemon(['--fence-interval', '0.2', '--fence-after', '1.5']);
    expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
    await sleep(300);
    answer('docker-node', NO_LEADER);
    await sleep(400);
    rmSync(join(answers, 'docker-node.rc'));
    rmSync(join(answers, 'docker-node.err'));
    await sleep(2000);
    expect(daemonLog).toMatch(/watchdog: swarm check failed .*does not have a leader/);
    expect(daemonLog).toMatch(/watchdog: swarm majority back/);
    expect(fenceCalls()).toEqual([]);
    expect((await call(socketPath, '/VolumeDriver.Path', { Name: 'vol1' })).body.Mountpoint).toBe(mountpoint());
  });
});

describe('hive-volume-driver: Mount waits the promote grace for a disconnected peer', () => {
  const disconnected = () => answer('drbdadm-status', { out: status9({ peerConnection: 'Connecting' }) });
  // a long interval: the peer watch does not poll, the Mount is the first to see the disconnection
  const MOUNT_SEES_IT = ['--fence-interval', '5', '--fence-after', '0.6'];

  it('waits until the peer has been disconnected for the grace, rechecks, then promotes', async () => {
    disconnected();
    await stopDaemon();
    await startDaemon([...MOUNT_SEES_IT, '--promote-grace', '2']);
    const started = Date.now();
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body).toEqual({ Mountpoint: mountpoint(), Err: '' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(promotions()).toHaveLength(1);
    // the whole decision again after the wait
    expect(calls().filter((c) => c === 'docker node ls --quiet')).toHaveLength(2);
    expect(daemonLog).toMatch(/mount vol1 id=a: peer disconnected 0 s ago, waiting 2 s more for it to fence itself/);
  });

  it('refuses after the wait when the peer came back as Primary', async () => {
    disconnected();
    await stopDaemon();
    await startDaemon([...MOUNT_SEES_IT, '--promote-grace', '2']);
    const mount = call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    await sleep(500);
    answer('drbdadm-status', { out: status9({ peerRole: 'Primary' }) });
    expect((await mount).body.Err).toMatch(/^hive: not promoting vol1 on \S+: peer hive2 is Primary$/);
    expect(promotions()).toEqual([]);
  });

  it('counts the grace from when the peer watch first saw the peer disconnected', async () => {
    const args = ['--fence-interval', '0.2', '--fence-after', '0.6', '--promote-grace', '2'];
    await stopDaemon();
    await startDaemon(args);
    disconnected();
    await sleep(2500);
    const r = spawnSync(PYTHON, [...driverArgs(args), '--check', 'vol1'], { env: env(), encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(r.stdout)).toMatchObject({ safe: true, disconnected_for: expect.any(Number) });
    expect(JSON.parse(r.stdout).disconnected_for).toBeGreaterThanOrEqual(2);
    const started = Date.now();
    const m = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(m.body).toEqual({ Mountpoint: mountpoint(), Err: '' });
    // no wait: the grace (2 s) had passed already
    expect(Date.now() - started).toBeLessThan(1500);
    expect(daemonLog).not.toMatch(/waiting .* for it to fence itself/);
    expect(daemonLog).toMatch(/watch vol1: peer hive2 not connected/);
  });

  it('does not trust a disconnection seen before a restart of the daemon', async () => {
    const args = ['--fence-interval', '0.2', '--fence-after', '0.6', '--promote-grace', '2'];
    const check = () =>
      JSON.parse(spawnSync(PYTHON, [...driverArgs(args), '--check', 'vol1'], { env: env(), encoding: 'utf8', timeout: 30_000 }).stdout);
    await stopDaemon();
    await startDaemon(args);
    disconnected();
    await sleep(2500);
    expect(check()).toMatchObject({ safe: true });
    // the peer may have been back and gone again while the daemon was down: the grace starts anew
    await stopDaemon();
    await startDaemon(['--fence-interval', '5', '--fence-after', '0.6', '--promote-grace', '2']);
    expect(check()).toMatchObject({ safe: false, disconnected_for: 0 });
    const started = Date.now();
    expect((await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' })).body.Err).toBe('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });

  it('answers the Err at once when the grace would take longer than the wait cap', async () => {
    const args = [...MOUNT_SEES_IT, '--promote-grace', '30'];
    disconnected();
    await stopDaemon();
    await startDaemon(args);
    const started = Date.now();
    const r = await call(socketPath, '/VolumeDriver.Mount', { Name: 'vol1', ID: 'a' });
    expect(r.body.Err).toMatch(
      /^hive: not promoting vol1 on \S+: peer disconnected [\d.]+ s ago, waiting for it to fence itself \(grace 30 s\)$/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(promotions()).toEqual([]);

    const check = spawnSync(PYTHON, [...driverArgs(args), '--check', 'vol1'], { env: env(), encoding: 'utf8', timeout: 30_000 });
    expect(check.status).toBe(1);
    const decision = JSON.parse(check.stdout);
    expect(decision).toMatchObject({ safe: false, fenced: null, disconnected_for: expect.any(Number) });
    expect(decision.reason).toMatch(/^peer disconnected [\d.]+ s ago, waiting for it to fence itself \(grace 30 s\)$/);
  });
});
