// A service's `volumes:`: mounts, and the volumes they declare (drbd, nfs or a docker volume
// driver), each of which becomes a `volume_<source>` inventory host. The checks (one kind per
// volume, the same declaration wherever the volume is declared, DRBD device_ids used once) and
// the typed build, with DRBD minors, disk nodes and node ids from the Allocator.
import { show, whereText, type KeyPath, type Report, type Where } from '../lib/problems.js';
import type { Allocator } from '../state/allocations.js';
import type { StageName, Volume } from './site.js';
import { mergeStages, serviceStages } from './stage.js';
import { isObject } from '../lib/values.js';


export const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const VOLUME_KINDS = ['drbd', 'nfs', 'driver'] as const;

/** What a standalone (systemd) service gets on top of its own definition. */
export const STANDALONE_MOUNTS = [
  { source: '', target: '/run', type: 'tmpfs' },
  { source: '', target: '/tmp', type: 'tmpfs' },
  { source: '', target: '/sys/fs/cgroup', type: 'tmpfs' },
];

const MOUNT_KEYS = ['source', 'target', 'type', 'readonly'];

// ---------------------------------------------------------------------------------------------
// checks

/** Checks the volumes of services one after the other, across all service files. */
export class VolumeChecks {
  private readonly volumes = new Map<string, Where & { kind: string; def: any }>();
  private readonly deviceIds = new Map<number, Where & { source: string }>();

  /** A volume of that source is declared (drbd, nfs or driver) somewhere. */
  has(source: string): boolean {
    return this.volumes.has(source);
  }

  /** `path` is the service's (services.<name>). */
  check(doc: Where['doc'], path: KeyPath, volumes: unknown[], report: Report): void {
    volumes.forEach((volume: unknown, i: number) => {
      if (!isObject(volume)) return;
      const volPath = [...path, 'volumes', i];
      const kinds = VOLUME_KINDS.filter((k) => volume[k] !== undefined);
      if (kinds.length > 1)
        report([...volPath, kinds[1]!], `a volume takes only one of drbd, nfs and driver (${kinds.join(' and ')} given)`);
      if (volume.driver_opts !== undefined && volume.driver === undefined)
        report([...volPath, 'driver_opts'], 'requires driver');
      if (kinds.length === 0 || typeof volume.source !== 'string') return;
      const source: string = volume.source;
      if (!VOLUME_NAME.test(source)) {
        report([...volPath, 'source'], `${show(source)} is not a valid volume name (letters, digits, '_', '.', '-')`);
        return;
      }
      const kind = kinds[0]!;
      const def = kind === 'driver' ? { driver: volume.driver, driver_opts: volume.driver_opts } : volume[kind];
      const firstDecl = this.volumes.get(source);
      if (firstDecl) {
        const difference = describeDifference(firstDecl.kind, firstDecl.def, kind, def);
        if (difference)
          report(
            [...volPath, kind, ...difference.path],
            `volume ${show(source)} ${difference.text} here but ${difference.firstText} at ${whereText(firstDecl)}`,
          );
      } else {
        this.volumes.set(source, { doc, path: volPath, kind, def });
      }
      if (kind === 'drbd' && isObject(volume.drbd) && Number.isInteger(volume.drbd.device_id)) {
        const id = volume.drbd.device_id as number;
        const owner = this.deviceIds.get(id);
        if (owner && owner.source !== source)
          report(
            [...volPath, 'drbd', 'device_id'],
            `DRBD device_id ${id} is already used by volume ${show(owner.source)} at ${whereText(owner)}`,
          );
        else if (!owner) this.deviceIds.set(id, { doc, path: [...volPath, 'drbd', 'device_id'], source });
      }
    });
  }
}

