// Persistent per-stage allocations: DRBD minors (1..255, one per volume) and automatically
// published ports (61001..65534, one per `<service><target_port>`, as hive-builder keyed them).
// Stored in `<hiveDir>/<stage>/allocations.yml`; an entry, once made, is never renumbered, so a
// volume keeps its /dev/drbdN and a service its port however the inventory is reordered.
import { readFileSync } from 'node:fs';
import { writeAtomic } from './files.js';
import { StageDir } from './stage-dir.js';
import { readStateYaml, stateYamlText } from './yaml.js';
import { InventoryError, displayPath, type Problem } from '../lib/problems.js';
import type { StageName } from '../lib/stages.js';

export const DRBD_MINORS = { first: 1, last: 255 } as const;
export const AUTO_PORTS = { first: 61001, last: 65534 } as const;
/** DRBD 9 node-ids (the kernel module's limit is 32 nodes per resource). */
export const DRBD_NODE_IDS = { first: 0, last: 31 } as const;

export interface StageAllocations {
  /** volume source → DRBD minor */
  drbdMinors: Record<string, number>;
  /** `<service><target_port>` → published port */
  publishedPorts: Record<string, number>;
  /** volume source → the two hives of its DRBD 8.4 mirror */
  drbdDiskNodes: Record<string, string[]>;
  /** hive → its DRBD 9 node-id (one per hive for every resource of the stage) */
  drbdNodeIds: Record<string, number>;
}

export function emptyAllocations(): StageAllocations {
  return { drbdMinors: {}, publishedPorts: {}, drbdDiskNodes: {}, drbdNodeIds: {} };
}

/** Reads the stage's allocations; a missing file is an empty store, a damaged one an InventoryError. */
export function readAllocations(hiveDir: string, stage: StageName): StageAllocations {
  const path = StageDir.of(hiveDir, stage).allocations;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyAllocations();
    throw e;
  }
  const file = displayPath(path);
  const problems: Problem[] = [];
  let parsed: unknown;
  try {
    parsed = readStateYaml(text);
  } catch (err) {
    problems.push({ file, line: 1, key: '(document)', message: `not readable as YAML: ${(err as Error).message.split('\n')[0]}` });
    throw new InventoryError(problems);
  }
  const data = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const out = emptyAllocations();
  const take = (key: 'drbd_minors' | 'published_ports' | 'drbd_node_ids', into: Record<string, number>, range: { first: number; last: number }) => {
    const value = data[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ file, line: 1, key, message: 'must be a mapping' });
      return;
    }
    for (const [name, n] of Object.entries(value)) {
      if (!Number.isInteger(n) || (n as number) < range.first || (n as number) > range.last) {
        problems.push({ file, line: 1, key: `${key}.${name}`, message: `must be a number ${range.first}-${range.last}` });
        continue;
      }
      into[name] = n as number;
    }
  };
  take('drbd_minors', out.drbdMinors, DRBD_MINORS);
  take('published_ports', out.publishedPorts, AUTO_PORTS);
  take('drbd_node_ids', out.drbdNodeIds, DRBD_NODE_IDS);
  const pairs = data.drbd_disk_nodes;
  if (pairs !== undefined && pairs !== null) {
    if (typeof pairs !== 'object' || Array.isArray(pairs)) problems.push({ file, line: 1, key: 'drbd_disk_nodes', message: 'must be a mapping' });
    else {
      for (const [name, nodes] of Object.entries(pairs)) {
        if (!Array.isArray(nodes) || nodes.length !== 2 || !nodes.every((n) => typeof n === 'string' && n !== '') || nodes[0] === nodes[1]) {
          problems.push({ file, line: 1, key: `drbd_disk_nodes.${name}`, message: 'must be a list of two different host names' });
          continue;
        }
        out.drbdDiskNodes[name] = [...nodes] as string[];
      }
    }
  }
  if (problems.length) throw new InventoryError(problems);
  return out;
}

/** Writes atomically (temp file + rename in the same folder), so a crash never leaves half a file. */
export function writeAllocations(hiveDir: string, stage: StageName, allocations: StageAllocations): void {
  const path = StageDir.of(hiveDir, stage).allocations;
  const body = stateYamlText({
    drbd_minors: allocations.drbdMinors,
    published_ports: allocations.publishedPorts,
    drbd_disk_nodes: allocations.drbdDiskNodes,
    drbd_node_ids: allocations.drbdNodeIds,
  });
  const text =
    '# Written by hive: DRBD minors per volume, automatically published ports per <service><target_port>,\n' +
    '# the two disk nodes per volume (used where the hives run DRBD 8.4) and DRBD 9 node-ids per hive.\n' +
    '# Entries are never renumbered. Remove one only when its volume or port is gone for good.\n' +
    body;
  writeAtomic(path, text);
}

/** Hands out minors and ports for one stage, reusing stored entries; `changed` tells whether to save. */
export class Allocator {
  readonly state: StageAllocations;
  changed = false;
  private usedMinors = new Set<number>();
  private usedPorts = new Set<number>();

