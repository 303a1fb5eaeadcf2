// Where the user's group_vars/ and host_vars/ files are, as Ansible's host_group_vars plugin
// finds them: for a group or host NAME, the file NAME, NAME.yml, NAME.yaml or NAME.json, or the
// files of a folder NAME/ (walked in name order; hidden files and backups~ skipped). The one
// place hive decides which files belong to which group or host: the provider's reader
// (src/model/inventory-vars.ts, which lets Ansible parse them) and the secret masking
// (src/model/secrets.ts) both ask here.
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';

/** Extensions Ansible's host_group_vars plugin loads ('' = no extension). */
export const VARS_EXTENSIONS = new Set(['', '.yml', '.yaml', '.json']);

const skipped = (entry: string) => entry.startsWith('.') || entry.endsWith('~');

/** The files Ansible reads for `name` in group_vars/ or host_vars/ (`dir`): name, name.yml, ..., or a folder's files. */
export function varsFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path).sort()) {
      if (skipped(entry)) continue;
      const p = join(path, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (VARS_EXTENSIONS.has(extname(entry))) out.push(p);
    }
  };
  for (const ext of ['', '.yml', '.yaml', '.json']) {
    const p = join(dir, name + ext);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (ext === '') walk(p);
    } else out.push(p);
  }
  return out;
}

/**
 * Every file of `dir` (group_vars/ or host_vars/) with the group or host it belongs to:
 * `group_vars/all.yml` and `group_vars/all/db.yml` belong to `all`. For secret masking, which errs
 * on the side of masking: files of any extension count (Ansible reads only VARS_EXTENSIONS), and
 * folders or files that cannot be listed are skipped (the reader, varsFiles, fails on them).
 */
export function varsFilesByOwner(dir: string): { file: string; owner: string }[] {
  const out: { file: string; owner: string }[] = [];
  const walk = (path: string, owner: string | null): void => {
    let entries: string[];
    try {
      entries = readdirSync(path).sort();
    } catch {
      return;
    }
    for (const entry of entries) {
      if (skipped(entry)) continue;
      const p = join(path, entry);
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (isDir) walk(p, owner ?? entry);
      else out.push({ file: p, owner: owner ?? basename(entry, extname(entry)) });
    }
  };
  walk(dir, null);
  return out;
}
