// Reads the inventory folder: every *.yml/*.yaml file directly in it, parsed as YAML 1.1 the way
// Ansible's PyYAML reads it (`yes`/`False` are booleans, unquoted 22:22 is base 60; see
// yaml-dialect.ts). Any check can ask for the line of any key: clean files are read with the fast
// parser and only parsed again with positions when a message needs a line the quick scanner
// (top-level block entries such as services.web) cannot give.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Document, LineCounter, Node } from 'yaml';
import type { Problem } from './errors.js';
import { AnsibleUnsafe, AnsibleVault, fastLoad, yamlTags } from './yaml-dialect.js';
import { yamlLib } from './yaml-lib.js';

export type DocKind = 'hive' | 'services';
export type KeyPath = (string | number)[];

export { AnsibleUnsafe, AnsibleVault, yamlTags } from './yaml-dialect.js';

export interface SourceDoc {
  /** Path relative to the current working directory, as shown in messages. */
  file: string;
  absPath: string;
  kind: DocKind;
  /** The file as plain data (Ansible tagged values stay AnsibleVault / AnsibleUnsafe objects). */
  data: any;
  /** The same with tagged values as plain strings: what the schema validates. */
  plain: any;
  /** Line of the key (or list item) at `path`; the deepest existing ancestor's line if absent. */
  lineOf(path: KeyPath): number;
  /** Source text of the scalar at `path` (e.g. `22:22` for a value read as 1342). */
  sourceOf(path: KeyPath): string | undefined;
}

interface Located {
  node: Node | null;
  line: number;
}

const isAlias = (n: unknown) => yamlLib().isAlias(n);
const isMap = (n: unknown) => yamlLib().isMap(n);
const isPair = (n: unknown) => yamlLib().isPair(n);
const isScalar = (n: unknown) => yamlLib().isScalar(n);
const isSeq = (n: unknown) => yamlLib().isSeq(n);

class YamlSource {
  constructor(
    private doc: Document,
    private lines: LineCounter,
  ) {}

  lineAt(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  private deref(node: unknown): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return (node as Node | null) ?? null;
  }

  locate(path: KeyPath): Located {
    let node = this.deref(this.doc.contents);
    let line = 1;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = findPair(node.items, seg, this);
        if (!pair) break;
        const key = pair.key as Node | null;
        if (key?.range) line = this.lineAt(key.range[0]);
        node = this.deref(pair.value);
      } else if (isSeq(node)) {
        const item = this.deref(node.items[Number(seg)]);
        if (!item) break;
        if (item.range) line = this.lineAt(item.range[0]);
        node = item;
      } else {
        break;
      }
    }
    return { node, line };
  }

  /** Key path of the innermost collection entry that contains `offset` (for syntax errors). */
  pathAt(offset: number): KeyPath {
    const path: KeyPath = [];
    let node = this.deref(this.doc.contents);
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const k = p.key as Node | null;
          const v = p.value as Node | null;
          const start = k?.range?.[0] ?? v?.range?.[0];
          const end = v?.range?.[2] ?? k?.range?.[2];
          return start !== undefined && end !== undefined && start <= offset && offset <= end;
        });
        if (!pair || !isScalar(pair.key)) break;
        path.push(String(pair.key.value));
        node = this.deref(pair.value);
      } else if (isSeq(node)) {
        const index = node.items.findIndex((n) => {
          const r = (n as Node | null)?.range;
          return !!r && r[0] <= offset && offset <= r[2];
        });
        if (index < 0) break;
        path.push(index);
        node = this.deref(node.items[index]);
      } else {
        break;
      }
    }
    return path;
  }
}

function findPair(items: unknown[], seg: string | number, src: YamlSource): { key: unknown; value: unknown } | undefined {
  const want = String(seg);
  for (const item of items) {
    if (!isPair(item)) continue;
    if (isScalar(item.key) && String(item.key.value) === want) return item;
  }
  // a key merged in with `<<: *anchor`: look inside the merged mappings
  for (const item of items) {
    if (!isPair(item) || !isScalar(item.key) || item.key.value !== '<<') continue;
    const sources = isSeq(item.value) ? item.value.items : [item.value];
    for (const s of sources) {
      const target = isAlias(s) ? s.resolve((src as any).doc) : s;
      if (isMap(target)) {
        const found = findPair(target.items, seg, src);
        if (found) return found;
      }
    }
  }
  return undefined;
}

export function keyPathText(path: KeyPath): string {
  return path.length === 0 ? '(document)' : path.join('.');
}

/** Replaces AnsibleVault / AnsibleUnsafe by their text so the schema sees strings. */
function plainCopy(value: unknown): unknown {
  if (value instanceof AnsibleVault) return value.ciphertext;
  if (value instanceof AnsibleUnsafe) return value.text;
  if (Array.isArray(value)) return value.map(plainCopy);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plainCopy(v);
    return out;
  }
  return value;
}

function hasTagged(text: string): boolean {
  return text.includes('!vault') || text.includes('!unsafe');
}

/** The file name as shown in messages: relative to the working directory. */
export function displayPath(absPath: string): string {
  return relative(process.cwd(), absPath) || absPath;
}

function parseWithPositions(text: string): { doc: Document; src: YamlSource } {
  const { LineCounter, parseDocument } = yamlLib();
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.1',
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: false,
    customTags: yamlTags,
  });
  return { doc, src: new YamlSource(doc, lines) };
}

/**
 * Lines of the entries of a top-level block mapping (`services:` → `  web:` ...) found by
 * scanning the text, so the usual look-ups (where is service X, where is stage Y) need no
 * positioned parse. Returns null when the layout is not the plain block style it understands.
 */
