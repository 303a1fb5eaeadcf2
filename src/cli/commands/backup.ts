// `hive backup [SERVICE]`: the site backup, now.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addBackupCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('backup'))
    .description("run the site backup now (one service's backup_scripts, or everything)")
    .argument('[service]')
    .action(
      action(async (service: string | undefined, _o, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const { runBackup } = await import('../../ops/index.js');
        return runBackup(ctx, site, service);
      }),
    );
}
