// hive-backup and its restore, run for real on this machine (no swarm): the role's programs from
// roles/backup/files with a settings file and targets under a temporary folder
// (HIVE_BACKUP_CONF, HIVE_BACKUP_LIB), targets with an empty service= running their commands here.
// The service target is service_backup's template and the built-ins are the backup role's
// templates, rendered with jinja2 (systemctl, runuser and pg_* are fakes on PATH that log their
// calls). Checked: a restore keeps the data it replaces as <entry>-prerestore-<time>.<ext> and
// --from that file undoes it; a corrupt archive leaves the directory exactly as it was; a target
// whose current data cannot be backed up restores nothing; a failing built-in restore still
// starts its service again; entry db never takes the files of entry db-2 (restore, age cleanup);
// the age cleanup never removes prerestore files.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FILES = join(REPO, 'roles/backup/files');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((res) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

let root: string;
let env: NodeJS.ProcessEnv;
const backups = () => join(root, 'backups');
const data = (name: string) => join(root, 'data', name);
const calls = () => (existsSync(join(root, 'calls.log')) ? readFileSync(join(root, 'calls.log'), 'utf8') : '');

/** hive-backup ARGS as root runs it on the repository, with the temporary settings. */
const hiveBackup = (...args: string[]) => run('bash', [join(FILES, 'hive-backup'), ...args], env);
const sh = (script: string) => run('bash', ['-c', script], env);

/** Renders a jinja2 template of the roles the way Ansible does (trim_blocks, quote = shlex.quote). */
async function render(template: string, vars: Record<string, unknown>): Promise<string> {
  const py = [
    'import json, shlex, sys, jinja2',
    'e = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)',
    "e.filters['quote'] = lambda s: shlex.quote(str(s))",
    'sys.stdout.write(e.from_string(open(sys.argv[1]).read()).render(**json.loads(sys.argv[2])))',
  ].join('\n');
  const r = await run('python3', ['-c', py, join(REPO, template), JSON.stringify({ ansible_managed: 'test', ...vars })]);
  if (r.code !== 0) throw new Error(`render ${template}: ${r.stderr}`);
  return r.stdout;
}

/** Backup files of a target, sorted. */
const files = (target: string) => readdirSync(join(backups(), target)).sort();

