import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import type { HiveContext } from '../../src/lib/context.js';
import { renderStageFiles } from '../../src/render/stage-files.js';
import { cfgValue, sshWord, yamlValue } from '../../src/render/templates.js';
import { fixtureProject, fixtureSite } from '../fixtures/runner/site.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const golden = join(repo, 'test/fixtures/runner/golden');
const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function context(): HiveContext {
  const root = mkdtempSync(join(tmpdir(), 'hive-render-'));
  temps.push(root);
  cpSync(join(fixtureProject, 'inventory'), join(root, 'inventory'), { recursive: true });
  return { rootDir: root, inventoryDir: join(root, 'inventory'), stage: 'private', hiveDir: join(root, '.hive'), stageDir: join(root, '.hive', 'private'), installDir: repo };
}

/** Paths of this run → stable placeholders, so the golden files hold no temp folder names. */
const normalize = (text: string, ctx: HiveContext) => text.split(ctx.rootDir).join('<ROOT>').split(ctx.installDir).join('<INSTALL>');

function expectGolden(name: string, text: string): void {
  const path = join(golden, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(path, text);
  if (!existsSync(path)) expect.fail(`${path} is missing: run UPDATE_GOLDEN=1 npx vitest run test/unit/render-stage-files.test.ts and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('renderStageFiles', () => {
  it('writes vars.yml and ansible.cfg as in the golden files', () => {
    const ctx = context();
    const files = renderStageFiles(ctx, fixtureSite(ctx.inventoryDir), 'setup-hosts', { limit: 'p-hive0', verbose: 1 });
    expect(files).toEqual({
      inventoryPath: join(ctx.stageDir, 'inventory.yml'),
      varsPath: join(ctx.stageDir, 'vars.yml'),
      cfgPath: join(ctx.stageDir, 'ansible.cfg'),
    });
    expectGolden('vars.yml', normalize(readFileSync(files.varsPath, 'utf8'), ctx));
    expectGolden('ansible.cfg', normalize(readFileSync(files.cfgPath, 'utf8'), ctx));
    expect(statSync(files.varsPath).mode & 0o777).toBe(0o600);
    expect(parse(readFileSync(files.inventoryPath, 'utf8'))).toHaveProperty('all');
  });

  it('without a phase (hive inventory, hive ssh) vars.yml has no hive_phase, and no hive_limit without -l', () => {
    const ctx = context();
    const files = renderStageFiles(ctx, fixtureSite(ctx.inventoryDir), null, {});
    const vars = parse(readFileSync(files.varsPath, 'utf8'));
    expect(vars).not.toHaveProperty('hive_phase');
    expect(vars).not.toHaveProperty('hive_limit');
    expect(vars).toMatchObject({ hive_stage: 'private', hive_context_dir: ctx.stageDir, hive_destroy: false, hive_check: false });
  });

  it('extra variables stay what they are for a YAML 1.1 reader and may override hive values', () => {
    const ctx = context();
    const extraVars = { yes_word: 'yes', octal: '0777', time: '1:20', nested: { list: [1, 'on', null], 'odd key': 'a: b' }, hive_force: true };
    const files = renderStageFiles(ctx, fixtureSite(ctx.inventoryDir), 'deploy-services', { extraVars });
    const text = readFileSync(files.varsPath, 'utf8');
    expect(parse(text, { version: '1.1' })).toMatchObject({ ...extraVars, hive_force: true });
    expect(text.match(/^hive_force:/gm)).toHaveLength(1);
    expect(() => renderStageFiles(ctx, fixtureSite(ctx.inventoryDir), null, { extraVars: { 'bad-name': 1 } })).toThrow(/bad-name/);
  });

  it('links the project group_vars / host_vars beside the inventory, and drops a stale link', () => {
    const ctx = context();
    const site = fixtureSite(ctx.inventoryDir);
    renderStageFiles(ctx, site, null, {});
    expect(readlinkSync(join(ctx.stageDir, 'group_vars'))).toBe(join(ctx.inventoryDir, 'group_vars'));
    expect(readlinkSync(join(ctx.stageDir, 'host_vars'))).toBe(join(ctx.inventoryDir, 'host_vars'));
    rmSync(join(ctx.inventoryDir, 'group_vars'), { recursive: true });
    renderStageFiles(ctx, site, null, {});
    expect(lstatSync(join(ctx.stageDir, 'host_vars')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(ctx.stageDir, 'group_vars'))).toBe(false);
    expect(() => lstatSync(join(ctx.stageDir, 'group_vars'))).toThrow(); // no dangling link either
  });

  it('takes forks from hive set forks', () => {
    const ctx = context();
    mkdirSync(ctx.hiveDir, { recursive: true });
    writeFileSync(join(ctx.hiveDir, 'settings.yml'), 'forks: 25\n');
    const files = renderStageFiles(ctx, fixtureSite(ctx.inventoryDir), null, {});
    expect(readFileSync(files.cfgPath, 'utf8')).toMatch(/^forks = 25$/m);
  });
});

describe('template helpers', () => {
  it('quote what would change meaning', () => {
    expect(yamlValue('yes')).toBe('"yes"');
    expect(yamlValue(true)).toBe('true');
    expect(yamlValue(null)).toBe('null');
    expect(yamlValue({ a: [1] })).toBe('{"a":[1]}');
    expect(cfgValue('/srv/100%/x')).toBe('/srv/100%%/x');
    expect(() => cfgValue('a ;b')).toThrow();
    expect(sshWord('/srv/my project/ssh_config')).toBe("'/srv/my project/ssh_config'");
    expect(sshWord('/srv/demo/ssh_config')).toBe('/srv/demo/ssh_config');
  });
});
