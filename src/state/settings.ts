// Values remembered with `hive set NAME VALUE`, kept in `.hive/settings.yml`.
// Unlike hive-builder, phase options (-l, -T, ...) cannot be persisted: they would silently
// apply to every later run.
import { existsSync, readFileSync } from 'node:fs';
import { writeAtomic } from './files.js';
import { join } from 'node:path';
import { STAGES, type StageName } from '../lib/stages.js';
import { readStateYaml, stateYamlText } from './yaml.js';

export interface SettingSpec {
  description: string;
  parse(value: string): string | number | boolean;
}

const int = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`"${v}" is not an integer between ${min} and ${max}`);
  return n;
};

export const SETTINGS: Record<string, SettingSpec> = {
  stage: {
    description: 'stage used when --stage is not given',
    parse: (v) => {
      if (!(STAGES as readonly string[]).includes(v)) throw new Error(`"${v}" is not one of ${STAGES.join(', ')}`);
      return v;
    },
  },
  first_hive: { description: 'index of the hive that initialises the swarm (repair after losing hive0)', parse: int(0, 254) },
  silent_after: { description: 'seconds without news from a task before it is reported as silent', parse: int(5, 86400) },
  task_timeout: { description: 'seconds after which a task that has not finished fails the phase (0: no limit)', parse: int(0, 86400) },
  forks: { description: 'parallel hosts for Ansible', parse: int(1, 200) },
};

export type Settings = Record<string, string | number | boolean>;

const settingsPath = (hiveDir: string) => join(hiveDir, 'settings.yml');

export function readSettings(hiveDir: string): Settings {
  const path = settingsPath(hiveDir);
  if (!existsSync(path)) return {};
  const data = readStateYaml(readFileSync(path, 'utf8'));
  return data && typeof data === 'object' ? (data as Settings) : {};
}

/** Validates and stores one value; throws an Error with a user-facing message on bad input. */
export function writeSetting(hiveDir: string, name: string, raw: string): string | number | boolean {
  const spec = SETTINGS[name];
  if (!spec) throw new Error(`unknown setting "${name}" (known: ${Object.keys(SETTINGS).join(', ')})`);
  const value = spec.parse(raw);
  const settings = { ...readSettings(hiveDir), [name]: value };
  writeAtomic(settingsPath(hiveDir), stateYamlText(settings));
  return value;
}

/** The stage of a command: -s, else the remembered one, else private. */
export function resolveStage(cliStage: string | undefined, settings: Settings): StageName {
  const stage = cliStage ?? (settings.stage as string | undefined) ?? 'private';
  return stage as StageName;
}
