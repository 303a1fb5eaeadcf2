// `hive validate`: the inventory checks alone.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { withSite } from '../site-context.js';

export function addValidateCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('validate'))
    .description('check the inventory (schema and semantic rules) without running anything')
    .action(
      action(async (_o, cmd: Command) => {
        // the whole inventory is checked, whichever stages it defines
        const { ctx, site } = await withSite(globals(cmd), { requireStage: false });
        const stages = Object.keys(site.stages).join(', ');
        process.stdout.write(
          `${ctx.inventoryDir}: valid (site ${site.name}; stages ${stages}; ${site.services.length} services, ` +
            `${site.images.length} images, ${site.volumes.length} volumes, ${site.networks.length} networks)\n`,
        );
        return 0;
      }),
    );
}
