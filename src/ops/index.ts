// The repository host's operations from the controller: `hive logs`, `hive backup`, `hive restore`.
// Each runs one command on the repository over ssh with the stage's ssh_config (the work itself
// is done there by the programs setup-hosts installed: rsyslog's files, hive-backup) and returns
// its exit code: 0 done, 1 failed there, 2 bad request (nothing run).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { HiveContext } from '../lib/context.js';
import { HiveError } from '../lib/errors.js';
import type { Site } from '../model/site.js';
import { StageDir } from '../state/stage-dir.js';

/** Where the repository keeps what these commands read (roles rsyslog_server and backup). */
export const SERVICE_LOG_DIR = '/var/log/services';
export const BACKUP_COMMAND = '/usr/local/sbin/hive-backup';
/** Targets hive-backup always has besides the services' (roles backup). */
export const BUILTIN_BACKUP_TARGETS = ['hive-registry', 'hive-zabbix'];

export interface OpsIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether the user's terminal is interactive (-f then asks for a remote terminal). */
  tty: boolean;
}

const defaultIo = (): OpsIo => ({ stdout: process.stdout, stderr: process.stderr, tty: !!process.stdout.isTTY });

/** A request the site cannot answer (unknown service, no ssh_config yet ...): exit 2, nothing run. */
class OpsRequestError extends HiveError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A word safe to put on the remote shell's command line. */
const SAFE_WORD = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function shellQuote(word: string): string {
  return SAFE_WORD.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

interface Remote {
  sshConfig: string;
  repository: string;
}

function remoteOf(ctx: HiveContext, site: Site): Remote {
  const stage = site.stages[ctx.stage];
  if (!stage) throw new OpsRequestError(`stage "${ctx.stage}" is not defined in the inventory`);
  const repository = stage.hosts.find((h) => h.isRepository);
  if (!repository) throw new OpsRequestError(`stage ${ctx.stage} has no repository server`);
  const sshConfig = new StageDir(ctx.stageDir).sshConfig;
  if (!existsSync(sshConfig)) {
    throw new OpsRequestError(`${sshConfig} does not exist: run "hive run --phase build-infra --stage ${ctx.stage}" first`);
  }
  return { sshConfig, repository: repository.name };
}

function stageService(ctx: HiveContext, site: Site, name: string) {
  const services = site.services.filter((s) => s.stages.includes(ctx.stage));
  const service = services.find((s) => s.name === name);
  if (!service) {
    const known = services.map((s) => s.name).join(', ') || 'none';
    throw new OpsRequestError(`no service "${name}" in stage ${ctx.stage} (services: ${known})`);
  }
  return service;
}

function hasBackup(vars: Record<string, unknown>): boolean {
  return Array.isArray(vars.hive_backup_scripts) && vars.hive_backup_scripts.length > 0;
}

/** ssh to the repository running one remote command line; resolves to its exit code. */
function runRemote(remote: Remote, command: string, io: OpsIo, opts: { tty?: boolean } = {}): Promise<number> {
  const args = ['-F', remote.sshConfig, '-o', 'BatchMode=yes'];
  // a remote terminal makes Ctrl-C stop the remote command too (tail -F)
  if (opts.tty) args.push('-t');
  args.push(remote.repository, command);
  return new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.pipe(io.stdout, { end: false });
    child.stderr.pipe(io.stderr, { end: false });
    child.on('error', (err) => {
      io.stderr.write(`hive: ssh: ${err.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code === 255 ? 1 : (code ?? (signal ? 1 : 0))));
  });
}

async function guarded(io: OpsIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OpsRequestError) {
      io.stderr.write(`hive: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

export interface LogsOptions {
  /** Keep printing new lines (tail -F) until interrupted. */
  follow?: boolean;
  /** Lines of the end of the file to print first (default 100). */
  lines?: number;
}

/** `hive logs SERVICE [-f]`: the service's file of the log collector on the repository. */
export function showLogs(ctx: HiveContext, site: Site, service: string, opts: LogsOptions = {}, io: OpsIo = defaultIo()): Promise<number> {
  return guarded(io, async () => {
    stageService(ctx, site, service);
    const remote = remoteOf(ctx, site);
    const lines = opts.lines ?? 100;
    if (!Number.isInteger(lines) || lines < 0) throw new OpsRequestError(`--lines: ${lines} is not a count of lines`);
    const file = `${SERVICE_LOG_DIR}/${service}.log`;
    const command = opts.follow
      ? `sudo -n tail -n ${lines} -F ${shellQuote(file)}`
      : `if sudo -n test -e ${shellQuote(file)}; then sudo -n tail -n ${lines} ${shellQuote(file)}; ` +
        `else echo "no log of ${service} yet (${file} does not exist)" >&2; exit 1; fi`;
    return runRemote(remote, command, io, { tty: opts.follow && io.tty });
  });
}

/** `hive backup [SERVICE]`: hive-backup for one service (or every target) now. */
export function runBackup(ctx: HiveContext, site: Site, service?: string, io: OpsIo = defaultIo()): Promise<number> {
  return guarded(io, async () => {
    const target = service ? backupTarget(ctx, site, service) : undefined;
    const remote = remoteOf(ctx, site);
    return runRemote(remote, `sudo -n ${BACKUP_COMMAND}${target ? ` ${shellQuote(target)}` : ''}`, io);
  });
}

export interface RestoreOptions {
  /** A backup file on the repository (absolute, or relative to the service's backup folder). */
  from?: string;
  /**
   * false: do not back up the data the restore replaces first (hive-backup --no-prerestore; for
   * when that data cannot be read any more). Default: it is kept as <entry>-prerestore-<time>.<ext>.
   */
  prerestore?: boolean;
}

/**
 * `hive restore SERVICE [--from FILE] [--no-prerestore]`: puts the latest (or the named) backup
 * back into the running service, after keeping the data it replaces.
 */
export function runRestore(ctx: HiveContext, site: Site, service: string, opts: RestoreOptions = {}, io: OpsIo = defaultIo()): Promise<number> {
  return guarded(io, async () => {
    const target = backupTarget(ctx, site, service);
    if (opts.from !== undefined && (opts.from === '' || /[\0\n]/.test(opts.from))) throw new OpsRequestError('--from needs a file name');
    const remote = remoteOf(ctx, site);
    const from = opts.from ? ` --from ${shellQuote(opts.from)}` : '';
    const prerestore = opts.prerestore === false ? ' --no-prerestore' : '';
    return runRemote(remote, `sudo -n ${BACKUP_COMMAND} --restore${from}${prerestore} ${shellQuote(target)}`, io);
  });
}

function backupTarget(ctx: HiveContext, site: Site, name: string): string {
  if (BUILTIN_BACKUP_TARGETS.includes(name)) return name;
  const svc = stageService(ctx, site, name);
  if (!hasBackup(svc.vars)) {
    throw new OpsRequestError(`service "${name}" has no backup_scripts in the inventory (${svc.source.file}:${svc.source.line})`);
  }
  return name;
}
