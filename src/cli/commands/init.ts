// `hive init [DIR]`: a new project from the template or a sample site.
import { resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';

export function addInitCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('init'))
    .description('write a new project (inventory, sample services, roles) in DIR (default: the root folder)')
    .argument('[dir]', 'folder of the new project (created if missing)')
    .addOption(new Option('--provider <provider>', 'infrastructure provider').choices(['local']).default('local'))
    .option('--name <name>', 'site name (becomes the host domain; default: the name of DIR, else demo)')
    .option('--sample <sample>', 'a complete sample site of inventories/ (hive init --list-samples)')
    .option('--list-samples', 'list the sample sites, one line each')
    .option('--force', 'overwrite existing files')
    .action(
      action(async (dir: string | undefined, o: { provider: 'local'; name?: string; sample?: string; listSamples?: boolean; force?: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const { initProject, listSamples, defaultSiteName } = await import('../../init/index.js');
        if (o.listSamples) {
          const samples = listSamples();
          const width = Math.max(0, ...samples.map((x) => x.name.length));
          for (const x of samples) process.stdout.write(`${x.name.padEnd(width)}  ${x.summary}\n`);
          return 0;
        }
        const root = resolvePath(g.root ?? process.cwd(), dir ?? '.');
        const name = o.name ?? (dir !== undefined ? defaultSiteName(root) : 'demo');
        const written = await initProject(root, { provider: o.provider, name, force: o.force, sample: o.sample });
        for (const f of written) process.stdout.write(`wrote ${f}\n`);
        return 0;
      }),
    );
}
