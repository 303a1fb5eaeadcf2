// The user's group_vars/ and host_vars/ as Ansible reads them. build-infra's providers run before
// any playbook but need a few of these variables (hive_admin, hive_ec2_group_rules, ...), so hive
// lets Ansible parse the files: `ansible-inventory --list --export` over a copy of the stage's
// inventory that holds only hosts and groups (no variables), next to links to the user's folders.
// --export keeps every group's variables apart, so callers can apply their own precedence, and
// vault-encrypted files are decrypted with the run's vault flags. Inline `!vault` values, which
// ansible-inventory prints as ciphertext, are decrypted by one `ansible -m debug` call.
//
// A file that cannot be read, is not valid YAML, or is encrypted while no vault secret was given
// is an InventoryError naming it (exit 2), never an empty set of variables: an empty set would,
// for example, silently replace the user's AWS security-group rules with the defaults.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { varsFiles } from '../inventory/vars-files.js';
import { InventoryError, displayPath, type Problem } from '../lib/problems.js';
import { toAnsibleInventory } from './ansible-inventory.js';
import type { Site, StageName } from './site.js';
import { vaultArgs, vaultPrompts, type VaultOptions } from '../lib/run-options.js';

type Vars = Record<string, unknown>;

/** Variables of the user's files: per group (group_vars/) and per host (host_vars/). */
export interface InventoryVars {
  groups: Record<string, Vars>;
  hosts: Record<string, Vars>;
}

const VAULT_HEADER = '$ANSIBLE_VAULT;';

/** A vault secret reaches Ansible: a flag, or Ansible's own environment settings. */
export function hasVaultSecret(vault: VaultOptions, env: NodeJS.ProcessEnv = process.env): boolean {
  return vaultArgs(vault).length > 0 || !!env.ANSIBLE_VAULT_PASSWORD_FILE || !!env.ANSIBLE_VAULT_IDENTITY_LIST;
}

/** Groups and hosts of the stage's generated inventory (what ansible-playbook will load files for). */
function stageShape(site: Site, stage: StageName) {
  const list = toAnsibleInventory(site, stage) as Record<string, { hosts?: string[]; children?: string[]; hostvars?: Vars }>;
  const groups: Record<string, { hosts: string[]; children: string[] }> = {};
  for (const [name, g] of Object.entries(list)) {
    if (name === '_meta' || name === 'all' || name === 'ungrouped') continue;
    groups[name] = { hosts: g.hosts ?? [], children: g.children ?? [] };
  }
  return { groups, hosts: Object.keys(list._meta?.hostvars ?? {}) };
}

const NO_SECRET = 'no vault password was given: pass --vault-password-file FILE, --vault-id [LABEL@]FILE or --ask-vault-pass';

/**
 * What hive can tell without Ansible: unreadable files, and vaulted content while no vault secret
 * reaches Ansible (Ansible's own message would not name the file).
 */
