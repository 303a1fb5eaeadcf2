// What `hive status` gathers from the hosts (collect.ts) and judges (evaluate.ts): raw answers of
// docker and drbdadm, as close to their own output as possible, so the evaluation stays pure.

/** `docker info --format '{{json .Swarm}}'`, the fields used. */
export interface SwarmInfo {
  NodeID?: string;
  /** active, inactive, pending, error, locked */
  LocalNodeState?: string;
  ControlAvailable?: boolean;
}

/** `drbdadm status <resource>` of one host, parsed (parseDrbdStatus). */
export interface DrbdState {
  role: string | null;
  disk: string | null;
  /** Peer host → its disk state as this host sees it (or the connection state while not connected). */
  peers: Record<string, string>;
}

export interface HostFacts {
  name: string;
  address: string;
  role: 'hive' | 'repository';
  /** ssh answered and the remote commands ran. */
  up: boolean;
  /** Why the host counts as down (ssh's message), or why docker info failed. */
  error?: string;
  swarm?: SwarmInfo;
  /** Docker volumes on the host: name → driver (hives only). */
  volumes?: Record<string, string>;
  /** DRBD resources of the declared DRBD volumes, when the host has drbdadm. */
  drbd?: Record<string, DrbdState>;
}

/** `docker node ls --format '{{json .}}'` lines, the fields used. */
export interface NodeLine {
  Hostname: string;
  Status: string;
  Availability: string;
  /** Leader, Reachable, Unreachable, or empty for a worker. */
  ManagerStatus: string;
}

/** `docker service ls --format '{{json .}}'` lines. */
export interface ServiceLine {
  Name: string;
  Mode: string;
  /** running/desired, e.g. "2/2" or "1/1 (max 1 per node)". */
  Replicas: string;
  Image: string;
}

/** `docker service ps --filter desired-state=running --format '{{json .}}'` lines. */
export interface TaskLine {
  Node: string;
  CurrentState: string;
}

/** What one manager said about the swarm. */
export interface ManagerFacts {
  host: string;
  /** docker node ls failed there (no leader, timeout): its message. */
  error?: string;
  nodes: NodeLine[];
  services: ServiceLine[];
  /** docker service ls failed there although the node list came: its message. */
  servicesError?: string;
  /** Service name → its tasks meant to run; absent when its `service ps` failed. */
  tasks: Record<string, TaskLine[]>;
}

export interface StatusFacts {
  stage: string;
  site: string;
  hosts: HostFacts[];
  /** The manager that answered, or the last one asked when none did; null when no manager was reachable. */
  manager: ManagerFacts | null;
  /** The stage's services in the inventory (swarm service name = service name). */
  services: string[];
  /** The stage's declared volumes (docker volume name = source). */
  volumes: { name: string; kind: 'drbd' | 'nfs' | 'driver'; driver: string }[];
}

/** Parses `drbdadm status` output of one resource (DRBD 9). */
export function parseDrbdStatus(text: string): DrbdState | null {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return null;
  const state: DrbdState = { role: null, disk: null, peers: {} };
  const pairs = (l: string) => Object.fromEntries(l.trim().split(/\s+/).filter((w) => w.includes(':')).map((w) => w.split(':', 2)));
  let peer: string | null = null;
  for (const line of lines) {
    const indent = line.length - line.trimStart().length;
    const kv = pairs(line);
    if (indent === 0) {
      state.role = kv.role ?? null;
    } else if (indent <= 2 && kv.disk !== undefined) {
      state.disk = kv.disk;
    } else if (indent <= 2) {
      // "  <peer> role:Secondary" or "  <peer> connection:Connecting"
      peer = line.trim().split(/\s+/)[0];
      state.peers[peer] = kv.connection ?? 'unknown';
    } else if (peer && kv['peer-disk'] !== undefined) {
      state.peers[peer] = kv['peer-disk'];
    }
  }
  return state;
}
