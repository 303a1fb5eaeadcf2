// The aws provider's infrastructure of one stage: build (build.ts), halt and destroy
// (destroy.ts), over the EC2 calls of api.ts, each resource reported as a plan item (plan.ts).
import type { ProviderContext } from '../provider.js';
import { AwsApi, type AwsDeps } from './api.js';
import { AwsBuild } from './build.js';
import type { DesiredInfra, InfraScope } from './desired.js';
import { destroy, halt } from './destroy.js';
import { AwsPlan, type AwsRun, type PlanItem } from './plan.js';

export type { AwsDeps } from './api.js';
export type { PlanAction, PlanItem } from './plan.js';

export class AwsInfra {
  readonly items: PlanItem[];
  private readonly run: AwsRun;

  constructor(ctx: ProviderContext, scope: InfraScope, deps: AwsDeps, dryRun: boolean) {
    const api = new AwsApi(scope, deps, dryRun);
    const plan = new AwsPlan(ctx.events, scope, dryRun);
    this.items = plan.items;
    this.run = { ctx, scope, deps, dryRun, api, plan };
  }

  build(d: DesiredInfra): Promise<void> {
    return new AwsBuild(this.run).build(d);
  }

  halt(): Promise<void> {
    return halt(this.run);
  }

  destroy(): Promise<void> {
    return destroy(this.run);
  }
}
