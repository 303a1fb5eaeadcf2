// Reads the inventory folder: every *.yml/*.yaml file directly in it, parsed as YAML 1.1 the way
// Ansible's PyYAML reads it (`yes`/`False` are booleans, unquoted 22:22 is base 60; see
// yaml-dialect.ts). Any check can ask for the line of any key: clean files are read with the fast
// parser and only parsed again with positions when a message needs a line the quick scanner
// (top-level block entries such as services.web) cannot give.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Document, LineCounter, Node } from 'yaml';
import { displayPath, keyPathText, type KeyPath, type Problem } from '../lib/problems.js';
import { AnsibleUnsafe, AnsibleVault, fastLoad, yamlTags } from '../lib/yaml-dialect.js';
import { yamlLib } from '../lib/yaml-lib.js';

export type DocKind = 'hive' | 'services';

export { AnsibleUnsafe, AnsibleVault, yamlTags } from '../lib/yaml-dialect.js';

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

/** Largest inventory file hive reads: real ones are a few KiB; this keeps a mistake (a log or a
 * dump saved as .yml) or a hostile file from exhausting memory. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Aliases (`*name`) are kept as shared references, never copied, so a "billion laughs" file of a
 * few nested anchors loads in microseconds, but everything that walks the data afterwards (schema
 * validation, the model, the generated inventory) would see it expanded. Expanded, a file may
 * repeat at most this many values through aliases, and hold at most MAX_EXPANDED_CHARS of text.
 */
export const MAX_ALIAS_VALUES = 100_000;
export const MAX_EXPANDED_CHARS = 64 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let n: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [n, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [n, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * The text of an inventory file, or null with a problem reported: too big, or not UTF-8 (Ansible
 * would refuse it; decoding it loosely would put U+FFFD into names and passwords).
 */
export function readInventoryText(absPath: string, file: string, problems: Problem[]): string | null {
  const size = statSync(absPath).size;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (size > MAX_FILE_BYTES) {
    problems.push({
      file,
      line: 1,
      key: '(document)',
      message: `file is ${mib(size)} (${size} bytes): inventory files may be at most ${MAX_FILE_BYTES / 1024 / 1024} MiB (${MAX_FILE_BYTES} bytes)`,
    });
    return null;
  }
  const bytes = readFileSync(absPath);
  try {
    return utf8.decode(bytes);
  } catch {
    const offset = Math.max(0, firstInvalidUtf8(bytes));
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    problems.push({
      file,
      line,
      key: '(document)',
      message: `not valid UTF-8 (byte offset ${offset}, 0x${bytes[offset]?.toString(16).padStart(2, '0') ?? '??'}): save the file as UTF-8`,
    });
    return null;
  }
}

/**
 * Walks the loaded data as everything after loading will, counting what aliases repeat; stops
 * at the first limit exceeded (and at a value that contains itself). The path returned ends at
 * the alias where the repetition starts (for an alias that is a list item, at the list: the
 * positions of an alias item are its anchor's).
 */
function checkExpansion(data: unknown): { path: KeyPath; message: string } | null {
  const seen = new Set<object>();
  const inside = new Set<object>();
  let repeated = 0;
  let chars = 0;
  const path: KeyPath = [];
  let failedAt = 0; // path length of the alias below which the walk stopped
  const tooMany = `YAML aliases repeat more than ${MAX_ALIAS_VALUES} values: hive does not expand them (a "billion laughs" alias bomb?)`;
  // aliasAt: path length at the alias this value was reached through, -1 when not through one
  const visit = (value: unknown, aliasAt: number): string | null => {
    const isObject = typeof value === 'object' && value !== null;
    if (aliasAt < 0 && isObject && seen.has(value)) aliasAt = path.length;
    failedAt = aliasAt < 0 ? path.length : aliasAt;
    if (isObject && inside.has(value)) return 'a YAML alias refers to the value that contains it (endless data)';
    // every value reached through an alias counts, leaves too (a list of 1000 aliases of a
    // list of 1000 strings is a million values)
    if (aliasAt >= 0 && ++repeated > MAX_ALIAS_VALUES) return tooMany;
    if (typeof value === 'string' && (chars += value.length) > MAX_EXPANDED_CHARS)
      return `YAML aliases expand this file to more than ${MAX_EXPANDED_CHARS / 1024 / 1024} MiB of text: hive does not expand them (an alias bomb?)`;
    if (!isObject) return null;
    seen.add(value);
    inside.add(value);
    const entries: [string | number, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [i, v])
      : Object.entries(value);
    for (const [k, v] of entries) {
      path.push(k);
      const problem = visit(v, aliasAt);
      if (problem) return problem;
      path.pop();
    }
    inside.delete(value);
    return null;
  };
  const message = visit(data, -1);
  if (!message) return null;
  const where = path.slice(0, failedAt);
  if (typeof where[where.length - 1] === 'number') where.pop();
  return { path: where, message };
}

/** Top-level keys that only a hive plugin's file has, and the plugin line they need. */
const PLUGIN_KEYS: Record<string, string> = {
  stages: 'hive_inventory',
  services: 'hive_services',
  images: 'hive_services',
  volumes: 'hive_services',
  networks: 'hive_services',
};
const ANSIBLE_GROUP_KEYS = new Set(['hosts', 'children', 'vars']);

/**
 * A file without `plugin:` that has hive keys (services:, stages:, ...) is almost surely a hive
 * file missing its first line; Ansible would ignore it silently. Ansible's own YAML inventory
 * (every top-level value a group: hosts / children / vars) may use such group names and stays
 * ignored.
 */
function missingPlugin(record: Record<string, unknown>): { key: string; plugin: string } | null {
  if (record.plugin !== undefined && record.plugin !== null) return null;
  const isGroup = (v: unknown) =>
    v === null || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).every((k) => ANSIBLE_GROUP_KEYS.has(k)));
  if (Object.values(record).every(isGroup)) return null;
  const key = Object.keys(record).find((k) => Object.hasOwn(PLUGIN_KEYS, k));
  return key ? { key, plugin: PLUGIN_KEYS[key]! } : null;
}

/**
 * Parses one YAML file. Returns null (with problems reported) when it is not usable, and also
 * for a valid YAML mapping that belongs to no hive plugin (ignored like Ansible's other
 * inventory sources would be).
 */
export function loadYamlFile(absPath: string, problems: Problem[]): { doc: SourceDoc | null } {
  const file = displayPath(absPath);
  const text = readInventoryText(absPath, file, problems);
  if (text === null) return { doc: null };
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
    // aliases become shared references here, as with js-yaml; checkExpansion below limits them
    data = doc.toJS({ maxAliasCount: -1 });
  }
  const expansion = checkExpansion(data);
  if (expansion) {
    problems.push({ file, line: withPositions().src.locate(expansion.path).line, key: keyPathText(expansion.path), message: expansion.message });
    return { doc: null };
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
  if (kind === null) {
    const missing = missingPlugin(record);
    if (missing)
      problems.push({
        file,
        line: withPositions().src.locate([missing.key]).line,
        key: missing.key,
        message: `a ${missing.key}: key but no plugin: line, so this file would be ignored: add \`plugin: ${missing.plugin}\` as its first line (or move the file out of the inventory folder)`,
      });
    return { doc: null };
  }

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
