// `hive restore SERVICE [--from FILE]`: a backup back into the running service.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addRestoreCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('restore'))
    .description('restore the latest (or the named) backup into the running service')
    .argument('<service>')
    .option('--from <file>', 'a backup file on the repository')
    .option('--no-prerestore', 'do not keep the data the restore replaces (when it cannot be read any more)')
    .action(
      action(async (service: string, o: { from?: string; prerestore?: boolean }, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const { runRestore } = await import('../../ops/index.js');
        return runRestore(ctx, site, service, { from: o.from, prerestore: o.prerestore });
      }),
    );
}
