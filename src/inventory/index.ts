// Entry point of the inventory: folder → loaded and schema-validated documents. What the
// documents mean (semantic checks, the Site) is the model's business (src/model/index.ts); this
// folder imports nothing of it.
import { resolve } from 'node:path';
import { displayPath, type Problem } from '../lib/problems.js';
import { loadInventoryDir, type SourceDoc } from './load.js';
import { validateSchema } from './validate.js';

export { InventoryError, formatProblems, formatProblem, type Problem } from '../lib/problems.js';
export { AnsibleUnsafe, AnsibleVault, type SourceDoc } from './load.js';

export interface InventoryDocs {
  /** Absolute path of the inventory folder. */
  inventoryDir: string;
  /** The first file with `plugin: hive_inventory` (undefined when there is none). */
  hiveDoc: SourceDoc | undefined;
  serviceDocs: SourceDoc[];
  /** Loading problems (YAML, files, plugin lines, a missing or second hive definition). */
  problems: Problem[];
  /** What the JSON Schemas rejected: a key reported here is not checked again by the model. */
  schemaProblems: Problem[];
}

/** Loads every file of the inventory folder and validates each against its JSON Schema; never throws for the files' content. */
export function readInventory(inventoryDirectory: string): InventoryDocs {
  const inventoryDir = resolve(inventoryDirectory);
  const problems: Problem[] = [];
  const docs = loadInventoryDir(inventoryDir, problems);
  const loadFailed = problems.length > 0;

  const hiveDocs = docs.filter((d) => d.kind === 'hive');
  const serviceDocs = docs.filter((d) => d.kind === 'services');
  if (hiveDocs.length === 0 && !loadFailed)
    problems.push({
      file: displayPath(inventoryDir),
      line: 0,
      key: '(folder)',
      message: 'no hive definition: one *.yml file of the inventory folder needs `plugin: hive_inventory`',
    });
  for (const extra of hiveDocs.slice(1))
    problems.push({
      file: extra.file,
      line: extra.lineOf(['plugin']),
      key: 'plugin',
      message: `a second hive definition: the first is ${hiveDocs[0]!.file} (only one file may have plugin: hive_inventory)`,
    });

  const schemaProblems: Problem[] = [];
  for (const doc of docs) validateSchema(doc, schemaProblems);
  return { inventoryDir, hiveDoc: hiveDocs[0], serviceDocs, problems, schemaProblems };
}
