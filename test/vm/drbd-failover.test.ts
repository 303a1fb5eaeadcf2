// The failover drill on real DRBD: three Debian 12 VMs under qemu TCG (stock kernel, in-tree
// DRBD 8.4), reached by hive as a `prepared` stage. hive itself builds the hosts' DRBD storage,
// the swarm and the volume driver (setup-hosts with -T), and the volume (build-volumes: a DRBD
// 8.4 resource on the two disk nodes it chose, the third hive holding only a swarm vote). A
// stateful service on that volume is killed with its host, comes back on the other disk node
// with every acknowledged write, and a host cut from the network never serves the volume.
//
// Figures (time to serve again, resync) are printed and, with HIVE_DRILL_FIGURES=<file>,
// written there (bench/ha-drill.mjs runs this file and prints them).
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, hive, REPO, total, type HiveRun } from '../e2e/site-fixture.js';
import { consoleRun, ensureVmImage, VmBed, vmSsh, type Vm } from './bed/bed.js';

const SITE = 'vmsite';
const VOLUME = 'ledger_data';
const SERVICE = 'ledger';
const PORT = 8080;
const figures: Record<string, number> = {};

let dir: string;
let bed: VmBed;
let key: string;

const hiveOk = async (args: string[]): Promise<HiveRun> => {
  const r = await hive(dir, [...args, '--stage', 'private', '--json']);
  expect(r.code, explain(r)).toBe(0);
  return r;
};
// `out` is what the command printed on stdout; failures name everything it printed
const on = async (vm: Vm, command: string, timeoutMs = 120_000) => {
  const r = await vmSsh(vm, key, command, { timeoutMs });
  return { ...r, out: String(r.stdout ?? '').trim() };
};
const must = async (vm: Vm, command: string, timeoutMs = 120_000) => {
  const r = await on(vm, command, timeoutMs);
  if (r.exitCode !== 0) throw new Error(`${vm.name}: ${command}\n${String(r.all ?? '')}`);
  return r.out;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(1000);
  }
}

/** The ledger the service serves on its host port (undefined when nothing answers there). */
async function ledgerAt(vm: Vm): Promise<string[] | undefined> {
  const r = await execa('curl', ['-sf', '--max-time', '3', `http://${vm.address}:${PORT}/ledger`], { reject: false });
  return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : undefined;
}

/** DRBD's view of the volume on a VM: role, disk state, connection state. */
async function drbdState(vm: Vm): Promise<{ role: string; disk: string; cstate: string }> {
  const out = await must(vm, `drbdadm role ${VOLUME}; drbdadm dstate ${VOLUME}; drbdadm cstate ${VOLUME}`);
  const [role = '', disk = '', cstate = ''] = out.split('\n').map((l) => l.trim());
  return { role, disk, cstate };
}

/**
 * What Zabbix sees: the agent's probe (roles/zabbix_agent/files/hive-zabbix-probe, run by the
 * agent's UserParameter) run on the VM against its real DRBD resource.
 */
async function zabbixDrbd(vm: Vm): Promise<Record<string, unknown> | undefined> {
  const probe = readFileSync(join(REPO, 'roles/zabbix_agent/files/hive-zabbix-probe')).toString('base64');
  const out = await must(vm, `echo ${probe} | base64 -d > /tmp/hive-zabbix-probe && python3 /tmp/hive-zabbix-probe drbd`);
  return (JSON.parse(out) as Record<string, unknown>[]).find((r) => r.name === VOLUME);
}

/** The VM whose container of the service runs (asked on a manager that answers). */
async function taskHost(managers: Vm[]): Promise<Vm | undefined> {
  for (const m of managers) {
    const r = await on(m, `docker service ps ${SERVICE} --filter desired-state=running --format '{{.Node}} {{.CurrentState}}'`, 20_000);
    if (r.exitCode !== 0) continue;
    const running = r.out.split('\n').find((l) => / Running /.test(` ${l} `));
    if (!running) return undefined;
    return bed.vms.find((v) => v.name === running.split(' ')[0] || v.name.split('.')[0] === running.split(' ')[0]);
  }
  return undefined;
}

