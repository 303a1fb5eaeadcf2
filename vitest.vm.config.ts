import { defineConfig } from 'vitest/config';

// The VM tier (npm run test:vm): DRBD in Debian VMs under qemu's software emulation. Slow, so it
// is its own project; .ci/run calls it after the main suite.
export default defineConfig({
  test: {
    include: ['test/vm/**/*.test.ts'],
    fileParallelism: false,
    // setup-hosts alone takes minutes on emulated VMs
    testTimeout: 900_000,
    hookTimeout: 1_800_000,
    reporters: ['default'],
  },
});
