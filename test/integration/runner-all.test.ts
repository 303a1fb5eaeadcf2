// `hive all` against the real ansible-playbook: every phase in order under one lock, stop at the
// first failure, resume there, and start over after a complete success.
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { HiveContext } from '../../src/lib/context.js';
import { PHASES } from '../../src/model/phases.js';
import type { HiveEvent } from '../../src/lib/events.js';
import { phasesToRun, readProgress } from '../../src/runner/resume.js';
import { runAll } from '../../src/runner/run-all.js';
import { fixtureProject, fixtureSite } from '../fixtures/runner/site.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = join(repo, 'test/fixtures/runner');
const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function project(): HiveContext {
  const tmp = mkdtempSync(join(tmpdir(), 'hive-all-'));
  temps.push(tmp);
  const rootDir = join(tmp, 'project');
  cpSync(fixtureProject, rootDir, { recursive: true });
  const installDir = join(tmp, 'install');
  mkdirSync(join(installDir, 'playbooks'), { recursive: true });
  for (const phase of PHASES) cpSync(join(fixtures, 'phase-playbook.yml'), join(installDir, 'playbooks', `${phase}.yml`));
  for (const d of ['callback_plugins', 'templates', 'roles']) symlinkSync(join(repo, d), join(installDir, d));
  const hiveDir = join(rootDir, '.hive');
  return { rootDir, inventoryDir: join(rootDir, 'inventory'), stage: 'private', hiveDir, stageDir: join(hiveDir, 'private'), installDir };
}

const quiet = () => {
  const events: HiveEvent[] = [];
  return { events, io: { reporter: { emit: () => undefined }, sinks: [{ emit: (e: HiveEvent) => events.push(e) }] } };
};

describe('runAll', () => {
  it('stops at the first failure, resumes there, and runs everything again after a full success', async () => {
    const ctx = project();
    // the fixture's provider (kickstart) has no TypeScript part: build-infra runs its playbook only
    const site = fixtureSite(ctx.inventoryDir);

    const first = quiet();
    const failed = await runAll(ctx, site, { extraVars: { fixture_fail_phase: 'build-volumes' } }, first.io);
    expect(failed.ok).toBe(false);
    expect(failed.failedPhase).toBe('build-volumes');
    expect(failed.phases.map((p) => [p.phase, p.ok])).toEqual([
      ['build-infra', true],
      ['setup-hosts', true],
      ['build-images', true],
      ['build-volumes', false],
    ]);
    expect(failed.phases[3].failed[0]).toMatchObject({ host: 'p-hive0.demo', task: 'Run the phase', msg: 'build-volumes fails on purpose' });
    expect(Object.keys(readProgress(ctx.stageDir).succeeded)).toEqual(['build-infra', 'setup-hosts', 'build-images']);

    const second = quiet();
    const resumed = await runAll(ctx, site, {}, second.io);
    expect(second.events[0]).toMatchObject({
      event: 'all_start',
      phases: ['build-volumes', 'build-networks', 'deploy-services', 'initialize-services'],
      skipped: ['build-infra', 'setup-hosts', 'build-images'],
    });
    expect(resumed.ok).toBe(true);
    expect(resumed.phases.map((p) => p.phase)).toEqual(['build-volumes', 'build-networks', 'deploy-services', 'initialize-services']);
    expect(second.events.filter((e) => e.event === 'phase_end').length).toBe(4);

    // complete: the record is cleared, so the next `hive all` starts from build-infra again
    expect(readProgress(ctx.stageDir).succeeded).toEqual({});
    expect(phasesToRun(ctx.stageDir).run).toEqual([...PHASES]);
  }, 180_000);
});
