// The gslb sample (inventories/gslb) on the shared local site: PowerDNS secondaries on port 53
// of every hive answer www.gslb.example with the hives whose port 80 answers, and go on
// answering through lost hives. The suite puts the sample's services, group_vars and roles into
// the site's project (the site's own hive.yml stays: same hosts), runs `hive all` twice, stops
// host containers as a failure would, and leaves the site as it found it: hosts running, swarm
// with a leader, the sample's services removed and the project's files back.
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HiveEvent } from '../../src/lib/events.js';
import { dockerOut, explain, hive, phaseOnce, projectEditor, REPO, run, runPhase, ssh, STAGE, total, useSite, type HiveRun, type LocalSite } from './site-fixture.js';

const LONG = 20 * 60_000;
const SAMPLE = join(REPO, 'inventories', 'gslb');
const DOMAIN = 'gslb.example';

let site: LocalSite;
let hives: LocalSite['hosts'];
const { edit, restoreAll } = projectEditor(() => site.dir);
const sampleRoles = readdirSync(join(SAMPLE, 'roles'));
const stopped = new Set<string>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `dig @server name type +short`: the answer lines ([] when there is no answer or no server). */
async function dig(server: string, name: string, type = 'A'): Promise<string[]> {
  const r = await run('dig', [`@${server}`, name, type, '+short', '+time=2', '+tries=1'], { timeoutMs: 15_000 });
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith(';'));
}

/** Polls `check` every 2 s until it returns true or `seconds` pass; returns whether it held. */
async function eventually(seconds: number, check: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(2000);
  }
}

const sorted = (xs: string[]) => [...xs].sort();
const ipsOf = (hosts: LocalSite['hosts']) => sorted(hosts.map((h) => h.ip));

/** The host container of a server: the local provider names it after the host. */
async function containerOf(host: string): Promise<string> {
  const names = (await dockerOut(['ps', '-a', '--filter', `label=hive.site=${site.name}`, '--format', '{{.Names}}'])).split('\n');
  if (!names.includes(host)) throw new Error(`no host container ${host} among ${names.join(', ')}`);
  return host;
}

async function stopHost(host: string): Promise<void> {
  stopped.add(host);
  await dockerOut(['stop', '-t', '2', await containerOf(host)]);
}

async function startHost(host: string): Promise<void> {
  await dockerOut(['start', await containerOf(host)]);
  stopped.delete(host);
}

/** `docker node ls` on the first running hive: hostname → manager status ('' when it gives none). */
async function swarmNodes(on: string): Promise<{ code: number; leader?: string; ready: string[]; err: string }> {
  const r = await ssh(site, on, "sudo -n docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'");
  if (r.code !== 0) return { code: r.code, ready: [], err: r.stderr };
  const rows = r.stdout.trim().split('\n').map((l) => l.split(' '));
  return { code: 0, leader: rows.find((x) => x[2] === 'Leader')?.[0], ready: rows.filter((x) => x[1] === 'Ready').map((x) => x[0]), err: '' };
}

/** Waits until the swarm has a leader and every hive is Ready again (after hosts came back). */
async function swarmHealthy(seconds: number): Promise<boolean> {
  return eventually(seconds, async () => {
    const n = await swarmNodes(hives[0]!.name);
    return !!n.leader && n.ready.length === hives.length;
  });
}

/** Where the task of a replicated service runs, from a manager. */
async function nodeOf(service: string, on: string): Promise<string | undefined> {
  const r = await ssh(site, on, `sudo -n docker service ps --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' ${service}`);
  return r.stdout
    .trim()
    .split('\n')
    .find((l) => / Running /.test(` ${l} `))
    ?.split(' ')[0];
}

/** explain() for `hive all`: the failures of every phase, not only of the first. */
const explainAll = (r: HiveRun) =>
  [
    explain(r),
    ...r.events
      .filter((e): e is Extract<HiveEvent, { event: 'phase_end' }> => e.event === 'phase_end')
      .flatMap((e) => (e.failed ?? []).map((f) => `${e.phase}: ${f.host} / ${f.task}: ${f.msg ?? ''}`)),
  ].join('\n');

