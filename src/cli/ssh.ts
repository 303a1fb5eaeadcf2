// `hive ssh [HOST]`: an interactive ssh with the stage's generated ssh_config.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { HiveContext } from '../lib/context.js';
import { StageDir } from '../state/stage-dir.js';
import { UsageError } from '../lib/errors.js';

export interface SshRequest {
  host?: string;
  zabbix?: boolean;
  zabbixPort?: string;
  forward?: string;
  command?: string[];
}

/** Host names of the `Host` blocks, in file order (providers write the repository last). */
export function sshConfigHosts(sshConfigPath: string): string[] {
  return readFileSync(sshConfigPath, 'utf8')
    .split('\n')
    .map((l) => /^\s*Host\s+(\S+)/.exec(l)?.[1])
    .filter((h): h is string => !!h && h !== '*');
}

export function sshArgs(ctx: HiveContext, req: SshRequest): string[] {
  const config = new StageDir(ctx.stageDir).sshConfig;
  if (!existsSync(config)) {
    throw new UsageError(`${config} does not exist: run "hive run --phase build-infra --stage ${ctx.stage}" first`);
  }
  const hosts = sshConfigHosts(config);
  if (hosts.length === 0) throw new UsageError(`no Host entry in ${config}`);
  let host = hosts[hosts.length - 1];
  if (req.host) {
    const match = hosts.find((h) => h === req.host || h.split('.')[0] === req.host);
    if (!match) throw new UsageError(`host "${req.host}" is not in ${config} (hosts: ${hosts.join(', ')})`);
    host = match;
  }
  const args = ['-F', config];
  if (req.zabbix) args.push('-L', `localhost:${req.zabbixPort ?? '10052'}:localhost:80`);
  if (req.forward) args.push('-L', req.forward);
  args.push(host);
  if (req.command?.length) args.push('--', ...req.command);
  return args;
}

export function sshToHost(ctx: HiveContext, req: SshRequest): Promise<number> {
  const args = sshArgs(ctx, req);
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
