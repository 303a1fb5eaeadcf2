// Test file order: unit and integration files as vitest likes them, then the e2e files in the
// order a site is built: they share one local site, so each suite finds what the ones before it
// left (services expects no image built yet; ops uses the deployed services), and
// test/e2e/zz-halt-destroy.test.ts, which stops and removes the site, comes last.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const isE2e = (f: TestSpecification) => /[\\/]test[\\/]e2e[\\/]/.test(f.moduleId);
const E2E_ORDER = ['local-site', 'setup-hosts', 'services', 'ops'];

function rank(f: TestSpecification): number {
  const base = f.moduleId.replace(/^.*[\\/]/, '').replace(/\.test\.ts$/, '');
  const i = E2E_ORDER.indexOf(base);
  if (i >= 0) return i;
  return base.startsWith('zz-') ? E2E_ORDER.length + 1 : E2E_ORDER.length;
}

export class SiteSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const e2e = sorted.filter(isE2e).sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
    return [...sorted.filter((f) => !isE2e(f)), ...e2e];
  }
}