/** Everything about a folder that a restore could change: names, types, modes, sizes and contents. */
async function snapshot(dir: string): Promise<string> {
  const r = await sh(`cd ${JSON.stringify(dir)} && find . -printf '%p %y %m %s\\n' | sort && find . -type f -exec md5sum {} + | sort`);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function writeTree(dir: string, tree: Record<string, string>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** The content of one member of a tar.gz made by a directory backup (tar -C DIR .). */
async function member(archive: string, path: string): Promise<string> {
  const r = await run('tar', ['-xzOf', archive, `./${path}`]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hive-backup-restore-'));
  const lib = join(root, 'lib');
  const bin = join(root, 'bin');
  mkdirSync(lib);
  mkdirSync(bin);
  mkdirSync(join(root, 'targets.d'));
  // installed as the role does (the repository's copies are not executable)
  for (const f of readdirSync(FILES)) {
    copyFileSync(join(FILES, f), join(lib, f));
    chmodSync(join(lib, f), 0o755);
  }
  const conf = join(root, 'hive-backup.conf');
  writeFileSync(
    conf,
    [
      `HIVE_BACKUP_DIR=${backups()}`,
      `HIVE_BACKUP_TARGETS_DIR=${join(root, 'targets.d')}`,
      `HIVE_BACKUP_STATUS=${join(root, 'status.json')}`,
      `HIVE_BACKUP_LOCK=${join(root, 'lock')}`,
      'HIVE_BACKUP_LOCK_WAIT=30',
      "HIVE_MANAGERS=''",
      "HIVE_BACKUP_COPY_TO=''",
      'export HIVE_BACKUP_STATUS HIVE_BACKUP_TARGETS_DIR',
      '',
    ].join('\n'),
  );
  // fakes of what the built-in targets run: each logs its call; FAIL_<name> makes it fail
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${join(root, 'calls.log')}\n[ ! -e ${join(root, `FAIL_${name}`)} ] || exit 1\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  fake('systemctl', ':');
  fake('runuser', 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"');
  fake('pg_dump', `cat ${join(root, 'data/zabbix.db')}`);
  fake('pg_restore', `cat > ${join(root, 'data/zabbix.db')}`);
  env = { HIVE_BACKUP_CONF: conf, HIVE_BACKUP_LIB: lib, PATH: `${bin}:${process.env.PATH}` };

  // the service target as service_backup writes it, but run here (service= empty)
  const app = await render('roles/service_backup/templates/service.sh.j2', {
    item: 'app',
    service_backup_days: 7,
    hostvars: {
      app: {
        hive_backup_scripts: [
          { name: 'db', directory: data('db'), cleanup_days_before: 7 },
          // no age cleanup of its own: what is removed of db-2 can only be db's doing
          { name: 'db-2', directory: data('db-2'), cleanup_days_before: 0 },
          { name: 'report', backup_command: 'echo report' },
        ],
      },
    },
  });
  expect(app).toMatch(/^service=app$/m);
  writeFileSync(join(root, 'targets.d/app.sh'), app.replace(/^service=app$/m, 'service='));
  writeFileSync(
    join(root, 'targets.d/hive-registry.sh'),
    await render('roles/backup/templates/hive-registry.sh.j2', {
      backup_registry_dir: data('registry'),
      backup_registry_service: 'fake-registry',
      backup_days: 7,
    }),
  );
  writeFileSync(
    join(root, 'targets.d/hive-zabbix.sh'),
    await render('roles/backup/templates/hive-zabbix.sh.j2', { backup_zabbix_database: 'zabbix', backup_zabbix_service: 'fake-zabbix', backup_days: 7 }),
  );
  writeTree(data('db'), { 'a.txt': 'v1\n', 'sub/b.txt': 'b1\n', '.hidden': 'h1\n' });
  writeTree(data('db-2'), { 'c.txt': 'c1\n' });
  writeTree(data('registry'), { 'docker/registry/v2/blob': 'blob1\n' });
  writeFileSync(data('zabbix.db'), 'zabbix v1\n');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('restore of a directory entry', () => {
  let prerestore: string;

  it('brings the backup back and keeps the data it replaced in a prerestore file', async () => {
    const b = await hiveBackup('app');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(files('app')).toEqual(expect.arrayContaining(['db-latest.tar.gz', 'db-2-latest.tar.gz', 'report-latest.tar.gz']));

    writeTree(data('db'), { 'a.txt': 'v2\n', 'junk.txt': 'junk\n' });
    const r = await hiveBackup('--restore', 'app');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/db: keeping the current data in .*\/db-prerestore-\d{14}\.tar\.gz/);
    expect(r.stdout).toMatch(/report: backup only/);
    expect(readFileSync(join(data('db'), 'a.txt'), 'utf8')).toBe('v1\n');
    expect(readFileSync(join(data('db'), 'sub/b.txt'), 'utf8')).toBe('b1\n');
    expect(readFileSync(join(data('db'), '.hidden'), 'utf8')).toBe('h1\n');
    expect(existsSync(join(data('db'), 'junk.txt'))).toBe(false);
    // nothing of the swap is left behind
    expect(readdirSync(data('db')).sort()).toEqual(['.hidden', 'a.txt', 'sub']);

    const pre = files('app').filter((f) => /^db-prerestore-\d{14}\.tar\.gz$/.test(f));
    expect(pre).toHaveLength(1);
    prerestore = pre[0]!;
    expect(await member(join(backups(), 'app', prerestore), 'a.txt')).toBe('v2\n');
    expect(await member(join(backups(), 'app', prerestore), 'junk.txt')).toBe('junk\n');
    // the latest backup is still the nightly one, not the prerestore file
    expect((await sh(`readlink ${join(backups(), 'app/db-latest.tar.gz')}`)).stdout.trim()).toMatch(/^db-\d{14}\.tar\.gz$/);
  });

  it('--from the prerestore file undoes the restore (keeping what it replaces again)', async () => {
    const r = await hiveBackup('--restore', '--from', prerestore, 'app');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(data('db'), 'a.txt'), 'utf8')).toBe('v2\n');
    expect(readFileSync(join(data('db'), 'junk.txt'), 'utf8')).toBe('junk\n');
    expect(existsSync(join(data('db'), 'sub'))).toBe(false);
    const pre = files('app').filter((f) => f.startsWith('db-prerestore-'));
    expect(pre).toHaveLength(2);
    expect(pre).toContain(prerestore);
    // the file restored from is untouched; the new one holds the data that was in place
    expect(await member(join(backups(), 'app', prerestore), 'a.txt')).toBe('v2\n');
    expect(await member(join(backups(), 'app', pre.find((f) => f !== prerestore)!), 'a.txt')).toBe('v1\n');
  });

  it('--no-prerestore restores without keeping the current data', async () => {
    const before = files('app');
    const latest = (await sh(`readlink ${join(backups(), 'app/db-latest.tar.gz')}`)).stdout.trim();
    const r = await hiveBackup('--restore', '--no-prerestore', '--from', latest, 'app');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/keeping the current data/);
    expect(readFileSync(join(data('db'), 'a.txt'), 'utf8')).toBe('v1\n');
    expect(files('app')).toEqual(before);
  });

  it('a corrupt archive fails and leaves the directory exactly as it was', async () => {
    writeTree(data('db'), { 'a.txt': 'v3\n', 'sub/deep/x': 'x\n', '.dot': 'd\n' });
    const before = await snapshot(data('db'));
    const garbage = 'db-20200101000000.tar.gz';
    writeFileSync(join(backups(), 'app', garbage), 'this is not a gzip file\n'.repeat(100));
    const r = await hiveBackup('--restore', '--from', garbage, 'app');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/extraction failed/);
    expect(r.stderr).toMatch(/db: the restore failed; the data it was to replace is kept in .*db-prerestore-\d{14}\.tar\.gz/);
    expect(await snapshot(data('db'))).toBe(before);
    rmSync(join(backups(), 'app', garbage));
  });

  it('restores nothing when the current data of an entry cannot be backed up', async () => {
    writeTree(data('db'), { 'a.txt': 'v4\n' });
    const before = await snapshot(data('db'));
    const pre = files('app').filter((f) => f.includes('-prerestore-'));
    // db-2's folder is gone: its prerestore backup fails, so db is not restored either
    renameSync(data('db-2'), data('db-2.away'));
    try {
      const r = await hiveBackup('--restore', 'app');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/db-2: the current data could not be kept .*nothing was restored/);
      expect(await snapshot(data('db'))).toBe(before);
      // db's prerestore file of this run is kept, no partial file is left
      expect(files('app').filter((f) => f.includes('-prerestore-')).length).toBe(pre.length + 1);
      expect(files('app').filter((f) => f.endsWith('.partial'))).toEqual([]);
    } finally {
      renameSync(data('db-2.away'), data('db-2'));
    }
  });
});

