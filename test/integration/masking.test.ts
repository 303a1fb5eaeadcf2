// Secrets never reach hive's output: a phase run the way hive runs phases (real ansible-playbook,
// hosts are `ansible_connection: local`) whose tasks fail and echo the secrets of the inventory's
// group_vars/ (file and folder), host_vars/, an inline !vault value, the services' environments
// (list and map form, a credentialed *_URL) and the registry password. None of the values may
// appear on stdout/stderr (--json, plain progress, -v Ansible text), in the events or in any file
// under .hive/.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { HiveContext } from '../../src/lib/context.js';
import type { HiveEvent } from '../../src/lib/events.js';
import { MASK } from '../../src/model/secrets.js';
import { runPhase } from '../../src/runner/run-phase.js';
import { EVENT_MARKER } from '../../src/runner/tracking.js';
import { fixtureProject, fixtureSite } from '../fixtures/runner/site.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const random = (label: string) => `${label}-${randomBytes(9).toString('hex')}`;

// each secret reaches hive by a different route
const S = {
  dbPassword: random('GvFile'), // group_vars/all.yml db_password
  apiToken: random('GvFolder'), // group_vars/servers/secrets.yml api_token
  hostCredentials: random('HostVars'), // host_vars/p-hive0.demo.yml hive0_credentials
  vaulted: random('Vaulted'), // inline !vault under a harmless name (welcome_text)
  envList: random('EnvList'), // services.yml web: environment: [DB_PASSWORD=...]
  apiKey: random('EnvMap'), // services.yml api: environment: {API_KEY: ...}
  urlPassword: random('UrlPw'), // services.yml api: DATABASE_URL: postgres://app:...@db/app
  registry: random('Registry'), // .hive/private/registry_password (generated secret)
};

const PLAYBOOK = `---
- name: Masking fixture, a failing play that echoes secrets
  hosts: "servers:&{{ hive_stage }}"
  gather_facts: false
  tasks:
    - name: Greet with a vaulted text
      ansible.builtin.debug:
        msg: "welcome {{ welcome_text }} to {{ hostvars['api']['hive_environment']['DATABASE_URL'] }}"

    - name: Print secrets on stderr and fail
      ansible.builtin.shell: >-
        echo "db={{ db_password }} token={{ api_token }} host={{ hive0_credentials | default('') }}
        env={{ hostvars['web']['hive_environment'] | join(' ') }} key={{ hostvars['api']['hive_environment']['API_KEY'] }}" >&2; exit 3
      changed_when: false
      ignore_errors: true

    - name: Fail with a message naming the secrets
      ansible.builtin.fail:
        msg: >-
          cannot log in with {{ db_password }} / {{ api_token }} / {{ welcome_text }}
          / {{ lookup('ansible.builtin.file', hive_context_dir + '/registry_password') }}
          / {{ hostvars['web']['hive_environment'] }} / {{ hostvars['api']['hive_environment'] }}
`;

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function project(): { ctx: HiveContext; vaultFile: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'hive-masking-'));
  temps.push(tmp);
  const rootDir = join(tmp, 'project');
  cpSync(fixtureProject, rootDir, { recursive: true });
  const inv = join(rootDir, 'inventory');
  appendFileSync(join(inv, 'group_vars/all.yml'), `db_password: ${S.dbPassword}\n`);
  mkdirSync(join(inv, 'group_vars/servers'));
  writeFileSync(join(inv, 'group_vars/servers/secrets.yml'), `api_token: "${S.apiToken}"\n`);
  appendFileSync(join(inv, 'host_vars/p-hive0.demo.yml'), `hive0_credentials: ${S.hostCredentials}\n`);
  const vaultFile = join(tmp, 'vault-pass');
  writeFileSync(vaultFile, 'masking-vault-password\n', { mode: 0o600 });
  const encrypted = execFileSync('ansible-vault', ['encrypt_string', '--vault-password-file', vaultFile, '--name', 'welcome_text', S.vaulted], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  appendFileSync(join(inv, 'group_vars/all.yml'), encrypted.trimEnd() + '\n');
  writeFileSync(
    join(inv, 'services.yml'),
    [
      'plugin: hive_services',
      'services:',
      '  web:',
      '    image: nginx:1.27',
      '    available_on: [private]',
      `    environment: ["DB_PASSWORD=${S.envList}", "MODE=prod"]`,
      '  api:',
      '    image: nginx:1.27',
      '    available_on: [private]',
      '    environment:',
      `      API_KEY: ${S.apiKey}`,
      `      DATABASE_URL: postgres://app:${S.urlPassword}@db:5432/app`,
      '',
    ].join('\n'),
  );

  const installDir = join(tmp, 'install');
  mkdirSync(join(installDir, 'playbooks'), { recursive: true });
  writeFileSync(join(installDir, 'playbooks/setup-hosts.yml'), PLAYBOOK);
  for (const d of ['callback_plugins', 'templates', 'roles']) symlinkSync(join(repo, d), join(installDir, d));
  const hiveDir = join(rootDir, '.hive');
  const ctx: HiveContext = { rootDir, inventoryDir: inv, stage: 'private', hiveDir, stageDir: join(hiveDir, 'private'), installDir };
  mkdirSync(ctx.stageDir, { recursive: true });
  writeFileSync(join(ctx.stageDir, 'registry_password'), S.registry + '\n', { mode: 0o600 });
  return { ctx, vaultFile };
}