/** Appends entries through the running container; returns when `sync` in it returned. */
async function write(vm: Vm, entries: string[]): Promise<void> {
  const lines = entries.map((e) => `echo ${e} >> /data/ledger`).join('; ');
  await must(vm, `c=$(docker ps -q --filter label=com.docker.swarm.service.name=${SERVICE}); docker exec $c sh -c '${lines}; sync'`);
}

beforeAll(async () => {
  const image = await ensureVmImage();
  figures.image_build_seconds = image.seconds;
  mkdirSync('/var/tmp/hive', { recursive: true });
  dir = mkdtempSync('/var/tmp/hive/vmsite-');
  mkdirSync(join(dir, 'inventory'), { recursive: true });
  writeFileSync(
    join(dir, 'inventory', 'hive.yml'),
    [
      'plugin: hive_inventory',
      `name: ${SITE}`,
      'stages:',
      '  private:',
      '    provider: prepared',
      '    cidr: 10.99.0.0/24',
      '    separate_repository: false',
      '    ip_address_list: [10.99.0.10, 10.99.0.11, 10.99.0.12]',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'inventory', 'services.yml'),
    [
      'plugin: hive_services',
      'services:',
      `  ${SERVICE}:`,
      '    image: "ledger:1"',
      '    endpoint_mode: dnsrr',
      `    ports: [{target_port: ${PORT}, published_port: ${PORT}, protocol: tcp, mode: host}]`,
      '    volumes:',
      `      - {source: ${VOLUME}, target: /data, type: volume, drbd: {fstype: ext4, size: 64M}}`,
      '',
    ].join('\n'),
  );
  // the site key, made before the VMs boot so that their admin user accepts it
  const stageDir = join(dir, '.hive', 'private');
  mkdirSync(stageDir, { recursive: true, mode: 0o700 });
  key = join(stageDir, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hive', '-f', key]);
  bed = new VmBed(image, {
    dir: join(dir, 'vms'),
    names: [0, 1, 2].map((i) => `p-hive${i}.${SITE}`),
    publicKey: readFileSync(`${key}.pub`, 'utf8'),
  });
  await bed.destroy();
  await bed.createNetwork();
  await bed.createDisks();
  const booting = Date.now();
  await Promise.all(bed.vms.map((v) => bed.start(v)));
  await Promise.all(bed.vms.map((v) => bed.waitSsh(v)));
  figures.boot_seconds = Math.round((Date.now() - booting) / 1000);
  // docker starts at boot and takes a while under emulation
  await Promise.all(bed.vms.map((v) => must(v, 'for i in $(seq 150); do docker info >/dev/null 2>&1 && exit 0; sleep 2; done; exit 1', 320_000)));
  figures.docker_ready_seconds = Math.round((Date.now() - booting) / 1000);
}, 1_800_000);

afterAll(async () => {
  if (process.env.HIVE_DRILL_FIGURES) writeFileSync(process.env.HIVE_DRILL_FIGURES, JSON.stringify(figures, null, 2));
  console.log('drill figures', figures);
  if (process.env.HIVE_KEEP_VMS !== '1') await bed?.destroy();
});

describe('hive builds DRBD on the VMs', () => {
  it('reaches the VMs as prepared hosts and runs on them the roles of DRBD, swarm and volume driver', async () => {
    await hiveOk(['run', '--phase', 'build-infra']);
    const started = Date.now();
    await hiveOk(['run', '--phase', 'setup-hosts', '-T', 'swarm,drbd_host,volume_driver']);
    figures.setup_hosts_seconds = Math.round((Date.now() - started) / 1000);
    for (const vm of bed.vms) {
      expect(await must(vm, 'docker info --format "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"')).toBe('active true');
      expect(await must(vm, 'systemctl is-active hive-volume-driver')).toBe('active');
      expect(await must(vm, 'vgs --noheadings -o vg_name drbdvg')).toBe('drbdvg');
    }
  });

  it('makes a DRBD 8.4 resource on the two disk nodes it chose and keeps them in allocations.yml', async () => {
    const started = Date.now();
    await hiveOk(['run', '--phase', 'build-volumes']);
    figures.build_volumes_seconds = Math.round((Date.now() - started) / 1000);
    const allocations = readFileSync(join(dir, '.hive', 'private', 'allocations.yml'), 'utf8');
    expect(allocations).toMatch(new RegExp(`${VOLUME}:\\s*\\n\\s*- p-hive0\\.${SITE}\\s*\\n\\s*- p-hive1\\.${SITE}`));
    const [a, b, voter] = bed.vms as [Vm, Vm, Vm];
    for (const vm of [a, b]) {
      expect(await drbdState(vm)).toEqual({ role: 'Secondary/Secondary', disk: 'UpToDate/UpToDate', cstate: 'Connected' });
      expect(await must(vm, `docker node inspect self --format '{{index .Spec.Labels "hive.volume.${VOLUME}"}}'`)).toBe('true');
    }
    // the third hive holds no replica and is not a place for the service
    expect((await on(voter, `test -e /etc/drbd.d/${VOLUME}.res && echo present || echo absent`)).out).toBe('absent');
    expect(await must(voter, `docker node inspect self --format '{{index .Spec.Labels "hive.volume.${VOLUME}"}}'`)).toBe('');
  });

  it('changes nothing on a second build-volumes', async () => {
    const r = await hiveOk(['run', '--phase', 'build-volumes']);
    expect(total(r.end?.stats, 'changed'), explain(r)).toBe(0);
  });
});

describe('the failover drill', () => {
  const written: string[] = [];
  let first: Vm;
  let second: Vm;

  it('runs the service on a disk node, which the driver promoted, and mirrors every write (protocol C)', async () => {
    const [a, b] = bed.vms as [Vm, Vm];
    // the service's image: busybox from the VMs' own packages, imported on both disk nodes
    for (const vm of [a, b]) {
      await must(
        vm,
        'rm -rf /tmp/bb && mkdir -p /tmp/bb/bin && cp /bin/busybox /tmp/bb/bin/ && cd /tmp/bb/bin && ' +
          'for a in $(./busybox --list); do [ -e "$a" ] || ln -s busybox "$a"; done && tar -C /tmp/bb -c . | docker import - ledger:1 >/dev/null',
      );
    }
    // what deploy-services gives a service with a drbd volume: the hive driver and the label constraint
    await must(
      a,
      `docker service create --detach --name ${SERVICE} --endpoint-mode dnsrr ` +
        `--publish mode=host,target=${PORT},published=${PORT} ` +
        `--mount type=volume,source=${VOLUME},target=/data,volume-driver=hive ` +
        `--constraint 'node.labels.hive.volume.${VOLUME} == true' ` +
        `--restart-delay 2s ledger:1 httpd -f -p ${PORT} -h /data`,
    );
    first = await until('the service to run', 240_000, () => taskHost([a, b]));
    second = first === a ? b : a;
    expect((await drbdState(first)).role).toBe('Primary/Secondary');
    for (let i = 1; i <= 20; i++) written.push(`entry-${i}`);
    await write(first, written);
    expect(await ledgerAt(first)).toEqual(written);
    expect(await drbdState(second)).toMatchObject({ role: 'Secondary/Primary', disk: 'UpToDate/UpToDate' });
  });

  it('serves again from the other disk node within 90 s when the host is killed, with all the data', async () => {
    const killed = Date.now();
    bed.kill(first);
    const served = await until('the ledger on the other disk node', 180_000, async () => {
      const l = await ledgerAt(second);
      return l && l.length > 0 ? l : undefined;
    });
    figures.serve_again_seconds = Math.round((Date.now() - killed) / 1000);
    expect(served).toEqual(written);
    expect(figures.serve_again_seconds).toBeLessThanOrEqual(90);
    expect((await drbdState(second)).role).toMatch(/^Primary\//);
    // Zabbix's probe reports the volume degraded: its peer is gone
    const seen = await zabbixDrbd(second);
    expect(seen).toMatchObject({ role: 'Primary', disk: 'UpToDate', degraded: true });
    expect(seen?.connection).not.toBe('Connected');
  });

  it('resyncs the killed host as Secondary when it comes back, and nothing is promoted twice', async () => {
    written.push('after-failover');
    await write(second, ['after-failover']);
    const back = Date.now();
    await bed.start(first);
    await bed.waitSsh(first);
    const state = await until('the returned node to be UpToDate', 300_000, async () => {
      const s = await drbdState(first);
      return s.disk === 'UpToDate/UpToDate' && s.cstate === 'Connected' ? s : undefined;
    });
    figures.return_and_resync_seconds = Math.round((Date.now() - back) / 1000);
    expect(state.role).toBe('Secondary/Primary');
    expect((await drbdState(second)).role).toBe('Primary/Secondary');
    expect(await zabbixDrbd(second)).toMatchObject({ peer_disk: 'UpToDate', connection: 'Connected', degraded: false });
    expect(await ledgerAt(second)).toEqual(written);
    // swarm kept its one task where it was
    expect(await taskHost([second])).toBe(second);
  });

  it('never serves the volume on a node cut from the network; the majority takes over and the data stays consistent', async () => {
    const isolated = second;
    const other = first;
    written.push('before-cut');
    await write(isolated, ['before-cut']);
    const cut = Date.now();
    await bed.link(isolated, false);
    // the isolated node fences itself: its container is stopped and the volume demoted
    await until('the isolated node to demote the volume', 60_000, async () => {
      const r = await consoleRun(isolated, `drbdadm role ${VOLUME}`, 20_000);
      return /^Secondary/m.test(r.output) ? true : undefined;
    });
    figures.isolated_fenced_seconds = Math.round((Date.now() - cut) / 1000);
    // the majority (the other disk node and the voter) runs the task on the other disk node
    const served = await until('the ledger on the node of the majority', 180_000, async () => {
      const l = await ledgerAt(other);
      return l && l.length > 0 ? l : undefined;
    });
    figures.majority_serves_seconds = Math.round((Date.now() - cut) / 1000);
    expect(served).toEqual(written);
    // the cut-off node never promoted again while cut off
    // (its last decision about the volume is the fence, not a promotion)
    const log = await consoleRun(
      isolated,
      `drbdadm role ${VOLUME}; journalctl -u hive-volume-driver --no-pager -o cat | grep -E 'hive: fenced|: promoted [(]' | tail -1`,
      20_000,
    );
    expect(log.output).toMatch(/^Secondary/m);
    expect(log.output).toMatch(new RegExp(`hive: fenced ${VOLUME} on `));

    written.push('after-cut');
    await write(other, ['after-cut']);
    await bed.link(isolated, true);
    const state = await until('the isolated node to reconnect and resync', 300_000, async () => {
      const s = await drbdState(isolated);
      return s.disk === 'UpToDate/UpToDate' && s.cstate === 'Connected' ? s : undefined;
    });
    expect(state.role).toBe('Secondary/Primary');
    expect(await ledgerAt(other)).toEqual(written);
    // the replica on the isolated node holds the same data as the Primary's: DRBD 8.4 refuses
    // to open a Secondary's device, so compare the backing LVs (the data area, not DRBD's own
    // metadata at the end), read without the page cache while the file system is frozen (no
    // journal commit between the two reads)
    const lvSum = async (vm: Vm) =>
      (await must(vm, `dd if=/dev/drbdvg/${VOLUME} bs=1M count=60 iflag=direct 2>/dev/null | md5sum`)).split(' ')[0];
    await must(other, `sync && fsfreeze -f /run/hive-volumes/${VOLUME}`);
    try {
      expect(await lvSum(isolated)).toBe(await lvSum(other));
    } finally {
      await on(other, `fsfreeze -u /run/hive-volumes/${VOLUME}`);
    }
  });
});
