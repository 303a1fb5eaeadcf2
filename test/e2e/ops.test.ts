// The repository server's operations on the local site, end to end: log collection (rsyslog,
// one file per service, monitor_error), backup and restore (hive-backup, `hive backup` /
// `hive restore`), and Zabbix (server, agents, API registration, frontend). Everything is
// checked as a user would: lines written inside a service's container, files on the repository,
// HTTP from this machine to the Zabbix API and the frontend in headless Chromium, through the
// forward `hive ssh --zabbix` opens (the host firewall admits only the site's servers).
//
// The suite adds backup_scripts and monitor_error to the sample's notes service (and puts the
// inventory back at the end: other suites share the site).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/lib/context.js';
import { readSite } from '../../src/model/index.js';
import { runBackup, runRestore, showLogs, type OpsIo } from '../../src/ops/index.js';
import { explain, HIVE_BIN, phaseOnce, projectEditor, runPhase, ssh, STAGE, useSite, type LocalSite } from './site-fixture.js';

const LONG = 20 * 60_000;
const CHROMIUM = '/usr/bin/chromium';
/** Passwords the packages ship with (Zabbix Admin, the usual database user password). */
const PACKAGE_DEFAULTS = ['zabbix'];

let site: LocalSite;
let repository: LocalSite['hosts'][number];
/** http://localhost:<port> forwarded to the frontend by `hive ssh --zabbix`. */
let frontend: string;
let forward: ChildProcess | undefined;
/** Edits of the project's files, put back in afterAll. */
const { edit, restoreAll } = projectEditor(() => site.dir);

function context() {
  const ctx = makeContext({ root: site.dir, stage: STAGE });
  const loaded = readSite({ inventoryDir: ctx.inventoryDir, hiveDir: ctx.hiveDir, stage: ctx.stage, firstHive: 0 });
  return { ctx, loaded };
}

/** Runs an ops function with its output captured. */
async function captured(fn: (io: OpsIo) => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(String(chunk));
        cb();
      },
    });
  const code = await fn({ stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), tty: false });
  return { code, out, err };
}

