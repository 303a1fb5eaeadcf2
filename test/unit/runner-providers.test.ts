import { describe, expect, it } from 'vitest';
import { getProvider, loadProvider, UnknownProviderError } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/provider.js';

describe('provider lookup for build-infra', () => {
  it.each(['local', 'aws', 'prepared'] as const)('%s has a TypeScript part', async (name) => {
    expect(typeof (await getProvider(name))?.buildInfra).toBe('function');
  });

  it.each(['vagrant', 'kickstart', 'azure'] as const)('%s has none: build-infra runs the playbook only', async (name) => {
    expect(await getProvider(name)).toBeUndefined();
  });

  it('a provider module missing from the installation is a clear error', async () => {
    const ghost = () => import('./ghost/index.js' as string) as Promise<{ default: Provider }>;
    await expect(loadProvider('ghost', ghost)).rejects.toMatchObject({
      name: 'ProviderError',
      message: expect.stringMatching(/provider "ghost" is not available in this installation of hive \(cannot load its module: .*ghost\/index\.js/),
    });
  });
});

describe('provider registry', () => {
  it.each(['local', 'aws', 'prepared'] as const)('%s is registered under its own name', async (name) => {
    expect((await getProvider(name))?.name).toBe(name);
  });

  it('an unknown provider name is a usage error (exit 2)', async () => {
    const e = await getProvider('ghost' as never).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(UnknownProviderError);
    expect(e).toMatchObject({ exitCode: 2, message: expect.stringMatching(/^unknown provider "ghost"/) });
  });
});
