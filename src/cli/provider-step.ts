// build-infra is "the provider's TypeScript part, then the playbook": the CLI composes the
// provider step here and hands it to the runner, which runs it inside the phase (lock, events,
// run record, dry-run) without knowing about providers.
import type { HiveContext } from '../lib/context.js';
import type { Site } from '../model/site.js';
import { now } from '../lib/events.js';
import { changesNothing, vaultOf, type RunOptions } from '../lib/run-options.js';
import type { BeforePlaybook } from '../runner/run-phase.js';

/** The step before each phase's playbook: the stage's provider for build-infra, nothing for the others. */
export function providerStep(ctx: HiveContext, site: Site, opts: RunOptions): BeforePlaybook {
  return (phase) => {
    if (phase !== 'build-infra') return undefined;
    const stage = site.stages[ctx.stage]!;
    const task = `${stage.provider} provider: ${opts.destroy ? 'destroy' : opts.halt ? 'halt' : 'build'} infrastructure`;
    return {
      host: `${stage.provider} provider`,
      task,
      async run(events) {
        const { getProvider } = await import('../providers/index.js');
        const provider = await getProvider(stage.provider);
        // providers without a TypeScript part: the playbook does all of build-infra
        if (!provider) return true;
        events.emit({ event: 'task_start', task, time: now() });
        await provider.buildInfra({
          site,
          stage,
          stageDir: ctx.stageDir,
          rootDir: ctx.rootDir,
          events,
          halt: !!opts.halt,
          destroy: !!opts.destroy,
          dryRun: changesNothing(opts),
          vault: vaultOf(opts),
        });
        // the provider stopped or removed the hosts: there is nothing for the playbook to reach
        return !(opts.destroy || opts.halt);
      },
    };
  };
}
