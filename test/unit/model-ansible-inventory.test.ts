// Golden test of the inventory YAML file hive writes (what Ansible makes of it is checked by
// test/integration/ansible-inventory.test.ts). UPDATE_GOLDEN=1 rewrites the golden file.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSite } from '../../src/model/index.js';
import { inventoryYamlText } from '../../src/model/ansible-inventory.js';
import { repoRoot, smallDir } from '../fixtures/inventory/helpers.js';

const work = mkdtempSync(join(tmpdir(), 'hive-ansinv-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('inventory.yml golden file', () => {
  it('matches test/fixtures/inventory/small.private.inventory.yml', () => {
    const site = readSite({ inventoryDir: smallDir, hiveDir: join(work, 'golden-hive'), stage: 'private' });
    const text = inventoryYamlText(site, 'private');
    const golden = join(repoRoot, 'test/fixtures/inventory/small.private.inventory.yml');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
    // a missing golden file is a failure, not a pass that writes it
    if (!existsSync(golden)) expect.fail(`${golden} is missing: run UPDATE_GOLDEN=1 npx vitest run test/unit/model-ansible-inventory.test.ts and review it`);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });
});
