// Facts → the report `hive status` prints and its exit code. Pure: no I/O, tested on its own.
import type { HostFacts, NodeLine, StatusFacts } from './facts.js';

export type StatusState = 'ok' | 'degraded' | 'no-leader';

export interface HostReport {
  name: string;
  address: string;
  role: 'hive' | 'repository';
  up: boolean;
  swarm: {
    role: 'manager' | 'worker' | null;
    status: string | null;
    availability: string | null;
    leader: boolean;
    reachability: string | null;
  };
}

export interface ServiceReport {
  name: string;
  mode: string | null;
  desired: number | null;
  running: number | null;
  version: string | null;
  nodes: string[];
}

export interface VolumeReport {
  name: string;
  kind: 'drbd' | 'nfs' | 'driver';
  driver: string;
  hosts: string[];
  /** Host → DRBD state of the resource; null where there is no DRBD. */
  drbd: Record<string, { role: string | null; disk: string | null; peers: Record<string, string> }> | null;
}

export interface StatusReport {
  stage: string;
  site: string;
  state: StatusState;
  leader: string | null;
  hosts: HostReport[];
  services: ServiceReport[];
  volumes: VolumeReport[];
  problems: string[];
}

export const EXIT_CODES: Record<StatusState, number> = { ok: 0, degraded: 1, 'no-leader': 3 };

/** The version of an image reference: its tag (`…/image_web:0904334831e5@sha256:…` → `0904334831e5`). */
export function imageVersion(image: string): string | null {
  const ref = image.split('@')[0];
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  return colon >= 0 ? last.slice(colon + 1) : null;
}

/** The inventory host a swarm node name (its hostname) belongs to. */
function hostOfNode(hosts: HostFacts[], hostname: string): HostFacts | undefined {
  return hosts.find((h) => h.name === hostname) ?? hosts.find((h) => h.name.split('.')[0] === hostname.split('.')[0]);
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

export function evaluate(facts: StatusFacts): { report: StatusReport; exitCode: number } {
  const problems: string[] = [];
  let noLeader: string | null = null;
  const m = facts.manager;
  // the manager's answer, when it gave one
  const ok = m && !m.error ? m : null;
  if (!m) noLeader = 'no leader answers: no hive that can be reached is a swarm manager';
  else if (m.error) noLeader = `no leader answers: ${m.host}: ${oneLine(m.error)}`;

  const nodeOf = new Map<string, NodeLine>();
  if (ok) for (const n of ok.nodes) {
    const h = hostOfNode(facts.hosts, n.Hostname);
    if (h) nodeOf.set(h.name, n);
  }
  if (ok && !ok.nodes.some((n) => n.ManagerStatus === 'Leader')) noLeader = `no leader answers: ${ok.host} lists no leader among the managers`;

  let leader: string | null = null;
  const hosts: HostReport[] = facts.hosts.map((h) => {
    if (!h.up) problems.push(`host ${h.name} is down${h.error ? ` (${oneLine(h.error)})` : ''}`);
    const n = nodeOf.get(h.name);
    if (n?.ManagerStatus === 'Leader') leader = h.name;
    let swarm: HostReport['swarm'];
    if (n) {
      swarm = {
        role: n.ManagerStatus ? 'manager' : 'worker',
        status: n.Status,
        availability: n.Availability,
        leader: n.ManagerStatus === 'Leader',
        reachability: n.ManagerStatus === 'Leader' ? 'Reachable' : n.ManagerStatus || null,
      };
      if (n.Status !== 'Ready') problems.push(`swarm node ${h.name} is ${n.Status}`);
      if (n.Availability !== 'Active') problems.push(`swarm node ${h.name} is ${n.Availability}, not Active`);
      if (n.ManagerStatus === 'Unreachable') problems.push(`manager ${h.name} is unreachable`);
    } else {
      // without the node list: what the host says of itself
      const active = h.swarm?.LocalNodeState === 'active';
      swarm = { role: active ? (h.swarm?.ControlAvailable ? 'manager' : 'worker') : null, status: null, availability: null, leader: false, reachability: null };
      if (h.role === 'hive' && h.up && !h.swarm) problems.push(`hive ${h.name}: ${h.error ?? 'docker did not answer'}`);
      else if (h.role === 'hive' && h.up && h.swarm?.LocalNodeState === 'pending') problems.push(`hive ${h.name} is (re)joining the swarm (pending)`);
      else if (h.role === 'hive' && h.up && !active) problems.push(`hive ${h.name} is not in the swarm (${h.swarm?.LocalNodeState})`);
      else if (h.role === 'hive' && h.up && ok) problems.push(`hive ${h.name} is not in the swarm's node list`);
    }
    return { name: h.name, address: h.address, role: h.role, up: h.up, swarm };
  });

  if (ok?.servicesError) problems.push(`the services could not be read on ${ok.host}: ${oneLine(ok.servicesError)}`);
  const hostName = (node: string) => hostOfNode(facts.hosts, node)?.name ?? node;
  const services: ServiceReport[] = facts.services.map((name) => {
    const line = ok?.services.find((s) => s.Name === name);
    if (!ok || ok.servicesError || !line) {
      if (ok && !ok.servicesError) problems.push(`service ${name} is missing from the swarm`);
      return { name, mode: null, desired: null, running: null, version: null, nodes: [] };
    }
    const r = /^(\d+)\/(\d+)/.exec(line.Replicas);
    const running = r ? Number(r[1]) : null;
    const desired = r ? Number(r[2]) : null;
    if (running === null || desired === null) problems.push(`service ${name}: replicas "${line.Replicas}" not understood`);
    else if (running < desired) problems.push(`service ${name} runs ${running} of ${desired} tasks`);
    const tasks = ok.tasks[name] ?? [];
    const nodes = [...new Set(tasks.filter((t) => /^Running/.test(t.CurrentState)).map((t) => hostName(t.Node)))].sort();
    return { name, mode: line.Mode, desired, running, version: imageVersion(line.Image), nodes };
  });

  const hives = facts.hosts.filter((h) => h.role === 'hive' && h.up && h.volumes);
  const volumes: VolumeReport[] = facts.volumes.map((v) => {
    const on = hives.filter((h) => h.volumes![v.name] !== undefined);
    if (hives.length > 0 && on.length === 0) problems.push(`volume ${v.name} is on no hive`);
    const drbdHosts = facts.hosts.filter((h) => h.drbd?.[v.name]);
    const drbd = drbdHosts.length ? Object.fromEntries(drbdHosts.map((h) => [h.name, h.drbd![v.name]])) : null;
    for (const [host, d] of Object.entries(drbd ?? {})) {
      if (d.disk !== 'UpToDate') problems.push(`volume ${v.name}: DRBD disk on ${host} is ${d.disk ?? 'unknown'}`);
      for (const [peer, disk] of Object.entries(d.peers)) if (disk !== 'UpToDate') problems.push(`volume ${v.name}: ${host} sees ${peer} ${disk}`);
    }
    return { name: v.name, kind: v.kind, driver: on[0]?.volumes![v.name] ?? v.driver, hosts: on.map((h) => h.name), drbd };
  });

  // no leader wins over degraded, and comes first
  if (noLeader) problems.unshift(noLeader);
  const state: StatusState = noLeader ? 'no-leader' : problems.length ? 'degraded' : 'ok';
  return {
    report: { stage: facts.stage, site: facts.site, state, leader, hosts, services, volumes, problems },
    exitCode: EXIT_CODES[state],
  };
}
