// One local site per test run, shared by every e2e suite. The first suite that calls useSite()
// runs `hive init --provider local` in a temporary folder and `hive run --phase build-infra`,
// and records the site in the run folder; later suites (each test file runs in its own process,
// one file at a time) read that record. global-setup.ts destroys the site after the last file;
// a site left by a killed run is removed by the next run (its owner process is gone).
//
// Everything goes through the real `hive` command, docker and ssh, as a user would do it.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { HiveEvent, HostStats } from '../../src/lib/events.js';

declare module 'vitest' {
  export interface ProvidedContext {
    hiveE2eRunDir: string;
  }
}

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const HIVE_BIN = join(REPO, 'bin', 'hive.js');
export const STAGE = 'private';
/** Sites of e2e runs, by name: which process owns each (for cleaning up after killed runs). */
export const REGISTRY = '/var/tmp/hive-e2e/sites';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface HiveRun extends CommandResult {
  events: HiveEvent[];
  /** The phase_end event (undefined if hive died before it). */
  end?: Extract<HiveEvent, { event: 'phase_end' }>;
}

export interface SiteHost {
  name: string;
  ip: string;
  isHive: boolean;
  isRepository: boolean;
}

export interface LocalSite {
  name: string;
  /** Project root: inventory/, roles/, .hive/ */
  dir: string;
  stage: typeof STAGE;
  stageDir: string;
  sshConfig: string;
  /** Servers of the stage in inventory order (the repository last), from `hive inventory --list`. */
  hosts: SiteHost[];
  /** The build-infra that made the site. */
  buildInfra: HiveRun;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30 * 60_000, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr), seconds: (Date.now() - started) / 1000 });
      },
    );
    // a command that exits without reading its input closes the pipe: its exit code tells
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function parseEvents(stdout: string): HiveEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as HiveEvent];
      } catch {
        return [];
      }
    });
}

/** `hive <args>` in the project folder. */
export async function hive(dir: string, args: string[], env?: NodeJS.ProcessEnv): Promise<HiveRun> {
  const r = await run(process.execPath, [HIVE_BIN, ...args], { cwd: dir, env: env ? { ...process.env, ...env } : undefined });
  const events = parseEvents(r.stdout);
  const end = events.find((e): e is Extract<HiveEvent, { event: 'phase_end' }> => e.event === 'phase_end');
  return { ...r, events, end };
}

/** `hive run --phase <phase> --stage private --json [extra]` in the site's folder. */
export function runPhase(site: Pick<LocalSite, 'dir'>, phase: string, extra: string[] = []): Promise<HiveRun> {
  return hive(site.dir, ['run', '--phase', phase, '--stage', STAGE, '--json', ...extra]);
}

/** Sum of one counter over all hosts of a phase_end. */
export const total = (stats: Record<string, HostStats> | undefined, key: keyof HostStats) =>
  Object.values(stats ?? {}).reduce((n, s) => n + (s[key] ?? 0), 0);

/** One line per failure, for assertion messages. */
export const explain = (r: HiveRun) =>
  [
    `exit ${r.code} after ${r.seconds}s`,
    ...(r.end?.failed ?? []).map((f) => `${f.host} / ${f.task}: ${f.msg ?? ''}`),
    r.stderr.trim().split('\n').slice(-15).join('\n'),
  ].join('\n');

