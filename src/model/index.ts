// Entry point of the model: the inventory's validated documents → Site. Everything is checked
// before anything is built, and all problems are reported together.
import { readInventory } from '../inventory/index.js';
import { InventoryError, sortProblems, type Problem } from '../lib/problems.js';
import { Allocator, emptyAllocations, readAllocations } from '../state/allocations.js';
import { buildSite } from './build.js';
import { checkServiceDocs } from './service.js';
import { STAGES, type Site, type StageName } from './site.js';
import { checkFirstHive, checkHiveDoc } from './stage.js';

export { InventoryError, formatProblems, formatProblem, type Problem } from '../lib/problems.js';
export { AnsibleUnsafe, AnsibleVault } from '../inventory/load.js';

export interface ReadSiteOptions {
  inventoryDir: string;
  /** `<root>/.hive`: allocations live in `<hiveDir>/<stage>/allocations.yml`. */
  hiveDir: string;
  /**
   * Stage to resolve persistent allocations for (DRBD minors, automatic ports): they are read
   * from that stage's allocations.yml; new ones are made in memory (`site.allocationsChanged`).
   * Reading never writes: a run saves them under the stage lock (saveAllocations).
   */
  stage?: StageName;
  /** Index of the server that bootstraps the swarm (group first_hive); default 0. */
  firstHive?: number;
}

/** Loads and validates every file of the inventory folder and builds the Site. Throws InventoryError. */
export function readSite(opts: ReadSiteOptions): Site {
  const firstHive = opts.firstHive ?? 0;
  const { inventoryDir, hiveDoc, serviceDocs, problems, schemaProblems } = readInventory(opts.inventoryDir);

  const semanticProblems: Problem[] = [];
  const definedStages = hiveDoc && isRecord(hiveDoc.plain.stages) ? STAGES.filter((s) => s in hiveDoc.plain.stages) : null;
  if (hiveDoc) checkHiveDoc(hiveDoc, semanticProblems);
  checkServiceDocs(serviceDocs, semanticProblems, definedStages);
  problems.push(...schemaProblems);
  // a key the schema rejected is not checked again (its value may not even be readable)
  for (const p of semanticProblems) {
    if (!schemaProblems.some((s) => s.file === p.file && (p.key === s.key || p.key.startsWith(s.key + '.')))) problems.push(p);
  }

  // A stage the hive definition does not define is not an inventory problem: the site is then
  // read as without a stage (the caller decides whether that stage is required).
  const stage = opts.stage && definedStages?.includes(opts.stage) ? opts.stage : undefined;
  if (hiveDoc && definedStages) checkFirstHive(hiveDoc, stage ? [stage] : definedStages, firstHive, problems);
  if (problems.length > 0 || !hiveDoc) throw new InventoryError(sortProblems(problems));

  const stored = stage ? readAllocations(opts.hiveDir, stage) : emptyAllocations();
  const allocator = new Allocator(stored);
  const site = buildSite(
    hiveDoc,
    serviceDocs,
    { inventoryDir, firstHive, allocator, ...(stage ? { allocationStage: stage } : {}) },
    problems,
  );
  if (problems.length > 0) throw new InventoryError(sortProblems(problems));
  return { ...site, allocationsChanged: !!stage && allocator.changed };
}

/** Only validates (all stages, no allocation written); throws InventoryError. */
export function validateInventory(inventoryDir: string): void {
  readSite({ inventoryDir, hiveDir: '' });
}

function isRecord(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
