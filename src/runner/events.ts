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
  | { event: 'task_start'; task: string; play?: string; time: string }
  | {
      event: 'host_result';
      host: string;
      task: string;
      status: HostStatus;
      /** Short message for failed/unreachable results and for what a provider did. */
      msg?: string;
      item?: string;
      time: string;
    }
  | { event: 'warning'; msg: string; time: string }
  /** A task silent for longer than the watchdog allows: names who we are waiting for. */
  | { event: 'task_silent'; task: string; hosts: string[]; seconds: number; time: string }
  | {
      event: 'phase_end';
      phase: string;
      stage: string;
      ok: boolean;
      rc: number;
      stats: Record<string, HostStats>;
      duration: number;
      failed?: { host: string; task: string; msg?: string }[];
      time: string;
    };

export interface EventSink {
  emit(e: HiveEvent): void;
}

export const now = (): string => new Date().toISOString();
