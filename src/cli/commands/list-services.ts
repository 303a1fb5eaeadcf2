// `hive list-services`: the stage's service names, one a line.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addListServicesCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('list-services'))
    .description('print the service names of the stage')
    .action(
      action(async (_o, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const names = site.services.filter((s) => s.stages.includes(ctx.stage)).map((s) => s.name);
        process.stdout.write(names.join('\n') + (names.length ? '\n' : ''));
        return 0;
      }),
    );
}
