// Events of a hive run. The same stream feeds the live progress, `--json` (NDJSON on stdout)
// and the audit trail `.hive/<stage>/runs/<time>-<phase>.ndjson`. Ansible's own events come
// from callback_plugins/hive_events.py; providers written in TypeScript emit the same shapes.

export type HostStatus = 'ok' | 'changed' | 'failed' | 'skipped' | 'unreachable';

export interface HostStats {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
}

export type HiveEvent =
  | { event: 'phase_start'; phase: string; stage: string; time: string; argv?: string[] }
  | { event: 'play_start'; play: string; time: string }
  | {
      event: 'task_start';
      task: string;
      play?: string;
      /** Module or action, e.g. ansible.builtin.command. */
      action?: string;
      /** Set for handlers and cleanup tasks. */
      kind?: 'handler' | 'cleanup';
      time: string;
    }
  /** A host began the current task (the watchdog names the hosts still running). */
  | { event: 'host_start'; host: string; task: string; time: string }
  | {
      event: 'host_result';
      host: string;
      task: string;
      status: HostStatus;
      /** Short message for failed/unreachable results and for what a provider did. */
      msg?: string;
      item?: string;
      /** A failure the task ignores (ignore_errors): not counted as failed. */
      ignored?: boolean;
      delegated_to?: string;
      time: string;
    }
  /** An `until:` loop will try again. */
  | { event: 'retry'; host: string; task: string; attempt?: number; retries?: number; msg?: string; time: string }
  | { event: 'include'; file: string; hosts: string[]; time: string }
  /** An async task was polled: proof of life, not progress. */
  | { event: 'async_poll'; host: string; task: string; time: string }
  | { event: 'warning'; msg: string; host?: string; time: string }
  /** `hive all`: the phases about to run and those skipped because they already succeeded. */
  | { event: 'all_start'; stage: string; phases: string[]; skipped: string[]; time: string }
  /** A task silent for longer than the watchdog allows: names who we are waiting for. */
  | { event: 'task_silent'; task: string; hosts: string[]; seconds: number; time: string }
  | {
      event: 'phase_end';
      phase: string;
      stage: string;
      ok: boolean;
      rc: number;
      stats: Record<string, HostStats>;
      /** Seconds. */
      duration: number;
      failed?: { host: string; task: string; msg?: string }[];
      time: string;
    };

export interface EventSink {
  emit(e: HiveEvent): void;
}

export const now = (): string => new Date().toISOString();
