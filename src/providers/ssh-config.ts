// `.hive/<stage>/ssh_config` and `known_hosts`: one Host block per server, used by ansible
// (`ssh_args -F`) and `hive ssh`. One writer for every provider (local, prepared, aws).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { writeAtomic } from '../state/files.js';
import { StageDir } from '../state/stage-dir.js';

export interface SshHostEntry {
  /** Inventory host name, the `Host` alias. */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** `yes` when known_hosts was filled by hive; `accept-new` for fresh cloud instances. */
  strict: 'yes' | 'accept-new';
}

/** ssh keep-alives of every connection hive and Ansible make: 15 s probes, 4 unanswered ones end it. */
export const SSH_KEEPALIVE = { interval: 15, countMax: 4 } as const;

const quote = (path: string) => (/\s/.test(path) ? `"${path}"` : path);

export function renderSshConfig(stageDir: string, identityFile: string, entries: SshHostEntry[], provider: string): string {
  const blocks = entries.map((e) =>
    [
      `Host ${e.alias}`,
      `  HostName ${e.hostName}`,
      `  Port ${e.port}`,
      `  User ${e.user}`,
      `  IdentityFile ${quote(identityFile)}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${quote(new StageDir(stageDir).knownHosts)}`,
      `  StrictHostKeyChecking ${e.strict}`,
      // Plain entries, so hive can drop the lines of a replaced host.
      '  HashKnownHosts no',
      '  LogLevel ERROR',
      // A host that stops answering (hung kernel, lost network) drops the connection after
      // about a minute instead of leaving a task waiting on a dead TCP session for hours.
      `  ServerAliveInterval ${SSH_KEEPALIVE.interval}`,
      `  ServerAliveCountMax ${SSH_KEEPALIVE.countMax}`,
    ].join('\n'),
  );
  return `# Written by hive build-infra (provider ${provider}); regenerated on every run.\n\n${blocks.join('\n\n')}\n`;
}

/** Write atomically; returns whether the content changed. */
export function writeIfChanged(path: string, content: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false;
  writeAtomic(path, content);
  return true;
}

/** The known_hosts host field ssh looks up for an address and port. */
export const knownHostsName = (address: string, port: number) => (port === 22 ? address : `[${address}]:${port}`);

function readLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
}

const hostsOf = (line: string) => (line.startsWith('@') ? line.split(/\s+/)[1] : line.split(/\s+/)[0])?.split(',') ?? [];

export function knownHostsHas(path: string, address: string, port: number): boolean {
  const name = knownHostsName(address, port);
  return readLines(path).some((l) => hostsOf(l).includes(name));
}

/** Drop the entries of addresses that now belong to a new machine; returns whether anything was removed. */
export function forgetKnownHosts(path: string, names: string[]): boolean {
  const lines = readLines(path);
  const kept = lines.filter((l) => !hostsOf(l).some((h) => names.includes(h)));
  if (kept.length === lines.length) return false;
  writeIfChanged(path, kept.length ? `${kept.join('\n')}\n` : '');
  return true;
}

export function appendKnownHosts(path: string, lines: string[]): void {
  const all = [...readLines(path), ...lines];
  writeIfChanged(path, `${[...new Set(all)].join('\n')}\n`);
}

export function removeFiles(...paths: string[]): string[] {
  const removed = paths.filter((p) => existsSync(p));
  for (const p of removed) rmSync(p, { force: true });
  return removed;
}
