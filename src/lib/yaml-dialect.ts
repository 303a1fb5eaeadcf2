// The YAML dialect of Ansible: YAML 1.1 as PyYAML resolves plain scalars (which is narrower than
// the 1.1 spec: `y`/`n` stay strings, `1e3` stays a string, `09` stays a string) plus Ansible's
// `!vault` and `!unsafe` tags. Two parsers speak it:
//  - `yaml` (always): full positions for messages (file:line: key);
//  - `js-yaml` (when installed): ~7x faster, used for the data when a file parses cleanly.
// Both must give the same data; test/unit/inventory-yaml.test.ts checks that they do.
import { createRequire } from 'node:module';
import type { ScalarTag, Tags } from 'yaml';

/** An Ansible vault-encrypted value (`!vault |`), kept encrypted and handed on as is. */
export class AnsibleVault {
  constructor(public readonly ciphertext: string) {}
  toJSON(): unknown {
    // the shape ansible-inventory --list prints for a vaulted value
    return { __ansible_vault: this.ciphertext };
  }
}

/** An Ansible `!unsafe` string: never templated by Ansible. */
export class AnsibleUnsafe {
  constructor(public readonly text: string) {}
  toJSON(): unknown {
    return this.text;
  }
}

// PyYAML's implicit resolvers (yaml/resolver.py), split the way the `yaml` package splits its tags
export const PY = {
  true: /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/,
  false: /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/,
  intBin: /^[-+]?0b[0-1_]+$/,
  intOct: /^[-+]?0[0-7_]+$/,
  intDec: /^[-+]?(?:0|[1-9][0-9_]*)$/,
  intHex: /^[-+]?0x[0-9a-fA-F_]+$/,
  intTime: /^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$/,
  float: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)$/,
  floatExp: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*[eE][-+][0-9]+|\.[0-9_]+[eE][-+][0-9]+)$/,
  floatTime: /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$/,
  floatSpecial: /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
};

// ---------------------------------------------------------------------------------------------
// `yaml` package: its YAML 1.1 schema with PyYAML's tests

const vaultTag: ScalarTag = {
  tag: '!vault',
  identify: (v) => v instanceof AnsibleVault,
  resolve: (s) => new AnsibleVault(s),
  // the value is an AnsibleVault, or its text when toInventoryYaml already made a tagged node
  stringify: (item) => (item.value instanceof AnsibleVault ? item.value.ciphertext : String(item.value)),
};
const unsafeTag: ScalarTag = {
  tag: '!unsafe',
  identify: (v) => v instanceof AnsibleUnsafe,
  resolve: (s) => new AnsibleUnsafe(s),
  stringify: (item) => (item.value instanceof AnsibleUnsafe ? item.value.text : String(item.value)),
};

function pyyamlTag(tag: Tags[number]): Tags[number] | null {
  if (typeof tag === 'string') return tag === 'timestamp' ? null : tag;
  // dates stay strings (templates expect text; PyYAML's datetime would not survive JSON anyway)
  if (tag.tag === 'tag:yaml.org,2002:timestamp') return null;
  if (!('test' in tag) || !tag.test) return tag;
  const format = 'format' in tag ? tag.format : undefined;
  let test: RegExp | undefined;
  if (tag.tag === 'tag:yaml.org,2002:bool') test = tag.identify?.(true) ? PY.true : PY.false;
  else if (tag.tag === 'tag:yaml.org,2002:int')
    test = { BIN: PY.intBin, OCT: PY.intOct, HEX: PY.intHex, TIME: PY.intTime }[format ?? ''] ?? PY.intDec;
  else if (tag.tag === 'tag:yaml.org,2002:float') {
    if (format === 'EXP') test = PY.floatExp;
    else if (format === 'TIME') test = PY.floatTime;
    else if (tag.test.test('.nan')) test = PY.floatSpecial;
    else test = PY.float;
  }
  return test ? ({ ...tag, test } as ScalarTag) : tag;
}

/** `customTags` for the `yaml` package (with `version: '1.1'`) to parse. */
export function yamlTags(tags: Tags): Tags {
  return [...yamlOutputTags(tags), vaultTag, unsafeTag];
}

