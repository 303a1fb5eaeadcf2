// `hive versions SERVICE`: the recorded image versions of a service in the stage, newest first,
// with what is built last, deployed now and pinned by a rollback.
import type { HiveContext } from '../lib/context.js';
import { HiveError } from '../lib/errors.js';
import { readImageRecords, targetVersion, type ImageRecord } from './images.js';

export interface VersionLine {
  version: string;
  builtAt?: string;
  id?: string;
  /** Newest build. */
  latest: boolean;
  /** Running on the swarm after the last successful deploy. */
  deployed: boolean;
  /** Pinned by `hive rollback`. */
  pinned: boolean;
  /** Last time this version was deployed. */
  lastDeployedAt?: string;
}

export interface ServiceVersions {
  service: string;
  stage: string;
  repository?: string;
  /** What the next deploy-services rolls out. */
  next?: string;
  versions: VersionLine[];
}

/** The service has no recorded versions (not built by hive, or never built in this stage). */
export class NoVersionsError extends HiveError {
  constructor(message: string) {
    super(message, 2);
  }
}

export function versionsOf(service: string, stage: string, record: ImageRecord | undefined): ServiceVersions {
  if (!record || !(record.versions?.length)) {
    throw new NoVersionsError(
      `no image versions recorded for service ${service} in stage ${stage}: only images built by hive ` +
        `(image: with from/roles) have versions; run hive build-images --stage ${stage} first`,
    );
  }
  const lastDeployed = new Map<string, string>();
  for (const d of [...(record.history ?? [])].reverse()) lastDeployed.set(d.version, d.deployed_at);
  return {
    service,
    stage,
    repository: record.repository,
    next: targetVersion(record),
    versions: record.versions.map((v) => ({
      version: v.version,
      ...(v.built_at ? { builtAt: v.built_at } : {}),
      ...(v.id ? { id: v.id } : {}),
      latest: record.latest === v.version,
      deployed: record.deployed === v.version,
      pinned: record.pinned === v.version,
      ...(lastDeployed.has(v.version) ? { lastDeployedAt: lastDeployed.get(v.version) } : {}),
    })),
  };
}

/** The versions of `service` in the context's stage (NoVersionsError when there are none). */
export function listVersions(ctx: HiveContext, service: string): ServiceVersions {
  return versionsOf(service, ctx.stage, readImageRecords(ctx.stageDir)[service]);
}

/** Text for the terminal: one version a line, newest first. */
export function formatVersions(v: ServiceVersions): string {
  const lines = [`${v.service} (stage ${v.stage}${v.repository ? `, ${v.repository}` : ''}):`];
  const width = Math.max(...v.versions.map((x) => x.version.length));
  for (const x of v.versions) {
    const marks = [x.deployed && 'deployed', x.latest && 'latest', x.pinned && 'pinned'].filter(Boolean).join(', ');
    const when = x.builtAt ? `built ${x.builtAt}` : '';
    const last = x.lastDeployedAt && !x.deployed ? `, last deployed ${x.lastDeployedAt}` : '';
    lines.push(`  ${x.deployed ? '*' : ' '} ${x.version.padEnd(width)}  ${when}${last}${marks ? `  [${marks}]` : ''}`);
  }
  if (v.next) lines.push(`next deploy-services rolls out ${v.next}${v.versions.find((x) => x.pinned) ? ' (pinned by hive rollback)' : ''}`);
  return lines.join('\n') + '\n';
}
