// `hive logs SERVICE [-f]`: a service's log from the repository's log collector.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addLogsCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('logs'))
    .description("print a service's log file from the repository's log collector")
    .argument('<service>')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <count>', 'lines from the end to print first', '100')
    .action(
      action(async (service: string, o: { follow?: boolean; lines: string }, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const { showLogs } = await import('../../ops/index.js');
        return showLogs(ctx, site, service, { follow: o.follow, lines: Number(o.lines) });
      }),
    );
}
