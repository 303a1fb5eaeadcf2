// Problems found in the inventory. Every check (YAML, JSON Schema, semantic) reports into the
// same list so the user sees all of them at once, each as `file:line: key.path: message`.

import { relative } from 'node:path';
import { HiveError } from './errors.js';

export interface Problem {
  /** Path relative to the current working directory, e.g. `inventory/hive.yml`. */
  file: string;
  /** 1-based line. */
  line: number;
  /** Dotted key path inside the file, e.g. `stages.private.cidr`; `(document)` for the file as a whole. */
  key: string;
  message: string;
}

/** Path of keys (and list indexes) inside a YAML document. */
export type KeyPath = (string | number)[];

/** A key path as messages show it: `stages.private.cidr`, `(document)` for the file as a whole. */
export function keyPathText(path: KeyPath): string {
  return path.length === 0 ? '(document)' : path.join('.');
}

/** The file name as shown in messages: relative to the working directory. */
export function displayPath(absPath: string): string {
  return relative(process.cwd(), absPath) || absPath;
}

/** What a check needs of a document to report a problem: its file and the line of a key. */
export interface LocatedDoc {
  file: string;
  lineOf(path: KeyPath): number;
}

export type Report = (path: KeyPath, message: string) => void;

/** Reports problems of `doc` into `problems` by key path. */
export function reporter(doc: LocatedDoc, problems: Problem[]): Report {
  return (path, message) => problems.push({ file: doc.file, line: doc.lineOf(path), key: keyPathText(path), message });
}

/** A place in a document, for "already defined at ..." messages. */
export interface Where {
  doc: LocatedDoc;
  path: KeyPath;
}

/** `inventory/services.yml:12 (services.web)`. */
export function whereText(w: Where): string {
  return `${w.doc.file}:${w.doc.lineOf(w.path)} (${keyPathText(w.path)})`;
}

export class InventoryError extends HiveError {
  constructor(public problems: Problem[]) {
    super(formatProblems(problems), 2);
  }
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}: ${p.key}: ${p.message}`;
}

/** One line per problem: `inventory/hive.yml:8: stages.private.cidr: "10.90.0.0/33" is not an IPv4 network`. */
export function formatProblems(problems: Problem[]): string {
  return problems.map(formatProblem).join('\n');
}

/** Sorts by file, then line, and drops exact duplicates. */
export function sortProblems(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const p of problems) {
    const id = formatProblem(p);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(p);
  }
  // stable sort keeps the order checks reported problems in for the same line
  return out.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
}

/** Quotes a value for a message the way a user would write it in YAML. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'a mapping';
  return String(value);
}

/** Closest candidate by edit distance, for "did you mean" hints (null when nothing is close). */
export function closest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== null && bestDistance <= limit ? best : null;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
