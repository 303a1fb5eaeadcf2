// End to end on this machine's docker engine: a site made by `hive init --provider local`,
// checked as a user would check it (docker, ssh, the phase results). The suites share one site
// (site-fixture.ts): build-infra runs once; zz-halt-destroy.test.ts, the last e2e file (see
// sequencer.ts), halts and destroys it. Suites for later phases live in their own files and use
// `phaseOnce(site, '<phase>')` so a phase runs once per site.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dockerOut,
  explain,
  hive,
  run,
  runPhase,
  ssh,
  total,
  useSite,
  type LocalSite,
} from './site-fixture.js';

interface Inspected {
  Name: string;
  State: { Running: boolean };
  Config: { Hostname: string; Labels: Record<string, string> };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  Mounts: { Type: string; Name?: string; Destination: string }[];
}

async function inspect(names: string[]): Promise<Inspected[]> {
  return JSON.parse(await dockerOut(['inspect', ...names])) as Inspected[];
}

describe('build-infra (local provider)', () => {
  let site: LocalSite;
  beforeAll(async () => {
    site = await useSite();
  });

  it('succeeds and reports every host as made', () => {
    const r = site.buildInfra;
    expect(r.code, explain(r)).toBe(0);
    expect(r.end?.ok).toBe(true);
    for (const h of site.hosts) {
      const made = r.events.find((e) => e.event === 'host_result' && e.host === h.name && e.task.includes('host containers'));
      expect(made, `no host_result for ${h.name}`).toMatchObject({ status: 'changed' });
    }
  });

  it('runs one container per host with the inventory address, host name and labels', async () => {
    expect(site.hosts.map((h) => h.name)).toEqual([0, 1, 2, 3].map((i) => `p-hive${i}.${site.name}`));
    const running = (await dockerOut(['ps', '--filter', `label=hive.site=${site.name}`, '--format', '{{.Names}}'])).split('\n').sort();
    expect(running).toEqual(site.hosts.map((h) => h.name).sort());
    const containers = await inspect(site.hosts.map((h) => h.name));
    for (const h of site.hosts) {
      const c = containers.find((x) => x.Name === `/${h.name}`)!;
      expect(c.State.Running).toBe(true);
      expect(c.Config.Hostname).toBe(h.name);
      expect(c.Config.Labels).toMatchObject({ 'hive.site': site.name, 'hive.stage': 'private', 'hive.host': h.name });
      expect(Object.values(c.NetworkSettings.Networks).map((n) => n.IPAddress)).toEqual([h.ip]);
      const data = c.Mounts.find((m) => m.Destination === '/var/lib/docker');
      expect(data?.Type).toBe('volume');
      const labels = JSON.parse(await dockerOut(['volume', 'inspect', '--format', '{{json .Labels}}', data!.Name!])) as Record<string, string>;
      expect(labels).toMatchObject({ 'hive.site': site.name, 'hive.host': h.name });
    }
  });

  it('puts the hosts in a docker network with the stage cidr', async () => {
    const cidr = /cidr:\s*(\S+)/.exec(readFileSync(join(site.dir, 'inventory', 'hive.yml'), 'utf8'))![1];
    const nets = (await dockerOut(['network', 'ls', '--filter', `label=hive.site=${site.name}`, '--format', '{{.Name}}'])).split('\n');
    expect(nets).toHaveLength(1);
    expect(await dockerOut(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', nets[0]])).toBe(cidr);
  });

  it('reaches every host with ssh -F .hive/private/ssh_config as admin with sudo', async () => {
    const results = await Promise.all(site.hosts.map((h) => ssh(site, h.name, 'sudo -n true && hostname')));
    results.forEach((r, i) => {
      expect(r.code, `${site.hosts[i].name}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe(site.hosts[i].name);
    });
  });

  it('pins the host keys: a host answering with another key is refused', async () => {
    const [first, second] = site.hosts;
    // host 1 answers at host 0's name: its key is not the one recorded for host 0
    const r = await run('ssh', ['-F', site.sshConfig, '-o', 'BatchMode=yes', '-o', `HostName=${second.ip}`, '-o', `HostKeyAlias=${first.ip}`, first.name, 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/host key/i);
  });

  it('a second build-infra changes nothing', async () => {
    const r = await runPhase(site, 'build-infra');
    expect(r.code, explain(r)).toBe(0);
    expect(r.end?.ok).toBe(true);
    const changed = r.events.filter((e) => e.event === 'host_result' && e.status === 'changed');
    expect(changed, JSON.stringify(changed)).toEqual([]);
    expect(total(r.end?.stats, 'changed')).toBe(0);
  });
});

describe('build-infra without a docker engine', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hive-e2e-noengine-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says that no engine answers and how to start one', async () => {
    expect((await hive(dir, ['init', '--provider', 'local', '--name', 'noengine'])).code).toBe(0);
    const r = await hive(dir, ['run', '--phase', 'build-infra', '--stage', 'private'], { DOCKER_HOST: `unix://${dir}/no-docker.sock` });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/no docker engine answers/);
    expect(r.stdout + r.stderr).toMatch(/dockerd/);
  });
});