function describeDifference(
  firstKind: string,
  firstDef: any,
  kind: string,
  def: any,
): { path: KeyPath; text: string; firstText: string } | null {
  if (firstKind !== kind) return { path: [], text: `is declared as ${kind}`, firstText: `as ${firstKind}` };
  const a = isObject(firstDef) ? firstDef : {};
  const b = isObject(def) ? def : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  for (const key of keys) {
    if (JSON.stringify(a[key]) === JSON.stringify(b[key])) continue;
    const describe = (v: unknown) => (v === undefined ? `no ${key}` : `${key} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    return { path: b[key] === undefined ? [] : [key], text: `is declared with ${describe(b[key])}`, firstText: describe(a[key]) };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// build

/** Explicit DRBD device_ids claim their minors before any is allocated automatically. */
export function claimMinors(volumes: unknown, servicePath: KeyPath, allocator: Allocator, storeName: string, report: Report): void {
  for (const [i, volume] of ((volumes as any[] | undefined) ?? []).entries()) {
    const id = volume?.drbd?.device_id;
    if (!Number.isInteger(id)) continue;
    const owner = allocator.minorOwner(id);
    if (owner !== undefined && owner !== volume.source) {
      report(
        [...servicePath, 'volumes', i, 'drbd', 'device_id'],
        `DRBD device_id ${id} is already allocated to volume ${show(owner)} (${storeName})`,
      );
      continue;
    }
    allocator.recordMinor(volume.source, id);
  }
}

/** Builds the volumes of the services one after the other (a volume declared twice is one host). */
export class VolumeBuilder {
  private readonly volumes = new Map<string, Volume>();

  /** `allocationHives`: the hives of the allocation stage (none without one: no DRBD placement). */
  constructor(
    private readonly allocator: Allocator,
    private readonly allocationHives: string[],
    private readonly storeName: string,
  ) {}

  // Where a drbd volume's replicas go on the allocation stage: the pair of disk nodes (used when
  // the hives run DRBD 8.4) and the stage-wide node-ids (DRBD 9), both kept once chosen.
  private drbdPlacement(source: string, diskless: unknown): Record<string, unknown> {
    if (this.allocationHives.length === 0) return {};
    const without = Array.isArray(diskless) ? diskless.filter((d): d is string => typeof d === 'string') : [];
    const nodeIds: Record<string, number> = {};
    for (const h of this.allocationHives) {
      const id = this.allocator.nodeIdFor(h);
      if (id !== null) nodeIds[h] = id;
    }
    const pair = this.allocator.diskNodesFor(source, this.allocationHives, without);
    return { node_ids: nodeIds, ...(pair ? { disk_nodes: pair } : {}) };
  }

  /**
   * One service's volumes: its mounts (hive_volumes; a standalone service's tmpfs first) and the
   * sources it mounts. Declared volumes are kept for `all()`.
   */
  service(
    rawVolumes: any[],
    standalone: boolean,
    stagesOfService: StageName[],
    servicePath: KeyPath,
    report: Report,
  ): { mounts: Record<string, unknown>[]; sources: string[] } {
    const { allocator, storeName, volumes } = this;
    const sources: string[] = [];
    const mounts: Record<string, unknown>[] = standalone ? STANDALONE_MOUNTS.map((m) => ({ ...m })) : [];
    for (const [i, volume] of rawVolumes.entries()) {
      const mount: Record<string, unknown> = {};
      for (const [k, v] of Object.entries<unknown>(volume)) if (MOUNT_KEYS.includes(k)) mount[k] = v;
      mounts.push(mount);
      let kind: Volume['kind'] | null = null;
      let definition: Record<string, unknown> = {};
      let volumeStages: StageName[] = stagesOfService;
      if (volume.drbd !== undefined) {
        kind = 'drbd';
        let id: number | null = Number.isInteger(volume.drbd.device_id) ? volume.drbd.device_id : allocator.minorFor(volume.source);
        if (id === null) {
          report([...servicePath, 'volumes', i, 'drbd'], `no free DRBD minor (1-255) left for volume ${show(volume.source)} in ${storeName}`);
          id = 0;
        }
        definition = { name: volume.source, drbd: { ...volume.drbd, device_id: id, ...this.drbdPlacement(volume.source, volume.drbd.diskless) } };
        if (Array.isArray(volume.drbd.available_on)) volumeStages = serviceStages({ available_on: volume.drbd.available_on }, null);
      } else if (volume.nfs !== undefined) {
        kind = 'nfs';
        definition = { name: volume.source, nfs: volume.nfs };
        if (Array.isArray(volume.nfs.available_on)) volumeStages = serviceStages({ available_on: volume.nfs.available_on }, null);
      } else if (volume.driver !== undefined) {
        kind = 'driver';
        definition = { name: volume.source, driver: volume.driver };
        if (volume.driver_opts !== undefined) definition.driver_options = volume.driver_opts;
      }
      if (kind) {
        const hostName = `volume_${volume.source}`;
        const existing = volumes.get(volume.source);
        if (existing) existing.stages = mergeStages(existing.stages, volumeStages);
        else volumes.set(volume.source, { name: hostName, source: volume.source, kind, stages: volumeStages, definition });
      }
      if (typeof volume.source === 'string' && !sources.includes(volume.source)) sources.push(volume.source);
    }
    return { mounts, sources };
  }

  /** A volume of that source was declared by some service. */
  has(source: string): boolean {
    return this.volumes.has(source);
  }

  /** The declared volumes, in the order first declared. */
  all(): Volume[] {
    return [...this.volumes.values()];
  }
}
