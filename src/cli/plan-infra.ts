// `hive plan --phase build-infra`: what build-infra would create, change or delete.
// The aws provider computes it from Describe* calls only; other providers run build-infra in
// dry-run mode, which reports through the usual events and changes nothing.
import type { HiveContext } from '../lib/context.js';
import type { Site } from '../model/site.js';
import type { VaultOptions } from '../lib/run-options.js';

export async function planBuildInfra(ctx: HiveContext, site: Site, opts: { json?: boolean; vault?: VaultOptions }): Promise<number> {
  const stage = site.stages[ctx.stage]!;
  if (stage.provider === 'aws') {
    const { planInfra } = await import('../providers/aws/index.js');
    const events = { emit: () => undefined };
    const items = await planInfra({ site, stage, stageDir: ctx.stageDir, rootDir: ctx.rootDir, events, halt: false, destroy: false, dryRun: true, vault: opts.vault });
    if (opts.json) process.stdout.write(JSON.stringify(items, null, 2) + '\n');
    else for (const i of items) process.stdout.write(`${i.action.padEnd(7)} ${i.kind} ${i.name}\n`);
    return 0;
  }
  const { runPhase } = await import('../runner/run-phase.js');
  const { providerStep } = await import('./provider-step.js');
  const runOpts = { dryRun: true, check: true, json: opts.json, ...opts.vault };
  const result = await runPhase(ctx, site, 'build-infra', runOpts, { before: providerStep(ctx, site, runOpts) });
  return result.ok ? 0 : 1;
}
