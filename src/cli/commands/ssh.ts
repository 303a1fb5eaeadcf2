// `hive ssh [HOST] [COMMAND...]`: a shell on a host of the stage.
import type { Command } from 'commander';
import type { Action } from '../action.js';
import { addGlobalOptions, globals } from '../options.js';
import { commandContext } from '../site-context.js';

export function addSshCommand(program: Command, action: Action): void {
  addGlobalOptions(program.command('ssh'))
    .description('open a shell on a host of the stage with the generated ssh_config (default: the repository)')
    .argument('[host]', 'inventory host name (or its short name)')
    .option('-t, --ssh-host <host>', 'same as HOST (hive-builder spelling)')
    .option('-z, --zabbix', 'forward the Zabbix web frontend to localhost')
    .option('-Z, --zabbix-port <port>', 'local port for -z', '10052')
    .option('-L, --forward <spec>', 'extra ssh -L forwarding')
    .argument('[command...]', 'command to run instead of a shell')
    .action(
      action(async (host: string | undefined, command: string[], o: { sshHost?: string; zabbix?: boolean; zabbixPort: string; forward?: string }, cmd: Command) => {
        const { ctx } = commandContext(globals(cmd));
        const { sshToHost } = await import('../ssh.js');
        return sshToHost(ctx, { host: host ?? o.sshHost, zabbix: o.zabbix, zabbixPort: o.zabbixPort, forward: o.forward, command });
      }),
    );
}
