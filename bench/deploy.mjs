#!/usr/bin/env node
// deploy-services against a hand `docker stack deploy`, on the same local swarm:
//   1. hive deploy-services of 20 simple services (create, wait until converged),
//   2. its no-change re-run, next to `ansible -m ping` of the site's servers,
//   3. `docker stack deploy` of the same 20 services after hive's are removed, twice: detached and
//      polled until every service runs its task (the quickest a hand deploy can be), and with
//      --detach=false (the docker CLI waits for each service in turn, 5 s of stability each).
// Aims (issue 4): 1 ≤ 1.5 × 3; the re-run ≤ 3 × the ping. Three stack figures are printed,
// from the quickest (tasks merely running) to the CLI's own wait, with a ratio for each;
// "hive's 5 s rule" compares like with like (hive waits until tasks ran 5 s).
//
//   npm run build && node bench/deploy.mjs [--site DIR] [--keep] [--services N]
//
// Without --site it builds a fresh site (hive init --provider local, build-infra, setup-hosts:
// several minutes) and removes it at the end unless --keep. With --site DIR it uses that
// project's local site (stage private, setup-hosts done); its inventory/services.yml is replaced
// during the run and put back afterwards, and services of the stage it deployed are removed.
//
// The 20 services run `sleep infinity` in the local provider's Debian image, pushed once to the
// site registry and pulled on every hive before any timing, so neither side pays for pulls.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const hiveBin = join(repo, 'bin', 'hive.js');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const keep = args.includes('--keep');
const COUNT = Number(opt('--services') ?? 20);
const STAGE = 'private';
const BASE_IMAGE = 'hive-host:bookworm';

