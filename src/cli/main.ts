// Command-line wiring only: parse options, resolve the context, call the module that does the
// work, map errors to exit codes. Heavy modules are imported lazily so `hive inventory --list`
// and `hive --help` start fast.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { installDir, makeContext, type HiveContext } from '../context.js';
import { InventoryError } from '../inventory/errors.js';
import { PHASES, STAGES, type PhaseName, type Site, type StageName } from '../model/site.js';
import { readSettings, resolveStage } from '../state/settings.js';
import { confirmDestroy } from './consent.js';
import { exitCodeFor, UsageError } from './errors.js';
import { answerVaultPrompts, needsPrompt, type VaultFlags } from './vault-prompt.js';

/** Options every command accepts, before or after the command name. */
interface GlobalOpts {
  root?: string;
  stage?: string;
  inventory?: string;
  verbose?: number;
}

interface PhaseOpts extends GlobalOpts {
  phase?: string;
  limit?: string;
  tags?: string;
  check?: boolean;
  destroy?: boolean;
  halt?: boolean;
  json?: boolean;
  dryRun?: boolean;
  force?: boolean;
  from?: string;
  silentAfter?: string;
  taskTimeout?: string;
  yes?: boolean;
  prune?: boolean;
  vaultId?: string[];
  vaultPasswordFile?: string[];
  askVaultPass?: boolean;
}

/** Which phases accept -D and -H (hive-builder's mapping). */
const DESTROY_PHASES: PhaseName[] = ['build-infra', 'build-volumes', 'deploy-services'];
const HALT_PHASES: PhaseName[] = ['build-infra'];

const increase = (_: string, previous = 0) => previous + 1;
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** ansible-vault flags, handed to every Ansible process the command starts (see runner/options.ts). */
function addVaultOptions(cmd: Command): Command {
  return cmd
    .option('--vault-id <id>', 'vault identity for Ansible, [LABEL@]FILE or [LABEL@]prompt (repeatable)', collect)
    .option('--vault-password-file <file>', 'vault password file for Ansible (repeatable)', collect)
    .option('--ask-vault-pass', 'ask for the vault password once (on a terminal, else one line of stdin)');
}

/** The vault flags; relative files are made absolute here, since Ansible runs in the project root. */
function vaultOptions(o: PhaseOpts) {
  const file = (f: string) => {
    const abs = resolvePath(f);
    if (!existsSync(abs)) throw new UsageError(`vault password file ${f} does not exist`);
    return abs;
  };
  const id = (v: string) => {
    const at = v.indexOf('@');
    const source = at >= 0 ? v.slice(at + 1) : v;
    return source === 'prompt' || source === '' ? v : `${at >= 0 ? v.slice(0, at + 1) : ''}${file(source)}`;
  };
  return {
    vaultIds: o.vaultId?.map(id),
    vaultPasswordFiles: o.vaultPasswordFile?.map(file),
    askVaultPass: o.askVaultPass,
  };
}

/** Reads the stage's group_vars / host_vars through Ansible before anything runs: a bad file exits 2. */
async function checkVarsFiles(ctx: HiveContext, site: Site, o: PhaseOpts): Promise<void> {
  const { inventoryVars } = await import('../providers/group-vars.js');
  await inventoryVars(site, ctx.stage, vaultOptions(o));
}

function addGlobalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-r, --root <dir>', 'project root folder (default: current folder)'))
    .addOption(new Option('--root_dir <dir>').hideHelp())
    .addOption(new Option('-s, --stage <stage>', 'stage to act on (default: `hive set stage`, else private)').choices(STAGES))
    .addOption(new Option('-i, --inventory <dir>', 'inventory folder (default: <root>/inventory)'))
    .addOption(new Option('--inventory_path <dir>').hideHelp())
    .addOption(new Option('-v, --verbose', 'more output (repeat for more); -v passes -vvv to ansible-playbook').argParser(increase));
}

function addPhaseOptions(cmd: Command): Command {
  return addVaultOptions(cmd)
    .option('-l, --limit <names>', 'limit to these hosts / services / images / volumes (comma separated, per phase)')
    .option('-T, --tags <tags>', 'run only roles/tasks with these tags (comma separated)')
    .option('-C, --check', 'Ansible check mode: report what would change, change nothing')
    .option('-D, --destroy', 'destroy what the phase builds (build-infra, build-volumes, deploy-services)')
    .option('-H, --halt', 'stop the hosts (build-infra)')
    .option('--yes', 'confirm -D without being asked (needed when not on a terminal)')
    .option('--prune', 'deploy-services: also remove services of the stage that are no longer in the inventory')
    .option('--dry-run', 'print what would be done without changing anything')
    .option('--force', 'redo once-only work (initialize-services)')
    .option('--json', 'print NDJSON events on stdout instead of progress')
    .option('--silent-after <seconds>', 'report a task silent for this long (default 300)')
    .option('--task-timeout <seconds>', 'fail a task, naming it and its host, when it runs longer than this (default: `hive set task_timeout`, else no limit)');
}

