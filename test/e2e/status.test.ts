// `hive status` on the shared local site, as a user would use it after a failure: all well, then
// one hive's host container stopped (degraded, the swarm keeps its leader), then a second one
// (two of three managers gone: no leader answers, and the command must not hang), then both
// started again, and the suite waits until the swarm is whole so later suites find it as before.
//
// Preconditions, ensured in beforeAll: setup-hosts done and the sample services (web 2 replicas,
// notes 1) deployed; when status is not ok already, the service phases are run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/status/index.js';
import { explain, hive, phaseOnce, run, runPhase, ssh, STAGE, useSite, type CommandResult, type LocalSite } from './site-fixture.js';

const LONG = 15 * 60_000;
/** A status call never takes longer than this (5 s ssh connect, 15 s per call, two rounds). */
const CALL_LIMIT_S = 45;

let site: LocalSite;
let hives: LocalSite['hosts'];
/** Host containers this suite stopped (container name = host name), started again at the end. */
const stopped: string[] = [];

interface Status extends CommandResult {
  report: StatusReport;
}

async function status(): Promise<Status> {
  const r = await hive(site.dir, ['status', '--stage', STAGE, '--json']);
  let report: StatusReport;
  try {
    report = JSON.parse(r.stdout) as StatusReport;
  } catch {
    throw new Error(`hive status --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { ...r, report };
}

/** Status until `done` holds or `seconds` pass; every call must end in bounded time. */
async function statusUntil(done: (s: Status) => boolean, seconds: number): Promise<Status> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const s = await status();
    expect(s.seconds, `hive status took ${s.seconds}s`).toBeLessThan(CALL_LIMIT_S);
    if (done(s) || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 3000));
  }
}

const describeStatus = (s: Status) => `exit ${s.code} after ${s.seconds}s, state ${s.report.state}:\n${s.report.problems.join('\n')}\n${s.stderr}`;

async function dockerHost(action: 'stop' | 'start', name: string): Promise<void> {
  const r = await run('docker', [action, name], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${action} ${name}: ${r.stderr}`);
}

/** Starts what the suite stopped, waits for sshd on each, then for status ok. */
async function restore(): Promise<Status> {
  for (const name of stopped) await dockerHost('start', name);
  for (const name of stopped) {
    const until = Date.now() + 120_000;
    while ((await ssh(site, name, 'true')).code !== 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 2000));
  }
  stopped.length = 0;
  return statusUntil((s) => s.code === 0, 300);
}