export function ssh(site: LocalSite, host: string, command: string): Promise<CommandResult> {
  return run('ssh', ['-F', site.sshConfig, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', host, command], { timeoutMs: 120_000 });
}

export async function dockerOut(args: string[]): Promise<string> {
  const r = await run('docker', args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Everything on the docker engine that carries the site's label. */
export async function siteResources(name: string): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  const f = `label=hive.site=${name}`;
  const list = async (args: string[]) => (await dockerOut(args)).split('\n').filter(Boolean);
  return {
    containers: await list(['ps', '-a', '--filter', f, '--format', '{{.Names}}']),
    networks: await list(['network', 'ls', '--filter', f, '--format', '{{.Name}}']),
    volumes: await list(['volume', 'ls', '--filter', f, '--format', '{{.Name}}']),
  };
}

/** Removes the site: `hive ... build-infra -D`, then anything with its label that is still there. */
export async function destroySite(name: string, dir?: string): Promise<void> {
  if (dir && existsSync(join(dir, 'inventory'))) await runPhase({ dir }, 'build-infra', ['-D', '--yes']);
  const left = await siteResources(name).catch(() => ({ containers: [], networks: [], volumes: [] }));
  if (left.containers.length) await run('docker', ['rm', '-f', '-v', ...left.containers]);
  for (const n of left.networks) await run('docker', ['network', 'rm', n]);
  if (left.volumes.length) await run('docker', ['volume', 'rm', '-f', ...left.volumes]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  rmSync(join(REGISTRY, `${name}.json`), { force: true });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Removes sites of e2e runs whose process is gone (killed runs never reach their teardown). */
export async function sweepAbandonedSites(): Promise<string[]> {
  if (!existsSync(REGISTRY)) return [];
  const removed: string[] = [];
  for (const f of readdirSync(REGISTRY).filter((x) => x.endsWith('.json'))) {
    let entry: { name: string; dir: string; owner: number };
    try {
      entry = JSON.parse(readFileSync(join(REGISTRY, f), 'utf8'));
    } catch {
      continue;
    }
    if (alive(entry.owner)) continue;
    await destroySite(entry.name, entry.dir);
    removed.push(entry.name);
  }
  return removed;
}

/** The folder where this test run keeps its site record (from global-setup.ts). */
function runDir(): string {
  let dir: string | undefined;
  try {
    dir = inject('hiveE2eRunDir');
  } catch {
    // not inside a vitest run with our global setup
  }
  dir ??= process.env.HIVE_E2E_RUN_DIR ?? join('/var/tmp/hive-e2e', `run-${process.ppid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Owner of the site: the vitest main process (test files run in its child processes). */
const owner = () => Number(process.env.HIVE_E2E_OWNER ?? process.ppid);

async function readHosts(dir: string): Promise<SiteHost[]> {
  const r = await hive(dir, ['inventory', '--list', '--stage', STAGE]);
  if (r.code !== 0) throw new Error(`hive inventory --list failed: ${r.stderr}`);
  const inv = JSON.parse(r.stdout) as Record<string, { hosts?: string[] }> & { _meta: { hostvars: Record<string, { hive_private_ip: string }> } };
  const servers = [...new Set([...(inv.hives?.hosts ?? []), ...(inv.repository?.hosts ?? [])])];
  const inStage = new Set(inv[STAGE]?.hosts ?? servers);
  return servers
    .filter((h) => inStage.has(h))
    .map((name) => ({
      name,
      ip: inv._meta.hostvars[name].hive_private_ip,
      isHive: (inv.hives?.hosts ?? []).includes(name),
      isRepository: (inv.repository?.hosts ?? []).includes(name),
    }))
    .sort((a, b) => Number(a.isRepository) - Number(b.isRepository) || a.name.localeCompare(b.name));
}

type SiteRecord = { name: string; dir: string; state: 'building' | 'failed' | 'destroyed' | 'ready'; error?: string } & Partial<LocalSite>;

/**
 * Builds the run's site on first use; later calls (and later test files) get the same site. A
 * failed build is not retried within the run: every suite gets the first error.
 */
export async function useSite(): Promise<LocalSite> {
  const record = join(runDir(), 'site.json');
  if (existsSync(record)) {
    const rec = JSON.parse(readFileSync(record, 'utf8')) as SiteRecord;
    if (rec.state === 'ready') return rec as LocalSite;
    if (rec.state === 'failed') throw new Error(`the e2e site could not be built (earlier in this run): ${rec.error}`);
  }
  const name = `e2e-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `hive-${name}-`));
  mkdirSync(REGISTRY, { recursive: true });
  writeFileSync(join(REGISTRY, `${name}.json`), JSON.stringify({ name, dir, owner: owner() }));
  // recorded before the build, so teardown removes even a half-built site
  const write = (rec: SiteRecord) => writeFileSync(record, JSON.stringify(rec));
  write({ name, dir, state: 'building' });
  try {
    const init = await hive(dir, ['init', '--provider', 'local', '--name', name]);
    if (init.code !== 0) throw new Error(`hive init failed: ${init.stderr}`);
    const buildInfra = await runPhase({ dir }, 'build-infra');
    if (buildInfra.code !== 0) throw new Error(`build-infra of the e2e site failed:\n${explain(buildInfra)}`);
    const stageDir = join(dir, '.hive', STAGE);
    const site: LocalSite = {
      name,
      dir,
      stage: STAGE,
      stageDir,
      sshConfig: join(stageDir, 'ssh_config'),
      hosts: await readHosts(dir),
      buildInfra,
    };
    write({ ...site, state: 'ready' });
    return site;
  } catch (err) {
    write({ name, dir, state: 'failed', error: (err as Error).message });
    throw err;
  }
}

/** Marks the shared site as gone (after a suite destroyed it on purpose); the next useSite() builds a new one. */
export function forgetSite(): void {
  const record = join(runDir(), 'site.json');
  if (!existsSync(record)) return;
  const rec = JSON.parse(readFileSync(record, 'utf8')) as SiteRecord;
  writeFileSync(record, JSON.stringify({ name: rec.name, dir: rec.dir, state: 'destroyed' }));
}

/**
 * Runs a phase once per site (e.g. setup-hosts, needed by several suites); later calls return
 * the first run's result.
 */
export async function phaseOnce(site: LocalSite, phase: string): Promise<HiveRun> {
  const memo = join(site.stageDir, `e2e-${phase}.json`);
  if (existsSync(memo)) return JSON.parse(readFileSync(memo, 'utf8')) as HiveRun;
  const r = await runPhase(site, phase);
  writeFileSync(memo, JSON.stringify(r));
  return r;
}

/** Teardown of the run (global-setup.ts): removes the run's site if one was built. */
export async function teardownRun(dir: string): Promise<void> {
  const record = join(dir, 'site.json');
  if (existsSync(record)) {
    const site = JSON.parse(readFileSync(record, 'utf8')) as { name: string; dir: string };
    await destroySite(site.name, site.dir);
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Edits of a site's project files (inventory, roles) made by a suite: `edit` remembers each
 * file's original and fails when the change changes nothing; `restore` puts one file back,
 * `restoreAll` (for afterAll) every file the suite touched.
 */
export function projectEditor(dirOf: () => string) {
  const saved = new Map<string, string>();
  return {
    edit(rel: string, change: (text: string) => string): void {
      const path = join(dirOf(), rel);
      const text = readFileSync(path, 'utf8');
      if (!saved.has(path)) saved.set(path, text);
      const next = change(text);
      if (next === text) throw new Error(`edit of ${rel} changed nothing`);
      writeFileSync(path, next);
    },
    restore(rel: string): void {
      const path = join(dirOf(), rel);
      const text = saved.get(path);
      if (text !== undefined) writeFileSync(path, text);
    },
    restoreAll(): void {
      for (const [path, text] of saved) writeFileSync(path, text);
    },
  };
}
