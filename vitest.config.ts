import { defineConfig } from 'vitest/config';

// End-to-end suites share one local site per test run, so files run one after another.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 1_200_000,
    reporters: ['default'],
  },
});
