// What the aws provider did or would do: one plan item per resource (create / change / start /
// stop / delete / keep), reported as it goes through the providers' TaskReporter. `hive plan`
// prints the items; build-infra shows the events.
import type { EventSink, HostStatus } from '../../lib/events.js';
import type { ProviderContext } from '../provider.js';
import { TaskReporter } from '../reporter.js';
import type { AwsApi, AwsDeps } from './api.js';
import type { InfraScope } from './desired.js';

export type PlanAction = 'create' | 'change' | 'start' | 'stop' | 'delete' | 'keep';

export interface PlanItem {
  action: PlanAction;
  /** vpc, internet-gateway, subnet, route-table, route, route-association, security-group,
   * security-group-rule, key-pair, instance, elastic-ip, eip-association, vpc-attribute */
  kind: string;
  name: string;
  /** AWS id when the resource exists. */
  id?: string;
}

const PAST: Record<PlanAction, string> = {
  create: 'created',
  change: 'changed',
  start: 'started',
  stop: 'stopped',
  delete: 'deleted',
  keep: 'found',
};

export class AwsPlan {
  readonly items: PlanItem[] = [];
  private readonly r: TaskReporter;

  constructor(
    events: EventSink,
    private readonly scope: InfraScope,
    private readonly dryRun: boolean,
  ) {
    this.r = new TaskReporter(events, 'aws');
  }

  startTask(name: string) {
    this.r.startTask(name);
  }

  /** A plan item, and its result event (on the mother unless a host is named). */
  report(action: PlanAction, kind: string, name: string, id?: string, host = this.scope.motherName) {
    this.items.push(id ? { action, kind, name, id } : { action, kind, name });
    const status: HostStatus = action === 'keep' ? 'ok' : 'changed';
    const what = `${kind} ${name}${id ? ` (${id})` : ''}`;
    const msg = this.dryRun && action !== 'keep' ? `would ${action} ${what}` : `${PAST[action]} ${what}`;
    this.r.result(host, status, msg, name);
  }

  /** A result that is no plan item (ssh answers, files written). */
  result(host: string, status: HostStatus, msg: string) {
    this.r.result(host, status, msg);
  }

  warn(msg: string) {
    this.r.warning(msg);
  }
}

/** What a build, halt or destroy works with. */
export interface AwsRun {
  ctx: ProviderContext;
  scope: InfraScope;
  deps: AwsDeps;
  dryRun: boolean;
  api: AwsApi;
  plan: AwsPlan;
}
