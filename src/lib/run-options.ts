// What one phase run (or `hive all`) is asked to do; filled by the CLI from its options.

/** ansible-vault secrets, passed to every Ansible process hive starts exactly as given. */
export interface VaultOptions {
  /** --vault-id, in the order given (repeatable): `[label@]file|prompt`. */
  vaultIds?: string[];
  /** --vault-password-file, in the order given (repeatable). */
  vaultPasswordFiles?: string[];
  /** --ask-vault-pass: Ansible prompts on the terminal. */
  askVaultPass?: boolean;
}

export interface RunOptions extends VaultOptions {
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
  /**
   * --task-timeout: seconds after which Ansible kills a task that has not finished and fails it on
   * that host (ANSIBLE_TASK_TIMEOUT), so a hung host fails the phase instead of only being reported.
   */
  taskTimeout?: number;
  /** --prune (deploy-services): remove the stage's services that are no longer in the inventory. */
  prune?: boolean;
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

/**
 * The vault flags for ansible-playbook / ansible-inventory / ansible. Ansible itself tries ids,
 * then password files, then the prompt, whatever order they were typed in; so does this list.
 */
export function vaultArgs(v: VaultOptions): string[] {
  const out: string[] = [];
  for (const id of v.vaultIds ?? []) out.push('--vault-id', id);
  for (const file of v.vaultPasswordFiles ?? []) out.push('--vault-password-file', file);
  if (v.askVaultPass) out.push('--ask-vault-pass');
  return out;
}

/** Whether Ansible will prompt for a vault password (it then needs the terminal). */
export function vaultPrompts(v: VaultOptions): boolean {
  // Ansible splits `label@source` at the first @; a source of `prompt` asks on the terminal
  const source = (id: string) => (id.includes('@') ? id.slice(id.indexOf('@') + 1) : id);
  return !!v.askVaultPass || (v.vaultIds ?? []).some((id) => source(id) === 'prompt');
}

/** Only the vault part of a run's options (what readers of group_vars need). */
export const vaultOf = (o: VaultOptions): VaultOptions => ({
  vaultIds: o.vaultIds,
  vaultPasswordFiles: o.vaultPasswordFiles,
  askVaultPass: o.askVaultPass,
});
