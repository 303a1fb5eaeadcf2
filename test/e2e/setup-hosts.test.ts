// End to end: setup-hosts on the shared local site (site-fixture.ts), checked the way an
// operator would check it: docker node ls, curl and docker push/pull on the hosts, the
// firewall from inside and outside the site, the phase's own changed count on a re-run, and
// the swarm surviving the loss of one hive.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  explain,
  phaseOnce,
  run,
  runPhase,
  ssh,
  total,
  useSite,
  type CommandResult,
  type HiveRun,
  type LocalSite,
  type SiteHost,
} from './site-fixture.js';

interface NodeRow {
  hostname: string;
  status: string;
  availability: string;
  manager: string;
}

/** `docker node ls` on `host` (as the admin user, who is in group docker). */
async function nodeList(site: LocalSite, host: string): Promise<{ r: CommandResult; nodes: NodeRow[] }> {
  const r = await ssh(site, host, `docker node ls --format '{{.Hostname}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}'`);
  const nodes = r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [hostname, status, availability, manager] = l.split('|');
      return { hostname, status, availability, manager };
    });
  return { r, nodes };
}

/** ssh with a command whose standard input carries a secret (never on a command line). */
function sshWithInput(site: LocalSite, host: string, command: string, input: string): Promise<CommandResult> {
  return run('ssh', ['-F', site.sshConfig, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', host, command], { input, timeoutMs: 120_000 });
}

/** Polls `probe` until it returns true or `seconds` pass; returns the last probe's verdict. */
async function waitFor(seconds: number, probe: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 3000));
  }
}

const changedResults = (r: HiveRun) =>
  r.events.filter((e) => e.event === 'host_result' && e.status === 'changed').map((e) => `${(e as { host: string }).host}: ${(e as { task: string }).task}`);