describe('entries db and db-2', () => {
  it('--from a db-2 file restores only db-2', async () => {
    writeTree(data('db-2'), { 'c.txt': 'c-backed-up\n' });
    const b = await hiveBackup('app');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const db2 = (await sh(`readlink ${join(backups(), 'app/db-2-latest.tar.gz')}`)).stdout.trim();
    expect(db2).toMatch(/^db-2-\d{14}\.tar\.gz$/);
    writeTree(data('db'), { 'a.txt': 'db-changed\n' });
    writeTree(data('db-2'), { 'c.txt': 'c-changed\n' });
    const r = await hiveBackup('--restore', '--from', db2, 'app');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/ db: /);
    expect(readFileSync(join(data('db-2'), 'c.txt'), 'utf8')).toBe('c-backed-up\n');
    expect(readFileSync(join(data('db'), 'a.txt'), 'utf8')).toBe('db-changed\n');
    // and only db-2 kept its current data
    expect(r.stdout).toMatch(/db-2: keeping the current data in .*\/db-2-prerestore-\d{14}\.tar\.gz/);
  });

  it("db's age cleanup removes its own old backups only: never db-2's, never prerestore files", async () => {
    const old = ['db-20000101000000.tar.gz', 'db-2-20000101000000.tar.gz', 'db-prerestore-20000101000000.tar.gz', 'db-2-prerestore-20000101000000.tar.gz'];
    for (const f of old) writeFileSync(join(backups(), 'app', f), 'old\n');
    const t = await sh(`cd ${join(backups(), 'app')} && touch -d '30 days ago' ${old.join(' ')}`);
    expect(t.code, t.stderr).toBe(0);
    const b = await hiveBackup('app');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(b.stdout).toMatch(/removed old .*\/db-20000101000000\.tar\.gz/);
    const now = files('app');
    expect(now).not.toContain('db-20000101000000.tar.gz');
    expect(now).toEqual(expect.arrayContaining(old.slice(1)));
  });
});

