// Everything below .hive/ is for the owner only: folders 0700, files without group/other bits,
// also in a checkout that an older hive left with 0755/0644.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureStateDir, secureStateTree, writeAtomic } from '../../src/state/files.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
const project = () => {
  const root = mkdtempSync(join(tmpdir(), 'hive-state-'));
  roots.push(root);
  return root;
};
const mode = (p: string) => statSync(p).mode & 0o7777;

describe('state files under .hive', () => {
  it('writeAtomic creates 0600 files in 0700 folders whatever the umask, atomically', () => {
    const root = project();
    const old = process.umask(0o000);
    try {
      const file = join(root, '.hive', 'private', 'inventory.yml');
      writeAtomic(file, 'all: {}\n');
      expect(readFileSync(file, 'utf8')).toBe('all: {}\n');
      expect(mode(file)).toBe(0o600);
      expect(mode(join(root, '.hive', 'private'))).toBe(0o700);
      expect(mode(join(root, '.hive'))).toBe(0o700);
      writeAtomic(file, 'all: {hosts: {}}\n');
      expect(readdirSync(join(root, '.hive', 'private'))).toEqual(['inventory.yml']); // no temp file left
    } finally {
      process.umask(old);
    }
  });

  it('tightens a tree an older version left open, keeping an owner execute bit and not following links', () => {
    const root = project();
    const stage = join(root, '.hive', 'staging');
    mkdirSync(join(stage, 'runs'), { recursive: true });
    const outside = join(root, 'inventory-group_vars');
    mkdirSync(outside);
    chmodSync(outside, 0o755);
    symlinkSync(outside, join(stage, 'group_vars'));
    writeFileSync(join(stage, 'inventory.yml'), 'x', { mode: 0o644 });
    writeFileSync(join(stage, 'plan.json'), '{}', { mode: 0o664 });
    writeFileSync(join(stage, 'helper.sh'), '#!/bin/sh\n', { mode: 0o755 });
    for (const d of [join(root, '.hive'), stage, join(stage, 'runs')]) chmodSync(d, 0o755);

    ensureStateDir(join(stage, 'runs'));

    expect(mode(join(root, '.hive'))).toBe(0o700);
    expect(mode(stage)).toBe(0o700);
    expect(mode(join(stage, 'runs'))).toBe(0o700);
    expect(mode(join(stage, 'inventory.yml'))).toBe(0o600);
    expect(mode(join(stage, 'plan.json'))).toBe(0o600);
    expect(mode(join(stage, 'helper.sh'))).toBe(0o700);
    expect(mode(outside)).toBe(0o755); // the user's own folder behind the link
  });

  it('leaves modes that are already tight as they are (a role that wrote 0600 sees no change)', () => {
    const root = project();
    const dir = join(root, '.hive', 'private', 'certs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'a.crt'), 'x', { mode: 0o600 });
    writeFileSync(join(dir, 'ro.key'), 'x', { mode: 0o400 });
    secureStateTree(join(root, '.hive'));
    expect(mode(join(dir, 'a.crt'))).toBe(0o600);
    expect(mode(join(dir, 'ro.key'))).toBe(0o400);
  });
});
