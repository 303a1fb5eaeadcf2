// The EC2 calls of the aws provider: describe calls (allowed in dry-run), mutating calls (never
// in dry-run), waiting for instance states and retrying deletions that wait on dependencies,
// each failure mapped to a ProviderError naming what hive was doing. Plus the stage's tags.
import {
  DescribeInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type ResourceType,
  type Tag,
  type TagSpecification,
} from '@aws-sdk/client-ec2';
import { ProviderError } from '../errors.js';
import { TAG_HOST, TAG_SITE, TAG_STAGE, type InfraScope } from './desired.js';
import { errorCode, mapAwsError, type AwsErrorContext } from './errors.js';

export interface AwsDeps {
  /** EC2 client for a region (credentials: the SDK's default chain). */
  makeClient(region: string): EC2Client;
  sleep(ms: number): Promise<void>;
  /** Resolves when an SSH server answers on address:port; rejects after its own timeout. */
  waitForSsh(address: string, port: number): Promise<void>;
  /** Pause between state polls (instances, dependency retries). */
  pollIntervalMs: number;
  /** Give up waiting for an instance state or a dependency after this long. */
  waitTimeoutMs: number;
}

/** Instance states of a stage's live instances (terminated and shutting-down ones are gone). */
export const ALIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export const tagsOf = (tags: Tag[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

/** The Name tag of a resource, else its id. */
export const nameOf = (tags: Tag[] | undefined, fallback: string | undefined) => tagsOf(tags).Name ?? fallback ?? '';

export class AwsApi {
  readonly ec2: EC2Client;

  constructor(
    private readonly scope: InfraScope,
    private readonly deps: AwsDeps,
    private readonly dryRun: boolean,
  ) {
    this.ec2 = deps.makeClient(scope.region);
  }


  /** A describe call: allowed in dry-run. */
  async look<T>(doing: string, call: () => Promise<T>, extra: Partial<AwsErrorContext> = {}): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw mapAwsError(e, { doing, region: this.scope.region, ...extra });
    }
  }

  /** A mutating call: never reached in dry-run. */
  async change<T>(doing: string, call: () => Promise<T>, extra: Partial<AwsErrorContext> = {}): Promise<T> {
    if (this.dryRun) throw new Error(`internal: mutating call in dry-run (${doing})`);
    return this.look(doing, call, extra);
  }

  tagFilters(): Filter[] {
    return [
      { Name: `tag:${TAG_SITE}`, Values: [this.scope.site] },
      { Name: `tag:${TAG_STAGE}`, Values: [this.scope.stage] },
    ];
  }

  isOurs(tags: Tag[] | undefined): boolean {
    const t = tagsOf(tags);
    return t[TAG_SITE] === this.scope.site && t[TAG_STAGE] === this.scope.stage;
  }

  tagSpec(type: ResourceType, name: string, extra: Record<string, string> = {}): TagSpecification {
    const tags = { ...this.scope.tags, Name: name, ...extra };
    return { ResourceType: type, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) };
  }

  async poll<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const done = await probe();
      if (done !== undefined) return done;
      // Attempts bound the wait too, so an injected no-op sleep cannot spin forever.
      const waited = Math.max(Date.now() - started, attempt * this.deps.pollIntervalMs);
      if (waited >= this.deps.waitTimeoutMs) {
        throw new ProviderError(
          `timed out after ${Math.round(this.deps.waitTimeoutMs / 1000)}s waiting for ${what} in ${this.scope.region}: check it in the EC2 console, then run build-infra again`,
        );
      }
      await this.deps.sleep(this.deps.pollIntervalMs);
    }
  }

  async describeInstances(filters: Filter[], doing: string): Promise<Instance[]> {
    const out: Instance[] = [];
    let token: string | undefined;
    do {
      const r = await this.look(doing, () =>
        this.ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken: token })),
      );
      for (const res of r.Reservations ?? []) out.push(...(res.Instances ?? []));
      token = r.NextToken;
    } while (token);
    return out;
  }

  async ourInstances(states: string[]): Promise<Instance[]> {
    return this.describeInstances(
      [...this.tagFilters(), { Name: 'instance-state-name', Values: states }],
      'looking up the stage instances',
    );
  }

  /** Wait until every instance is in `want`; fails when one ends up terminated instead. */
  async waitInstances(ids: string[], want: 'running' | 'stopped' | 'terminated'): Promise<Instance[]> {
    if (!ids.length) return [];
    return this.poll(`instances ${ids.join(', ')} to be ${want}`, async () => {
      let found: Instance[];
      try {
        found = await this.describeInstances([{ Name: 'instance-id', Values: ids }], `waiting for instances to be ${want}`);
      } catch (e) {
        // Freshly launched instances may not be visible yet (eventual consistency).
        if (errorCode((e as ProviderError).cause) === 'InvalidInstanceID.NotFound') return undefined;
        throw e;
      }
      for (const i of found) {
        const state = i.State?.Name;
        if (want !== 'terminated' && (state === 'terminated' || state === 'shutting-down')) {
          const host = tagsOf(i.Tags)[TAG_HOST] ?? i.InstanceId;
          throw new ProviderError(
            `instance ${i.InstanceId} of host ${host} stopped by itself (${i.StateReason?.Message ?? state}): check the image, instance type and kms_key_id, then run build-infra again`,
          );
        }
      }
      return found.length === ids.length && found.every((i) => i.State?.Name === want) ? found : undefined;
    });
  }

  /** Deletions right after termination can hit lingering network interfaces: retry those. */
  async retryDependency(doing: string, call: () => Promise<unknown>): Promise<void> {
    if (this.dryRun) throw new Error(`internal: mutating call in dry-run (${doing})`);
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await call();
        return;
      } catch (e) {
        if (errorCode(e) !== 'DependencyViolation') throw mapAwsError(e, { doing, region: this.scope.region });
        const waited = Math.max(Date.now() - started, attempt * this.deps.pollIntervalMs);
        if (waited >= this.deps.waitTimeoutMs) {
          throw new ProviderError(
            `cannot finish ${doing} in ${this.scope.region}: ${String((e as Error).message).replace(/\s+/g, ' ')}; something outside hive still uses it: remove that, then run build-infra -D again`,
            { cause: e },
          );
        }
        await this.deps.sleep(this.deps.pollIntervalMs);
      }
    }
  }
}