const changedIn = (r: HiveRun) =>
  r.events
    .filter((e): e is Extract<HiveEvent, { event: 'host_result' }> => e.event === 'host_result' && e.status === 'changed')
    .map((e) => `${e.host}: ${e.task}`);

describe('the gslb sample on the local site', () => {
  beforeAll(async () => {
    site = await useSite();
    hives = site.hosts.filter((h) => h.isHive);
    const setup = await phaseOnce(site, 'setup-hosts');
    expect(setup.code, explain(setup)).toBe(0);
    // the services other suites left go first: the sample's web takes port 80 of every hive
    const clear = await runPhase(site, 'deploy-services', ['-D', '--yes']);
    expect(clear.code, explain(clear)).toBe(0);
    edit('inventory/services.yml', () => readFileSync(join(SAMPLE, 'inventory/services.yml'), 'utf8').replaceAll('__NAME__', site.name));
    edit('inventory/group_vars/all.yml', (text) => `${text}\n${readFileSync(join(SAMPLE, 'inventory/group_vars/all.yml'), 'utf8').replace(/^hive_timezone:.*$/m, '')}`);
    for (const role of sampleRoles) cpSync(join(SAMPLE, 'roles', role), join(site.dir, 'roles', role), { recursive: true });
  }, LONG);

  afterAll(async () => {
    for (const host of [...stopped]) await startHost(host).catch(() => undefined);
    if (hives?.length) await swarmHealthy(300);
    if (site) {
      await runPhase(site, 'deploy-services', ['-D', '--yes']);
      restoreAll();
      for (const role of sampleRoles) rmSync(join(site.dir, 'roles', role), { recursive: true, force: true });
    }
  }, LONG);

  it('hive all builds the images, deploys web, pdns and dns and loads the zone once', async () => {
    // --from build-infra: the phases other suites ran count as done for a resuming `hive all`
    const r = await hive(site.dir, ['all', '--from', 'build-infra', '--stage', STAGE, '--json']);
    expect(r.code, explainAll(r)).toBe(0);
    const ran = r.events.filter((e) => e.event === 'task_start').map((e) => (e as { task: string }).task);
    expect(ran).toContain('powerdns_zone : Load the zone into the database');
  }, LONG);

  it('every hive answers www with the addresses of all the hives, and the SOA and NS of the zone', async () => {
    for (const h of hives) {
      const all = await eventually(120, async () => JSON.stringify(sorted(await dig(h.ip, `www.${DOMAIN}`))) === JSON.stringify(ipsOf(hives)));
      expect(all, `${h.name} answers ${JSON.stringify(await dig(h.ip, `www.${DOMAIN}`))}`).toBe(true);
      expect(sorted(await dig(h.ip, DOMAIN))).toEqual(ipsOf(hives));
      const soa = await dig(h.ip, DOMAIN, 'SOA');
      expect(soa).toHaveLength(1);
      expect(soa[0]).toMatch(new RegExp(`^ns0\\.${DOMAIN.replace('.', '\\.')}\\. hostmaster\\.${DOMAIN.replace('.', '\\.')}\\. \\d+ `));
      expect(sorted(await dig(h.ip, DOMAIN, 'NS'))).toEqual(hives.map((_, i) => `ns${i}.${DOMAIN}.`));
      for (const [i, hv] of hives.entries()) expect(await dig(h.ip, `ns${i}.${DOMAIN}`)).toEqual([hv.ip]);
    }
    // the web server itself, on port 80 of every hive
    for (const h of hives) {
      const res = await fetch(`http://${h.ip}/`, { signal: AbortSignal.timeout(5000) });
      expect(await res.text()).toContain(`www.${DOMAIN}`);
    }
  }, LONG);

  it('a second hive all changes nothing', async () => {
    const r = await hive(site.dir, ['all', '--stage', STAGE, '--json']);
    expect(r.code, explainAll(r)).toBe(0);
    expect(changedIn(r)).toEqual([]);
    const ends = r.events.filter((e): e is Extract<HiveEvent, { event: 'phase_end' }> => e.event === 'phase_end');
    expect(ends.length).toBe(7);
    expect(ends.reduce((n, e) => n + total(e.stats, 'changed'), 0)).toBe(0);
  }, LONG);

  it('a lost hive leaves the answers within 60 s, swarm moves pdns and keeps a leader; back, it returns', async () => {
    const before = await nodeOf('pdns', hives[0]!.name);
    expect(before).toBeDefined();
    const lost = hives.find((h) => h.name === before || h.name.startsWith(`${before}.`)) ?? hives[1]!;
    const others = hives.filter((h) => h !== lost);
    const t0 = Date.now();
    await stopHost(lost.name);
    const gone = await eventually(60, async () => {
      for (const h of others) if (JSON.stringify(sorted(await dig(h.ip, `www.${DOMAIN}`))) !== JSON.stringify(ipsOf(others))) return false;
      return true;
    });
    expect(gone, `after ${(Date.now() - t0) / 1000}s: ${JSON.stringify(await Promise.all(others.map((h) => dig(h.ip, `www.${DOMAIN}`))))}`).toBe(true);
    // a few more queries: never the lost address, always an answer
    for (let i = 0; i < 3; i++) {
      for (const h of others) {
        const a = await dig(h.ip, `www.${DOMAIN}`);
        expect(a.length).toBeGreaterThan(0);
        expect(a).not.toContain(lost.ip);
      }
    }
    // swarm: still a leader among the two (elected anew if the lost hive led), and pdns moves
    let nodes = await swarmNodes(others[0]!.name);
    await eventually(60, async () => !!(nodes = await swarmNodes(others[0]!.name)).leader);
    expect(nodes.code, nodes.err).toBe(0);
    expect(nodes.leader).toBeDefined();
    expect(others.map((h) => h.name)).toContain(hostOf(nodes.leader!));
    const moved = await eventually(120, async () => {
      const n = await nodeOf('pdns', others[0]!.name);
      return !!n && others.some((h) => hostOf(n) === h.name);
    });
    expect(moved, `pdns runs on ${await nodeOf('pdns', others[0]!.name)}`).toBe(true);

    await startHost(lost.name);
    const back = await eventually(120, async () => JSON.stringify(sorted(await dig(others[0]!.ip, `www.${DOMAIN}`))) === JSON.stringify(ipsOf(hives)));
    expect(back).toBe(true);
    expect(await swarmHealthy(240)).toBe(true);
  }, LONG);

  it('with two hives of three lost, the last one still answers DNS, the swarm has no leader, and hive status says so', async () => {
    const [last, ...lost] = hives;
    for (const h of lost) await stopHost(h.name);
    const answers = await eventually(60, async () => JSON.stringify(await dig(last!.ip, `www.${DOMAIN}`)) === JSON.stringify([last!.ip]));
    expect(answers, JSON.stringify(await dig(last!.ip, `www.${DOMAIN}`))).toBe(true);
    expect(await dig(last!.ip, DOMAIN, 'SOA')).toHaveLength(1);
    let nodes = await swarmNodes(last!.name);
    await eventually(60, async () => (nodes = await swarmNodes(last!.name)).code !== 0);
    expect(nodes.code).not.toBe(0);
    expect(nodes.err).toMatch(/leader|quorum|deadline/i);
    const t0 = Date.now();
    const status = await run(process.execPath, [join(REPO, 'bin', 'hive.js'), 'status', '--stage', STAGE, '--json'], { cwd: site.dir, timeoutMs: 120_000 });
    expect(status.code, status.stderr).toBe(3);
    expect((Date.now() - t0) / 1000).toBeLessThan(90);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'no-leader', leader: null });

    for (const h of lost) await startHost(h.name);
    expect(await swarmHealthy(300)).toBe(true);
    const back = await eventually(120, async () => JSON.stringify(sorted(await dig(last!.ip, `www.${DOMAIN}`))) === JSON.stringify(ipsOf(hives)));
    expect(back).toBe(true);
  }, LONG);
});

/** A swarm node's hostname as the site names the host (they are the same on the local site). */
function hostOf(node: string): string {
  return hives.find((h) => h.name === node || h.name.startsWith(`${node}.`))?.name ?? node;
}
