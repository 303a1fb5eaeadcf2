// ansible-vault with the real ansible-vault / ansible-inventory / ansible-playbook: a project
// whose group_vars/all.yml is encrypted (and group_vars/servers.yml holds an inline !vault value)
// is read decrypted by hive's providers when a vault password is given, refused with exit 2
// naming the file when not, and every phase's ansible-playbook gets the vault flags.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readSite } from '../../src/model/index.js';
import { createAwsProvider } from '../../src/providers/aws/index.js';
import { readInventoryVars } from '../../src/model/inventory-vars.js';
import { hostVar } from '../../src/providers/prepared/inventory-vars.js';
import { fixtureProject } from '../fixtures/runner/site.js';
import { FakeEc2 } from '../unit/fake-ec2.js';
import { awsSite, contextFor } from '../unit/fake-ec2-site.js';

const repo = resolve(__dirname, '../..');
const bin = join(repo, 'bin/hive.js');
const PASSWORD = 'Vault-Pw-0815';
const ROOT_PASSWORD = 'InlineRootPw-4711';

const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ALL_YML = `# reaches the plays only if hive passes the project's group_vars through
fixture_greeting: hello from an encrypted file
fixture_db_password: GroupVarsSecret-4711
hive_admin: vaultadmin
hive_ec2_group_rules:
  - {proto: tcp, from_port: 22, to_port: 22, cidr_ip: 198.51.100.7/32}
  - {proto: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0}
`;

/** The runner fixture project (two hives on this machine) with vaulted group_vars. */
function vaultProject(): { root: string; inventoryDir: string; pw: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'hive-vault-'));
  temps.push(tmp);
  const root = join(tmp, 'project');
  cpSync(fixtureProject, root, { recursive: true });
  const inventoryDir = join(root, 'inventory');
  const pw = join(tmp, 'vault.pw');
  writeFileSync(pw, PASSWORD + '\n', { mode: 0o600 });
  const all = join(inventoryDir, 'group_vars', 'all.yml');
  writeFileSync(all, ALL_YML);
  execFileSync('ansible-vault', ['encrypt', '--vault-password-file', pw, all], { stdio: 'pipe' });
  const inline = execFileSync('ansible-vault', ['encrypt_string', '--vault-password-file', pw, '--name', 'hive_root_password', ROOT_PASSWORD], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  writeFileSync(join(inventoryDir, 'group_vars', 'servers.yml'), `# an inline vaulted value\n${inline}`);
  return { root, inventoryDir, pw };
}