function scanBlockChildren(text: string, topKey: string): Map<string, number> | null {
  const lines = text.split('\n');
  const top = new RegExp(`^${topKey}\\s*:\\s*(#.*)?$`);
  const start = lines.findIndex((l) => top.test(l));
  if (start < 0) return null;
  const out = new Map<string, number>();
  let indent = -1;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*(#.*)?$/.test(line)) continue;
    const lead = /^ */.exec(line)![0].length;
    if (indent < 0) {
      if (lead === 0) return null;
      indent = lead;
    }
    if (lead < indent) break;
    if (lead > indent) continue;
    const m = /^ *(?:"([^"\\]*)"|'([^']*)'|([^\s#'"{}\[\],&*!|>%@`?-][^:#]*?))\s*:(?:\s|$)/.exec(line);
    if (!m) return null;
    const key = m[1] ?? m[2] ?? m[3]!;
    if (!out.has(key)) out.set(key, i + 1);
  }
  return out;
}

/**
 * Parses one YAML file. Returns null (with problems reported) when it is not usable, and also
 * for a valid YAML mapping that belongs to no hive plugin (ignored like Ansible's other
 * inventory sources would be).
 */
export function loadYamlFile(absPath: string, problems: Problem[]): { doc: SourceDoc | null } {
  const file = displayPath(absPath);
  const text = readFileSync(absPath, 'utf8');
  // the positioned parse is slow on big files: done only when a message needs a line
  let positioned: { doc: Document; src: YamlSource } | null = null;
  const withPositions = () => (positioned ??= parseWithPositions(text));

  let data: unknown;
  const fast = fastLoad(text);
  if (fast) {
    data = fast.data;
  } else {
    const { doc, src } = withPositions();
    const before = problems.length;
    for (const err of doc.errors) {
      const offset = err.pos[0];
      const line = src.lineAt(offset);
      const path = src.pathAt(offset);
      let message: string;
      switch (err.code) {
        case 'DUPLICATE_KEY': {
          // pathAt ends with the repeated key; locate() finds its first occurrence
          const first = path.length ? src.locate(path).line : 0;
          message = path.length
            ? `duplicate key ${JSON.stringify(String(path[path.length - 1]))} (first on line ${first})`
            : 'duplicate key';
          break;
        }
        case 'TAB_AS_INDENT':
          message = 'tab used for indentation (YAML allows spaces only)';
          break;
        default:
          message = `YAML syntax error: ${err.message.split('\n')[0]}`;
      }
      problems.push({ file, line, key: keyPathText(path), message });
    }
    if (problems.length > before) return { doc: null };
    data = doc.toJS({ maxAliasCount: 10000 });
  }

  if (data === null || data === undefined || data === '') {
    problems.push({ file, line: 1, key: '(document)', message: 'file is empty' });
    return { doc: null };
  }
  if (typeof data !== 'object' || Array.isArray(data) || data instanceof AnsibleVault || data instanceof AnsibleUnsafe) {
    problems.push({ file, line: withPositions().src.locate([]).line, key: '(document)', message: 'the top level must be a mapping (key: value)' });
    return { doc: null };
  }
  const record = data as Record<string, unknown>;
  const plugin = record.plugin;
  let kind: DocKind | null = null;
  if (plugin === 'hive_inventory') kind = 'hive';
  else if (plugin === 'hive_services') kind = 'services';
  else if (typeof plugin === 'string' && plugin.startsWith('hive_')) {
    problems.push({
      file,
      line: withPositions().src.locate(['plugin']).line,
      key: 'plugin',
      message: `unknown plugin ${JSON.stringify(plugin)}: must be hive_inventory or hive_services`,
    });
    return { doc: null };
  }
  if (kind === null) return { doc: null };

  const scans = new Map<string, Map<string, number> | null>();
  const quickLine = (path: KeyPath): number | undefined => {
    if (path.length !== 2 || typeof path[0] !== 'string') return undefined;
    if (!scans.has(path[0])) scans.set(path[0], scanBlockChildren(text, path[0]));
    return scans.get(path[0])?.get(String(path[1]));
  };
  const plain = hasTagged(text) ? plainCopy(record) : record;
  return {
    doc: {
      file,
      absPath,
      kind,
      data: record,
      plain,
      lineOf: (path) => quickLine(path) ?? withPositions().src.locate(path).line,
      sourceOf: (path) => {
        const { node } = withPositions().src.locate(path);
        return isScalar(node) ? (node as { source?: string }).source : undefined;
      },
    },
  };
}

/** Files Ansible would read as inventory sources: *.yml / *.yaml directly in the folder. */
export function inventoryFiles(inventoryDir: string): string[] {
  const dir = resolve(inventoryDir);
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && /\.ya?ml$/.test(name))
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        return false; // dangling symlink
      }
    })
    .sort();
}

/** Loads every hive document of the folder; problems of all files are collected. */
export function loadInventoryDir(inventoryDir: string, problems: Problem[]): SourceDoc[] {
  const dir = resolve(inventoryDir);
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    problems.push({ file: displayPath(dir), line: 0, key: '(folder)', message: 'inventory folder not found' });
    return [];
  }
  if (!stat.isDirectory()) {
    problems.push({ file: displayPath(dir), line: 0, key: '(folder)', message: 'inventory path is not a folder' });
    return [];
  }
  const docs: SourceDoc[] = [];
  for (const path of inventoryFiles(dir)) {
    const { doc } = loadYamlFile(path, problems);
    if (doc) docs.push(doc);
  }
  return docs;
}
