// Test file order: unit and integration files as vitest likes them, then the e2e files by path.
// The e2e files share one local site, and test/e2e/zz-halt-destroy.test.ts, which stops and
// removes it, must come last.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const isE2e = (f: TestSpecification) => /[\\/]test[\\/]e2e[\\/]/.test(f.moduleId);

export class SiteSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const e2e = sorted.filter(isE2e).sort((a, b) => a.moduleId.localeCompare(b.moduleId));
    return [...sorted.filter((f) => !isE2e(f)), ...e2e];
  }
}