function precheck(files: string[], vault: VaultOptions, env: NodeJS.ProcessEnv): void {
  const problems: Problem[] = [];
  const secret = hasVaultSecret(vault, env);
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'EACCES' ? 'permission denied' : e.message;
      problems.push({ file: displayPath(file), line: 0, key: '(document)', message: `cannot be read: ${why}` });
      continue;
    }
    if (secret) continue;
    if (text.startsWith(VAULT_HEADER)) {
      problems.push({ file: displayPath(file), line: 1, key: '(document)', message: `encrypted with ansible-vault and ${NO_SECRET}` });
      continue;
    }
    const lines = text.split('\n');
    const at = lines.findIndex((l) => /(?:^|[\s:\-[{,])!vault(?:\s|$)/.test(l.replace(/(^|\s)#.*$/, '')));
    if (at >= 0) {
      const key = /^\s*(?:-\s+)?["']?([^\s:#"'][^:#"']*)["']?\s*:/.exec(lines[at]!)?.[1]?.trim() ?? '(document)';
      problems.push({ file: displayPath(file), line: at + 1, key, message: `an inline !vault value and ${NO_SECRET}` });
    }
  }
  if (problems.length) throw new InventoryError(problems);
}

/** Ansible's error text as a problem naming the user's file (paths under the temp folder mapped back). */
function ansibleProblem(stderr: string, tmp: string, inventoryDir: string, what: string): InventoryError {
  const text = stderr.split(tmp).join(inventoryDir);
  const errorAt = text.indexOf('ERROR!');
  const body = (errorAt >= 0 ? text.slice(errorAt + 'ERROR!'.length) : text).trim();
  // Ansible names the file as '/path' (YAML errors, with ": line N") or "... on /path"
  const path = (/'(\/[^']+)'/.exec(body)?.[1] ?? /(?:\bon|\bin|\bfile) (\/\S+)/.exec(body)?.[1])?.replace(/[.,:;]+$/, '');
  const line = Number(/': line (\d+)/.exec(body)?.[1] ?? 0);
  const yamlProblem = /Syntax Error while loading YAML\.\s*\n\s*(.+)/.exec(body)?.[1]?.trim();
  const first = body.split('\n')[0]!.trim();
  if (path && path.startsWith(inventoryDir)) {
    const message = yamlProblem ? `invalid YAML: ${yamlProblem}` : first.split(path).join('').replace(/\s*(?:on|in)\s*'?'?\.?$/, '').trim();
    return new InventoryError([{ file: displayPath(path), line: line || 1, key: '(document)', message }]);
  }
  return new InventoryError([{ file: displayPath(inventoryDir), line: 0, key: '(group_vars)', message: `${what}: ${first || 'failed'}` }]);
}

/** `{"__ansible_vault": ciphertext}`: how Ansible's JSON output shows an inline vaulted value. */
const isVaulted = (v: unknown): v is { __ansible_vault: string } =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { __ansible_vault?: unknown }).__ansible_vault === 'string';

function collectVaulted(value: unknown, found: { __ansible_vault: string }[]): void {
  if (isVaulted(value)) found.push(value);
  else if (Array.isArray(value)) value.forEach((v) => collectVaulted(v, found));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => collectVaulted(v, found));
}

function replaceVaulted(value: unknown, plain: Map<object, string>): unknown {
  if (isVaulted(value)) return plain.get(value);
  if (Array.isArray(value)) return value.map((v) => replaceVaulted(v, plain));
  if (value && typeof value === 'object') {
    const out: Vars = {};
    for (const [k, v] of Object.entries(value)) out[k] = replaceVaulted(v, plain);
    return out;
  }
  return value;
}

interface Run {
  tmp: string;
  inventoryDir: string;
  vault: VaultOptions;
  env: Record<string, string>;
}

async function ansible(run: Run, argv: string[], what: string): Promise<string> {
  const interactive = vaultPrompts(run.vault);
  const r = await execa(argv[0]!, [...argv.slice(1), ...vaultArgs(run.vault)], {
    cwd: run.tmp,
    env: run.env,
    extendEnv: true,
    // a vault prompt reads the terminal (Ansible opens /dev/tty itself)
    stdin: interactive ? 'inherit' : 'ignore',
    reject: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.failed && r.exitCode === undefined) {
    throw new InventoryError([
      { file: displayPath(run.inventoryDir), line: 0, key: '(group_vars)', message: `${what}: ${argv[0]} could not be started (${r.shortMessage ?? r.message})` },
    ]);
  }
  if (r.exitCode !== 0) throw ansibleProblem(String(r.stderr ?? ''), run.tmp, run.inventoryDir, what);
  return String(r.stdout ?? '');
}

/** Decrypts inline vaulted values with one ad-hoc `debug` run on localhost (nothing is connected to). */
async function decryptInline(run: Run, vaulted: { __ansible_vault: string }[]): Promise<Map<object, string>> {
  const file = join(run.tmp, 'vaulted.yml');
  const indent = (c: string) => c.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
  writeFileSync(file, `hive_vaulted_values:\n${vaulted.map((v) => `  - !vault |\n${indent(v.__ansible_vault)}`).join('\n')}\n`, { mode: 0o600 });
  const out = await ansible(
    { ...run, env: { ...run.env, ANSIBLE_INVENTORY_ENABLED: 'host_list', ANSIBLE_STDOUT_CALLBACK: 'json', ANSIBLE_LOAD_CALLBACK_PLUGINS: 'true' } },
    ['ansible', 'localhost', '-i', 'localhost,', '-c', 'local', '-m', 'ansible.builtin.debug', '-a', 'var=hive_vaulted_values', '-e', `@${file}`],
    'decrypting inline !vault values of group_vars / host_vars',
  );
  const result = JSON.parse(out) as { plays: { tasks: { hosts: Record<string, { hive_vaulted_values?: unknown }> }[] }[] };
  const values = result.plays?.[0]?.tasks?.[0]?.hosts?.localhost?.hive_vaulted_values;
  if (!Array.isArray(values) || values.length !== vaulted.length) {
    throw new InventoryError([{ file: displayPath(run.inventoryDir), line: 0, key: '(group_vars)', message: 'inline !vault values could not be decrypted' }]);
  }
  return new Map(vaulted.map((v, i) => [v as object, String(values[i])]));
}

interface VarsSources {
  inventoryDir: string;
  groupDir: string;
  hostDir: string;
  shape: ReturnType<typeof stageShape>;
  files: string[];
}

function varsSources(site: Site, stage: StageName): VarsSources | undefined {
  const inventoryDir = site.inventoryDir;
  const groupDir = join(inventoryDir, 'group_vars');
  const hostDir = join(inventoryDir, 'host_vars');
  if (!existsSync(groupDir) && !existsSync(hostDir)) return undefined;
  const shape = stageShape(site, stage);
  const groupNames = ['all', ...Object.keys(shape.groups)];
  const files = [...groupNames.flatMap((g) => varsFiles(groupDir, g)), ...shape.hosts.flatMap((h) => varsFiles(hostDir, h))];
  return files.length ? { inventoryDir, groupDir, hostDir, shape, files } : undefined;
}

/**
 * The stage's group_vars / host_vars as Ansible reads them, decrypted with `vault`. Without any
 * such file nothing is started. Throws InventoryError (exit 2) naming the file at fault.
 */
export async function readInventoryVars(
  site: Site,
  stage: StageName,
  vault: VaultOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<InventoryVars> {
  const sources = varsSources(site, stage);
  return sources ? readSources(sources, vault, env) : { groups: {}, hosts: {} };
}

async function readSources(sources: VarsSources, vault: VaultOptions, env: NodeJS.ProcessEnv): Promise<InventoryVars> {
  const { inventoryDir, groupDir, hostDir, shape, files } = sources;
  precheck(files, vault, env);

  const tmp = mkdtempSync(join(tmpdir(), 'hive-vars-'));
  try {
    for (const [dir, name] of [[groupDir, 'group_vars'], [hostDir, 'host_vars']] as const) {
      try {
        if (statSync(dir).isDirectory()) symlinkSync(dir, join(tmp, name), 'dir');
      } catch {
        // no such folder
      }
    }
    // hosts and groups only: every variable in the output comes from the user's files
    const children: Record<string, { hosts?: Record<string, null>; children?: Record<string, null> }> = {};
    for (const [name, g] of Object.entries(shape.groups)) {
      children[name] = {
        ...(g.hosts.length ? { hosts: Object.fromEntries(g.hosts.map((h) => [h, null])) } : {}),
        ...(g.children.length ? { children: Object.fromEntries(g.children.map((c) => [c, null])) } : {}),
      };
    }
    const ungrouped = shape.hosts.filter((h) => !Object.values(shape.groups).some((g) => g.hosts.includes(h)));
    const inventory = join(tmp, 'hosts.json');
    writeFileSync(inventory, JSON.stringify({ all: { children, ...(ungrouped.length ? { hosts: Object.fromEntries(ungrouped.map((h) => [h, null])) } : {}) } }));
    const cfg = join(tmp, 'ansible.cfg');
    // Ansible's defaults, like hive's generated ansible.cfg: a user's ~/.ansible.cfg does not apply
    writeFileSync(cfg, '[defaults]\n[inventory]\nunparsed_is_failed = True\n');
    const run: Run = {
      tmp,
      inventoryDir,
      vault,
      env: {
        ANSIBLE_CONFIG: cfg,
        ANSIBLE_INVENTORY_ENABLED: 'yaml',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_FORCE_COLOR: '0',
        ANSIBLE_DEPRECATION_WARNINGS: 'false',
        ANSIBLE_LOCALHOST_WARNING: 'false',
        ...(env.ANSIBLE_VAULT_PASSWORD_FILE ? { ANSIBLE_VAULT_PASSWORD_FILE: env.ANSIBLE_VAULT_PASSWORD_FILE } : {}),
        ...(env.ANSIBLE_VAULT_IDENTITY_LIST ? { ANSIBLE_VAULT_IDENTITY_LIST: env.ANSIBLE_VAULT_IDENTITY_LIST } : {}),
      },
    };
    const out = await ansible(run, ['ansible-inventory', '-i', inventory, '--list', '--export'], 'reading group_vars / host_vars');
    const list = JSON.parse(out) as Record<string, { vars?: Vars; hostvars?: Record<string, Vars> }>;
    let result: InventoryVars = { groups: {}, hosts: list._meta?.hostvars ?? {} };
    for (const [name, g] of Object.entries(list)) if (name !== '_meta' && g?.vars) result.groups[name] = g.vars;

    const vaulted: { __ansible_vault: string }[] = [];
    collectVaulted(result, vaulted);
    if (vaulted.length) result = replaceVaulted(result, await decryptInline(run, vaulted)) as InventoryVars;
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const cache = new Map<string, Promise<InventoryVars>>();

/**
 * readInventoryVars once per process for the same files (names, sizes, times), stage and vault
 * flags: the CLI checks the files before anything runs, build-infra's provider reuses the result.
 */
export function inventoryVars(site: Site, stage: StageName, vault: VaultOptions = {}): Promise<InventoryVars> {
  const sources = varsSources(site, stage);
  if (!sources) return Promise.resolve({ groups: {}, hosts: {} });
  const stamp = (f: string) => {
    try {
      const st = statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    } catch {
      return `${f}:-`;
    }
  };
  const key = JSON.stringify([stage, sources.files.map(stamp), vault.vaultIds ?? [], vault.vaultPasswordFiles ?? [], !!vault.askVaultPass]);
  let p = cache.get(key);
  if (!p) {
    p = readSources(sources, vault, process.env);
    cache.set(key, p);
    // a failed read is not kept: the next caller reads the files again
    p.catch(() => cache.delete(key));
  }
  return p;
}
