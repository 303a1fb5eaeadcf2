// The `aws` provider: build-infra creates or finds the stage's VPC, gateway, subnets, route
// table, security group, key pair, instances and Elastic IPs (tagged hive:site / hive:stage),
// -H stops the instances, -D deletes everything carrying the stage's tags.
import { EC2Client } from '@aws-sdk/client-ec2';
import type { Provider, ProviderContext } from '../provider.js';
import { inventoryVars } from '../../model/inventory-vars.js';
import { desiredInfra, infraScope } from './desired.js';
import { AwsInfra, type AwsDeps, type PlanItem } from './infra.js';
import { waitForSshBanner } from './ssh-wait.js';

export type { AwsDeps, PlanAction, PlanItem } from './infra.js';
export { AwsInfra } from './infra.js';
export { desiredInfra, infraScope, ingressRules, TAG_HOST, TAG_SITE, TAG_STAGE, TAG_SUBNET } from './desired.js';
export { mapAwsError } from './errors.js';

export const defaultAwsDeps: AwsDeps = {
  makeClient: (region) => new EC2Client({ region }),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  waitForSsh: (address, port) => waitForSshBanner(address, port),
  pollIntervalMs: 5_000,
  waitTimeoutMs: 15 * 60_000,
};

async function run(ctx: ProviderContext, deps: AwsDeps, dryRun: boolean): Promise<PlanItem[]> {
  if (ctx.halt || ctx.destroy) {
    const infra = new AwsInfra(ctx, infraScope(ctx.site, ctx.stage), deps, dryRun);
    if (ctx.destroy) await infra.destroy();
    else await infra.halt();
    return infra.items;
  }
  const desired = desiredInfra(ctx.site, ctx.stage, await inventoryVars(ctx.site, ctx.stage.name, ctx.vault));
  const infra = new AwsInfra(ctx, desired, deps, dryRun);
  await infra.build(desired);
  return infra.items;
}

export interface AwsProvider extends Provider {
  planInfra(ctx: ProviderContext): Promise<PlanItem[]>;
}

export function createAwsProvider(overrides: Partial<AwsDeps> = {}): AwsProvider {
  const deps = { ...defaultAwsDeps, ...overrides };
  return {
    name: 'aws',
    buildInfra: async (ctx) => {
      await run(ctx, deps, ctx.dryRun);
    },
    planInfra: (ctx) => run(ctx, deps, true),
  };
}

/**
 * What build-infra would do (create / change / start / stop / delete / keep), from describe calls
 * only; honours ctx.halt and ctx.destroy. `hive plan --phase build-infra` and --dry-run use this.
 */
export async function planInfra(ctx: ProviderContext, overrides: Partial<AwsDeps> = {}): Promise<PlanItem[]> {
  return run(ctx, { ...defaultAwsDeps, ...overrides }, true);
}

const aws: Provider = createAwsProvider();
export default aws;
