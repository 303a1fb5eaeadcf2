import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PHASES } from '../../src/model/phases.js';
import { forgetFrom, phasesToRun, readProgress, recordSuccess, resetProgress } from '../../src/runner/resume.js';
import { StageDir } from '../../src/state/stage-dir.js';

const dirs: string[] = [];
const stageDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'hive-resume-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('resume state', () => {
  it('a fresh stage runs every phase', () => {
    expect(phasesToRun(stageDir())).toEqual({ run: [...PHASES], skipped: [] });
  });

  it('resumes at the first phase without a success', () => {
    const dir = stageDir();
    recordSuccess(dir, 'build-infra');
    recordSuccess(dir, 'setup-hosts');
    recordSuccess(dir, 'build-volumes'); // out of order: build-images is still pending
    expect(phasesToRun(dir)).toEqual({ run: PHASES.slice(2), skipped: ['build-infra', 'setup-hosts'] });
    expect(readFileSync(new StageDir(dir).progress, 'utf8')).toMatch(/^# .*\nsucceeded:\n {2}build-infra: /);
  });

  it('--from wins over the record', () => {
    const dir = stageDir();
    recordSuccess(dir, 'build-infra');
    expect(phasesToRun(dir, 'deploy-services').run).toEqual(['deploy-services', 'initialize-services']);
  });

  it('after every phase succeeded (and the record was reset), all phases run again', () => {
    const dir = stageDir();
    for (const p of PHASES) recordSuccess(dir, p);
    expect(phasesToRun(dir).run).toEqual([...PHASES]);
    resetProgress(dir);
    expect(readProgress(dir)).toEqual({ succeeded: {} });
  });

  it('-D / -H / a failure forget the phase and every later one', () => {
    const dir = stageDir();
    for (const p of PHASES) recordSuccess(dir, p);
    forgetFrom(dir, 'build-volumes');
    expect(Object.keys(readProgress(dir).succeeded)).toEqual(['build-infra', 'setup-hosts', 'build-images']);
  });
});
