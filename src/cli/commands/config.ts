// `hive config`: the stage's inventory as hive understood it, defaults filled in.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addConfigCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('config'))
    .description('print the merged, defaulted inventory of the stage')
    .option('--json', 'print JSON instead of YAML')
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const { stageConfig } = await import('../../model/config.js');
        const config = stageConfig(site, ctx.stage);
        if (o.json) process.stdout.write(JSON.stringify(config, null, 2) + '\n');
        else process.stdout.write((await import('yaml')).stringify(config));
        return 0;
      }),
    );
}
