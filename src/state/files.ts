// Everything hive keeps below `.hive/` may hold values of the inventory (addresses, secrets in
// extra variables, run output): folders are 0700 and files 0600, whatever the umask. Trees made
// by an older hive (0755/0644) are tightened the first time a process opens them.
import { chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export const STATE_DIR_MODE = 0o700;
export const STATE_FILE_MODE = 0o600;

/** The `.hive` folder `path` lies in (path itself when it is one), or undefined. */
export function hiveRootOf(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    if (basename(p) === '.hive') return p;
    if (dirname(p) === p) return undefined;
  }
}

const secured = new Set<string>();

/**
 * Sets every folder below `root` (and root) to 0700 and takes the group and other bits off every
 * file (0644 becomes 0600; an owner's execute bit stays). Symbolic links are not followed
 * (group_vars/host_vars point into the user's inventory). Once per process and root.
 */
export function secureStateTree(root: string): void {
  if (secured.has(root)) return;
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone, or not ours to read
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        fixMode(p, STATE_DIR_MODE);
        walk(p);
      } else if (e.isFile()) fixMode(p, (mode) => mode & 0o700);
    }
  };
  try {
    if (!lstatSync(root).isDirectory()) return;
  } catch {
    return;
  }
  fixMode(root, STATE_DIR_MODE);
  walk(root);
  secured.add(root);
}

function fixMode(path: string, target: number | ((current: number) => number)): void {
  try {
    const current = lstatSync(path).mode & 0o7777;
    const mode = typeof target === 'number' ? target : target(current);
    if (current !== mode) chmodSync(path, mode);
  } catch {
    // a file of another user (shared checkout): reading it still works, leave it
  }
}

/** Creates `dir` (and its parents below .hive) as 0700 and tightens the .hive tree it is in. */
export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: STATE_DIR_MODE });
  // mode on mkdir is filtered by the umask: set it explicitly, up to the .hive folder
  const root = hiveRootOf(dir);
  for (let p = dir; ; p = dirname(p)) {
    fixMode(p, STATE_DIR_MODE);
    if (!root || p === root || dirname(p) === p) break;
  }
  if (root) secureStateTree(root);
}

/**
 * Writes `content` to `path` atomically: a temp file in the same folder, created with `mode`
 * (0600 by default; chmod again, the umask may take bits away), then renamed over the target, so
 * a reader never sees half a file and the target is never readable by others, not even for a
 * moment. The folder is made like every state folder (ensureStateDir).
 */
export function writeAtomic(path: string, content: string | Uint8Array, mode: number = STATE_FILE_MODE): void {
  ensureStateDir(dirname(path));
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, content, { mode, flag: 'wx' });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
