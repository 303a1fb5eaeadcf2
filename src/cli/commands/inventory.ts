// `hive inventory`: the Ansible inventory hive generates for the stage.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { UsageError } from '../../lib/errors.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addInventoryCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('inventory'))
    .description('print the generated Ansible inventory of the stage (shape of ansible-inventory --list)')
    .option('--list', 'print the whole inventory as JSON (default)')
    .option('--host <host>', 'print the variables of one host')
    .option('--yaml', 'print the inventory file hive writes for Ansible (YAML)')
    .action(
      action(async (o: { host?: string; yaml?: boolean }, cmd: Command) => {
        const { ctx, site } = await withSite(globals(cmd));
        const inv = await import('../../model/ansible-inventory.js');
        if (o.yaml) {
          process.stdout.write(inv.inventoryYamlText(site, ctx.stage));
          return 0;
        }
        const list = inv.toAnsibleInventory(site, ctx.stage) as { _meta: { hostvars: Record<string, unknown> } };
        if (o.host) {
          const vars = list._meta.hostvars[o.host];
          if (!vars) throw new UsageError(`host "${o.host}" is not in stage ${ctx.stage}`);
          process.stdout.write(JSON.stringify(vars, null, 4) + '\n');
        } else {
          process.stdout.write(JSON.stringify(list, null, 4) + '\n');
        }
        return 0;
      }),
    );
}