async function onHost(host: string, command: string): Promise<string> {
  const r = await ssh(site, host, command);
  if (r.code !== 0) throw new Error(`${host}: ${command}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** `sh -c COMMAND` inside the running task of notes (pinned to the first hive by the sample). */
async function inNotes(command: string): Promise<string> {
  const hive = site.hosts[0].name;
  const id = await onHost(hive, `docker ps -q --filter label=com.docker.swarm.service.name=notes | head -1`);
  expect(id, `no running notes task on ${hive}`).not.toBe('');
  return onHost(hive, `docker exec ${id} sh -c ${JSON.stringify(command).replace(/\$/g, '\\$')}`);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** JSON-RPC against the repository's Zabbix API, straight from this machine. */
async function zabbix(method: string, params: unknown, auth?: string): Promise<{ result?: any; error?: { message: string; data: string } }> {
  const res = await fetch(`${frontend}/api_jsonrpc.php`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json-rpc' },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1, ...(auth ? { auth } : {}) }),
    signal: AbortSignal.timeout(30_000),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { result?: any; error?: { message: string; data: string } };
}

const secret = (name: string) => readFileSync(join(site.stageDir, name), 'utf8').trim();

async function login(): Promise<string> {
  const r = await zabbix('user.login', { username: 'Admin', password: secret('zabbix_admin_password') });
  expect(r.error, JSON.stringify(r.error)).toBeUndefined();
  return r.result as string;
}

function execOut(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

/** Remote command that holds the forward open and ends when the connection goes. */
const KEEP_OPEN = 'while kill -0 $PPID 2>/dev/null; do sleep 5; done';

/** Opens the frontend forward the way a user does: `hive ssh --zabbix -Z <port>`. */
async function openForward(): Promise<void> {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  frontend = `http://localhost:${port}`;
  // its own process group: hive and the ssh it starts end together
  forward = spawn(process.execPath, [HIVE_BIN, 'ssh', '--stage', STAGE, '--zabbix', '-Z', String(port), repository.name, KEEP_OPEN], {
    cwd: site.dir,
    stdio: 'ignore',
    detached: true,
  });
  await until(
    `the frontend at ${frontend} (hive ssh --zabbix)`,
    async () => ((await fetch(`${frontend}/`, { signal: AbortSignal.timeout(5000) })).ok ? true : undefined),
    60_000,
    1000,
  );
}

function closeForward(): void {
  if (forward?.pid) {
    try {
      process.kill(-forward.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

describe('repository operations (local site)', () => {
  beforeAll(async () => {
    site = await useSite();
    repository = site.hosts.find((h) => h.isRepository)!;
    const setup = await phaseOnce(site, 'setup-hosts');
    expect(setup.code, explain(setup)).toBe(0);
    for (const phase of ['build-images', 'build-volumes', 'build-networks']) {
      const r = await phaseOnce(site, phase);
      expect(r.code, `${phase}: ${explain(r)}`).toBe(0);
    }
    // notes gets a directory backup, a check that fails on demand, and error watching
    edit('inventory/services.yml', (t) =>
      t.replace(
        /^  notes:\n/m,
        [
          '  notes:',
          '    backup_scripts:',
          '      - name: data',
          '        directory: /var/lib/notes',
          '      - name: check',
          '        backup_command: "if [ -e /tmp/hive-e2e-fail-backup ]; then echo refused by the test >&2; exit 3; fi; ls -la /var/lib/notes"',
          '        ext: txt',
          // container: this entry runs in a task of web, another service
          '      - name: web-page',
          '        container: web',
          '        backup_command: cat /srv/www/index.html',
          '        ext: html',
          '    monitor_error: ["ERROR", "FATAL"]',
          '    ignore_error: ["ERROR \\\\(expected\\\\)"]',
          '',
        ].join('\n'),
      ),
    );
    const deploy = await runPhase(site, 'deploy-services');
    expect(deploy.code, explain(deploy)).toBe(0);
    const init = await phaseOnce(site, 'initialize-services');
    expect(init.code, explain(init)).toBe(0);
    await openForward();
  }, LONG);

  afterAll(() => {
    closeForward();
    restoreAll();
  });

  describe('logs', () => {
    it('a line written inside the service shows up in its file on the repository and in hive logs', async () => {
      const marker = `hive-e2e-${Date.now()}`;
      await inNotes(`echo "${marker} plain line" > /proc/1/fd/1`);
      const file = await until(
        'the line in /var/log/services/notes.log',
        async () => {
          const text = await onHost(repository.name, 'sudo -n cat /var/log/services/notes.log');
          return text.includes(marker) ? text : undefined;
        },
        60_000,
        2000,
      );
      expect(file).toMatch(new RegExp(`notes(\\[\\d+\\])?: ${marker} plain line`));
      const { ctx, loaded } = context();
      const r = await captured((io) => showLogs(ctx, loaded, 'notes', { lines: 50 }, io));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`${marker} plain line`);
    });

    it('copies monitor_error lines (and not ignore_error ones) to the error log Zabbix watches', async () => {
      const marker = `hive-e2e-${Date.now()}`;
      await inNotes(`echo "ERROR ${marker} one" > /proc/1/fd/1; echo "ERROR (expected) ${marker} two" > /proc/1/fd/1; echo "${marker} three" > /proc/1/fd/1`);
      const errors = await until(
        'the error line in errors.log',
        async () => {
          const text = await onHost(repository.name, 'sudo -n cat /var/log/services/errors.log');
          return text.includes(`${marker} one`) ? text : undefined;
        },
        60_000,
        2000,
      );
      expect(errors).toMatch(new RegExp(`notes \\S+ ERROR ${marker} one`));
      expect(errors).not.toContain(`${marker} two`);
      expect(errors).not.toContain(`${marker} three`);
    });

    it('refuses a service that is not in the stage', async () => {
      const { ctx, loaded } = context();
      const r = await captured((io) => showLogs(ctx, loaded, 'no-such-service', {}, io));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/no service "no-such-service"/);
    });
  });

  describe('backup and restore', () => {
    it('backs up, and a restore brings changed data back', async () => {
      await inNotes('echo "kept by the backup" > /var/lib/notes/e2e-backup.txt');
      const before = await inNotes('cd /var/lib/notes && ls -A | sort && cat e2e-backup.txt');
      const { ctx, loaded } = context();
      const backup = await captured((io) => runBackup(ctx, loaded, 'notes', io));
      expect(backup.code, backup.out + backup.err).toBe(0);
      const files = await onHost(repository.name, 'sudo -n ls /var/backups/hive/notes');
      expect(files).toMatch(/data-\d{14}\.tar\.gz/);
      expect(files).toContain('data-latest.tar.gz');
      // the web-page entry ran in a task of web (its `container`), not in notes
      expect(backup.out).toMatch(/web runs as web\.\d+\./);
      expect(await onHost(repository.name, 'sudo -n cat /var/backups/hive/notes/web-page-latest.html')).toContain(`Hello from site ${site.name}`);

      await inNotes('echo "changed after the backup" > /var/lib/notes/e2e-backup.txt; echo junk > /var/lib/notes/e2e-junk.txt');
      expect(await inNotes('cat /var/lib/notes/e2e-backup.txt')).toBe('changed after the backup');

      const restore = await captured((io) => runRestore(ctx, loaded, 'notes', {}, io));
      expect(restore.code, restore.out + restore.err).toBe(0);
      // the check entry only backs up (no restore_command / restore_file)
      expect(restore.out).toMatch(/check: backup only/);
      expect(await inNotes('cd /var/lib/notes && ls -A | sort && cat e2e-backup.txt')).toBe(before);
    });

    it('restores a named backup file with --from', async () => {
      const { ctx, loaded } = context();
      const first = (await onHost(repository.name, 'sudo -n ls /var/backups/hive/notes | grep -E "^data-[0-9]{14}" | sort | tail -1')).trim();
      await inNotes('echo second > /var/lib/notes/e2e-second.txt');
      const r = await captured((io) => runRestore(ctx, loaded, 'notes', { from: first }, io));
      expect(r.code, r.out + r.err).toBe(0);
      expect(await inNotes('ls -A /var/lib/notes')).not.toContain('e2e-second.txt');
      const missing = await captured((io) => runRestore(ctx, loaded, 'notes', { from: 'data-19990101000000.tar.gz' }, io));
      expect(missing.code).not.toBe(0);
    });

    it('a failing backup script makes hive backup exit non-zero and is recorded for Zabbix', async () => {
      const { ctx, loaded } = context();
      await inNotes('touch /tmp/hive-e2e-fail-backup');
      try {
        const failed = await captured((io) => runBackup(ctx, loaded, 'notes', io));
        expect(failed.code).toBe(1);
        expect(failed.err).toMatch(/refused by the test/);
        expect(failed.err).toMatch(/backup failed for: notes/);
        const status = JSON.parse(await onHost(repository.name, 'cat /var/lib/hive-backup/status.json'));
        expect(status.failed).toBeGreaterThan(0);
        expect(status.targets.notes.exit).not.toBe(0);
        expect(await onHost(repository.name, 'sudo -n find /var/backups/hive -name "*.partial" | wc -l')).toBe('0');
      } finally {
        await inNotes('rm -f /tmp/hive-e2e-fail-backup');
      }
      const ok = await captured((io) => runBackup(ctx, loaded, 'notes', io));
      expect(ok.code, ok.err).toBe(0);
    });

    it('runs every target (registry and Zabbix database too) from the timer unit', async () => {
      expect(await onHost(repository.name, 'systemctl is-enabled hive-backup.timer')).toBe('enabled');
      const { ctx, loaded } = context();
      const all = await captured((io) => runBackup(ctx, loaded, undefined, io));
      expect(all.code, all.out + all.err).toBe(0);
      const files = await onHost(repository.name, 'sudo -n ls /var/backups/hive/hive-zabbix /var/backups/hive/hive-registry');
      expect(files).toContain('database-latest.dump');
      expect(files).toContain('data-latest.tar.gz');
    });

    it('refuses a service without backup_scripts', async () => {
      const { ctx, loaded } = context();
      const r = await captured((io) => runBackup(ctx, loaded, 'web', io));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/no backup_scripts/);
    });
  });

  describe('zabbix', () => {
    it('lists every server with its agent available', async () => {
      const auth = await login();
      const names = site.hosts.map((h) => h.name).sort();
      const hosts = await until(
        'every agent available',
        async () => {
          const r = await zabbix('host.get', { output: ['host'], selectInterfaces: ['ip', 'available', 'error'], selectGroups: ['name'] }, auth);
          const list = r.result as { host: string; interfaces: { ip: string; available: string; error: string }[]; groups: { name: string }[] }[];
          const ready = list.filter((h) => h.interfaces.some((i) => i.available === '1'));
          if (list.length !== names.length) throw new Error(`Zabbix has hosts ${list.map((h) => h.host).sort().join(', ')}, expected each of ${names.join(', ')} once`);
          if (ready.length === names.length) return list;
          // kept for the timeout message: which agents are not available, and why
          const waiting = names.filter((n) => !ready.some((h) => h.host === n));
          throw new Error(waiting.map((n) => `${n}: ${list.find((h) => h.host === n)?.interfaces.map((i) => `available=${i.available} ${i.error}`).join('; ') ?? 'not registered'}`).join(', '));
        },
        6 * 60_000,
      );
      expect(hosts.map((h) => h.host).sort()).toEqual(names);
      for (const h of site.hosts) {
        const z = hosts.find((x) => x.host === h.name)!;
        expect(z.interfaces[0].ip).toBe(h.ip);
        expect(z.groups.map((g) => g.name)).toContain(h.isHive ? 'hives' : 'repository');
      }
    }, 7 * 60_000);

    it('discovers the swarm services and receives their running task counts', async () => {
      const auth = await login();
      const items = await until(
        'a discovered swarm service item with data',
        async () => {
          const r = await zabbix(
            'item.get',
            { output: ['key_', 'lastvalue', 'lastclock'], hostids: undefined, search: { key_: 'hive.swarm.service.running[' }, filter: { flags: 4 }, templated: false },
            auth,
          );
          const withData = (r.result as { key_: string; lastvalue: string; lastclock: string }[]).filter((i) => Number(i.lastclock) > 0);
          return withData.some((i) => i.key_ === 'hive.swarm.service.running[notes]') ? withData : undefined;
        },
        10 * 60_000,
        10_000,
      );
      // every hive sees the swarm; the freshest value is from the current swarm state
      const notes = items.filter((i) => i.key_ === 'hive.swarm.service.running[notes]').sort((a, b) => Number(b.lastclock) - Number(a.lastclock));
      expect(Number(notes[0].lastvalue)).toBeGreaterThanOrEqual(1);

      // site-wide triggers (services, nodes) fire on the leader only: exactly one hive says it leads
      const hiveCount = site.hosts.filter((h) => h.isHive).length;
      const leaders = await until(
        'the leader item of every hive',
        async () => {
          const r = await zabbix('item.get', { output: ['hostid', 'lastvalue', 'lastclock'], filter: { key_: 'hive.swarm.node.leader' }, templated: false }, auth);
          const list = (r.result as { hostid: string; lastvalue: string; lastclock: string }[]).filter((i) => Number(i.lastclock) > 0);
          return list.length === hiveCount ? list : undefined;
        },
        5 * 60_000,
        10_000,
      );
      expect(leaders.filter((i) => i.lastvalue === '1')).toHaveLength(1);
      // the discovered "Service notes: ... tasks running" triggers of the hives are gated on it
      const triggers = await zabbix('trigger.get', { output: ['expression'], search: { description: 'Service notes:' }, expandExpression: true, templated: false }, auth);
      const expressions = (triggers.result as { expression: string }[]).map((t) => t.expression);
      expect(expressions.length).toBeGreaterThanOrEqual(1);
      for (const e of expressions) expect(e).toContain('hive.swarm.node.leader');
    }, 17 * 60_000);

    it('shows the frontend login page in headless Chromium', async () => {
      expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`).toBe(true);
      const dir = mkdtempSync(join(tmpdir(), 'hive-e2e-zabbix-'));
      try {
        const png = join(dir, 'login.png');
        const url = `${frontend}/`;
        const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${join(dir, 'profile')}`];
        const shot = await execOut(CHROMIUM, [...flags, '--window-size=1280,900', `--screenshot=${png}`, url]);
        expect(existsSync(png), shot.stderr).toBe(true);
        const bytes = readFileSync(png);
        expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
        expect(statSync(png).size).toBeGreaterThan(5000);
        const dom = await execOut(CHROMIUM, [...flags, '--dump-dom', url]);
        expect(dom.stdout).toMatch(/<form[^>]*action="index\.php"/);
        expect(dom.stdout).toMatch(/<input[^>]*id="name"/);
        expect(dom.stdout).toMatch(/<input[^>]*type="password"/);
        expect(dom.stdout).toMatch(/Sign in/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('no default or shared password', () => {
    it('keeps generated secrets 0600 in the stage folder, distinct and not the defaults', () => {
      const names = ['zabbix_admin_password', 'zabbix_db_password', 'registry_password'];
      const values = names.map((n) => {
        expect(statSync(join(site.stageDir, n)).mode & 0o777, n).toBe(0o600);
        return secret(n);
      });
      for (const v of values) {
        expect(v.length).toBeGreaterThanOrEqual(16);
        expect(PACKAGE_DEFAULTS).not.toContain(v.toLowerCase());
      }
      expect(new Set(values).size).toBe(values.length);
    });

    it('refuses the packages\' default logins: Zabbix Admin/zabbix and the database user zabbix/zabbix', async () => {
      for (const password of PACKAGE_DEFAULTS) {
        const r = await zabbix('user.login', { username: 'Admin', password });
        expect(r.error?.data).toMatch(/Incorrect user name or password/);
      }
      const guest = await zabbix('user.login', { username: 'guest', password: '' });
      expect(guest.result).toBeUndefined();
      const db = await ssh(site, repository.name, `PGPASSWORD=zabbix PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -U zabbix -d zabbix -c 'select 1'`);
      expect(db.code).not.toBe(0);
      expect(db.stderr).toMatch(/password authentication failed/);
    });

    it('puts no package default password in the configuration on the hosts or in .hive', async () => {
      const conf = await onHost(
        repository.name,
        `sudo -n grep -h -E '^(DBPassword|\\$DB\\[.PASSWORD.\\])' /etc/zabbix/zabbix_server.conf /etc/zabbix/zabbix_server.conf.d/*.conf /etc/zabbix/zabbix.conf.php`,
      );
      const db = secret('zabbix_db_password');
      const lines = conf.split('\n').filter(Boolean);
      expect(lines.length).toBe(2);
      for (const line of lines) {
        expect(line).toContain(db);
        expect(line).not.toMatch(/['=]\s*zabbix'?;?$/);
      }
      // nothing in the generated stage files says password: zabbix
      const generated = ['vars.yml', 'inventory.yml'].filter((f) => existsSync(join(site.stageDir, f)));
      for (const f of generated) expect(readFileSync(join(site.stageDir, f), 'utf8')).not.toMatch(/password\W+zabbix\b/i);
      // and the generated secrets never reached a run record
      const records = await execOut('sh', ['-c', `cat ${JSON.stringify(site.stageDir)}/runs/*.ndjson 2>/dev/null || true`]);
      for (const n of ['zabbix_admin_password', 'zabbix_db_password']) expect(records.stdout).not.toContain(secret(n));
    });
  });
});
