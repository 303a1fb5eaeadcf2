// Last line of defence before an event reaches the screen or the run record: drop keys that name
// a secret and mask secret values hive knows (the registry password, password-like variables of
// the inventory and of extra variables). The callback plugin already hides no_log results.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Site, StageName } from '../model/site.js';
import type { HiveEvent } from './events.js';

const SECRET_KEY = /pass(word|wd)?|secret|token|private_key/i;
export const MASK = '********';
/** Shorter values would mask ordinary words. */
const MIN_SECRET_LENGTH = 4;

function collect(value: unknown, into: Set<string>, secretContext = false): void {
  if (typeof value === 'string') {
    if (secretContext && value.length >= MIN_SECRET_LENGTH) into.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, into, secretContext);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collect(v, into, secretContext || SECRET_KEY.test(k));
  }
}

/** Secret values known to hive for this stage. */
export function knownSecrets(site: Site, stage: StageName, stageDir: string, extraVars?: Record<string, unknown>): string[] {
  const found = new Set<string>();
  // the generated secrets of the stage (each may not exist yet)
  for (const file of ['registry_password', 'zabbix_admin_password', 'zabbix_db_password']) {
    try {
      const pw = readFileSync(join(stageDir, file), 'utf8').trim();
      if (pw.length >= MIN_SECRET_LENGTH) found.add(pw);
    } catch {
      // not generated yet
    }
  }
  const st = site.stages[stage];
  if (st) {
    collect(st.groupVars, found);
    collect(st.motherVars, found);
    for (const h of st.hosts) collect(h.vars, found);
  }
  for (const s of site.services) collect(s.vars, found);
  collect(extraVars ?? {}, found);
  // longest first, so a secret containing another is masked whole
  return [...found].sort((a, b) => b.length - a.length);
}

/** The text with every known secret replaced by the mask. */
export function maskText(text: string, secrets: string[]): string {
  let s = text;
  for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join(MASK);
  return s;
}

function scrub(value: unknown, secrets: string[], dropKeys = true): unknown {
  if (typeof value === 'string') return maskText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, dropKeys));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (dropKeys && SECRET_KEY.test(k)) continue;
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
