// The five service phases on the local site, end to end, with the `hive init` sample: web (an
// image built by a role, 2 replicas, host-mode port 8080) and notes (a volume, initialize_roles).
// Every assertion looks at the real site: HTTP from this machine, docker on the hosts, the
// swarm's own view of the services. The suite edits the sample inventory and roles along the
// way and puts them back at the end (other suites share the site).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/lib/context.js';
import { readSite } from '../../src/model/index.js';
import { listVersions, planServices, rollbackService, type ServicePlan } from '../../src/services/index.js';
import type { HiveEvent } from '../../src/lib/events.js';
import { explain, phaseOnce, projectEditor, runPhase, ssh, STAGE, total, useSite, type HiveRun, type LocalSite } from './site-fixture.js';

const LONG = 15 * 60_000;

let site: LocalSite;
let manager: string;
let hives: LocalSite['hosts'];
/** Edits of the project's files, each put back in afterAll (or by restore). */
const { edit, restore, restoreAll } = projectEditor(() => site.dir);

async function onManager(command: string): Promise<string> {
  const r = await ssh(site, manager, command);
  if (r.code !== 0) throw new Error(`${manager}: ${command}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The swarm's own view: {Version.Index, image, labels} of a service. */
async function swarmService(name: string): Promise<{ index: number; image: string; update?: string }> {
  const out = await onManager(`docker service inspect --format '{{.Version.Index}} {{.Spec.TaskTemplate.ContainerSpec.Image}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' ${name}`);
  const [index, image, update] = out.split(' ');
  return { index: Number(index), image, ...(update ? { update } : {}) };
}

/** GET http://<hive>:<port>/ on every hive: the bodies of those that answer. */
async function answers(port: number): Promise<string[]> {
  const bodies = await Promise.all(
    hives.map(async (h) => {
      try {
        const res = await fetch(`http://${h.ip}:${port}/`, { signal: AbortSignal.timeout(3000) });
        return res.ok ? await res.text() : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return bodies.filter((b): b is string => b !== undefined);
}

/** The answers once `count` replicas answer (a replica restarted by a rollback needs a moment). */
async function answersOf(port: number, count: number, seconds = 60): Promise<string[]> {
  const until = Date.now() + seconds * 1000;
  let got = await answers(port);
  while (got.length < count && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
    got = await answers(port);
  }
  return got;
}

const ran = (r: HiveRun, task: RegExp) =>
  r.events.filter((e): e is Extract<HiveEvent, { event: 'host_result' }> => e.event === 'host_result' && task.test(e.task) && e.status !== 'skipped');

function context() {
  const ctx = makeContext({ root: site.dir, stage: STAGE });
  const loaded = readSite({ inventoryDir: ctx.inventoryDir, hiveDir: ctx.hiveDir, stage: ctx.stage, firstHive: 0 });
  return { ctx, loaded };
}

async function plan(): Promise<ServicePlan> {
  const { ctx, loaded } = context();
  return planServices(ctx, loaded);
}

const action = (p: ServicePlan, service: string) => p.services.find((e) => e.service === service)?.action;

describe('services on the local site', () => {
  beforeAll(async () => {
    site = await useSite();
    const setup = await phaseOnce(site, 'setup-hosts');
    expect(setup.code, explain(setup)).toBe(0);
    hives = site.hosts.filter((h) => h.isHive);
    manager = hives[0].name;
  }, LONG);

  afterAll(() => restoreAll());

  it('hive plan before the first deploy: every service is to be created, its image not built yet', async () => {
    const p = await plan();
    expect(p.phase.ok).toBe(true);
    expect(action(p, 'web')).toBe('create');
    expect(action(p, 'notes')).toBe('create');
    expect(p.services.find((e) => e.service === 'web')?.unbuilt).toBe(true);
    // nothing was made
    expect(await onManager('docker service ls -q | wc -l')).toBe('0');
  }, LONG);

  it('build-images builds web and notes by their roles, versions them and pushes them', async () => {
    const r = await runPhase(site, 'build-images');
    expect(r.code, explain(r)).toBe(0);
    expect(ran(r, /^web : Write the home page/).map((e) => e.status)).toEqual(['changed']);
    const web = listVersions(context().ctx, 'web');
    expect(web.versions).toHaveLength(1);
    const version = web.versions[0].version;
    expect(version).toMatch(/^[0-9a-f]{12}$/);
    // in the registry: the repository pulls it back by version
    const repo = site.hosts.find((h) => h.isRepository)!.name;
    const pulled = await ssh(site, manager, `sudo docker pull -q ${repo}:5000/image_web:${version}`);
    expect(pulled.code, pulled.stderr).toBe(0);
  }, LONG);

  it('a second build-images changes nothing and makes no new version', async () => {
    const r = await runPhase(site, 'build-images');
    expect(r.code, explain(r)).toBe(0);
    expect(total(r.end?.stats, 'changed')).toBe(0);
    expect(ran(r, /^web : /)).toEqual([]);
    expect(listVersions(context().ctx, 'web').versions).toHaveLength(1);
  }, LONG);

  it('build-volumes creates the volumes on every hive; a drbd volume becomes a plain local volume here, said once', async () => {
    // a DRBD-mirrored volume next to the sample's local one: no DRBD module on this machine
    edit('inventory/services.yml', (t) =>
      t.replace(
        /(        driver: local\n)/,
        '$1      - source: notes_mirror\n        target: /var/lib/mirror\n        type: volume\n        drbd: {fstype: xfs, size: 100M}\n',
      ),
    );
    const r = await runPhase(site, 'build-volumes');
    expect(r.code, explain(r)).toBe(0);
    const warnings = r.events.filter((e) => e.event === 'warning' && /DRBD is not available/.test(e.msg));
    expect(warnings).toHaveLength(1);
    expect((warnings[0] as { msg: string }).msg).toMatch(/notes_mirror .*plain local docker\s+volume/);
    for (const h of hives) {
      const vols = (await ssh(site, h.name, 'docker volume ls --format "{{.Name}}"')).stdout.split('\n');
      expect(vols, h.name).toEqual(expect.arrayContaining(['notes_data', 'notes_mirror']));
    }
    const again = await runPhase(site, 'build-volumes');
    expect(total(again.end?.stats, 'changed')).toBe(0);
  }, LONG);

  it('build-networks makes the attachable overlay network', async () => {
    const r = await runPhase(site, 'build-networks');
    expect(r.code, explain(r)).toBe(0);
    expect(await onManager(`docker network inspect --format '{{.Driver}} {{.Attachable}} {{.Scope}}' hive_default_network`)).toBe('overlay true swarm');
  }, LONG);

  it('deploy-services runs 2 web replicas answering HTTP on port 8080 of their hives', async () => {
    const r = await runPhase(site, 'deploy-services');
    expect(r.code, explain(r)).toBe(0);
    const bodies = await answers(8080);
    expect(bodies).toHaveLength(2);
    for (const b of bodies) expect(b).toContain(`Hello from site ${site.name}`);
    const web = await swarmService('web');
    // the version tag, pinned to the digest the registry has for it (tasks start without a pull)
    const [reference, digest] = web.image.split('@');
    expect(reference).toBe(`${site.hosts.find((h) => h.isRepository)!.name}:5000/image_web:${listVersions(context().ctx, 'web').versions[0].version}`);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(listVersions(context().ctx, 'web').versions[0].deployed).toBe(true);
    // logs go to the repository's syslog, tagged with the service
    const logging = await onManager(`docker service inspect --format '{{json .Spec.TaskTemplate.LogDriver}}' web`);
    expect(JSON.parse(logging)).toMatchObject({ Name: 'syslog', Options: { tag: 'web', 'syslog-address': `udp://${site.hosts.find((h) => h.isRepository)!.ip}:10514` } });
  }, LONG);

  it('a second deploy-services changes nothing and does not touch the swarm', async () => {
    const before = await Promise.all(['web', 'notes'].map(swarmService));
    const r = await runPhase(site, 'deploy-services');
    expect(r.code, explain(r)).toBe(0);
    expect(total(r.end?.stats, 'changed')).toBe(0);
    expect(await Promise.all(['web', 'notes'].map(swarmService))).toEqual(before);
  }, LONG);

  it('hive plan after the deploy: everything unchanged', async () => {
    const p = await plan();
    expect(p.services.map((e) => `${e.service} ${e.action}`).sort()).toEqual(['notes unchanged', 'web unchanged']);
  }, LONG);

  it('initialize-services seeds the notes once; a second run does not run the role again', async () => {
    const r = await runPhase(site, 'initialize-services');
    expect(r.code, explain(r)).toBe(0);
    expect(ran(r, /^notes_init : /).map((e) => e.status)).toEqual(['changed']);
    const notes = await onManager(`docker config inspect --format '{{index .Spec.Labels "hive.initialized"}}' hive-initialized-notes`);
    expect(notes).toBe('notes');
    const read = () => ssh(site, hives[0].name, `docker exec $(docker ps -q -f label=com.docker.swarm.service.name=notes) cat /var/lib/notes/index.html`);
    expect((await read()).stdout).toContain(`Welcome to the notes of ${site.name}.`);

    // the seed removed by hand stays removed: the marker on the swarm says it was done
    await ssh(site, hives[0].name, `docker exec $(docker ps -q -f label=com.docker.swarm.service.name=notes) rm /var/lib/notes/index.html`);
    const again = await runPhase(site, 'initialize-services');
    expect(again.code, explain(again)).toBe(0);
    expect(ran(again, /^notes_init : /)).toEqual([]);
    expect((await read()).code).not.toBe(0);

    // --force runs it again
    const forced = await runPhase(site, 'initialize-services', ['--force']);
    expect(forced.code, explain(forced)).toBe(0);
    expect(ran(forced, /^notes_init : /).map((e) => e.status)).toEqual(['changed']);
    expect((await read()).stdout).toContain('Welcome to the notes');
  }, LONG);

  it('the notes volume keeps its data when the service is redeployed', async () => {
    const exec = (cmd: string) => ssh(site, hives[0].name, `docker exec $(docker ps -q -f label=com.docker.swarm.service.name=notes) ${cmd}`);
    expect((await exec(`sh -c 'echo kept > /var/lib/notes/kept.txt'`)).code).toBe(0);
    const before = await onManager(`docker service ps -q --filter desired-state=running notes`);
    edit('inventory/services.yml', (t) => t.replace(/(  notes:\n)/, '$1    environment: {NOTES_EDITION: "2"}\n'));
    const r = await runPhase(site, 'deploy-services');
    expect(r.code, explain(r)).toBe(0);
    expect(await onManager(`docker service ps -q --filter desired-state=running notes`)).not.toBe(before);
    expect((await exec('cat /var/lib/notes/kept.txt')).stdout.trim()).toBe('kept');
    expect((await exec('cat /var/lib/notes/index.html')).stdout).toContain('Welcome to the notes');
  }, LONG);

  it('a deploy whose health check fails exits 1 naming the service, and the old version keeps serving', async () => {
    const before = await swarmService('web');
    edit('inventory/services.yml', (t) =>
      t.replace(/(    replicas: 2\n)/, '$1    healthcheck: {test: [CMD, "false"], interval: 1s, timeout: 1s, retries: 2}\n'),
    );
    const p = await plan();
    const webPlan = p.services.find((e) => e.service === 'web');
    expect(webPlan?.action).toBe('update');
    expect(webPlan?.changes?.map((c) => c.field)).toContain('healthcheck');

    const r = await runPhase(site, 'deploy-services');
    restore('inventory/services.yml');
    expect(r.code).toBe(1);
    expect(r.end?.failed?.map((f) => f.msg).join('\n')).toMatch(/service web: rolled back: .*previous version is serving/);
    const after = await swarmService('web');
    expect(after.image).toBe(before.image);
    expect(after.update).toBe('rollback_completed');
    expect(await answersOf(8080, 2)).toHaveLength(2);
  }, LONG);

  it('hive rollback redeploys the version before, and hive versions shows the pin', async () => {
    // put the inventory back as the suite found it (apart from the drbd volume) and deploy
    edit('inventory/services.yml', (t) => t.replace(/(        driver: local\n)/, '$1      - source: notes_mirror\n        target: /var/lib/mirror\n        type: volume\n        drbd: {fstype: xfs, size: 100M}\n'));
    edit('roles/web/tasks/main.yml', (t) => t.replace('Hello from site', 'Hello again from site'));
    const build = await runPhase(site, 'build-images', ['-l', 'web']);
    expect(build.code, explain(build)).toBe(0);
    const deploy = await runPhase(site, 'deploy-services');
    expect(deploy.code, explain(deploy)).toBe(0);
    for (const b of await answers(8080)) expect(b).toContain('Hello again from site');
    const [newer, older] = listVersions(context().ctx, 'web').versions.map((v) => v.version);

    const { ctx, loaded } = context();
    const result = await rollbackService(ctx, loaded, 'web', undefined, { json: true }, { reporter: { emit: () => undefined } });
    expect(result.ok).toBe(true);
    expect(result).toMatchObject({ from: newer, to: older });
    const bodies = await answersOf(8080, 2);
    expect(bodies).toHaveLength(2);
    for (const b of bodies) expect(b).toContain(`Hello from site ${site.name}`);
    const v = listVersions(ctx, 'web');
    expect(v.versions.find((x) => x.version === older)).toMatchObject({ deployed: true, pinned: true });
    expect(v.next).toBe(older);

    // the pin holds on the next deploy
    const again = await runPhase(site, 'deploy-services');
    expect(total(again.end?.stats, 'changed')).toBe(0);
    expect((await swarmService('web')).image).toMatch(new RegExp(`:${older}@sha256:[0-9a-f]{64}$`));
  }, LONG);

  it('deploy-services -D removes the services, build-volumes -D the volumes', async () => {
    const r = await runPhase(site, 'deploy-services', ['-D', '--yes']);
    expect(r.code, explain(r)).toBe(0);
    expect(await onManager('docker service ls -q | wc -l')).toBe('0');
    const v = await runPhase(site, 'build-volumes', ['-D', '--yes']);
    expect(v.code, explain(v)).toBe(0);
    for (const h of hives) {
      const vols = (await ssh(site, h.name, 'docker volume ls --format "{{.Name}}"')).stdout.split('\n');
      expect(vols).not.toContain('notes_mirror');
    }
    // the site is left as deployable as it was found
    restore('inventory/services.yml');
    restore('roles/web/tasks/main.yml');
    expect(existsSync(join(site.dir, 'inventory/services.yml'))).toBe(true);
  }, LONG);
});
