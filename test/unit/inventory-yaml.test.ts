// The inventory is read as Ansible reads it: YAML 1.1 as PyYAML resolves it. Both parsers hive
// uses (js-yaml for speed, yaml for positions) must agree, and the quick line scanner must give
// the lines the positioned parse gives.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadYamlFile } from '../../src/inventory/load.js';
import { AnsibleUnsafe, AnsibleVault, fastLoad, fastParserAvailable, yamlTags } from '../../src/lib/yaml-dialect.js';
import { yamlLib } from '../../src/lib/yaml-lib.js';
import { pdnsDir, smallDir } from '../fixtures/inventory/helpers.js';

const withPositions = (text: string) => yamlLib().parseDocument(text, { version: '1.1', customTags: yamlTags }).toJS();

const SCALARS = `
bool_yes: yes
bool_On: On
bool_FALSE: FALSE
bool_off: off
str_y: y
str_n: n
sexagesimal: 22:22
sexagesimal_float: 190:20:30.15
str_zero_colon: 0:30
octal: 0755
str_09: 09
hex: 0x1F
binary: 0b101
underscores: 1_000
signed: +12
str_1e3: 1e3
float_exp: 1.0e+3
float: 3.25
str_neg_dot: -.5
dot_float: .5
inf: -.inf
date: 2001-12-14
null_tilde: ~
null_empty:
quoted: "yes"
port: "8080:80"
vault: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  3132
unsafe: !unsafe "{{ not templated }}"
base: &base {a: 1, b: 2}
merged:
  <<: *base
  b: 3
`;

describe('YAML dialect', () => {
  it('resolves plain scalars like PyYAML (Ansible)', () => {
    const data = withPositions(SCALARS) as Record<string, unknown>;
    expect(data).toMatchObject({
      bool_yes: true,
      bool_On: true,
      bool_FALSE: false,
      bool_off: false,
      str_y: 'y',
      str_n: 'n',
      sexagesimal: 1342,
      sexagesimal_float: 685230.15,
      str_zero_colon: '0:30',
      octal: 493,
      str_09: '09',
      hex: 31,
      binary: 5,
      underscores: 1000,
      signed: 12,
      str_1e3: '1e3',
      float_exp: 1000,
      float: 3.25,
      str_neg_dot: '-.5',
      dot_float: 0.5,
      inf: -Infinity,
      date: '2001-12-14',
      null_tilde: null,
      null_empty: null,
      quoted: 'yes',
      port: '8080:80',
      merged: { a: 1, b: 3 },
    });
    expect(data.vault).toBeInstanceOf(AnsibleVault);
    expect((data.vault as AnsibleVault).ciphertext).toBe('$ANSIBLE_VAULT;1.1;AES256\n3132\n');
    expect(data.unsafe).toBeInstanceOf(AnsibleUnsafe);
  });

  it('has the fast parser installed (js-yaml)', () => {
    expect(fastParserAvailable()).toBe(true);
  });

  it('gives the same data with both parsers', () => {
    expect(fastLoad(SCALARS)!.data).toEqual(withPositions(SCALARS));
    const files = [pdnsDir, smallDir].flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.yml'))
        .map((f) => join(dir, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(fastLoad(text)!.data, file).toEqual(withPositions(text));
    }
  });

  it('leaves problems to the positioned parse', () => {
    expect(fastLoad('a: 1\na: 2\n')).toBeNull();
    expect(fastLoad('a:\n\tb: 1\n')).toBeNull();
    expect(fastLoad('a: [1\n')).toBeNull();
  });

  it('finds service and stage lines by scanning as the positioned parse does', () => {
    for (const file of [join(pdnsDir, 'hive.yml'), join(pdnsDir, 'powerdns.yml'), join(smallDir, 'hive.yml'), join(smallDir, 'services.yml')]) {
      const { doc } = loadYamlFile(file, []);
      const top = doc!.kind === 'hive' ? 'stages' : 'services';
      for (const name of Object.keys(doc!.data[top])) {
        // a 3-element path bypasses the scanner: the positioned parse answers with the deepest key found
        expect(doc!.lineOf([top, name]), `${file} ${name}`).toBe(doc!.lineOf([top, name, '\u0000']));
      }
    }
  });
});
