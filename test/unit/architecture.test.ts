// The layers README's "How it works" draws, checked on the imports themselves: every relative
// import (static or dynamic) of every module under src/ must point into its own folder or into a
// layer listed for it here. A new backward edge fails this test with the file and the import.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** What each top-level folder of src/ may import, besides itself. */
const MAY_IMPORT: Record<string, string[]> = {
  lib: [],
  inventory: ['lib'],
  state: ['lib'],
  model: ['lib', 'inventory', 'state'],
  render: ['lib', 'state', 'model'],
  providers: ['lib', 'state', 'model'],
  runner: ['lib', 'state', 'model', 'render'],
  services: ['lib', 'state', 'model', 'render', 'runner'],
  status: ['lib', 'state', 'model', 'runner'],
  ops: ['lib', 'state', 'model', 'runner'],
  init: ['lib'],
  cli: ['lib', 'inventory', 'state', 'model', 'render', 'providers', 'runner', 'services', 'status', 'ops', 'init'],
};

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const layerOf = (file: string) => relative(src, file).split('/')[0]!;

/** Relative specifiers of `from '...'`, `import '...'` and `import('...')`. */
function imports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)) found.push(m[1]!);
  return found;
}

describe('the import graph of src/', () => {
  const files = modules(src);

  it('has every module in a known layer', () => {
    expect(files.length).toBeGreaterThan(50);
    const unknown = files.filter((f) => !(layerOf(f) in MAY_IMPORT)).map((f) => relative(src, f));
    expect(unknown).toEqual([]);
  });

  it('has no import against the layer order', () => {
    const backward: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of imports(readFileSync(file, 'utf8'))) {
        const to = layerOf(resolve(dirname(file), spec));
        if (to !== from && !MAY_IMPORT[from]!.includes(to)) backward.push(`${relative(src, file)} → ${spec} (${from} → ${to})`);
      }
    }
    expect(backward).toEqual([]);
  });

  it('keeps src/lib a leaf: it imports nothing of hive outside itself', () => {
    const outside = files
      .filter((f) => layerOf(f) === 'lib')
      .flatMap((f) => imports(readFileSync(f, 'utf8')).filter((s) => layerOf(resolve(dirname(f), s)) !== 'lib'));
    expect(outside).toEqual([]);
  });
});
