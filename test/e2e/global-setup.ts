// vitest global setup: gives the test run a folder for its shared local site (site-fixture.ts)
// and removes that site after the last test file. Building happens only when an e2e suite asks
// for the site, so runs of unit tests alone cost nothing here.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { sweepAbandonedSites, teardownRun } from './site-fixture.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'hive-e2e-run-'));
  project.provide('hiveE2eRunDir', dir);
  // test files run in child processes of this one: it owns the site
  process.env.HIVE_E2E_RUN_DIR = dir;
  process.env.HIVE_E2E_OWNER = String(process.pid);
  const swept = await sweepAbandonedSites();
  if (swept.length) process.stderr.write(`e2e: removed sites of killed runs: ${swept.join(', ')}\n`);
  return () => teardownRun(dir);
}
