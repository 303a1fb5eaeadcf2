// images.yml as Ansible's side reads and writes it: PyYAML (YAML 1.1, what from_yaml and
// to_nice_yaml use) run by Debian's python3. The rest of images.yml is in
// test/unit/services-versions.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readImageRecords, writeImageRecords, type ImageRecord } from '../../src/services/images.js';
import { imagesPath, web } from '../fixtures/image-records.js';

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