describe('built-in targets', () => {
  it('the registry restore swaps its folder and stops and starts the registry', async () => {
    const b = await hiveBackup('hive-registry');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    writeTree(data('registry'), { 'docker/registry/v2/blob': 'blob2\n', 'new': 'n\n' });
    rmSync(join(root, 'calls.log'), { force: true });
    const r = await hiveBackup('--restore', 'hive-registry');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readdirSync(data('registry'))).toEqual(['docker']);
    expect(readFileSync(join(data('registry'), 'docker/registry/v2/blob'), 'utf8')).toBe('blob1\n');
    expect(calls()).toBe('systemctl stop fake-registry\nsystemctl start fake-registry\n');
    expect(files('hive-registry').some((f) => /^data-prerestore-\d{14}\.tar\.gz$/.test(f))).toBe(true);
  });

  it('a failing registry restore starts the registry again and leaves its folder as it was', async () => {
    writeTree(data('registry'), { 'docker/registry/v2/blob': 'blob3\n' });
    const before = await snapshot(data('registry'));
    rmSync(join(root, 'calls.log'), { force: true });
    writeFileSync(join(root, 'FAIL_systemctl'), '');
    try {
      // systemctl fails on stop (and start): the restore fails after its stop was tried
      const r = await hiveBackup('--restore', 'hive-registry');
      expect(r.code).not.toBe(0);
    } finally {
      rmSync(join(root, 'FAIL_systemctl'));
    }
    expect(calls()).toBe('systemctl stop fake-registry\nsystemctl start fake-registry\n');
    expect(await snapshot(data('registry'))).toBe(before);
  });

  it('a corrupt registry archive does not even stop the registry', async () => {
    const before = await snapshot(data('registry'));
    writeFileSync(join(backups(), 'hive-registry', 'data-20200101000000.tar.gz'), 'garbage\n');
    rmSync(join(root, 'calls.log'), { force: true });
    const r = await hiveBackup('--restore', '--from', 'data-20200101000000.tar.gz', 'hive-registry');
    expect(r.code).not.toBe(0);
    expect(calls()).toBe('');
    expect(await snapshot(data('registry'))).toBe(before);
  });

  it('a failing Zabbix restore starts the Zabbix server again', async () => {
    const b = await hiveBackup('hive-zabbix');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    writeFileSync(data('zabbix.db'), 'zabbix v2\n');
    rmSync(join(root, 'calls.log'), { force: true });
    writeFileSync(join(root, 'FAIL_pg_restore'), '');
    try {
      const r = await hiveBackup('--restore', 'hive-zabbix');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/database: the restore failed; the data it was to replace is kept in .*database-prerestore-\d{14}\.dump/);
    } finally {
      rmSync(join(root, 'FAIL_pg_restore'));
    }
    expect(calls()).toMatch(/^runuser -u postgres -- pg_dump --format=custom zabbix\npg_dump .*\nsystemctl stop fake-zabbix\nrunuser .*pg_restore .*\npg_restore .*\nsystemctl start fake-zabbix\n$/);
    const pre = files('hive-zabbix').find((f) => /^database-prerestore-\d{14}\.dump$/.test(f))!;
    expect(readFileSync(join(backups(), 'hive-zabbix', pre), 'utf8')).toBe('zabbix v2\n');

    const ok = await hiveBackup('--restore', 'hive-zabbix');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(readFileSync(data('zabbix.db'), 'utf8')).toBe('zabbix v1\n');
  });
});
