import { defineConfig } from 'vitest/config';
import { SiteSequencer } from './test/e2e/sequencer.js';

// End-to-end suites share one local site per test run, so files run one after another.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the VM tier has its own config (vitest.vm.config.ts, npm run test:vm)
    exclude: ['test/vm/**', '**/node_modules/**'],
    fileParallelism: false,
    // gives e2e suites a folder for the run's shared site and removes the site at the end;
    // builds nothing unless an e2e suite asks for the site
    globalSetup: ['test/e2e/global-setup.ts'],
    // e2e files by path, after the others: the one that destroys the shared site comes last
    sequence: { sequencer: SiteSequencer },
    testTimeout: 120_000,
    hookTimeout: 1_200_000,
    reporters: ['default'],
  },
});
