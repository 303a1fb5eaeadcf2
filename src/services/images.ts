// The image versions of a stage: `.hive/<stage>/images.yml`. build-images adds a version when an
// image's inputs changed (and makes it `latest`), deploy-services records what it rolled out
// (`deployed`, `history`), `hive rollback` pins an earlier version (`pinned`). The Ansible roles
// image_build and services write the same shape; this module reads it and writes the pin.
import { existsSync, readFileSync } from 'node:fs';
import { HiveError } from '../lib/errors.js';
import { writeAtomic } from '../state/files.js';
import { StageDir } from '../state/stage-dir.js';
import { readStateYaml, stateYamlText } from '../state/yaml.js';

export interface ImageVersion {
  version: string;
  /** ISO time of the build. */
  built_at?: string;
  /** Image id (sha256:...) on the repository's engine. */
  id?: string;
}

export interface Deployment {
  version: string;
  deployed_at: string;
}

export interface ImageRecord {
  /** <registry>/image_<service>, without tag. */
  repository?: string;
  /** Newest build: what deploy-services rolls out unless a version is pinned. */
  latest?: string | null;
  /** Set by `hive rollback`: deploy-services rolls out this version until a new build. */
  pinned?: string | null;
  /** The version running on the swarm after the last successful deploy. */
  deployed?: string | null;
  deployed_at?: string;
  /** Newest first. */
  versions?: ImageVersion[];
  /** Deployments, newest first. */
  history?: Deployment[];
}

export type ImageRecords = Record<string, ImageRecord>;

const HEADER = '# Image versions of stage %s: written by hive build-images, deploy-services and rollback.\n';

export class ImageRecordsError extends HiveError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** The records of a stage ({} when nothing was built yet). */
export function readImageRecords(stageDir: string): ImageRecords {
  const path = new StageDir(stageDir).images;
  if (!existsSync(path)) return {};
  let data: unknown;
  try {
    // Every value here is a string or null. Ansible's PyYAML leaves a hex version such as
    // 0904334831e5 unquoted (its float needs a dot), which other YAML readers take for a number:
    // read every scalar as a string and only the null spellings as null.
    data = nullsBack(readStateYaml(readFileSync(path, 'utf8'), { strings: true }));
  } catch (err) {
    throw new ImageRecordsError(`${path}: not valid YAML (${(err as Error).message})`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ImageRecordsError(`${path}: expected a mapping of service names`);
  return data as ImageRecords;
}

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
function nullsBack(v: unknown): unknown {
  if (typeof v === 'string') return NULLS.has(v) ? null : v;
  if (Array.isArray(v)) return v.map(nullsBack);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, nullsBack(x)]));
  return v;
}

/** Writes the records atomically (a reader never sees half a file). */
export function writeImageRecords(stageDir: string, stage: string, records: ImageRecords): void {
  const path = new StageDir(stageDir).images;
  // YAML 1.1 like Ansible's reader: times and hex versions that look like numbers stay quoted strings
  writeAtomic(path, HEADER.replace('%s', stage) + stateYamlText(records, { sortMapEntries: true, version: '1.1' }));
}

/** The version deploy-services rolls out: the pin, else the newest build. */
export const targetVersion = (r: ImageRecord | undefined): string | undefined => r?.pinned || r?.latest || undefined;
