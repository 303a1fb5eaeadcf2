// `hive status`: the pure judgement of gathered facts (state, exit code, problems) and the output
// forms. test/e2e/status.test.ts runs the command against a real local site.
import { describe, expect, it } from 'vitest';
import { evaluate, imageVersion } from '../../src/status/evaluate.js';
import { parseDrbdStatus, type StatusFacts } from '../../src/status/facts.js';
import { jsonLines, parseSections } from '../../src/status/collect.js';
import { formatJson, formatText } from '../../src/status/format.js';

const HIVES = ['p-hive0.demo', 'p-hive1.demo', 'p-hive2.demo'];
const REGISTRY = 'p-hive3.demo:5000';

/** A healthy site: three managers (hive0 leads), a repository, web 2/2 and notes 1/1. */
function healthy(): StatusFacts {
  return {
    stage: 'private',
    site: 'demo',
    hosts: [
      ...HIVES.map((name, i) => ({
        name,
        address: `10.0.0.${4 + i}`,
        role: 'hive' as const,
        up: true,
        swarm: { NodeID: `node${i}`, LocalNodeState: 'active', ControlAvailable: true },
        volumes: { notes_data: 'local' },
      })),
      { name: 'p-hive3.demo', address: '10.0.0.7', role: 'repository', up: true, swarm: { LocalNodeState: 'inactive', ControlAvailable: false } },
    ],
    manager: {
      host: 'p-hive0.demo',
      nodes: HIVES.map((Hostname, i) => ({ Hostname, Status: 'Ready', Availability: 'Active', ManagerStatus: i === 0 ? 'Leader' : 'Reachable' })),
      services: [
        { Name: 'web', Mode: 'replicated', Replicas: '2/2', Image: `${REGISTRY}/image_web:0904334831e5` },
        { Name: 'notes', Mode: 'replicated', Replicas: '1/1', Image: `${REGISTRY}/image_notes:77aa00bb11cc` },
        { Name: 'other', Mode: 'global', Replicas: '0/3', Image: 'nginx' },
      ],
      tasks: {
        web: [
          { Node: 'p-hive1.demo', CurrentState: 'Running 2 hours ago' },
          { Node: 'p-hive2.demo', CurrentState: 'Running 2 hours ago' },
        ],
        notes: [{ Node: 'p-hive0.demo', CurrentState: 'Running 2 hours ago' }],
      },
    },
    services: ['web', 'notes'],
    volumes: [{ name: 'notes_data', kind: 'driver', driver: 'local' }],
  };
}

/** What the survivor says when two of three managers are gone. */
const NO_LEADER =
  'Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. ' +
  "It's possible that too few managers are online. Make sure more than half of the managers are online.";

