// Where things are for one invocation: the project root, its inventory, the stage folder under
// .hive/, and hive's own install folder (bundled playbooks, roles, templates, callback plugin).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StageName } from './stages.js';

export interface HiveContext {
  rootDir: string;
  inventoryDir: string;
  stage: StageName;
  /** `<root>/.hive` */
  hiveDir: string;
  /** `<root>/.hive/<stage>` */
  stageDir: string;
  installDir: string;
}

/** hive's package folder: dist/lib/context.js lives two levels below it. */
export const installDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function makeContext(opts: { root?: string; inventory?: string; stage: StageName }): HiveContext {
  const rootDir = resolve(opts.root ?? process.cwd());
  const hiveDir = join(rootDir, '.hive');
  return {
    rootDir,
    inventoryDir: resolve(rootDir, opts.inventory ?? 'inventory'),
    stage: opts.stage,
    hiveDir,
    stageDir: join(hiveDir, opts.stage),
    installDir,
  };
}
