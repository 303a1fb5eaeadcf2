#!/usr/bin/env node
// The failover drill's figures: runs the VM tier's drill (test/vm/drbd-failover.test.ts: three
// Debian 12 VMs under qemu TCG, DRBD 8.4 built by hive, a service on the volume) and prints what
// it measured:
//   boot_seconds                 start of the 3 VMs until sshd answers on all
//   docker_ready_seconds         ... until dockerd answers on all
//   setup_hosts_seconds          setup-hosts -T swarm,drbd_host,volume_driver
//   build_volumes_seconds        first build-volumes (resource, initial sync, file system)
//   serve_again_seconds          kill -9 of the service's host until the other disk node serves
//                                the ledger with every acknowledged write
//   return_and_resync_seconds    restart of the killed VM until its disk is UpToDate again
//   isolated_fenced_seconds      network cut of the serving node until it demoted the volume
//   majority_serves_seconds      network cut until the other disk node serves
//
//   npm run build && node bench/ha-drill.mjs         (as root; needs qemu-system-x86, debootstrap)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(mkdtempSync(join(tmpdir(), 'hive-drill-')), 'figures.json');
try {
  execFileSync('npx', ['vitest', 'run', '-c', 'vitest.vm.config.ts', 'test/vm/drbd-failover.test.ts'], {
    cwd: repo,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, HIVE_DRILL_FIGURES: out },
  });
} catch {
  console.error('the drill failed; figures measured before the failure follow');
}
const figures = JSON.parse(readFileSync(out, 'utf8'));
console.log('\nhive failover drill (3 VMs, qemu TCG, DRBD 8.4, protocol C)');
for (const [name, value] of Object.entries(figures)) console.log(`  ${name.padEnd(28)} ${value} s`);