function hive(cwd: string, ...args: string[]) {
  const r = spawnSync('node', [bin, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const readSiteOf = (inventoryDir: string) => readSite({ inventoryDir, hiveDir: join(inventoryDir, '..', '.hive'), stage: 'private' });
const runsOf = (root: string) => (existsSync(join(root, '.hive/private/runs')) ? readdirSync(join(root, '.hive/private/runs')) : []);

describe('group_vars encrypted with ansible-vault', () => {
  it('the files really are ciphertext on disk', () => {
    const { inventoryDir } = vaultProject();
    const text = readFileSync(join(inventoryDir, 'group_vars', 'all.yml'), 'utf8');
    expect(text.startsWith('$ANSIBLE_VAULT;1.1;AES256')).toBe(true);
    expect(text).not.toContain('vaultadmin');
    expect(readFileSync(join(inventoryDir, 'group_vars', 'servers.yml'), 'utf8')).not.toContain(ROOT_PASSWORD);
  });

  it('the providers read the decrypted values with --vault-password-file (whole file and inline !vault)', async () => {
    const { inventoryDir, pw } = vaultProject();
    const site = readSiteOf(inventoryDir);
    const stage = site.stages.private!;
    const files = await readInventoryVars(site, 'private', { vaultPasswordFiles: [pw] });
    const host = stage.hosts[0]!;
    expect(hostVar(site, stage, host, 'hive_admin', files)).toBe('vaultadmin');
    expect(hostVar(site, stage, host, 'hive_root_password', files)).toBe(ROOT_PASSWORD);
    expect(hostVar(site, stage, undefined, 'hive_ec2_group_rules', files)).toEqual([
      { proto: 'tcp', from_port: 22, to_port: 22, cidr_ip: '198.51.100.7/32' },
      { proto: 'tcp', from_port: 443, to_port: 443, cidr_ip: '0.0.0.0/0' },
    ]);
    // host_vars are read too, by Ansible's rules
    expect(hostVar(site, stage, host, 'ansible_connection', files)).toBe('local');
  });

  it('--vault-id LABEL@FILE decrypts as well', async () => {
    const { inventoryDir, pw } = vaultProject();
    const site = readSiteOf(inventoryDir);
    const files = await readInventoryVars(site, 'private', { vaultIds: [`ops@${pw}`] });
    expect(files.groups.all?.hive_admin).toBe('vaultadmin');
  });

  it('a wrong password is an error naming the file, not an empty set of variables', async () => {
    const { inventoryDir } = vaultProject();
    const wrong = join(inventoryDir, '..', 'wrong.pw');
    writeFileSync(wrong, 'not-the-password\n');
    const e = await readInventoryVars(readSiteOf(inventoryDir), 'private', { vaultPasswordFiles: [wrong] }).catch((err: unknown) => err as Error);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toContain('group_vars/all.yml');
    expect((e as Error).message).toMatch(/Decryption failed/);
  });
});

describe('the aws provider with a vaulted group_vars (EC2 API faked)', () => {
  let fake: FakeEc2 | undefined;
  afterEach(() => fake?.restore());

  it("keeps the user's security-group rules from the encrypted file", async () => {
    const { inventoryDir, pw } = vaultProject();
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    fake = new FakeEc2();
    const provider = createAwsProvider({ sleep: async () => undefined, waitForSsh: async () => undefined, pollIntervalMs: 1, waitTimeoutMs: 60_000 });
    const ctx = contextFor(awsSite({ inventoryDir }));
    await provider.buildInfra({ ...ctx, vault: { vaultPasswordFiles: [pw] } });
    const sg = fake.summary().securityGroups.find((g: { name: string }) => g.name === 'hive-pdns-staging');
    expect(sg.rules).toEqual(['-1:-:192.168.0.0/24', 'tcp:22-22:198.51.100.7/32', 'tcp:443-443:0.0.0.0/0']);
    expect(readFileSync(join(ctx.stageDir, 'ssh_config'), 'utf8')).toMatch(/^ {2}User vaultadmin$/m);
  });

  it('refuses to build without the vault password instead of opening the default ports', async () => {
    const { inventoryDir } = vaultProject();
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    fake = new FakeEc2();
    const provider = createAwsProvider({ sleep: async () => undefined, waitForSsh: async () => undefined, pollIntervalMs: 1, waitTimeoutMs: 60_000 });
    const e = await provider.buildInfra(contextFor(awsSite({ inventoryDir }))).catch((err: unknown) => err as Error);
    expect((e as Error).message).toContain('group_vars/all.yml:1: (document): encrypted with ansible-vault and no vault password was given');
    expect(fake.calls).toEqual([]);
  });
});

describe('hive commands with vaulted group_vars', () => {
  it('without a vault password a phase exits 2 naming the files, and nothing runs', () => {
    const { root } = vaultProject();
    for (const args of [['run', '--phase', 'setup-hosts'], ['build-networks'], ['all']]) {
      const r = hive(root, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toContain('inventory/group_vars/all.yml:1: (document): encrypted with ansible-vault and no vault password was given');
      expect(r.err).toContain('inventory/group_vars/servers.yml:2: hive_root_password: an inline !vault value');
    }
    expect(runsOf(root)).toEqual([]);
  });

  it("with --vault-password-file the phase's ansible-playbook gets the flag and decrypts the files", () => {
    const { root, pw } = vaultProject();
    // --dry-run (check mode) with a tag no task has: the playbook loads every host's variables
    // (its argument-spec check always runs) and changes nothing
    const r = hive(root, 'run', '--phase', 'build-networks', '--dry-run', '-T', 'hive-no-such-tag', '--json', '--vault-password-file', pw, '--vault-id', `ops@${pw}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l));
    const start = events.find((e) => e.event === 'phase_start');
    const argv: string[] = start.argv;
    expect(argv[0]).toBe('ansible-playbook');
    expect(argv.join(' ')).toContain(`--vault-id ops@${pw} --vault-password-file ${pw}`);
    expect(events.find((e) => e.event === 'phase_end')).toMatchObject({ ok: true, rc: 0 });
    // decrypted values never reach the output or the run record
    const record = readFileSync(join(root, '.hive/private/runs', runsOf(root)[0]!), 'utf8');
    for (const text of [r.out, record]) {
      expect(text).not.toContain(ROOT_PASSWORD);
      expect(text).not.toContain(PASSWORD);
    }
  });

  it('a relative --vault-password-file is taken from where hive was started', () => {
    const { root, pw } = vaultProject();
    const r = hive(join(root, '..'), '-r', 'project', 'build-networks', '--dry-run', '-T', 'hive-no-such-tag', '--json', '--vault-password-file', 'vault.pw');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`"--vault-password-file","${pw}"`);
    expect(hive(root, 'build-networks', '--vault-password-file', 'missing.pw').err).toContain('vault password file missing.pw does not exist');
  });

  it('--ask-vault-pass prompts once on the terminal, without echo, and the run succeeds', () => {
    const { root } = vaultProject();
    // hive on a pseudo-terminal, answering each "Vault password:" prompt as a user would
    const driver = `
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp('node', ['node', sys.argv[1], 'build-networks', '--dry-run', '-T', 'hive-no-such-tag', '--ask-vault-pass'])
out, answered, start = b'', 0, time.time()
while time.time() - start < 100:
    if not select.select([fd], [], [], 0.5)[0]:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if out.count(b'Vault password') > answered:
        answered += 1
        os.write(fd, sys.argv[2].encode() + b'\\n')
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace') + '\\nprompts=%d exit=%d\\n' % (answered, os.waitstatus_to_exitcode(status)))
`;
    const r = spawnSync('python3', ['-c', driver, bin, PASSWORD], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('build-networks succeeded');
    // hive asks once; its group_vars reader (ansible-inventory, ansible) and ansible-playbook all
    // get the answer as a password file
    expect(r.stdout).toMatch(/prompts=1 exit=0/);
    expect(r.stdout).not.toContain(PASSWORD);
  });

  it('without a terminal --ask-vault-pass and --vault-id LABEL@prompt read one line of stdin each; the files go when hive ends', () => {
    const { root } = vaultProject();
    const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('hive-askpass-')));
    const r = spawnSync('node', [bin, 'build-networks', '--dry-run', '-T', 'hive-no-such-tag', '--json', '--vault-id', 'ops@prompt', '--ask-vault-pass'], {
      cwd: root,
      encoding: 'utf8',
      input: `${PASSWORD}\n${PASSWORD}\n`,
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('Vault password (ops): Vault password: ');
    const argv: string[] = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'phase_start').argv;
    expect(argv).not.toContain('--ask-vault-pass');
    expect(argv.join(' ')).toMatch(/--vault-id ops@\S*hive-askpass-\S*\/password-1 --vault-password-file \S*hive-askpass-\S*\/password-2/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('hive-askpass-') && !before.has(n))).toEqual([]);
  });

  it('a wrong password from stdin is an error naming the file, exit 2', () => {
    const { root } = vaultProject();
    const r = spawnSync('node', [bin, 'build-networks', '--dry-run', '--ask-vault-pass'], { cwd: root, encoding: 'utf8', input: 'not-the-password\n', timeout: 120_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('group_vars/all.yml');
    const empty = spawnSync('node', [bin, 'build-networks', '--dry-run', '--ask-vault-pass'], { cwd: root, encoding: 'utf8', input: '', timeout: 120_000 });
    expect(empty.status).toBe(2);
    expect(empty.stderr).toContain('no vault password given');
  });

  it('the other commands that run Ansible accept the flags', () => {
    const { root } = vaultProject();
    for (const c of ['run', 'all', 'rollback', 'plan', 'setup-hosts', 'deploy-services']) {
      const help = hive(root, c, '--help').out;
      for (const flag of ['--vault-id <id>', '--vault-password-file <file>', '--ask-vault-pass']) expect(help, `${c} ${flag}`).toContain(flag);
    }
  });
});

describe('group_vars files hive cannot use', () => {
  it('invalid YAML exits 2 naming the file and line, before anything runs', () => {
    const { root, pw } = vaultProject();
    writeFileSync(join(root, 'inventory/group_vars/hives.yml'), 'hive_admin: admin\nhive_ec2_group_rules: [\n  {proto: tcp\nbroken: yes\n');
    const r = hive(root, 'run', '--phase', 'build-infra', '--vault-password-file', pw);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^inventory\/group_vars\/hives\.yml:\d+: \(document\): invalid YAML: /m);
    expect(runsOf(root)).toEqual([]);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable file exits 2 naming it', () => {
    const { root, pw } = vaultProject();
    const file = join(root, 'inventory/group_vars/hives.yml');
    writeFileSync(file, 'hive_admin: admin\n');
    chmodSync(file, 0o000);
    const r = hive(root, 'setup-hosts', '--vault-password-file', pw);
    expect(r.code).toBe(2);
    expect(r.err).toContain('inventory/group_vars/hives.yml:0: (document): cannot be read: permission denied');
  });
});
