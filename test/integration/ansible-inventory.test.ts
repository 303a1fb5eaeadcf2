// The generated inventory against real Ansible: `ansible-inventory --list` on the YAML file hive
// writes must print exactly what toAnsibleInventory returns. The golden test of the YAML file is
// test/unit/model-ansible-inventory.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { readSite } from '../../src/model/index.js';
import { inventoryYamlText, toAnsibleInventory, toInventoryYaml } from '../../src/model/ansible-inventory.js';
import type { StageName } from '../../src/model/site.js';
import { pdnsDir, smallDir } from '../fixtures/inventory/helpers.js';

const work = mkdtempSync(join(tmpdir(), 'hive-ansinv-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function ansibleList(yamlText: string, name: string): unknown {
  const file = join(work, `${name}.yml`);
  writeFileSync(file, yamlText);
  const out = execFileSync('ansible-inventory', ['-i', file, '--list'], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, ANSIBLE_CONFIG: join(work, 'none.cfg'), ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true', ANSIBLE_NOCOLOR: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out);
}

const cases: [string, string, StageName][] = [
  ['pdns', pdnsDir, 'private'],
  ['pdns', pdnsDir, 'staging'],
  ['pdns', pdnsDir, 'production'],
  ['small', smallDir, 'private'],
  ['small', smallDir, 'staging'],
  ['small', smallDir, 'production'],
];

describe('generated inventory read by ansible-inventory', () => {
  for (const [label, dir, stage] of cases) {
    it(`${label} ${stage}: ansible-inventory --list prints toAnsibleInventory`, () => {
      const site = readSite({ inventoryDir: dir, hiveDir: join(work, `${label}-hive`), stage });
      const expected = JSON.parse(JSON.stringify(toAnsibleInventory(site, stage)));
      expect(ansibleList(inventoryYamlText(site, stage), `${label}-${stage}`)).toEqual(expected);
      // the renderer may stringify toInventoryYaml itself: vaulted values keep their tag
      expect(ansibleList(stringify(toInventoryYaml(site, stage), { version: '1.1' }), `${label}-${stage}-plain`)).toEqual(expected);
    });
  }
});