  constructor(initial: StageAllocations) {
    this.state = {
      drbdMinors: { ...initial.drbdMinors },
      publishedPorts: { ...initial.publishedPorts },
      drbdDiskNodes: Object.fromEntries(Object.entries(initial.drbdDiskNodes ?? {}).map(([k, v]) => [k, [...v]])),
      drbdNodeIds: { ...(initial.drbdNodeIds ?? {}) },
    };
    for (const n of Object.values(this.state.drbdMinors)) this.usedMinors.add(n);
    for (const n of Object.values(this.state.publishedPorts)) this.usedPorts.add(n);
  }

  /** Volume holding `minor` in the store, if any. */
  minorOwner(minor: number): string | undefined {
    return Object.entries(this.state.drbdMinors).find(([, n]) => n === minor)?.[0];
  }

  /** Records an explicit `device_id` (the store follows the inventory when they differ). */
  recordMinor(source: string, minor: number): void {
    if (this.state.drbdMinors[source] === minor) return;
    this.state.drbdMinors[source] = minor;
    this.usedMinors.add(minor);
    this.changed = true;
  }

  /** Keeps a minor free for an explicit device_id met later in the inventory. */
  reserveMinor(minor: number): void {
    this.usedMinors.add(minor);
  }

  /** Stored minor of the volume, or the lowest free one (null when 1..255 are all taken). */
  minorFor(source: string): number | null {
    const stored = this.state.drbdMinors[source];
    if (stored !== undefined) return stored;
    for (let n = DRBD_MINORS.first; n <= DRBD_MINORS.last; n++) {
      if (this.usedMinors.has(n)) continue;
      this.state.drbdMinors[source] = n;
      this.usedMinors.add(n);
      this.changed = true;
      return n;
    }
    return null;
  }

  /**
   * The two disk nodes of a volume's DRBD 8.4 mirror: the stored pair while both are still hives
   * with a disk, else (for a new volume, or to replace a node that is gone) the eligible hives
   * carrying the fewest pairs, in hive order. Null when fewer than two hives can hold a disk.
   */
  diskNodesFor(source: string, hives: string[], diskless: string[]): string[] | null {
    const eligible = hives.filter((h) => !diskless.includes(h) && !diskless.includes(h.split('.')[0]!));
    const stored = (this.state.drbdDiskNodes[source] ?? []).filter((h) => eligible.includes(h));
    if (stored.length === 2) return stored;
    if (eligible.length < 2) return null;
    const load = new Map(eligible.map((h) => [h, 0]));
    for (const [volume, pair] of Object.entries(this.state.drbdDiskNodes)) {
      if (volume === source) continue;
      for (const h of pair) if (load.has(h)) load.set(h, load.get(h)! + 1);
    }
    const pick = [...stored];
    for (const h of [...eligible].sort((a, b) => load.get(a)! - load.get(b)!)) {
      if (pick.length === 2) break;
      if (!pick.includes(h)) pick.push(h);
    }
    this.state.drbdDiskNodes[source] = pick;
    this.changed = true;
    return pick;
  }

  /** A hive's DRBD 9 node-id: stored, or the lowest free one (null when 0..31 are all taken). */
  nodeIdFor(host: string): number | null {
    const stored = this.state.drbdNodeIds[host];
    if (stored !== undefined) return stored;
    const used = new Set(Object.values(this.state.drbdNodeIds));
    for (let n = DRBD_NODE_IDS.first; n <= DRBD_NODE_IDS.last; n++) {
      if (used.has(n)) continue;
      this.state.drbdNodeIds[host] = n;
      this.changed = true;
      return n;
    }
    return null;
  }

  /** Keeps a port out of automatic allocation (an explicit published port). */
  reservePort(port: number): void {
    this.usedPorts.add(port);
  }

  /** Stored port of `<service><target_port>`, or the lowest free one (null when the range is full). */
  portFor(key: string): number | null {
    const stored = this.state.publishedPorts[key];
    if (stored !== undefined) return stored;
    for (let n = AUTO_PORTS.first; n <= AUTO_PORTS.last; n++) {
      if (this.usedPorts.has(n)) continue;
      this.state.publishedPorts[key] = n;
      this.usedPorts.add(n);
      this.changed = true;
      return n;
    }
    return null;
  }
}

/**
 * The allocation step of a run: saves what reading the inventory allocated for the site's stage.
 * Called with the stage lock held, and never by a command that only reads (config, inventory,
 * plan) or a check-mode run, so two processes never write the file at once.
 */
export function saveAllocations(hiveDir: string, site: { allocationStage?: StageName; allocationsChanged?: boolean; allocations: StageAllocations }): boolean {
  if (!site.allocationStage || !site.allocationsChanged) return false;
  writeAllocations(hiveDir, site.allocationStage, site.allocations);
  site.allocationsChanged = false;
  return true;
}
