// `hive status`: the running site, judged.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addStatusCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('status'))
    .description('the site as it is now: hosts, swarm leader, services, volumes (exit 1 degraded, 3 no leader)')
    .option('--json', 'print the status as JSON')
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const { siteStatus } = await import('../../status/index.js');
        return siteStatus(ctx, site, { json: !!o.json });
      }),
    );
}
