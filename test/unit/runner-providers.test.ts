import { describe, expect, it } from 'vitest';
import { getProvider, loadProvider } from '../../src/providers/index.js';

describe('provider lookup for build-infra', () => {
  it.each(['local', 'aws', 'prepared'] as const)('%s has a TypeScript part', async (name) => {
    expect(typeof (await getProvider(name))?.buildInfra).toBe('function');
  });

  it.each(['vagrant', 'kickstart', 'azure'] as const)('%s has none: build-infra runs the playbook only', async (name) => {
    expect(await getProvider(name)).toBeUndefined();
  });

  it('a provider module missing from the installation is a clear error', async () => {
    await expect(loadProvider('ghost', './ghost/index.js')).rejects.toMatchObject({
      name: 'ProviderError',
      message: expect.stringMatching(/provider "ghost" is not available in this installation of hive \(cannot load \.\/ghost\/index\.js/),
    });
  });
});
