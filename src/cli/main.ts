// The hive program: every command (src/cli/commands/, one file each) on one commander program,
// and errors mapped to exit codes. Heavy modules are imported lazily by the commands so
// `hive inventory --list` and `hive --help` start fast.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { installDir } from '../lib/context.js';
import { InventoryError } from '../lib/problems.js';
import { makeAction } from './action.js';
import { addAllCommand } from './commands/all.js';
import { addBackupCommand } from './commands/backup.js';
import { addConfigCommand } from './commands/config.js';
import { addInitCommand } from './commands/init.js';
import { addInventoryCommand } from './commands/inventory.js';
import { addListHostsCommand } from './commands/list-hosts.js';
import { addListServicesCommand } from './commands/list-services.js';
import { addLogsCommand } from './commands/logs.js';
import { addPlanCommand } from './commands/plan.js';
import { addRestoreCommand } from './commands/restore.js';
import { addRollbackCommand } from './commands/rollback.js';
import { addPhaseCommands, addRunCommand } from './commands/run.js';
import { addSetCommand } from './commands/set.js';
import { addSshCommand } from './commands/ssh.js';
import { addStatusCommand } from './commands/status.js';
import { addValidateCommand } from './commands/validate.js';
import { addVersionsCommand } from './commands/versions.js';
import { exitCodeFor } from './errors.js';
import { addGlobalOptions } from './options.js';

/** The version of this hive, from its package.json (one place to bump it). */
function hiveVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(installDir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(setCode: (code: number) => void): Command {
  const program = addGlobalOptions(new Command('hive'))
    .description('Build and run a multi-server docker swarm site from one inventory.')
    .version(hiveVersion(), '--version')
    .showHelpAfterError('(hive --help lists the commands; hive COMMAND --help its options)')
    .enablePositionalOptions(false);
  const action = makeAction(setCode);
  // in this order in `hive --help`
  for (const add of [
    addRunCommand,
    addPhaseCommands,
    addAllCommand,
    addInventoryCommand,
    addValidateCommand,
    addConfigCommand,
    addSetCommand,
    addSshCommand,
    addInitCommand,
    addPlanCommand,
    addStatusCommand,
    addVersionsCommand,
    addRollbackCommand,
    addLogsCommand,
    addBackupCommand,
    addRestoreCommand,
    addListHostsCommand,
    addListServicesCommand,
  ]) {
    add(program, action);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  program.exitOverride();
  program.commands.forEach((c) => c.exitOverride());
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every usage error exits 2
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  const code = exitCodeFor(err);
  if (err instanceof InventoryError) {
    // file:line: key: message, one problem a line
    for (const p of err.problems) process.stderr.write(`${p.file}:${p.line}: ${p.key ? p.key + ': ' : ''}${p.message}\n`);
  } else {
    const e = err as Error | undefined;
    process.stderr.write(`hive: ${e?.message ?? String(err)}\n`);
    if (process.env.HIVE_DEBUG && e?.stack) process.stderr.write(e.stack + '\n');
  }
  return code;
}

