// `hive all`: every phase in order, resuming where the last run stopped.
import { Option, type Command } from 'commander';
import { PHASES, type PhaseName } from '../../model/phases.js';
import type { Action } from '../action.js';
import { UsageError } from '../../lib/errors.js';
import { addGlobalOptions, addPhaseOptions, globals, runOptions, type PhaseOpts } from '../options.js';
import { providerStep } from '../provider-step.js';
import { checkVarsFiles, withSite } from '../site-context.js';

export function addAllCommand(program: Command, action: Action): void {
  addPhaseOptions(addGlobalOptions(program.command('all')))
    .description('run every phase in order, resuming from the first one that has not succeeded')
    .addOption(new Option('--from <phase>', 'start from this phase').choices(PHASES))
    .addOption(new Option('-S, --start-phase <phase>', 'same as --from (hive-builder spelling)').choices(PHASES))
    .action(
      action(async (_o, cmd: Command) => {
        const o = globals(cmd) as PhaseOpts & { startPhase?: string };
        if (o.destroy || o.halt) throw new UsageError('-D/-H cannot be used with all; run the phase itself');
        const { ctx, settings, site } = await withSite(o);
        await checkVarsFiles(ctx, site, o);
        const { runAll } = await import('../../runner/run-all.js');
        const opts = { ...runOptions(o, settings), from: (o.from ?? o.startPhase) as PhaseName | undefined };
        const result = await runAll(ctx, site, opts, { before: providerStep(ctx, site, opts) });
        return result.ok ? 0 : 1;
      }),
    );
}