/**
 * `customTags` to write YAML that PyYAML reads back the same (strings such as "y" need no quotes,
 * "yes" does). Vaulted and unsafe values must already be tagged scalar nodes (toInventoryYaml
 * makes them so), which the `yaml` package writes with their tag as they are.
 */
export function yamlOutputTags(tags: Tags): Tags {
  return tags.map(pyyamlTag).filter((t): t is Tags[number] => t !== null);
}

// ---------------------------------------------------------------------------------------------
// js-yaml (optional dependency): the same dialect as a js-yaml schema

const require = createRequire(import.meta.url);
let jsyaml: any | null | undefined;
let jsyamlSchema: unknown;

function digits(s: string): string {
  return s.replace(/_/g, '');
}

function sexagesimal(s: string): number {
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  let value = 0;
  for (const part of digits(s).split(':')) value = value * 60 + Number(part);
  return sign * value;
}

function constructInt(s: string): number {
  if (PY.intTime.test(s)) return sexagesimal(s);
  let sign = 1;
  let body = digits(s);
  if (body[0] === '-' || body[0] === '+') {
    if (body[0] === '-') sign = -1;
    body = body.slice(1);
  }
  if (body.startsWith('0b')) return sign * parseInt(body.slice(2), 2);
  if (body.startsWith('0x')) return sign * parseInt(body.slice(2), 16);
  if (body.length > 1 && body[0] === '0') return sign * parseInt(body.slice(1), 8);
  return sign * parseInt(body, 10);
}

function constructFloat(s: string): number {
  if (PY.floatSpecial.test(s)) {
    if (/nan/i.test(s)) return NaN;
    return s[0] === '-' ? -Infinity : Infinity;
  }
  if (PY.floatTime.test(s)) return sexagesimal(s);
  return parseFloat(digits(s));
}

function buildJsyamlSchema(y: any): unknown {
  const { Type, FAILSAFE_SCHEMA, types } = y;
  const scalar = (tag: string, test: (s: string) => boolean, construct: (s: string) => unknown, predicate: (v: unknown) => boolean) =>
    new Type(tag, { kind: 'scalar', resolve: (s: string | null) => s !== null && test(s), construct, predicate });
  const bool = scalar('tag:yaml.org,2002:bool', (s) => PY.true.test(s) || PY.false.test(s), (s) => PY.true.test(s), (v) => typeof v === 'boolean');
  const int = scalar(
    'tag:yaml.org,2002:int',
    (s) => [PY.intBin, PY.intOct, PY.intDec, PY.intHex, PY.intTime].some((r) => r.test(s)),
    constructInt,
    (v) => Number.isInteger(v),
  );
  const float = scalar(
    'tag:yaml.org,2002:float',
    (s) => [PY.float, PY.floatExp, PY.floatTime, PY.floatSpecial].some((r) => r.test(s)),
    constructFloat,
    (v) => typeof v === 'number',
  );
  const vault = new Type('!vault', { kind: 'scalar', construct: (s: string) => new AnsibleVault(s ?? ''), instanceOf: AnsibleVault });
  const unsafe = new Type('!unsafe', { kind: 'scalar', construct: (s: string) => new AnsibleUnsafe(s ?? ''), instanceOf: AnsibleUnsafe });
  return FAILSAFE_SCHEMA.extend({
    implicit: [types.null, bool, int, float, types.merge],
    explicit: [types.binary, types.omap, types.pairs, types.set, vault, unsafe],
  });
}

/** js-yaml if it is installed (it is optional: the `yaml` package does everything, only slower). */
function fastParser(): any | null {
  if (jsyaml === undefined) {
    try {
      jsyaml = process.env.HIVE_YAML_PARSER === 'yaml' ? null : require('js-yaml');
      if (jsyaml) jsyamlSchema = buildJsyamlSchema(jsyaml);
    } catch {
      jsyaml = null;
    }
  }
  return jsyaml;
}

/**
 * Parses with js-yaml when available. Returns `{data}` on success, null when js-yaml is missing or
 * the text has any problem (the caller then parses with `yaml` to report it with positions).
 */
export function fastLoad(text: string): { data: unknown } | null {
  const y = fastParser();
  if (!y) return null;
  try {
    return { data: y.load(text, { schema: jsyamlSchema, json: false }) };
  } catch {
    return null;
  }
}

export function fastParserAvailable(): boolean {
  return fastParser() !== null;
}
