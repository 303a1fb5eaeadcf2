// `.hive/<stage>/progress.yml`: which phases succeeded since the last complete `hive all`, so
// `hive all` resumes at the first phase that has not.
import { existsSync, readFileSync } from 'node:fs';
import { writeAtomic } from '../state/files.js';
import { StageDir } from '../state/stage-dir.js';
import { readStateYaml, stateYamlText } from '../state/yaml.js';
import { PHASES, type PhaseName } from '../model/phases.js';

export interface Progress {
  /** Phase → ISO time of its last success. */
  succeeded: Partial<Record<PhaseName, string>>;
}

export function readProgress(stageDir: string): Progress {
  const path = new StageDir(stageDir).progress;
  if (!existsSync(path)) return { succeeded: {} };
  try {
    const data = readStateYaml(readFileSync(path, 'utf8')) as Partial<Progress> | null;
    const succeeded: Progress['succeeded'] = {};
    for (const phase of PHASES) {
      const at = data?.succeeded?.[phase];
      if (typeof at === 'string') succeeded[phase] = at;
    }
    return { succeeded };
  } catch {
    return { succeeded: {} }; // a damaged file only costs a longer `hive all`
  }
}

function writeProgress(stageDir: string, progress: Progress): void {
  const path = new StageDir(stageDir).progress;
  const ordered: Progress = { succeeded: {} };
  for (const phase of PHASES) if (progress.succeeded[phase]) ordered.succeeded[phase] = progress.succeeded[phase];
  const text =
    '# Phases that succeeded since the last complete `hive all`; `hive all` resumes after them.\n' +
    stateYamlText(ordered);
  writeAtomic(path, text);
}

export function recordSuccess(stageDir: string, phase: PhaseName, at = new Date().toISOString()): void {
  const progress = readProgress(stageDir);
  progress.succeeded[phase] = at;
  writeProgress(stageDir, progress);
}

/** After -D or -H: this phase and every later one have to run again. */
export function forgetFrom(stageDir: string, phase: PhaseName): void {
  const progress = readProgress(stageDir);
  for (const p of PHASES.slice(PHASES.indexOf(phase))) delete progress.succeeded[p];
  writeProgress(stageDir, progress);
}

export function resetProgress(stageDir: string): void {
  writeProgress(stageDir, { succeeded: {} });
}

/** First phase without a recorded success; undefined when all have one. */
export function firstPending(progress: Progress): PhaseName | undefined {
  return PHASES.find((p) => !progress.succeeded[p]);
}

/** The phases `hive all` would run now (from `from`, else the first pending), and those it skips. */
export function phasesToRun(stageDir: string, from?: PhaseName): { run: PhaseName[]; skipped: PhaseName[] } {
  const start = from ?? firstPending(readProgress(stageDir)) ?? PHASES[0];
  const at = PHASES.indexOf(start);
  return { run: PHASES.slice(at), skipped: PHASES.slice(0, at) };
}
