// `hive plan`: what deploy-services (or build-infra) would change.
import { Option, type Command } from 'commander';
import type { PhaseName } from '../../model/phases.js';
import type { Action } from '../action.js';
import { addGlobalOptions, addVaultOptions, globals, vaultOptions, type PhaseOpts } from '../options.js';
import { checkVarsFiles, withSite } from '../site-context.js';

/** The phases hive can plan, the default first. */
const PLANNED_PHASES: PhaseName[] = ['deploy-services', 'build-infra'];

export function addPlanCommand(program: Command, action: Action): void {
  addVaultOptions(addGlobalOptions(program.command('plan')))
    .description('show what a phase would change, without changing anything (default: deploy-services)')
    .addOption(new Option('-p, --phase <phase>', 'deploy-services (services) or build-infra (infrastructure)').choices(PLANNED_PHASES).default(PLANNED_PHASES[0]))
    .option('-l, --limit <services>', 'only these services (comma separated)')
    .option('--json', 'print the plan as JSON')
    .action(
      action(async (o: { phase: PhaseName; limit?: string; json?: boolean }, cmd: Command) => {
        const g = globals(cmd) as PhaseOpts;
        const { ctx, site } = await withSite(g);
        if (o.phase === 'build-infra') {
          await checkVarsFiles(ctx, site, g);
          const { planBuildInfra } = await import('../plan-infra.js');
          return planBuildInfra(ctx, site, { json: o.json, vault: vaultOptions(g) });
        }
        const { planServices, formatPlan } = await import('../../services/index.js');
        const plan = await planServices(ctx, site, { limit: o.limit, verbose: g.verbose });
        if (o.json) {
          const { phase: _phase, ...rest } = plan as typeof plan & { phase?: unknown };
          process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
        } else process.stdout.write(formatPlan(plan));
        return plan.services.some((e) => e.action === 'error') ? 1 : 0;
      }),
    );
}
