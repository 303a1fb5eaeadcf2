import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HiveContext } from '../../src/lib/context.js';
import { readImageRecords, targetVersion, writeImageRecords, type ImageRecord } from '../../src/services/images.js';
import { chooseVersion, RollbackError } from '../../src/services/rollback.js';
import { formatVersions, listVersions, NoVersionsError, versionsOf } from '../../src/services/versions.js';
import { imagesPath, web } from '../fixtures/image-records.js';


let dir: string;
let ctx: HiveContext;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-images-'));
  ctx = { rootDir: dir, inventoryDir: join(dir, 'inventory'), stage: 'private', hiveDir: dir, stageDir: dir, installDir: dir };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('images.yml', () => {
  it('reads as empty before anything was built', () => {
    expect(readImageRecords(dir)).toEqual({});
  });

  it('round-trips', () => {
    writeImageRecords(dir, 'private', { web: web() });
    expect(readImageRecords(dir)).toEqual({ web: web() });
  });

  it('names the file when it is not YAML', () => {
    writeFileSync(imagesPath(dir), 'web: [unclosed');
    expect(() => readImageRecords(dir)).toThrow(/images\.yml: not valid YAML/);
  });

  it('deploys the pin, else the newest build', () => {
    expect(targetVersion(web())).toBe('c3c3c3c3c3c3');
    expect(targetVersion({ ...web(), pinned: '1234e5678901' })).toBe('1234e5678901');
    expect(targetVersion(undefined)).toBeUndefined();
  });
});

describe('hive versions', () => {
  it('lists versions newest first with deployed, latest and pinned marks', () => {
    writeImageRecords(dir, 'private', { web: { ...web(), pinned: 'b2b2b2b2b2b2' } });
    const v = listVersions(ctx, 'web');
    expect(v.next).toBe('b2b2b2b2b2b2');
    expect(v.versions.map((x) => [x.version, x.latest, x.deployed, x.pinned])).toEqual([
      ['c3c3c3c3c3c3', true, false, false],
      ['b2b2b2b2b2b2', false, true, true],
      ['1234e5678901', false, false, false],
    ]);
    expect(v.versions[2].lastDeployedAt).toBe('2026-01-01T00:00:00Z');
    const text = formatVersions(v);
    expect(text).toContain('* b2b2b2b2b2b2  built 2026-01-02T00:00:00Z  [deployed, pinned]');
    expect(text).toContain('[latest]');
    expect(text).toContain('next deploy-services rolls out b2b2b2b2b2b2 (pinned by hive rollback)');
  });

  it('explains that only built images have versions (exit 2)', () => {
    expect(() => listVersions(ctx, 'db')).toThrow(NoVersionsError);
    expect(() => versionsOf('db', 'private', undefined)).toThrow(/only images built by hive .* run hive build-images --stage private/);
    try {
      listVersions(ctx, 'db');
    } catch (err) {
      expect((err as NoVersionsError).exitCode).toBe(2);
    }
  });
});

describe('hive rollback: which version', () => {
  it('defaults to the version deployed before the one running now', () => {
    expect(chooseVersion('web', web())).toBe('1234e5678901');
  });

  it('falls back to the next older build when there is no earlier deployment', () => {
    const r = { ...web(), history: [{ version: 'b2b2b2b2b2b2', deployed_at: 'x' }] };
    expect(chooseVersion('web', r)).toBe('1234e5678901');
  });

  it('takes a version, a unique prefix, or latest', () => {
    expect(chooseVersion('web', web(), 'c3c3c3c3c3c3')).toBe('c3c3c3c3c3c3');
    expect(chooseVersion('web', web(), '1234')).toBe('1234e5678901');
    expect(chooseVersion('web', web(), 'latest')).toBe('c3c3c3c3c3c3');
  });

  it('refuses unknown and ambiguous versions, and a service with nothing older', () => {
    expect(() => chooseVersion('web', web(), 'ffff')).toThrow(/service web has no version "ffff" \(versions: c3c3c3c3c3c3, b2b2b2b2b2b2, 1234e5678901\)/);
    const twins = { ...web(), versions: [{ version: 'abc1' }, { version: 'abc2' }] };
    expect(() => chooseVersion('web', twins, 'abc')).toThrow(/ambiguous: abc1, abc2/);
    const single = { latest: 'a1', deployed: 'a1', versions: [{ version: 'a1' }], history: [{ version: 'a1', deployed_at: 'x' }] };
    expect(() => chooseVersion('web', single)).toThrow(RollbackError);
  });

  it('keeps the file readable by Ansible after a pin is written', () => {
    writeImageRecords(dir, 'private', { web: { ...web(), pinned: '1234e5678901' } });
    expect(readFileSync(imagesPath(dir), 'utf8')).toMatch(/pinned: "1234e5678901"/);
  });
});
