// `hive run --phase PHASE` and its short forms `hive PHASE`.
import { Option, type Command } from 'commander';
import { isPhaseName, PHASES } from '../../model/phases.js';
import type { Action } from '../action.js';
import { confirmDestroy } from '../consent.js';
import { UsageError } from '../../lib/errors.js';
import { addGlobalOptions, addPhaseOptions, checkPhaseOptions, globals, runOptions, type PhaseOpts } from '../options.js';
import { providerStep } from '../provider-step.js';
import { checkVarsFiles, withSite } from '../site-context.js';

async function runOnePhase(phaseName: string, cmd: Command): Promise<number> {
  const o = globals(cmd) as PhaseOpts;
  if (!isPhaseName(phaseName)) throw new UsageError(`unknown phase "${phaseName}" (phases: ${PHASES.join(', ')})`);
  const phase = phaseName;
  checkPhaseOptions(phase, o);
  const { ctx, settings, site } = await withSite(o);
  const opts = runOptions(o, settings);
  await confirmDestroy(site, { phase, stage: ctx.stage, destroy: o.destroy, limit: o.limit, changesNothing: !!(o.check || o.dryRun), yes: o.yes });
  await checkVarsFiles(ctx, site, o);
  const { runPhase } = await import('../../runner/run-phase.js');
  const result = await runPhase(ctx, site, phase, opts, { before: providerStep(ctx, site, opts) });
  return result.ok ? 0 : 1;
}

export function addRunCommand(program: Command, action: Action): void {
  addPhaseOptions(addGlobalOptions(program.command('run')))
    .description('run one phase for the stage')
    .addOption(new Option('-p, --phase <phase>', 'phase to run').choices(PHASES).makeOptionMandatory())
    .action(action(async (_o, cmd: Command) => runOnePhase(cmd.opts().phase, cmd)));
}

/** One command per phase: `hive setup-hosts` is `hive run --phase setup-hosts`. */
export function addPhaseCommands(program: Command, action: Action): void {
  for (const phase of PHASES) {
    addPhaseOptions(addGlobalOptions(program.command(phase)))
      .description(`same as: hive run --phase ${phase}`)
      .action(action(async (_o, cmd: Command) => runOnePhase(phase, cmd)));
  }
}
