// `hive versions SERVICE`: the image versions recorded for a service.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { commandContext } from '../site-context.js';

export function addVersionsCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('versions'))
    .description('list the recorded image versions of a service (newest first)')
    .argument('<service>')
    .option('--json', 'print JSON')
    .action(
      action(async (service: string, o: { json?: boolean }, cmd: Command) => {
        const { ctx } = commandContext(globals(cmd));
        const { listVersions, formatVersions } = await import('../../services/index.js');
        const v = listVersions(ctx, service);
        process.stdout.write(o.json ? JSON.stringify(v, null, 2) + '\n' : formatVersions(v));
        return 0;
      }),
    );
}
