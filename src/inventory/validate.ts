// Structural validation of both inventory file kinds against the JSON Schemas in ./schema
// (draft 2020-12, the single source of the structural rules). The schemas are precompiled by
// ./schema/generate.mjs so start-up stays fast; this module turns ajv's errors into problems
// that name file, line and key with a message a user can act on.
import { closest, keyPathText, show, type KeyPath, type Problem } from '../lib/problems.js';
import type { SourceDoc } from './load.js';
import { validateHive, validateServices } from './schema/validators.generated.js';

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
  data?: unknown;
  parentSchema?: any;
}

type Validator = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

const validators: Record<SourceDoc['kind'], Validator> = {
  hive: validateHive as Validator,
  services: validateServices as Validator,
};

/** Validates one document; problems are appended. Returns true when the document is valid. */
export function validateSchema(doc: SourceDoc, problems: Problem[]): boolean {
  const validate = validators[doc.kind];
  if (validate(doc.plain)) return true;
  for (const err of relevantErrors(validate.errors ?? [])) {
    const problem = toProblem(doc, err);
    if (problem) problems.push(problem);
  }
  return false;
}

function pointerToPath(pointer: string): KeyPath {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The schema marks definitions whose errors get their own message with `"$comment": "hive:<name> ..."`. */
function marker(schema: unknown): string | undefined {
  const comment = (schema as { $comment?: unknown } | undefined)?.$comment;
  return typeof comment === 'string' ? /^hive:(\w+)/.exec(comment)?.[1] : undefined;
}

const isTemplateBranch = (e: AjvError) => marker(e.parentSchema) === 'template';
const isCombinator = (e: AjvError) => e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if';

/**
 * ajv reports every failed branch of an anyOf. Keep the errors that explain the failure: drop the
 * "or a Jinja template" branch and the anyOf summary when a more specific error exists at (or
 * below) the same place.
 */
function relevantErrors(errors: AjvError[]): AjvError[] {
  const specific = errors.filter((e) => !isTemplateBranch(e) && !isCombinator(e));
  const out: AjvError[] = [];
  for (const e of errors) {
    if (isTemplateBranch(e)) {
      if (specific.some((s) => s.instancePath === e.instancePath)) continue;
    } else if (isCombinator(e)) {
      if (specific.some((s) => s.instancePath === e.instancePath || s.instancePath.startsWith(e.instancePath + '/')))
        continue;
    }
    out.push(e);
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'empty',
};

function typeOf(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return String(value);
  return `the string ${JSON.stringify(value)}`;
}

/** Messages for string patterns, by the schema's hive:<name> marker. */
const PATTERN_MESSAGES: Record<string, (v: unknown) => string> = {
  ipv4Network: (v) => `${show(v)} is not an IPv4 network`,
  ipv4Address: (v) => `${show(v)} is not an IPv4 address`,
  ipv6Network: (v) => `${show(v)} is not an IPv6 network`,
  hostnameStem: (v) =>
    `${show(v)} is not a valid host name stem (lowercase letters, digits and hyphens, at least 2 characters, no hyphen at either end)`,
  port: (v) => `${show(v)} is not a port: write "[published:]target[/tcp|udp|sctp]", e.g. "8080:80/tcp"`,
  size: (v) => `${show(v)} is not a size such as 500M or 20G`,
  duration: (v) => `${show(v)} is not a duration such as 10s, 1m30s or 500ms`,
  siteName: (v) => `${show(v)} is not a valid site name (letters, digits, '-' and '_', separated by dots)`,
};

function patternMessage(err: AjvError): string {
  const name = marker(err.parentSchema);
  if (name && PATTERN_MESSAGES[name]) return PATTERN_MESSAGES[name]!(err.data);
  return `${show(err.data)} does not match ${err.params.pattern}`;
}

function toProblem(doc: SourceDoc, err: AjvError): Problem | null {
  const path = pointerToPath(err.instancePath);
  const at = (p: KeyPath, message: string): Problem => ({
    file: doc.file,
    line: doc.lineOf(p),
    key: keyPathText(p),
    message,
  });
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(err.params.additionalProperty);
      const keyPath = [...path, key];
      if (path.length === 1 && path[0] === 'stages')
        return at(keyPath, `unknown stage ${JSON.stringify(key)}: must be one of private, staging, production`);
      const known = Object.keys(err.parentSchema?.properties ?? {});
      const guess = closest(key, known);
      return at(keyPath, `unknown key ${JSON.stringify(key)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}`);
    }
    case 'required':
      if (doc.kind === 'services' && path.length === 2 && path[0] === 'services' && err.params.missingProperty === 'image')
        return at(
          [...path, 'image'],
          'missing required key: a service needs an image to run, a reference to pull (e.g. image: nginx:1.27) or a build definition (image: {from: ..., roles: [...]})',
        );
      return at([...path, String(err.params.missingProperty)], 'missing required key');
    case 'dependentRequired':
      return at(
        [...path, String(err.params.property)],
        `requires ${JSON.stringify(String(err.params.missingProperty))} too`,
      );
    case 'type': {
      const wanted = (Array.isArray(err.params.type) ? err.params.type : String(err.params.type).split(','))
        .map((t: string) => TYPE_NAMES[t] ?? t)
        .join(' or ');
      if (marker(err.parentSchema) === 'volume' && typeof err.data === 'string') {
        const [source, target] = err.data.split(':');
        return at(
          path,
          `short volume syntax ${JSON.stringify(err.data)} is not supported: write source: ${source ?? ''} and target: ${target ?? ''}`,
        );
      }
      let hint = '';
      const source = typeof err.data === 'number' ? doc.sourceOf(path) : undefined;
      if (source && /^\d+(:\d+)+$/.test(source))
        hint = ` (YAML 1.1 reads unquoted ${source} as a base-60 number: quote it, "${source}")`;
      return at(path, `must be ${wanted}, not ${typeOf(err.data)}${hint}`);
    }
    case 'enum':
      return at(
        path,
        `must be one of ${(err.params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}, not ${show(err.data)}`,
      );
    case 'const':
      return at(path, `must be ${JSON.stringify(err.params.allowedValue)}, not ${show(err.data)}`);
    case 'pattern':
      return at(path, patternMessage(err));
    case 'minimum':
    case 'exclusiveMinimum':
      return at(path, `must be ${err.keyword === 'minimum' ? 'at least' : 'more than'} ${err.params.limit}, not ${show(err.data)}`);
    case 'maximum':
    case 'exclusiveMaximum':
      return at(path, `must be ${err.keyword === 'maximum' ? 'at most' : 'less than'} ${err.params.limit}, not ${show(err.data)}`);
    case 'minItems':
      return at(path, `must have at least ${err.params.limit} item${err.params.limit === 1 ? '' : 's'}`);
    case 'minProperties':
      return at(path, `must have at least ${err.params.limit} entr${err.params.limit === 1 ? 'y' : 'ies'}`);
    case 'minLength':
      return at(path, 'must not be empty');
    case 'anyOf':
    case 'oneOf':
      return at(path, `${show(err.data)} is not an allowed value`);
    default:
      return at(path, err.message ?? `fails ${err.keyword}`);
  }
}
