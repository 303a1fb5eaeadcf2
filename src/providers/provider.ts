// The contract of an infrastructure provider: build-infra's host work done in TypeScript
// (containers, cloud resources), before the build-infra playbook runs over SSH.
import type { ProviderName, Site, Stage } from '../model/site.js';
import type { EventSink } from '../lib/events.js';
import type { VaultOptions } from '../lib/run-options.js';

export interface ProviderContext {
  site: Site;
  stage: Stage;
  /** Absolute `.hive/<stage>` folder: keys, CA, ssh_config, allocations live here. */
  stageDir: string;
  /** Absolute project root (the folder holding inventory/ and .hive/). */
  rootDir: string;
  events: EventSink;
  /** -H: stop hosts, keep everything. */
  halt: boolean;
  /** -D: remove what build-infra made (only what carries the site's labels/tags). */
  destroy: boolean;
  /** --dry-run / -C: report what would change, change nothing. */
  dryRun: boolean;
  /** Vault flags of the run: the user's group_vars / host_vars are read through Ansible with them. */
  vault?: VaultOptions;
}

export interface Provider {
  /** The inventory's `provider:` value this provider serves. */
  readonly name: ProviderName;
  /** Create/find (or halt/destroy) the stage's hosts; write `ssh_config` when hosts exist.
   * ctx.halt / ctx.destroy select halt (-H) and destroy (-D) instead of build. */
  buildInfra(ctx: ProviderContext): Promise<void>;
}
