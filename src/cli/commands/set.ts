// `hive set NAME VALUE`: remember a default in .hive/settings.yml.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { UsageError } from '../../lib/errors.js';
import { addGlobalOptions, globals } from '../options.js';
import { commandContext } from '../site-context.js';

export function addSetCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('set'))
    .description('remember a value in .hive/settings.yml (e.g. hive set stage staging)')
    .argument('<name>', 'setting name: stage, first_hive, silent_after, task_timeout, forks')
    .argument('<value>')
    .action(
      action(async (name: string, value: string, _o, cmd: Command) => {
        const { writeSetting } = await import('../../state/settings.js');
        const { ctx } = commandContext(globals(cmd));
        let stored;
        try {
          stored = writeSetting(ctx.hiveDir, name, value);
        } catch (e) {
          throw new UsageError(`hive set ${name}: ${(e as Error).message}`);
        }
        process.stdout.write(`${name} = ${stored} (in ${ctx.hiveDir}/settings.yml)\n`);
        return 0;
      }),
    );
}