class Capture {
  text = '';
  isTTY = false;
  write(s: string) {
    this.text += s;
    return true;
  }
}

/** Every regular file under `dir` (symlinks are not followed: group_vars/ links to the user's own files). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

const leaked = (text: string, values: string[]) => values.filter((v) => text.includes(v));

describe('secrets are masked everywhere', () => {
  it('a failing phase echoing every kind of secret shows none of them', async () => {
    const { ctx, vaultFile } = project();
    const site = fixtureSite(ctx.inventoryDir);
    const all = Object.values(S);

    // --json: NDJSON on stdout
    const out = new Capture();
    const err = new Capture();
    const json = await runPhase(ctx, site, 'setup-hosts', { json: true, vaultPasswordFiles: [vaultFile] }, { stdout: out, stderr: err });
    expect(json.ok).toBe(false);
    expect(json.rc).not.toBe(0);
    // the failure still names host and task, with the secrets masked in its message
    expect(json.failed.map((f) => [f.host, f.task]).sort()).toEqual([
      ['p-hive0.demo', 'Fail with a message naming the secrets'],
      ['p-hive1.demo', 'Fail with a message naming the secrets'],
    ]);
    expect(json.failed[0]!.msg).toMatch(/^cannot log in with/);
    expect(json.failed[0]!.msg).toContain(MASK);
    const events = out.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l.startsWith(EVENT_MARKER) ? l.slice(EVENT_MARKER.length) : l) as HiveEvent);
    const stderrResults = events.filter((e) => e.event === 'host_result' && e.task === 'Print secrets on stderr and fail');
    expect(stderrResults.map((e) => e.event === 'host_result' && e.status)).toEqual(['failed', 'failed']);
    const greeting = events.find((e) => e.event === 'host_result' && e.task === 'Greet with a vaulted text');
    expect(greeting?.event === 'host_result' && greeting.msg).toBe(`welcome ${MASK} to postgres://app:${MASK}@db:5432/app`);
    expect(leaked(out.text + err.text, all)).toEqual([]);

    // plain progress and Ansible's own -vvv text
    const out2 = new Capture();
    const err2 = new Capture();
    const plain = await runPhase(ctx, site, 'setup-hosts', { verbose: 1, vaultPasswordFiles: [vaultFile] }, { stdout: out2, stderr: err2 });
    expect(plain.ok).toBe(false);
    expect(out2.text).toContain('Fail with a message naming the secrets');
    expect(err2.text.length).toBeGreaterThan(0);
    expect(leaked(out2.text + err2.text, all)).toEqual([]);

    // everything hive wrote under .hive/ (run records, generated files, ...); the stage's
    // registry_password file is where that generated secret is kept (0600)
    const files = filesUnder(ctx.hiveDir).filter((f) => f !== join(ctx.stageDir, 'registry_password'));
    expect(files.filter((f) => f.endsWith('.ndjson'))).toHaveLength(2);
    // inventory.yml carries the services' environment to Ansible by design: only the secrets
    // that do not live in the generated inventory are looked for there
    const notInInventory = [S.dbPassword, S.apiToken, S.hostCredentials, S.vaulted, S.registry];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      const expected = f.endsWith('inventory.yml') ? notInInventory : all;
      expect(leaked(text, expected), f).toEqual([]);
    }
    for (const record of [json.runRecord, plain.runRecord]) expect(readFileSync(record, 'utf8')).toContain(MASK);
  }, 120_000);
});