function globals(cmd: Command): GlobalOpts {
  const o = cmd.optsWithGlobals() as GlobalOpts & { root_dir?: string; inventory_path?: string };
  return { ...o, root: o.root ?? o.root_dir, inventory: o.inventory ?? o.inventory_path };
}

function contextFor(g: GlobalOpts): HiveContext {
  const base = makeContext({ root: g.root, inventory: g.inventory, stage: 'private' });
  return makeContext({ root: g.root, inventory: g.inventory, stage: resolveStage(g.stage, base.hiveDir) });
}

/** Loads and validates the whole inventory (throws InventoryError → exit 2). */
async function loadSite(ctx: HiveContext, requireStage = true): Promise<Site> {
  const { readSite } = await import('../inventory/index.js');
  const firstHive = Number(readSettings(ctx.hiveDir).first_hive ?? 0);
  // reading writes nothing: a run saves new allocations under the stage lock
  const site = readSite({ inventoryDir: ctx.inventoryDir, hiveDir: ctx.hiveDir, stage: ctx.stage, firstHive });
  if (requireStage && !site.stages[ctx.stage]) {
    const defined = Object.keys(site.stages).join(', ') || 'none';
    throw new UsageError(`stage "${ctx.stage}" is not defined in the inventory (defined: ${defined})`);
  }
  return site;
}

function checkPhaseOptions(phase: PhaseName, o: PhaseOpts): void {
  if (o.destroy && !DESTROY_PHASES.includes(phase)) throw new UsageError(`-D/--destroy is not available on ${phase} (only ${DESTROY_PHASES.join(', ')})`);
  if (o.halt && !HALT_PHASES.includes(phase)) throw new UsageError(`-H/--halt is only available on build-infra`);
  if (o.destroy && o.halt) throw new UsageError('-D/--destroy and -H/--halt cannot be used together');
  if (o.prune && phase !== 'deploy-services') throw new UsageError('--prune is only available on deploy-services');
}

function runOptions(o: PhaseOpts) {
  let silentAfter: number | undefined;
  if (o.silentAfter !== undefined) {
    silentAfter = Number(o.silentAfter);
    if (!Number.isFinite(silentAfter) || silentAfter <= 0) throw new UsageError(`--silent-after: "${o.silentAfter}" is not a number of seconds`);
  } else if (readSettingsSafe(o).silent_after !== undefined) {
    silentAfter = Number(readSettingsSafe(o).silent_after);
  }
  let taskTimeout: number | undefined;
  if (o.taskTimeout !== undefined) {
    taskTimeout = Number(o.taskTimeout);
    if (!Number.isInteger(taskTimeout) || taskTimeout < 0) throw new UsageError(`--task-timeout: "${o.taskTimeout}" is not a whole number of seconds`);
  } else if (readSettingsSafe(o).task_timeout !== undefined) {
    taskTimeout = Number(readSettingsSafe(o).task_timeout);
  }
  return {
    limit: o.limit,
    tags: o.tags,
    check: o.check,
    destroy: o.destroy,
    halt: o.halt,
    verbose: o.verbose,
    json: o.json,
    dryRun: o.dryRun,
    force: o.force,
    silentAfter,
    taskTimeout,
    prune: o.prune,
    ...vaultOptions(o),
  };
}

function readSettingsSafe(o: GlobalOpts) {
  return readSettings(contextFor(o).hiveDir);
}

