// The bundled roles, built-in image roles and playbooks pass ansible-lint's production profile
// (settings in .ansible-lint; accepted violations, with their reasons, in .ansible-lint-ignore).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '../..');

describe('ansible-lint', () => {
  it('passes the production profile on roles/, image_roles/ and playbooks/', () => {
    const r = spawnSync('ansible-lint', ['--profile', 'production', '--nocolor', 'roles', 'image_roles', 'playbooks'], {
      cwd: repo,
      encoding: 'utf8',
      timeout: 600_000,
    });
    expect(r.error).toBeUndefined();
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/Passed with production profile: 0 failure/);
  }, 600_000);

  it("passes the production profile on the sample sites' roles (inventories/, hive init's own)", () => {
    const r = spawnSync('ansible-lint', ['--profile', 'production', '--nocolor', 'inventories/gslb/roles', 'templates/init/local/roles'], {
      cwd: repo,
      encoding: 'utf8',
      timeout: 600_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/Passed with production profile: 0 failure/);
  }, 600_000);
});