function sh(cmd, argv, { cwd, env, input } = {}) {
  const started = process.hrtime.bigint();
  return new Promise((done) => {
    const child = execFile(cmd, argv, { cwd, env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, seconds, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

async function must(cmd, argv, o) {
  const r = await sh(cmd, argv, o);
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.code}):\n${(r.stderr || r.stdout).split('\n').slice(-15).join('\n')}`);
  return r;
}

async function hive(dir, argv) {
  const r = await sh(process.execPath, [hiveBin, ...argv], { cwd: dir });
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return {};
    }
  });
  const end = events.find((e) => e.event === 'phase_end');
  return { ...r, events, end };
}

async function phase(dir, name, extra = []) {
  const r = await hive(dir, ['run', '--phase', name, '--stage', STAGE, '--json', ...extra]);
  if (r.code !== 0) {
    const why = (r.end?.failed ?? []).map((f) => `${f.host} / ${f.task}: ${f.msg ?? ''}`).join('\n') || r.stderr.split('\n').slice(-10).join('\n');
    throw new Error(`hive ${name} failed (exit ${r.code}):\n${why}`);
  }
  return r;
}

const changedOf = (r) => Object.values(r.end?.stats ?? {}).reduce((n, s) => n + (s.changed ?? 0), 0);

/** Servers of the stage from `hive inventory --list`. */
async function servers(dir) {
  const r = await hive(dir, ['inventory', '--list', '--stage', STAGE]);
  if (r.code !== 0) throw new Error(`hive inventory failed: ${r.stderr}`);
  const inv = JSON.parse(r.stdout);
  const ip = (h) => inv._meta.hostvars[h].hive_private_ip;
  return { hives: inv.hives.hosts.map((name) => ({ name, ip: ip(name) })), repository: { name: inv.repository.hosts[0], ip: ip(inv.repository.hosts[0]) } };
}

function ssh(dir, host, command, input) {
  return sh('ssh', ['-F', join(dir, '.hive', STAGE, 'ssh_config'), '-o', 'BatchMode=yes', host, command], { input });
}

/** The 20 services, as hive inventory and as a compose file with the same settings. */
function definitions(image, site) {
  const names = Array.from({ length: COUNT }, (_, i) => `b${String(i + 1).padStart(2, '0')}`);
  const inventory =
    `plugin: hive_services\n# bench/deploy.mjs: ${COUNT} simple services\nservices:\n` +
    names.map((n) => `  ${n}:\n    image: ${image}\n    command: [sleep, infinity]\n    endpoint_mode: dnsrr\n`).join('');
  const hosts = [...site.hives, site.repository].flatMap((h) => [`      - "${h.name}:${h.ip}"`, `      - "${h.name.split('.')[0]}:${h.ip}"`]).join('\n');
  const compose =
    `version: "3.8"\nnetworks:\n  hive_default_network:\n    external: true\nservices:\n` +
    names
      .map(
        (n) => `  ${n}:
    image: ${image}
    command: [sleep, infinity]
    hostname: ${n}
    networks: [hive_default_network]
    extra_hosts:
${hosts}
    logging:
      driver: syslog
      options: {syslog-address: "udp://${site.repository.ip}:10514", syslog-facility: local0, tag: ${n}}
    deploy:
      mode: replicated
      replicas: 1
      endpoint_mode: dnsrr
      update_config: {parallelism: 1, failure_action: rollback, monitor: 5s, order: start-first}
      rollback_config: {parallelism: 1, failure_action: pause, monitor: 5s, order: start-first}
`,
      )
      .join('');
  return { names, inventory, compose };
}

const rows = [];
function row(label, seconds, note = '') {
  rows.push({ label, seconds, note });
  process.stderr.write(`${label}: ${seconds.toFixed(1)}s${note ? ` (${note})` : ''}\n`);
}

let dir = opt('--site');
const own = !dir;
let name;
let servicesBackup;
let tunnel;
try {
  if (own) {
    name = `bench-${randomBytes(2).toString('hex')}`;
    dir = mkdtempSync(join(tmpdir(), `hive-${name}-`));
    process.stderr.write(`site ${name} in ${dir}: init, build-infra, setup-hosts (not timed)\n`);
    const init = await hive(dir, ['init', '--provider', 'local', '--name', name]);
    if (init.code !== 0) throw new Error(`hive init failed: ${init.stderr}`);
    await phase(dir, 'build-infra');
    await phase(dir, 'setup-hosts');
  }
  dir = resolve(dir);
  const site = await servers(dir);
  const registry = `${site.repository.name}:5000`;
  const image = `${registry}/bench:bookworm`;

  // the image: from this machine's engine into the site registry, then onto every hive
  process.stderr.write(`preparing ${image} on the repository and the hives (not timed)\n`);
  const saved = join(tmpdir(), `hive-bench-${process.pid}.tar`);
  await must('docker', ['save', '-o', saved, BASE_IMAGE]);
  const load = await sh('sh', ['-c', `ssh -F ${join(dir, '.hive', STAGE, 'ssh_config')} -o BatchMode=yes ${site.repository.name} 'docker load -q' < ${saved}`]);
  rmSync(saved, { force: true });
  if (load.code !== 0) throw new Error(`docker load on the repository failed: ${load.stderr}`);
  for (const c of [`docker tag ${BASE_IMAGE} ${image}`, `sudo docker push -q ${image}`]) {
    const r = await ssh(dir, site.repository.name, c);
    if (r.code !== 0) throw new Error(`${c}: ${r.stderr}`);
  }
  await Promise.all(site.hives.map(async (h) => {
    const r = await ssh(dir, h.name, `sudo docker pull -q ${image}`);
    if (r.code !== 0) throw new Error(`pull on ${h.name}: ${r.stderr}`);
  }));

  const servicesFile = join(dir, 'inventory', 'services.yml');
  servicesBackup = existsSync(servicesFile) ? readFileSync(servicesFile, 'utf8') : undefined;
  const defs = definitions(image, site);
  writeFileSync(servicesFile, defs.inventory);
  await phase(dir, 'build-networks');
  // start from an empty swarm: what an earlier run or the sample left goes (not timed)
  await phase(dir, 'deploy-services', ['-D', '--yes']);

  const load1 = loadavg()[0];
  const create = await phase(dir, 'deploy-services');
  row(`hive deploy-services, ${COUNT} new services`, create.seconds, `changed=${changedOf(create)}`);
  const check = await ssh(dir, site.hives[0].name, `docker service ls --format '{{.Replicas}}' | grep -c '^1/1$'`);
  if (Number(check.stdout.trim()) !== COUNT) throw new Error(`after the deploy ${check.stdout.trim()} of ${COUNT} services run`);

  // ping and re-run both with warm ssh connections (ControlPersist) as in real use
  const cfg = { ANSIBLE_CONFIG: join(dir, '.hive', STAGE, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK: 'minimal', ANSIBLE_LOAD_CALLBACK_PLUGINS: '0' };
  const pingArgs = ['-i', join(dir, '.hive', STAGE, 'inventory.yml'), `servers:&${STAGE}`, '-m', 'ansible.builtin.ping', '-o'];
  await sh('ansible', pingArgs, { cwd: dir, env: cfg });
  const ping = await must('ansible', pingArgs, { cwd: dir, env: cfg });
  row(`ansible -m ping of the ${site.hives.length + 1} servers`, ping.seconds);
  const rerun = await phase(dir, 'deploy-services');
  row('hive deploy-services, no change', rerun.seconds, `changed=${changedOf(rerun)}`);

  await phase(dir, 'deploy-services', ['-D', '--yes']);

  // the same services by hand: this machine's docker CLI on the first hive's engine over ssh
  const sock = join(dir, '.hive', STAGE, `bench-${process.pid}.sock`);
  const ctl = join(dir, '.hive', STAGE, `bench-${process.pid}.ctl`);
  await must('ssh', ['-F', join(dir, '.hive', STAGE, 'ssh_config'), '-o', 'BatchMode=yes', '-M', '-S', ctl, '-fN', '-o', 'ExitOnForwardFailure=yes', '-L', `${sock}:/var/run/docker.sock`, site.hives[0].name]);
  tunnel = { ctl, host: site.hives[0].name, sock };
  const composeFile = join(dir, '.hive', STAGE, 'bench-stack.yml');
  writeFileSync(composeFile, defs.compose);
  const docker = (argv) => must('docker', ['-H', `unix://${sock}`, ...argv], { env: { DOCKER_CLI_HINTS: 'false' } });
  const stackGone = async () => {
    await docker(['stack', 'rm', 'bench']);
    for (let i = 0; i < 120; i++) {
      if (!(await docker(['ps', '-aq', '--filter', 'label=com.docker.stack.namespace=bench'])).stdout.trim()) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  // (a) detached, then polled until every service runs its task: the quickest a hand deploy gets
  const t0 = process.hrtime.bigint();
  const wallStart = Date.now() / 1000;
  await docker(['stack', 'deploy', '--detach=true', '--with-registry-auth', '-c', composeFile, 'bench']);
  for (;;) {
    const reps = (await docker(['service', 'ls', '--filter', 'label=com.docker.stack.namespace=bench', '--format', '{{.Replicas}}'])).stdout.trim().split('\n');
    if (reps.length === COUNT && reps.every((x) => x === '1/1')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const polled = Number(process.hrtime.bigint() - t0) / 1e9;
  row(`docker stack deploy + poll until ${COUNT}/${COUNT} run`, polled);
  // hive's rule: converged when every task has been running for 5 s (docker service create
  // --detach=false waits the same 5 s): the latest task start + 5 s, on the same clock
  const ids = (await docker(['service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', ...defs.names.map((n) => `bench_${n}`)])).stdout.trim().split('\n');
  const stamps = (await docker(['inspect', '--format', '{{.Status.Timestamp.Unix}}.{{printf "%09d" .Status.Timestamp.Nanosecond}}', ...ids])).stdout.trim().split('\n').map(Number);
  const settled = Math.max(...stamps) + 5 - wallStart;
  row(`docker stack deploy + every task running 5 s (hive's rule)`, settled);
  await stackGone();
  // (b) --detach=false: the CLI waits for each service in turn (5 s of stability each)
  const stack = await docker(['stack', 'deploy', '--detach=false', '--with-registry-auth', '-c', composeFile, 'bench']);
  row(`docker stack deploy --detach=false, ${COUNT} new services`, stack.seconds);
  await stackGone();

  const hiveCreate = rows[0].seconds;
  const ratioDeploy = hiveCreate / polled;
  const ratioRule = hiveCreate / settled;
  const ratioWaiting = hiveCreate / stack.seconds;
  const ratioRerun = rerun.seconds / ping.seconds;
  process.stdout.write(
    [
      '',
      `bench/deploy.mjs on ${cpus().length} cpus (load ${load1.toFixed(2)} at start), ${COUNT} services`,
      ...rows.map((r) => `  ${r.label.padEnd(52)} ${r.seconds.toFixed(1).padStart(6)} s  ${r.note}`),
      `  deploy / stack deploy, tasks running     = ${ratioDeploy.toFixed(2)}  (aim ≤ 1.5) ${ratioDeploy <= 1.5 ? 'met' : 'NOT met'}`,
      `  deploy / stack deploy, hive's 5 s rule   = ${ratioRule.toFixed(2)}  (aim ≤ 1.5) ${ratioRule <= 1.5 ? 'met' : 'NOT met'}`,
      `  deploy / stack deploy --detach=false     = ${ratioWaiting.toFixed(2)}  (aim ≤ 1.5) ${ratioWaiting <= 1.5 ? 'met' : 'NOT met'}`,
      `  no-change re-run / ansible ping          = ${ratioRerun.toFixed(2)}  (aim ≤ 3)   ${ratioRerun <= 3 ? 'met' : 'NOT met'}`,
      '',
    ].join('\n'),
  );
} catch (err) {
  process.stderr.write(`bench/deploy.mjs: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  if (tunnel) {
    await sh('ssh', ['-F', join(dir, '.hive', STAGE, 'ssh_config'), '-S', tunnel.ctl, '-O', 'exit', tunnel.host]);
    rmSync(tunnel.sock, { force: true });
  }
  if (dir && servicesBackup !== undefined) {
    // take our services off the swarm, then put the project's own services file back
    await hive(dir, ['run', '--phase', 'deploy-services', '--stage', STAGE, '--json', '-D', '--yes']);
    writeFileSync(join(dir, 'inventory', 'services.yml'), servicesBackup);
  }
  if (own && dir && !keep) {
    process.stderr.write(`removing site ${name}\n`);
    await hive(dir, ['run', '--phase', 'build-infra', '--stage', STAGE, '-D', '--yes']);
    rmSync(dir, { recursive: true, force: true });
  } else if (own) process.stderr.write(`kept site ${name} in ${dir}\n`);
}
