// Validated inventory documents → Site. Derivation rules follow hive-builder's hive_inventory and
// hive_services plugins (host names, address assignment, zones, per-host variables, service /
// image / volume / network hosts) so an existing inventory produces the same hosts and variables.
// Each section has its module next to its checks: stage.ts (hive.yml's stages), service.ts
// (services, composed with port.ts, volume.ts and network.ts); this is the composition.
import type { SourceDoc } from '../inventory/load.js';
import type { Problem } from '../lib/problems.js';
import type { Allocator } from '../state/allocations.js';
import { buildServices } from './service.js';
import type { Site, StageName } from './site.js';
import { buildStages } from './stage.js';

export interface BuildOptions {
  inventoryDir: string;
  firstHive: number;
  allocator: Allocator;
  allocationStage?: StageName;
}

/** Builds the Site; allocation problems (explicit DRBD ids clashing with stored ones, ...) are appended. */
export function buildSite(hiveDoc: SourceDoc, serviceDocs: SourceDoc[], opts: BuildOptions, problems: Problem[]): Site {
  const stages = buildStages(hiveDoc, opts.firstHive);
  const { allocator } = opts;
  const storeName = opts.allocationStage ? `.hive/${opts.allocationStage}/allocations.yml` : 'the allocations';
  const allocationHives = opts.allocationStage ? (stages[opts.allocationStage]?.hosts ?? []).filter((h) => h.isHive).map((h) => h.name) : [];
  const { services, images, volumes, networks } = buildServices(serviceDocs, { allocator, allocationHives, storeName }, problems);

  return {
    name: hiveDoc.data.name,
    inventoryDir: opts.inventoryDir,
    stages,
    services,
    images,
    volumes,
    networks,
    ...(opts.allocationStage ? { allocationStage: opts.allocationStage } : {}),
    allocations: allocator.state,
  };
}
