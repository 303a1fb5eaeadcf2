// What one phase run (or `hive all`) is asked to do; filled by the CLI from its options.

export interface RunOptions {
  /** -l: comma-separated host / image / service / volume names, mapped per phase. */
  limit?: string;
  /** -T: comma-separated tags. */
  tags?: string;
  /** -C: Ansible check mode. */
  check?: boolean;
  /** -D: remove what the phase builds. */
  destroy?: boolean;
  /** -H: stop the hosts (build-infra). */
  halt?: boolean;
  /** -v count; 1 gives ansible-playbook -vvv. */
  verbose?: number;
  /** NDJSON events on stdout instead of progress. */
  json?: boolean;
  /** Change nothing: provider dry run and Ansible check mode. */
  dryRun?: boolean;
  /** Redo once-only work (hive_force for the playbooks). */
  force?: boolean;
  /** Seconds without an event before a task is reported silent (default 300, env HIVE_SILENT_AFTER). */
  silentAfter?: number;
  /** More variables for the playbooks (written into vars.yml after hive's own). */
  extraVars?: Record<string, unknown>;
}

export const DEFAULT_SILENT_AFTER = 300;

/** opts.silentAfter, else $HIVE_SILENT_AFTER, else 300 seconds. */
export function silentAfterSeconds(opts: RunOptions, env: NodeJS.ProcessEnv = process.env): number {
  if (opts.silentAfter !== undefined && opts.silentAfter > 0) return opts.silentAfter;
  const fromEnv = Number(env.HIVE_SILENT_AFTER);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_SILENT_AFTER;
}

/** A run that changes nothing: never recorded as progress. */
export const changesNothing = (opts: RunOptions): boolean => !!(opts.check || opts.dryRun);
