// The provider registry: provider name → a loader of its TypeScript part, imported only when
// build-infra needs it (the AWS SDK is heavy). Providers without an entry (vagrant, azure, gcp,
// openstack, kickstart) have no TypeScript part: build-infra runs its playbook only.
import { PROVIDERS as PROVIDER_NAMES, type ProviderName } from '../model/site.js';
import { ProviderError } from './errors.js';
import type { Provider } from './provider.js';

/** Imports a provider's module; its default export is the provider. */
export type ProviderLoader = () => Promise<{ default: Provider }>;

export const PROVIDERS: { readonly [N in ProviderName]?: ProviderLoader } = {
  local: () => import('./local/index.js'),
  aws: () => import('./aws/index.js'),
  prepared: () => import('./prepared/index.js'),
};

/** A provider name the inventory schema does not know (the schema refuses it first: exit 2). */
export class UnknownProviderError extends ProviderError {
  constructor(readonly provider: string) {
    super(`unknown provider "${provider}" (providers: ${PROVIDER_NAMES.join(', ')})`, { exitCode: 2 });
  }
}

const isProviderName = (name: string): name is ProviderName => (PROVIDER_NAMES as readonly string[]).includes(name);

/** The TypeScript part of a provider, or undefined when it has none. Throws ProviderError. */
export async function getProvider(name: ProviderName): Promise<Provider | undefined> {
  if (!isProviderName(name)) throw new UnknownProviderError(name);
  const load = PROVIDERS[name];
  return load ? loadProvider(name, load) : undefined;
}

/** Runs `load` and returns its provider; a module missing from the installation is a ProviderError. */
export async function loadProvider(name: string, load: ProviderLoader): Promise<Provider> {
  let mod: { default: Provider };
  try {
    mod = await load();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = e.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load url/.test(e.message ?? '');
    throw new ProviderError(
      missing
        ? `provider "${name}" is not available in this installation of hive (cannot load its module: ${e.message})`
        : `provider "${name}" failed to load: ${e.message}`,
      { cause: err },
    );
  }
  return mod.default;
}
