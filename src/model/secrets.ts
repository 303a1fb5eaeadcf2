// Last line of defence before anything reaches the screen, `--json`, the run record, `hive plan`
// or `hive config`: secret-named keys are dropped (events) or their values masked (plan, config),
// and every secret value hive knows is masked wherever it appears in text: the generated stage
// passwords, values of secret-named variables of the inventory (hive.yml, services, the user's
// group_vars/ and host_vars/) and of extra variables, the values of vault-encrypted variables,
// and the password part of credentialed URLs. The callback plugin already hides no_log results.
//
// Which names are secret is decided in one place, callback_plugins/hive_secret_keys.json, which
// the callback plugin reads as well.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { varsFilesByOwner } from '../inventory/vars-files.js';
import type { Site, StageName } from './site.js';
import type { InventoryVars } from './inventory-vars.js';
import { StageDir } from '../state/stage-dir.js';
import type { HiveEvent } from '../lib/events.js';

const RULES = JSON.parse(readFileSync(new URL('../../callback_plugins/hive_secret_keys.json', import.meta.url), 'utf8')) as { pattern: string };
/** A variable or key name whose value is a secret (PASSWORD, API_KEY, TOKEN, CREDENTIALS, ...). */
export const SECRET_KEY = new RegExp(RULES.pattern, 'i');
export const MASK = '********';
/** Shorter values would mask ordinary words. */
const MIN_SECRET_LENGTH = 4;

export const isSecretKey = (name: string): boolean => SECRET_KEY.test(name);