describe('hive status evaluation', () => {
  it('a healthy site is ok, exit 0, with the leader, versions and where tasks run', () => {
    const { report, exitCode } = evaluate(healthy());
    expect(exitCode).toBe(0);
    expect(report.state).toBe('ok');
    expect(report.problems).toEqual([]);
    expect(report.leader).toBe('p-hive0.demo');
    expect(report.hosts.filter((h) => h.swarm.leader).map((h) => h.name)).toEqual(['p-hive0.demo']);
    expect(report.hosts.find((h) => h.name === 'p-hive3.demo')?.swarm.role).toBeNull();
    // only the stage's services, not everything on the swarm
    expect(report.services).toEqual([
      { name: 'web', mode: 'replicated', desired: 2, running: 2, version: '0904334831e5', nodes: ['p-hive1.demo', 'p-hive2.demo'] },
      { name: 'notes', mode: 'replicated', desired: 1, running: 1, version: '77aa00bb11cc', nodes: ['p-hive0.demo'] },
    ]);
    expect(report.volumes).toEqual([{ name: 'notes_data', kind: 'driver', driver: 'local', hosts: HIVES, drbd: null }]);
  });

  it('one host down: degraded, exit 1, the problem names the host, the leader stays', () => {
    const f = healthy();
    f.hosts[2] = { ...f.hosts[2], up: false, error: 'ssh: connect to host 10.0.0.6 port 22: No route to host', swarm: undefined, volumes: undefined };
    f.manager!.nodes[2] = { ...f.manager!.nodes[2], Status: 'Down', ManagerStatus: 'Unreachable' };
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(1);
    expect(report.state).toBe('degraded');
    expect(report.leader).toBe('p-hive0.demo');
    expect(report.problems[0]).toMatch(/^host p-hive2\.demo is down \(ssh: .*No route to host\)$/);
    expect(report.problems).toContain('swarm node p-hive2.demo is Down');
    expect(report.problems).toContain('manager p-hive2.demo is unreachable');
    expect(report.hosts[2]).toMatchObject({ up: false, swarm: { status: 'Down', reachability: 'Unreachable', leader: false } });
  });

  it('a service running 1 of 2 tasks is degraded', () => {
    const f = healthy();
    f.manager!.services[0].Replicas = '1/2';
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(1);
    expect(report.problems).toEqual(['service web runs 1 of 2 tasks']);
    expect(report.services[0]).toMatchObject({ desired: 2, running: 1 });
  });

  it('a service of the inventory that is not on the swarm is missing (degraded)', () => {
    const f = healthy();
    f.services.push('api');
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(1);
    expect(report.problems).toEqual(['service api is missing from the swarm']);
    expect(report.services[2]).toEqual({ name: 'api', mode: null, desired: null, running: null, version: null, nodes: [] });
  });

  it('a drained node and a node that left the swarm are degraded', () => {
    const f = healthy();
    f.manager!.nodes[1].Availability = 'Drain';
    f.hosts[2].swarm = { LocalNodeState: 'inactive', ControlAvailable: false };
    f.manager!.nodes.pop();
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(1);
    expect(report.problems).toEqual(['swarm node p-hive1.demo is Drain, not Active', 'hive p-hive2.demo is not in the swarm (inactive)']);
  });

  it('the survivor of two lost managers saying no leader: exit 3, no-leader wins, hosts still reported', () => {
    const f = healthy();
    for (const i of [1, 2]) f.hosts[i] = { ...f.hosts[i], up: false, error: 'ssh: connect to host: Connection timed out', swarm: undefined };
    f.manager = { host: 'p-hive0.demo', error: NO_LEADER, nodes: [], services: [], tasks: {} };
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(3);
    expect(report.state).toBe('no-leader');
    expect(report.leader).toBeNull();
    expect(report.problems[0]).toMatch(/^no leader answers: p-hive0\.demo: .*The swarm does not have a leader/);
    expect(report.problems).toEqual(expect.arrayContaining(['host p-hive1.demo is down (ssh: connect to host: Connection timed out)']));
    expect(report.hosts.map((h) => h.up)).toEqual([true, false, false, true]);
    // the survivor still says what it is
    expect(report.hosts[0].swarm).toMatchObject({ role: 'manager', leader: false });
    // services unknown, not "missing"
    expect(report.problems.some((p) => /missing/.test(p))).toBe(false);
    expect(report.services.map((s) => s.running)).toEqual([null, null]);
  });

  it('a hive whose docker does not answer is named with the reason (degraded)', () => {
    const f = healthy();
    f.hosts[1] = { ...f.hosts[1], swarm: undefined, error: 'docker info did not answer within 10 s' };
    f.manager!.nodes.splice(1, 1);
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(1);
    expect(report.problems).toEqual(['hive p-hive1.demo: docker info did not answer within 10 s']);
    expect(report.hosts[1]).toMatchObject({ up: true, swarm: { role: null, leader: false } });
  });

  it('no manager reachable at all: exit 3', () => {
    const f = healthy();
    f.hosts = f.hosts.map((h) => (h.role === 'hive' ? { ...h, up: false, swarm: undefined } : h));
    f.manager = null;
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(3);
    expect(report.problems[0]).toBe('no leader answers: no hive that can be reached is a swarm manager');
  });

  it('DRBD states: UpToDate everywhere is fine, an Inconsistent disk is degraded', () => {
    const f = healthy();
    f.volumes.push({ name: 'db', kind: 'drbd', driver: 'local' });
    const up = { role: 'Primary', disk: 'UpToDate', peers: { 'p-hive1': 'UpToDate' } };
    f.hosts[0].drbd = { db: up };
    f.hosts[1].drbd = { db: { role: 'Secondary', disk: 'UpToDate', peers: { 'p-hive0': 'UpToDate' } } };
    for (const h of f.hosts.slice(0, 3)) h.volumes = { ...h.volumes, db: 'local' };
    expect(evaluate(f).exitCode).toBe(0);
    expect(evaluate(f).report.volumes[1].drbd).toEqual({ 'p-hive0.demo': up, 'p-hive1.demo': f.hosts[1].drbd!.db });
    f.hosts[1].drbd = { db: { role: 'Secondary', disk: 'Inconsistent', peers: { 'p-hive0': 'UpToDate' } } };
    const { report, exitCode } = evaluate(f);
    expect(exitCode).toBe(1);
    expect(report.problems).toEqual(['volume db: DRBD disk on p-hive1.demo is Inconsistent']);
  });

  it('image versions are the tag, without registry port or digest', () => {
    expect(imageVersion('p-hive3.demo:5000/image_web:0904334831e5')).toBe('0904334831e5');
    expect(imageVersion('p-hive3.demo:5000/image_web:0904334831e5@sha256:' + 'a'.repeat(64))).toBe('0904334831e5');
    expect(imageVersion('p-hive3.demo:5000/image_web')).toBeNull();
    expect(imageVersion('nginx:1.27')).toBe('1.27');
  });
});

