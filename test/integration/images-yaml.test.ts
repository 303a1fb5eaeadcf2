// images.yml as Ansible's side reads and writes it: PyYAML (YAML 1.1, what from_yaml and
// to_nice_yaml use) run by Debian's python3. The rest of images.yml is in
// test/unit/services-versions.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readImageRecords, writeImageRecords, type ImageRecord } from '../../src/services/images.js';
import { StageDir } from '../../src/state/stage-dir.js';

const imagesPath = (stageDir: string) => new StageDir(stageDir).images;

/** What build-images and deploy-services leave after three builds, two deploys and a rollback. */
const web = (): ImageRecord => ({
  repository: 'p-hive3.demo:5000/image_web',
  latest: 'c3c3c3c3c3c3',
  pinned: null,
  deployed: 'b2b2b2b2b2b2',
  deployed_at: '2026-01-03T00:00:00Z',
  versions: [
    { version: 'c3c3c3c3c3c3', built_at: '2026-01-03T00:00:00Z', id: 'sha256:ccc' },
    { version: 'b2b2b2b2b2b2', built_at: '2026-01-02T00:00:00Z', id: 'sha256:bbb' },
    { version: '1234e5678901', built_at: '2026-01-01T00:00:00Z', id: 'sha256:aaa' },
  ],
  history: [
    { version: 'b2b2b2b2b2b2', deployed_at: '2026-01-03T00:00:00Z' },
    { version: '1234e5678901', deployed_at: '2026-01-01T00:00:00Z' },
  ],
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-images-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('images.yml read and written by PyYAML', () => {
  it('round-trips, and Ansible (PyYAML, YAML 1.1) reads every value back as a string', () => {
    writeImageRecords(dir, 'private', { web: web() });
    expect(readImageRecords(dir)).toEqual({ web: web() });
    // the roles read this file with from_yaml: times and number-like versions must stay strings
    const py = execFileSync('python3', ['-c', 'import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', imagesPath(dir)], {
      encoding: 'utf8',
    });
    expect(JSON.parse(py)).toEqual({ web: web() });
  });

  it('reads hex versions that YAML 1.2 would take for numbers as written by Ansible (to_nice_yaml)', () => {
    // PyYAML leaves 0904334831e5 unquoted (a YAML 1.1 float needs a dot); YAML 1.2 reads 9.04e13
    const records = { web: { ...web(), latest: '0904334831e5', versions: [{ version: '0904334831e5', id: 'sha256:ddd' }, ...web().versions!] } };
    execFileSync('python3', ['-c', 'import sys, yaml, json; open(sys.argv[1], "w").write(yaml.safe_dump(json.loads(sys.argv[2]), default_flow_style=False))', imagesPath(dir), JSON.stringify(records)]);
    expect(readFileSync(imagesPath(dir), 'utf8')).toMatch(/latest: 0904334831e5$/m);
    expect(readImageRecords(dir)).toEqual(records);
  });
});