describe('setup-hosts (local site)', () => {
  let site: LocalSite;
  let setup: HiveRun;
  let hives: SiteHost[];
  let repository: SiteHost;
  let registry: string;

  beforeAll(async () => {
    site = await useSite();
    setup = await phaseOnce(site, 'setup-hosts');
    hives = site.hosts.filter((h) => h.isHive);
    repository = site.hosts.find((h) => h.isRepository)!;
    registry = `${repository.name}:5000`;
  });

  it('succeeds on every server', () => {
    expect(setup.code, explain(setup)).toBe(0);
    expect(setup.end?.ok).toBe(true);
    for (const h of site.hosts) expect(setup.end?.stats[h.name], `no stats for ${h.name}`).toMatchObject({ failed: 0, unreachable: 0 });
  });

  it('forms a swarm of the three hives, all managers, one leader; the repository is no member', async () => {
    const { r, nodes } = await nodeList(site, hives[0].name);
    expect(r.code, r.stderr).toBe(0);
    expect(nodes.map((n) => n.hostname).sort()).toEqual(hives.map((h) => h.name).sort());
    for (const n of nodes) {
      expect(n.status, n.hostname).toBe('Ready');
      expect(['Leader', 'Reachable'], `${n.hostname} is not a manager`).toContain(n.manager);
    }
    expect(nodes.filter((n) => n.manager === 'Leader')).toHaveLength(1);
    const info = await ssh(site, repository.name, "docker info --format '{{.Swarm.LocalNodeState}}'");
    expect(info.stdout.trim()).toBe('inactive');
  });

  it('labels every node with its groups', async () => {
    for (const h of hives) {
      const r = await ssh(site, hives[0].name, `docker node inspect --format '{{json .Spec.Labels}}' ${h.name}`);
      expect(r.code, r.stderr).toBe(0);
      const labels = JSON.parse(r.stdout) as Record<string, string>;
      expect(labels).toMatchObject({ hives: 'true', servers: 'true', private: 'true' });
      expect(labels.first_hive === 'true').toBe(h === hives[0]);
    }
  });

  it('keeps the registry password on the controller, readable by its owner only', () => {
    const file = join(site.stageDir, 'registry_password');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim().length).toBeGreaterThanOrEqual(16);
  });

  it('never shows the registry password in its output or run records', () => {
    const password = readFileSync(join(site.stageDir, 'registry_password'), 'utf8').trim();
    expect(setup.stdout.includes(password)).toBe(false);
    expect(setup.stderr.includes(password)).toBe(false);
    const runs = join(site.stageDir, 'runs');
    for (const f of readdirSync(runs)) expect(readFileSync(join(runs, f), 'utf8').includes(password), f).toBe(false);
  });

  it('a hive reaches the registry over TLS trusted through the site CA, with the login', async () => {
    const password = readFileSync(join(site.stageDir, 'registry_password'), 'utf8').trim();
    // curl without -k: the system store must trust the site CA; credentials come on stdin
    const withLogin = await sshWithInput(
      site,
      hives[1].name,
      `curl -sS -K - -o /dev/null -w '%{http_code}' https://${registry}/v2/`,
      `user = "hive:${password}"\n`,
    );
    expect(withLogin.stdout, withLogin.stderr).toBe('200');
    const anonymous = await ssh(site, hives[1].name, `curl -sS -o /dev/null -w '%{http_code}' https://${registry}/v2/`);
    expect(anonymous.stdout).toBe('401');
  });

  it('pushes an image from one hive and pulls it on another', async () => {
    const image = `${registry}/e2e/hello:${Date.now()}`;
    // nothing can be pulled from outside: the image is made on the host from a tiny tarball
    const push = await ssh(
      site,
      hives[0].name,
      `set -e; d=$(mktemp -d); printf '#!/bin/sh\\necho hello from the registry\\n' > $d/hello; chmod +x $d/hello; ` +
        `tar -C $d -c hello | docker import -c 'CMD ["/hello"]' - ${image} >/dev/null; rm -r $d; ` +
        `docker push ${image} >/dev/null; docker image inspect --format '{{.Id}}' ${image}`,
    );
    expect(push.code, push.stderr).toBe(0);
    const pull = await ssh(site, hives[2].name, `docker pull -q ${image} >/dev/null && docker image inspect --format '{{.Id}}' ${image}`);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(push.stdout.trim());
  });

  it('opens the docker TLS API to the other servers only', async () => {
    const [a] = hives;
    // the repository's docker client identity (of the docker client CA), as its backups use it
    const repository = site.hosts.find((h) => h.isRepository)!;
    const fromServer = await ssh(
      site,
      repository.name,
      `sudo docker --tlsverify --tlscacert /usr/local/share/ca-certificates/hive-ca.crt --tlscert /etc/ssl/hive/docker-client.crt ` +
        `--tlskey /etc/ssl/private/hive-docker-client.key -H tcp://${a.name}:2376 info --format '{{.Name}}'`,
    );
    expect(fromServer.code, fromServer.stderr).toBe(0);
    expect(fromServer.stdout.trim()).toBe(a.name);
    // this machine is not a server of the site: its connection is refused, ssh still works
    const fromOutside = await run('bash', ['-c', `timeout 5 bash -c 'echo > /dev/tcp/${a.ip}/2376'`]);
    expect(fromOutside.code).not.toBe(0);
    expect((await ssh(site, a.name, 'true')).code).toBe(0);
  });

  it('a second run changes nothing', async () => {
    const again = await runPhase(site, 'setup-hosts');
    expect(again.code, explain(again)).toBe(0);
    expect(changedResults(again)).toEqual([]);
    expect(again.end?.stats).toBeDefined();
    expect(total(again.end?.stats, 'changed')).toBe(0);
  }, 900_000);

  it('keeps a leader when one hive stops, and takes the hive back when it starts', async () => {
    const before = await nodeList(site, hives[0].name);
    const leader = before.nodes.find((n) => n.manager === 'Leader')!;
    const stopped = hives.find((h) => h.name === leader.hostname)!;
    const witness = hives.find((h) => h !== stopped)!;
    const stop = await run('docker', ['stop', '--time', '20', stopped.name]);
    expect(stop.code, stop.stderr).toBe(0);
    try {
      let last: NodeRow[] = [];
      const newLeader = await waitFor(90, async () => {
        const { r, nodes } = await nodeList(site, witness.name);
        last = nodes;
        return r.code === 0 && nodes.some((n) => n.manager === 'Leader' && n.hostname !== stopped.name);
      });
      expect(newLeader, `no new leader among the other two hives: ${JSON.stringify(last)}`).toBe(true);
      expect(last.find((n) => n.hostname === stopped.name)?.manager).toBe('Unreachable');
    } finally {
      await run('docker', ['start', stopped.name]);
    }
    let last: NodeRow[] = [];
    const back = await waitFor(120, async () => {
      const { r, nodes } = await nodeList(site, witness.name);
      last = nodes;
      return r.code === 0 && nodes.length === 3 && nodes.every((n) => n.status === 'Ready' && ['Leader', 'Reachable'].includes(n.manager));
    });
    expect(back, `the stopped hive did not come back: ${JSON.stringify(last)}`).toBe(true);
  }, 300_000);
});