/** `scheme://user:password@`: the password part is group 2. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s/:@'"]*:)([^\s/@'"]+)(@)/gi;
/** `NAME=value` as in a list-form environment or a command line. */
const ASSIGNMENT = /^\s*([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/s;
/** The same inside running text: `API_KEY=abc` in a message. */
const ASSIGNMENT_IN_TEXT = /\b([A-Za-z_][A-Za-z0-9_.-]*)=([^\s"',;]+)/g;

function add(into: Set<string>, value: unknown): void {
  if (typeof value === 'number') value = String(value);
  if (typeof value === 'string' && value.trim().length >= MIN_SECRET_LENGTH) {
    into.add(value);
    if (value.trim() !== value) into.add(value.trim());
  }
}

/** Secret values inside `value`: under secret-named keys, `NAME=v` entries, URL passwords. */
function collect(value: unknown, into: Set<string>, secretContext = false): void {
  if (typeof value === 'string') {
    if (secretContext) add(into, value);
    const kv = ASSIGNMENT.exec(value);
    if (kv && isSecretKey(kv[1]!)) add(into, kv[2]);
    for (const m of value.matchAll(URL_CREDENTIALS)) add(into, m[2]);
  } else if (typeof value === 'number') {
    if (secretContext) add(into, value);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, into, secretContext);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collect(v, into, secretContext || isSecretKey(k));
  }
}

/** Every string (and number) at any depth: for values that are secret whatever their name. */
function leaves(value: unknown, into: Set<string>): void {
  if (typeof value === 'string' || typeof value === 'number') add(into, value);
  else if (Array.isArray(value)) for (const v of value) leaves(v, into);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) leaves(v, into);
}

const VAULT_HEADER = '$ANSIBLE_VAULT;';

/**
 * Values of vault-encrypted variables (whole encrypted files and inline `!vault` values) of the
 * user's group_vars/ and host_vars/, looked up in what Ansible decrypted (`vars`). A top-level
 * variable of a group or host that no plain file of it defines came from an encrypted file.
 */
export function vaultedValues(inventoryDir: string, vars: InventoryVars): string[] {
  const found = new Set<string>();
  for (const [folder, decrypted] of [
    ['group_vars', vars.groups],
    ['host_vars', vars.hosts],
  ] as const) {
    const plainKeys = new Map<string, Set<string>>();
    const vaultedKeys = new Map<string, Set<string>>();
    const encrypted = new Set<string>();
    const keysOf = (m: Map<string, Set<string>>, owner: string) => m.get(owner) ?? m.set(owner, new Set()).get(owner)!;
    for (const { file, owner } of varsFilesByOwner(join(inventoryDir, folder))) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      if (text.startsWith(VAULT_HEADER)) {
        encrypted.add(owner);
        continue;
      }
      // top-level keys; a key whose value (at any depth) holds an inline !vault is vaulted
      let current: string | undefined;
      for (const line of text.split('\n')) {
        const top = /^["']?([^\s#:"'-][^:#"']*)["']?\s*:/.exec(line);
        if (top) {
          current = top[1]!.trim();
          keysOf(plainKeys, owner).add(current);
        }
        if (current && /(?:^|[\s:\-[{,])!vault(?:\s|$)/.test(line.replace(/(^|\s)#.*$/, ''))) keysOf(vaultedKeys, owner).add(current);
      }
    }
    for (const [owner, values] of Object.entries(decrypted)) {
      for (const [key, value] of Object.entries(values ?? {})) {
        const fromEncryptedFile = encrypted.has(owner) && !plainKeys.get(owner)?.has(key);
        if (fromEncryptedFile || vaultedKeys.get(owner)?.has(key)) leaves(value, found);
      }
    }
  }
  return [...found];
}

/** Contents of the vault password files given to Ansible (not of scripts, which print it). */
function vaultPasswords(files: string[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    try {
      const st = statSync(f);
      if (!st.isFile() || st.mode & 0o111) continue;
      add(out, readFileSync(f, 'utf8').trim());
    } catch {
      // unreadable: Ansible will say so
    }
  }
  return [...out];
}

export interface SecretSources {
  /** The stage's folder under .hive/ (generated passwords). */
  stageDir?: string;
  extraVars?: Record<string, unknown>;
  /** The user's group_vars/ and host_vars/ as Ansible read them (decrypted). */
  files?: InventoryVars;
  /** Vault password files and `--vault-id label@file` files of the run. */
  vaultFiles?: string[];
}

/** Secret values known to hive for this stage, longest first. */
export function knownSecrets(site: Site, stage: StageName, sources: SecretSources | string = {}, extraVars?: Record<string, unknown>): string[] {
  const src: SecretSources = typeof sources === 'string' ? { stageDir: sources, extraVars } : sources;
  const found = new Set<string>();
  // the generated secrets of the stage (each may not exist yet)
  if (src.stageDir) {
    for (const file of new StageDir(src.stageDir).generatedSecrets) {
      try {
        add(found, readFileSync(file, 'utf8').trim());
      } catch {
        // not generated yet
      }
    }
  }
  const st = site.stages[stage];
  if (st) {
    collect(st.groupVars, found);
    collect(st.motherVars, found);
    for (const h of st.hosts) collect(h.vars, found);
  }
  for (const s of site.services) collect(s.vars, found);
  for (const list of [site.images, site.networks]) for (const i of list) collect(i.vars, found);
  collect(src.extraVars ?? {}, found);
  if (src.files) {
    collect(src.files, found);
    for (const v of vaultedValues(site.inventoryDir, src.files)) found.add(v);
  }
  for (const v of vaultPasswords(src.vaultFiles ?? [])) found.add(v);
  // longest first, so a secret containing another is masked whole
  return [...found].sort((a, b) => b.length - a.length);
}

/** The text with every known secret, credentialed-URL password and `SECRET_NAME=value` masked. */
export function maskText(text: string, secrets: string[]): string {
  let s = text;
  for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join(MASK);
  s = s.replace(URL_CREDENTIALS, (_m, head: string, pw: string, at: string) => (pw === MASK ? _m : head + MASK + at));
  s = s.replace(ASSIGNMENT_IN_TEXT, (m, name: string, value: string) => (isSecretKey(name) && value !== MASK ? `${name}=${MASK}` : m));
  return s;
}

function scrub(value: unknown, secrets: string[], dropKeys = true): unknown {
  if (typeof value === 'string') return maskText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, dropKeys));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (dropKeys && isSecretKey(k)) continue;
      // the keys of `stats` are host names, not variable names
      out[k] = scrub(v, secrets, dropKeys && k !== 'stats');
    }
    return out;
  }
  return value;
}

export function redactEvent<E extends HiveEvent>(e: E, secrets: string[]): E {
  return scrub(e, secrets) as E;
}

/**
 * A copy of `value` for display (`hive config`, `hive plan`): the keys stay, the values of
 * secret-named keys and of `SECRET_NAME=value` entries become the mask, text is masked as maskText.
 */
export function maskValues<T>(value: T, secrets: string[] = [], secretContext = false): T {
  const walk = (v: unknown, secret: boolean): unknown => {
    if (typeof v === 'string') {
      if (secret) return MASK;
      const kv = ASSIGNMENT.exec(v);
      if (kv && isSecretKey(kv[1]!)) return `${kv[1]}=${MASK}`;
      return maskText(v, secrets);
    }
    if (typeof v === 'number') return secret ? MASK : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, secret));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, secret || isSecretKey(k));
      return out;
    }
    return v;
  };
  return walk(value, secretContext) as T;
}
