// `hive rollback SERVICE [--to VERSION]`: redeploy an earlier image version.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, addPhaseOptions, globals, runOptions, type PhaseOpts } from '../options.js';
import { checkVarsFiles, withSite } from '../site-context.js';

export function addRollbackCommand(program: Command, action: Action): void {
  addPhaseOptions(addGlobalOptions(program.command('rollback')))
    .description('redeploy a recorded earlier image version of a service (default: the one before)')
    .argument('<service>')
    .option('--to <version>', 'the version to deploy (see hive versions SERVICE)')
    .action(
      action(async (service: string, o: PhaseOpts & { to?: string }, cmd: Command) => {
        const g = globals(cmd) as PhaseOpts & { to?: string };
        const { ctx, settings, site } = await withSite(g);
        await checkVarsFiles(ctx, site, g);
        const { rollbackService } = await import('../../services/index.js');
        const result = await rollbackService(ctx, site, service, g.to ?? o.to, runOptions(g, settings));
        return result.ok ? 0 : 1;
      }),
    );
}
