// Provider name → its module, imported only when build-infra needs it (the AWS SDK is heavy).
// Providers without a module here (vagrant, azure, gcp, openstack, kickstart) have no TypeScript
// part: build-infra runs its playbook only.
import type { ProviderName } from '../model/site.js';
import { ProviderError } from './errors.js';
import type { Provider } from './provider.js';

/** Kept as plain strings so a provider still being written does not break the build of the others. */
const MODULES: Partial<Record<ProviderName, string>> = {
  local: './local/index.js',
  aws: './aws/index.js',
  prepared: './prepared/index.js',
};

function isProvider(value: unknown): value is Provider {
  return !!value && typeof (value as Provider).buildInfra === 'function';
}

/** The provider's default export: a Provider object, or a class / factory making one. */
function toProvider(name: string, exported: unknown): Provider {
  if (isProvider(exported)) return exported;
  if (typeof exported === 'function') {
    const ctor = exported as { prototype?: { buildInfra?: unknown } } & ((...a: unknown[]) => unknown);
    const made = typeof ctor.prototype?.buildInfra === 'function' ? new (ctor as unknown as new () => unknown)() : ctor();
    if (isProvider(made)) return made;
  }
  throw new ProviderError(`provider "${name}": its module's default export is not a provider (no buildInfra)`);
}

/** The TypeScript part of a provider, or undefined when it has none. Throws ProviderError. */
export async function getProvider(name: ProviderName): Promise<Provider | undefined> {
  const spec = MODULES[name];
  return spec ? loadProvider(name, spec) : undefined;
}

/** Imports `spec` (relative to this folder) and returns its provider. */
export async function loadProvider(name: string, spec: string): Promise<Provider> {
  let mod: { default?: unknown };
  try {
    mod = (await import(spec)) as { default?: unknown };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = e.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load url/.test(e.message ?? '');
    throw new ProviderError(
      missing
        ? `provider "${name}" is not available in this installation of hive (cannot load ${spec}: ${e.message})`
        : `provider "${name}" failed to load: ${e.message}`,
      { cause: err },
    );
  }
  return toProvider(name, mod.default);
}