describe('hive status on the local site', () => {
  beforeAll(async () => {
    site = await useSite();
    const setup = await phaseOnce(site, 'setup-hosts');
    expect(setup.code, explain(setup)).toBe(0);
    hives = site.hosts.filter((h) => h.isHive);
    expect(hives.length).toBe(3);
    // the sample services deployed (services.test.ts leaves them so; run alone, deploy them here)
    const first = await status();
    if (first.code !== 0) {
      for (const phase of ['build-images', 'build-volumes', 'build-networks', 'deploy-services']) {
        const r = await runPhase(site, phase);
        expect(r.code, `${phase}: ${explain(r)}`).toBe(0);
      }
    }
  }, LONG);

  afterAll(async () => {
    // a failed test must not leave hosts stopped for the suites after this one
    if (stopped.length) await restore();
  }, LONG);

  it('all well: exit 0, every host up, exactly one leader, the services run all their tasks', async () => {
    const s = await statusUntil((x) => x.code === 0, 120);
    expect(s.code, describeStatus(s)).toBe(0);
    const r = s.report;
    expect(r).toMatchObject({ stage: STAGE, site: site.name, state: 'ok', problems: [] });
    expect(r.hosts.map((h) => [h.name, h.address, h.up])).toEqual(site.hosts.map((h) => [h.name, h.ip, true]));
    const leaders = r.hosts.filter((h) => h.swarm.leader);
    expect(leaders).toHaveLength(1);
    expect(r.leader).toBe(leaders[0].name);
    for (const h of r.hosts.filter((x) => x.role === 'hive')) expect(h.swarm, h.name).toMatchObject({ role: 'manager', status: 'Ready', availability: 'Active' });
    expect(r.hosts.find((h) => h.role === 'repository')?.swarm.role).toBeNull();

    const web = r.services.find((x) => x.name === 'web')!;
    const notes = r.services.find((x) => x.name === 'notes')!;
    expect(web).toMatchObject({ mode: 'replicated', desired: 2, running: 2 });
    expect(notes).toMatchObject({ desired: 1, running: 1, nodes: [hives[0].name] });
    // host-mode port 8080: the two replicas are on two hives
    expect(web.nodes).toHaveLength(2);
    for (const n of web.nodes) expect(hives.map((h) => h.name)).toContain(n);
    // the version is the tag the swarm runs
    const image = (await ssh(site, hives[0].name, `docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' web`)).stdout.trim();
    expect(image.split('@')[0]).toMatch(new RegExp(`/image_web:${web.version}$`));

    expect(r.volumes.find((v) => v.name === 'notes_data')).toMatchObject({ driver: 'local', hosts: hives.map((h) => h.name), drbd: null });

    // the terminal form: tables and the summary line, no colour through a pipe
    const text = await hive(site.dir, ['status', '--stage', STAGE]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/\x1b\[/);
    expect(text.stdout).toMatch(new RegExp(`^\\s+${leaders[0].name.replace(/\./g, '\\.')}\\s.*\\sLeader$`, 'm'));
    expect(text.stdout.trimEnd().split('\n').at(-1)).toMatch(/^ok: 4\/4 hosts up, leader /);
  }, LONG);

  it('one hive stopped: exit 1 naming it down, the swarm still has a leader', async () => {
    const victim = hives[2].name;
    await dockerHost('stop', victim);
    stopped.push(victim);
    // if the stopped hive led the swarm, the others elect a new leader within seconds
    const s = await statusUntil((x) => x.code !== 3, 60);
    expect(s.code, describeStatus(s)).toBe(1);
    expect(s.report.state).toBe('degraded');
    expect(s.report.problems).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^host ${victim.replace(/\./g, '\\.')} is down`))]));
    expect(s.report.hosts.filter((h) => !h.up).map((h) => h.name)).toEqual([victim]);
    expect(s.report.leader).not.toBeNull();
    expect(s.report.leader).not.toBe(victim);
  }, LONG);

  it('a second hive stopped: no leader answers, exit 3 within a minute, the hosts still listed', async () => {
    const victim = hives[1].name;
    const started = Date.now();
    await dockerHost('stop', victim);
    stopped.push(victim);
    const s = await statusUntil((x) => x.code === 3, 60);
    expect(s.code, describeStatus(s)).toBe(3);
    expect((Date.now() - started) / 1000).toBeLessThan(60 + CALL_LIMIT_S);
    expect(s.report.state).toBe('no-leader');
    expect(s.report.leader).toBeNull();
    expect(s.report.problems[0]).toMatch(/^no leader answers/);
    expect(s.report.hosts.map((h) => [h.name, h.up])).toEqual(site.hosts.map((h) => [h.name, !stopped.includes(h.name)]));

    const text = await hive(site.dir, ['status', '--stage', STAGE]);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/no leader answers/);
    expect(text.seconds).toBeLessThan(CALL_LIMIT_S);
  }, LONG);

  it('both started again: status comes back to ok (the swarm has its leader, every node Ready)', async () => {
    const s = await restore();
    expect(s.code, describeStatus(s)).toBe(0);
    expect(s.report.hosts.every((h) => h.up)).toBe(true);
    expect(s.report.hosts.filter((h) => h.role === 'hive').map((h) => h.swarm.status)).toEqual(['Ready', 'Ready', 'Ready']);
    expect(s.report.leader).not.toBeNull();
  }, LONG);
});
