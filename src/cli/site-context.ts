// What a command acts on: its folders and stage, the remembered settings (read once per
// command) and, for most commands, the loaded site.
import { makeContext, type HiveContext } from '../lib/context.js';
import type { Site } from '../model/site.js';
import { readSettings, resolveStage, type Settings } from '../state/settings.js';
import { UsageError } from '../lib/errors.js';
import { vaultOptions, type GlobalOpts, type PhaseOpts } from './options.js';

export interface CommandContext {
  ctx: HiveContext;
  settings: Settings;
}

export interface SiteContext extends CommandContext {
  site: Site;
}

/** The folders and stage of a command (-s, else `hive set stage`, else private). */
export function commandContext(g: GlobalOpts): CommandContext {
  // .hive/ does not depend on the stage; the settings in it may name the stage
  const { hiveDir } = makeContext({ root: g.root, inventory: g.inventory, stage: 'private' });
  const settings = readSettings(hiveDir);
  const ctx = makeContext({ root: g.root, inventory: g.inventory, stage: resolveStage(g.stage, settings) });
  return { ctx, settings };
}

/**
 * The command's context and its site, the whole inventory loaded and validated (InventoryError,
 * exit 2, when it is not); with requireStage (the default) the stage must be defined in it.
 */
export async function withSite(g: GlobalOpts, { requireStage = true } = {}): Promise<SiteContext> {
  const { ctx, settings } = commandContext(g);
  const { readSite } = await import('../model/index.js');
  // reading writes nothing: a run saves new allocations under the stage lock
  const site = readSite({ inventoryDir: ctx.inventoryDir, hiveDir: ctx.hiveDir, stage: ctx.stage, firstHive: Number(settings.first_hive ?? 0) });
  if (requireStage && !site.stages[ctx.stage]) {
    const defined = Object.keys(site.stages).join(', ') || 'none';
    throw new UsageError(`stage "${ctx.stage}" is not defined in the inventory (defined: ${defined})`);
  }
  return { ctx, settings, site };
}

/** Reads the stage's group_vars / host_vars through Ansible before anything runs: a bad file exits 2. */
export async function checkVarsFiles(ctx: HiveContext, site: Site, o: PhaseOpts): Promise<void> {
  const { inventoryVars } = await import('../model/inventory-vars.js');
  await inventoryVars(site, ctx.stage, vaultOptions(o));
}
