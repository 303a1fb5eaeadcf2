#!/usr/bin/env node
// Benchmark of `hive inventory --list` on a large site: 3 stages of 50 servers (/24 networks)
// and 300 services (3 files) with ports, DRBD volumes and built images.
//
//   npm run build && node bench/inventory.mjs [runs] [--keep]
//
// --keep leaves the generated project in place (its path is printed) for profiling.
// Prints the wall time of the CLI (a fresh node process each run, start-up included) and, for
// comparison, of readSite + toAnsibleInventory in one process (cold: first call in a fresh
// process, imports included; warm: later calls). Target: the CLI well under 0.3 s.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 7);
const SERVICES = 300;
const FILES = 3;
const HOSTS = 50;

function writeInventory(root) {
  const dir = join(root, 'inventory');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'hive.yml'),
    `plugin: hive_inventory
name: bench.example.com
stages:
  private:
    provider: local
    cidr: 10.10.0.0/24
    number_of_hosts: ${HOSTS}
    separate_repository: false
    internal_cidr: 172.31.252.0/22
  staging:
    provider: aws
    cidr: 10.20.0.0/16
    region: ap-northeast-1
    instance_type: t3.medium
    repository_instance_type: t3.large
    mirrored_disk_size: 20
    number_of_hosts: ${HOSTS}
    subnets:
      - {cidr: 10.20.0.0/24, name: subnet-a, available_zone: ap-northeast-1a}
      - {cidr: 10.20.1.0/24, name: subnet-c, available_zone: ap-northeast-1c}
      - {cidr: 10.20.2.0/24, name: subnet-d, available_zone: ap-northeast-1d}
  production:
    provider: prepared
    cidr: 10.30.0.0/24
    number_of_hosts: ${HOSTS}
`,
  );
  const perFile = SERVICES / FILES;
  for (let f = 0; f < FILES; f++) {
    const lines = ['plugin: hive_services', 'networks:', `  net${f}:`, '    driver_opts: {encrypted: ""}', 'services:'];
    for (let i = f * perFile; i < (f + 1) * perFile; i++) {
      const name = `svc${String(i).padStart(3, '0')}`;
      lines.push(`  ${name}:`);
      if (i % 2 === 0) {
        lines.push(
          '    image:',
          '      from: "almalinux:9"',
          '      roles: [python-aptk, hive-syslog]',
          '      env: {TZ: UTC}',
          ...(i % 10 === 0 ? ['      pull_on: [production]', `      pull_from: "registry.example.com/${name}:1.0"`] : []),
        );
      } else {
        lines.push(`    image: "nginx:1.${i % 30}"`);
      }
      lines.push(
        '    environment:',
        `      APP_NAME: ${name}`,
        '      DB_PASSWORD: "{{ db_password }}"',
        '      LOG_LEVEL: info',
        '    command: ["--verbose", "--port=8080"]',
        '    ports:',
        // every service publishes ports; most are internal (allocated from 61001), some public
        '      - "8080"',
        '      - {target_port: 9090, protocol: tcp}',
        ...(i % 10 === 0 ? [`      - "${1000 + i}:443/tcp"`] : []),
        ...(i % 25 === 0 ? [`      - {target_port: 53, published_port: ${4000 + i}, protocol: udp}`] : []),
        '    networks: [hive_default_network, ' + `net${f}]`,
        `    replicas: ${1 + (i % 3)}`,
        '    endpoint_mode: dnsrr',
        '    labels: {published_fqdn: "www.example.com"}',
        '    restart_config: {condition: on-failure, delay: 5s, max_attempts: 3}',
        '    update_config: {parallelism: 1, delay: 10s, order: start-first}',
      );
      if (i % 3 === 0) {
        lines.push(
          '    volumes:',
          `      - source: ${name}_data`,
          '        target: /var/lib/data',
          '        type: volume',
          '        drbd: {fstype: xfs, size: 500M}',
          '      - {source: /etc/localtime, target: /etc/localtime, type: bind, readonly: true}',
        );
      }
      if (i % 7 === 0) lines.push('    available_on: [private, production]');
    }
    writeFileSync(join(dir, `services${f}.yml`), lines.join('\n') + '\n');
  }
}

const ms = (ns) => Number(ns) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `min ${Math.min(...xs).toFixed(0)} ms, median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;

const root = mkdtempSync(join(tmpdir(), 'hive-bench-'));
try {
  writeInventory(root);
  const dist = join(repo, 'dist', 'inventory', 'index.js');
  if (!existsSync(dist)) throw new Error('dist/ is missing: run npm run build first');
  console.log(`inventory: ${HOSTS} servers per stage, ${SERVICES} services in ${FILES} files (${root})`);
  // timings scale with machine load: print it so figures can be compared
  console.log(`machine: ${cpus().length} cpus, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  // in-process, cold: a fresh node process that imports and runs once
  const coldScript = `
    const t0 = process.hrtime.bigint();
    const { readSite } = await import(${JSON.stringify(dist)});
    const { toAnsibleInventory } = await import(${JSON.stringify(join(repo, 'dist', 'model', 'ansible-inventory.js'))});
    const t1 = process.hrtime.bigint();
    const site = readSite({ inventoryDir: 'inventory', hiveDir: '.hive', stage: 'private' });
    const t2 = process.hrtime.bigint();
    const out = JSON.stringify(toAnsibleInventory(site, 'private'), null, 4);
    const t3 = process.hrtime.bigint();
    for (let i = 0; i < 5; i++) { const s = readSite({ inventoryDir: 'inventory', hiveDir: '.hive', stage: 'private' }); JSON.stringify(toAnsibleInventory(s, 'private'), null, 4); }
    const t4 = process.hrtime.bigint();
    console.log(JSON.stringify({ imports: Number(t1 - t0) / 1e6, readSite: Number(t2 - t1) / 1e6, list: Number(t3 - t2) / 1e6, warm: Number(t4 - t3) / 5e6, bytes: out.length, hosts: Object.keys(JSON.parse(out)._meta.hostvars).length }));
  `;
  const inproc = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', coldScript], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    inproc.push(JSON.parse(r.stdout));
  }
  const first = inproc[inproc.length - 1];
  console.log(`output: ${first.hosts} hosts, ${(first.bytes / 1024).toFixed(0)} KiB of JSON`);
  console.log(`in process, imports:                 ${fmt(inproc.map((r) => r.imports))}`);
  console.log(`in process, readSite (cold):         ${fmt(inproc.map((r) => r.readSite))}`);
  console.log(`in process, toAnsibleInventory+JSON: ${fmt(inproc.map((r) => r.list))}`);
  console.log(`in process, both warm:               ${fmt(inproc.map((r) => r.warm))}`);

  const cli = join(repo, 'bin', 'hive.js');
  if (!existsSync(cli)) {
    console.log('bin/hive.js not found: CLI not timed');
  } else {
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [cli, 'inventory', '--list', '--stage', 'private', '-i', 'inventory'], {
        cwd: root,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      const t1 = process.hrtime.bigint();
      if (r.status !== 0) throw new Error(`hive inventory --list failed (${r.status}): ${r.stderr}`);
      times.push(ms(t1 - t0));
    }
    console.log(`hive inventory --list --stage private (node ${process.version}, ${runs} runs): ${fmt(times)}`);
  }
} finally {
  if (!keep) rmSync(root, { recursive: true, force: true });
}