async function runOnePhase(phaseName: string, cmd: Command): Promise<number> {
  const o = globals(cmd) as PhaseOpts;
  if (!(PHASES as readonly string[]).includes(phaseName)) {
    throw new UsageError(`unknown phase "${phaseName}" (phases: ${PHASES.join(', ')})`);
  }
  const phase = phaseName as PhaseName;
  checkPhaseOptions(phase, o);
  const ctx = contextFor(o);
  const site = await loadSite(ctx);
  const opts = runOptions(o);
  await confirmDestroy(site, { phase, stage: ctx.stage, destroy: o.destroy, limit: o.limit, changesNothing: !!(o.check || o.dryRun), yes: o.yes });
  await checkVarsFiles(ctx, site, o);
  const { runPhase } = await import('../runner/run-phase.js');
  const result = await runPhase(ctx, site, phase, opts);
  return result.ok ? 0 : 1;
}

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

  const action =
    (fn: (...args: any[]) => Promise<number | void>) =>
    async (...args: any[]) => {
      // vault prompts are answered once here, for every Ansible process the command starts
      const cmd = args[args.length - 1] as Command;
      const flags = cmd.opts() as VaultFlags;
      const asked = await answerVaultPrompts(flags);
      try {
        if (needsPrompt(flags)) for (const [key, value] of Object.entries(asked.flags)) cmd.setOptionValue(key, value);
        setCode((await fn(...args)) ?? 0);
      } finally {
        asked.cleanup();
      }
    };

  addPhaseOptions(addGlobalOptions(program.command('run')))
    .description('run one phase for the stage')
    .addOption(new Option('-p, --phase <phase>', 'phase to run').choices(PHASES).makeOptionMandatory())
    .action(action(async (_o, cmd: Command) => runOnePhase(cmd.opts().phase, cmd)));

  for (const phase of PHASES) {
    addPhaseOptions(addGlobalOptions(program.command(phase)))
      .description(`same as: hive run --phase ${phase}`)
      .action(action(async (_o, cmd: Command) => runOnePhase(phase, cmd)));
  }

  addPhaseOptions(addGlobalOptions(program.command('all')))
    .description('run every phase in order, resuming from the first one that has not succeeded')
    .addOption(new Option('--from <phase>', 'start from this phase').choices(PHASES))
    .addOption(new Option('-S, --start-phase <phase>', 'same as --from (hive-builder spelling)').choices(PHASES))
    .action(
      action(async (_o, cmd: Command) => {
        const o = globals(cmd) as PhaseOpts & { startPhase?: string };
        if (o.destroy || o.halt) throw new UsageError('-D/-H cannot be used with all; run the phase itself');
        const ctx = contextFor(o);
        const site = await loadSite(ctx);
        await checkVarsFiles(ctx, site, o);
        const { runAll } = await import('../runner/run-all.js');
        const result = await runAll(ctx, site, { ...runOptions(o), from: (o.from ?? o.startPhase) as PhaseName | undefined });
        return result.ok ? 0 : 1;
      }),
    );

  addGlobalOptions(program.command('inventory'))
    .description('print the generated Ansible inventory of the stage (shape of ansible-inventory --list)')
    .option('--list', 'print the whole inventory as JSON (default)')
    .option('--host <host>', 'print the variables of one host')
    .option('--yaml', 'print the inventory file hive writes for Ansible (YAML)')
    .action(
      action(async (o: { host?: string; yaml?: boolean }, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const inv = await import('../model/ansible-inventory.js');
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

  addGlobalOptions(program.command('validate'))
    .description('check the inventory (schema and semantic rules) without running anything')
    .action(
      action(async (_o, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx, false);
        const stages = Object.keys(site.stages).join(', ');
        process.stdout.write(
          `${ctx.inventoryDir}: valid (site ${site.name}; stages ${stages}; ${site.services.length} services, ` +
            `${site.images.length} images, ${site.volumes.length} volumes, ${site.networks.length} networks)\n`,
        );
        return 0;
      }),
    );

  addGlobalOptions(program.command('config'))
    .description('print the merged, defaulted inventory of the stage')
    .option('--json', 'print JSON instead of YAML')
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const { stageConfig } = await import('../model/config.js');
        const config = stageConfig(site, ctx.stage);
        if (o.json) process.stdout.write(JSON.stringify(config, null, 2) + '\n');
        else process.stdout.write((await import('yaml')).stringify(config));
        return 0;
      }),
    );

  addGlobalOptions(program.command('set'))
    .description('remember a value in .hive/settings.yml (e.g. hive set stage staging)')
    .argument('<name>', 'setting name: stage, first_hive, silent_after, task_timeout, forks')
    .argument('<value>')
    .action(
      action(async (name: string, value: string, _o, cmd: Command) => {
        const { writeSetting } = await import('../state/settings.js');
        const ctx = contextFor(globals(cmd));
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
        const ctx = contextFor(globals(cmd));
        const { sshToHost } = await import('./ssh.js');
        return sshToHost(ctx, { host: host ?? o.sshHost, zabbix: o.zabbix, zabbixPort: o.zabbixPort, forward: o.forward, command });
      }),
    );

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
        const { initProject, listSamples, defaultSiteName } = await import('../init/index.js');
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

  addVaultOptions(addGlobalOptions(program.command('plan')))
    .description('show what a phase would change, without changing anything (default: deploy-services)')
    .addOption(new Option('-p, --phase <phase>', 'deploy-services (services) or build-infra (infrastructure)').choices(['deploy-services', 'build-infra']).default('deploy-services'))
    .option('-l, --limit <services>', 'only these services (comma separated)')
    .option('--json', 'print the plan as JSON')
    .action(
      action(async (o: { phase: string; limit?: string; json?: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const ctx = contextFor(g);
        const site = await loadSite(ctx);
        if (o.phase === 'build-infra') {
          await checkVarsFiles(ctx, site, g as PhaseOpts);
          const { planBuildInfra } = await import('./plan-infra.js');
          return planBuildInfra(ctx, site, { json: o.json, vault: vaultOptions(g as PhaseOpts) });
        }
        const { planServices, formatPlan } = await import('../services/index.js');
        const plan = await planServices(ctx, site, { limit: o.limit, verbose: g.verbose });
        if (o.json) {
          const { phase: _phase, ...rest } = plan as typeof plan & { phase?: unknown };
          process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
        } else process.stdout.write(formatPlan(plan));
        return plan.services.some((e) => e.action === 'error') ? 1 : 0;
      }),
    );

  addGlobalOptions(program.command('status'))
    .description('the site as it is now: hosts, swarm leader, services, volumes (exit 1 degraded, 3 no leader)')
    .option('--json', 'print the status as JSON')
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const { siteStatus } = await import('../status/index.js');
        return siteStatus(ctx, site, { json: !!o.json });
      }),
    );

  addGlobalOptions(program.command('versions'))
    .description('list the recorded image versions of a service (newest first)')
    .argument('<service>')
    .option('--json', 'print JSON')
    .action(
      action(async (service: string, o: { json?: boolean }, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const { listVersions, formatVersions } = await import('../services/index.js');
        const v = listVersions(ctx, service);
        process.stdout.write(o.json ? JSON.stringify(v, null, 2) + '\n' : formatVersions(v));
        return 0;
      }),
    );

  addPhaseOptions(addGlobalOptions(program.command('rollback')))
    .description('redeploy a recorded earlier image version of a service (default: the one before)')
    .argument('<service>')
    .option('--to <version>', 'the version to deploy (see hive versions SERVICE)')
    .action(
      action(async (service: string, o: PhaseOpts & { to?: string }, cmd: Command) => {
        const g = globals(cmd) as PhaseOpts & { to?: string };
        const ctx = contextFor(g);
        const site = await loadSite(ctx);
        await checkVarsFiles(ctx, site, g);
        const { rollbackService } = await import('../services/index.js');
        const result = await rollbackService(ctx, site, service, g.to ?? o.to, runOptions(g));
        return result.ok ? 0 : 1;
      }),
    );

  addGlobalOptions(program.command('logs'))
    .description("print a service's log file from the repository's log collector")
    .argument('<service>')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <count>', 'lines from the end to print first', '100')
    .action(
      action(async (service: string, o: { follow?: boolean; lines: string }, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const { showLogs } = await import('../ops/index.js');
        return showLogs(ctx, site, service, { follow: o.follow, lines: Number(o.lines) });
      }),
    );

  addGlobalOptions(program.command('backup'))
    .description("run the site backup now (one service's backup_scripts, or everything)")
    .argument('[service]')
    .action(
      action(async (service: string | undefined, _o, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const { runBackup } = await import('../ops/index.js');
        return runBackup(ctx, site, service);
      }),
    );

  addGlobalOptions(program.command('restore'))
    .description('restore the latest (or the named) backup into the running service')
    .argument('<service>')
    .option('--from <file>', 'a backup file on the repository')
    .option('--no-prerestore', 'do not keep the data the restore replaces (when it cannot be read any more)')
    .action(
      action(async (service: string, o: { from?: string; prerestore?: boolean }, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const { runRestore } = await import('../ops/index.js');
        return runRestore(ctx, site, service, { from: o.from, prerestore: o.prerestore });
      }),
    );

  addGlobalOptions(program.command('list-hosts'))
    .description('print the host names of the stage')
    .action(
      action(async (_o, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        process.stdout.write(site.stages[ctx.stage]!.hosts.map((h) => h.name).join('\n') + '\n');
        return 0;
      }),
    );

  addGlobalOptions(program.command('list-services'))
    .description('print the service names of the stage')
    .action(
      action(async (_o, cmd: Command) => {
        const ctx = contextFor(globals(cmd));
        const site = await loadSite(ctx);
        const names = site.services.filter((s) => s.stages.includes(ctx.stage)).map((s) => s.name);
        process.stdout.write(names.join('\n') + (names.length ? '\n' : ''));
        return 0;
      }),
    );

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

export type { StageName };
