// `hive validate` run as a user runs it (bin/hive.js, so the build in dist/): the inputs
// test/unit/inventory-refused.test.ts refuses make it exit 2 naming file, line and key.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MINIMAL_HIVE, aliasBomb, cleanupProjects, makeProject, pdnsDir, repoRoot, servicesFile as services, smallDir } from '../fixtures/inventory/helpers.js';

afterEach(cleanupProjects);

function spawnHive(cwd: string, ...args: string[]) {
  const r = spawnSync('node', [join(repoRoot, 'bin/hive.js'), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('hive validate', () => {
  it('exits 2 naming file, line and key, and writes nothing', () => {
    const { root } = makeProject({
      'hive.yml': MINIMAL_HIVE + '  staging:\n    provider: aws\n    cidr: 10.91.0.0/24\n',
      'app.yml': services('  web:\n    replicas: 2\n'),
      'old.yml': 'services:\n  db:\n    image: postgres\n',
      'bomb.yml': aliasBomb(),
    });
    for (const parser of ['js-yaml', 'yaml']) {
      const r = spawnSync('node', [join(repoRoot, 'bin/hive.js'), 'validate', '-i', 'inventory'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, HIVE_YAML_PARSER: parser },
      });
      expect(r.status, parser).toBe(2);
      expect(r.stderr).toContain(
        "inventory/hive.yml:13: stages.staging.region: missing required key: provider aws needs the stage's AWS region",
      );
      expect(r.stderr).toContain('inventory/app.yml:3: services.web.image: missing required key');
      expect(r.stderr).toContain('inventory/old.yml:1: services: a services: key but no plugin: line');
      expect(r.stderr).toContain('inventory/bomb.yml:7: a5: YAML aliases repeat more than');
    }
    expect(existsSync(join(root, '.hive'))).toBe(false);
  });

  it('still accepts the example inventories', () => {
    for (const dir of [pdnsDir, smallDir]) {
      expect(readdirSync(dir).some((f) => f.endsWith('.yml'))).toBe(true);
      const r = spawnHive(repoRoot, 'validate', '-i', dir);
      expect(r.err, dir).toBe('');
      expect(r.code, dir).toBe(0);
    }
  });
});
