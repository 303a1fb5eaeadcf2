// `hive list-hosts`: the stage's host names, one a line.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addListHostsCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('list-hosts'))
    .description('print the host names of the stage')
    .action(
      action(async (_o, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        process.stdout.write(site.stages[ctx.stage]!.hosts.map((h) => h.name).join('\n') + '\n');
        return 0;
      }),
    );
}