describe('hive status output', () => {
  it('JSON has the documented keys, in order', () => {
    const parsed = JSON.parse(formatJson(evaluate(healthy()).report));
    expect(Object.keys(parsed)).toEqual(['stage', 'site', 'state', 'leader', 'hosts', 'services', 'volumes', 'problems']);
    expect(Object.keys(parsed.hosts[0])).toEqual(['name', 'address', 'role', 'up', 'swarm']);
    expect(Object.keys(parsed.hosts[0].swarm)).toEqual(['role', 'status', 'availability', 'leader', 'reachability']);
    expect(Object.keys(parsed.services[0])).toEqual(['name', 'mode', 'desired', 'running', 'version', 'nodes']);
    expect(Object.keys(parsed.volumes[0])).toEqual(['name', 'kind', 'driver', 'hosts', 'drbd']);
    expect(parsed).toMatchObject({ stage: 'private', site: 'demo', state: 'ok', leader: 'p-hive0.demo' });
  });

  it('text: one row per host, service and volume, the summary last; no escape codes off a terminal', () => {
    const f = healthy();
    f.manager!.services[0].Replicas = '1/2';
    const text = formatText(evaluate(f).report, { color: false });
    expect(text).not.toMatch(/\x1b\[/);
    const lines = text.trimEnd().split('\n');
    expect(lines.find((l) => /^\s+web\s/.test(l))).toMatch(/replicated\s+1\/2\s+0904334831e5\s+p-hive1, p-hive2$/);
    expect(lines.find((l) => /^\s+p-hive0\.demo\s/.test(l))).toMatch(/up\s+manager\s+Ready\s+Active\s+Leader$/);
    expect(lines.find((l) => /^\s+notes_data\s/.test(l))).toMatch(/local\s+p-hive0, p-hive1, p-hive2\s+-$/);
    expect(lines.at(-1)).toBe('degraded: 4/4 hosts up, leader p-hive0.demo, 1 problem');
    expect(formatText(evaluate(f).report, { color: true })).toMatch(/\x1b\[/);
  });
});

describe('hive status parsing', () => {
  it('splits a script output into sections with exit codes; a cut-off section has none', () => {
    const out = "@@section info\n{\"LocalNodeState\":\"active\"}\n@@rc 0\n@@section nodes\nError: no leader\n@@rc 1\n@@section services\n{\"Name\":";
    const s = parseSections(out);
    expect(s.get('info')).toEqual({ text: '{"LocalNodeState":"active"}', rc: 0 });
    expect(s.get('nodes')).toEqual({ text: 'Error: no leader', rc: 1 });
    expect(s.get('services')?.rc).toBeNull();
    expect(jsonLines('WARNING: x\n{"a":1}\n{"b":\n')).toEqual([{ a: 1 }]);
  });

  it('reads drbdadm status of a resource', () => {
    const text = 'db role:Primary\n  disk:UpToDate\n  p-hive1 role:Secondary\n    peer-disk:UpToDate\n  p-hive2 connection:Connecting\n';
    expect(parseDrbdStatus(text)).toEqual({ role: 'Primary', disk: 'UpToDate', peers: { 'p-hive1': 'UpToDate', 'p-hive2': 'Connecting' } });
  });
});
