// How a provider reports its progress: the same task_start / host_result / warning events the
// hive_events callback gives for Ansible tasks, so the live progress, --json and the run record
// show provider steps like playbook tasks. One reporter for every provider.
import type { ProviderName } from '../model/site.js';
import { now, type EventSink, type HostStatus } from '../lib/events.js';

/**
 * Task names of each provider: `<prefix><step>`. The spellings are the ones hive has always
 * written (run records and --json output carry them), so they stay as they are.
 */
const TASK_PREFIX = {
  local: 'local: ',
  prepared: 'prepared : ',
  aws: 'aws : ',
} as const satisfies Partial<Record<ProviderName, string>>;

/** The play local names on its task_start events (and announces with play_start). */
const PLAY: { readonly [N in keyof typeof TASK_PREFIX]?: string } = { local: 'local provider' };

export class TaskReporter {
  private current = '';
  private readonly play?: string;

  constructor(
    private readonly events: EventSink,
    readonly provider: keyof typeof TASK_PREFIX,
  ) {
    this.play = PLAY[provider];
  }

  /** The task being reported (empty before the first). */
  get task(): string {
    return this.current;
  }

  /** play_start of the provider's play, for providers that name one. */
  startPlay(): void {
    if (this.play) this.events.emit({ event: 'play_start', play: this.play, time: now() });
  }

  /** Starts the task `step`; later results belong to it. Returns its full name. */
  startTask(step: string): string {
    this.current = `${TASK_PREFIX[this.provider]}${step}`;
    this.events.emit({ event: 'task_start', task: this.current, ...(this.play ? { play: this.play } : {}), time: now() });
    return this.current;
  }

  /** A host's result in the current task. */
  result(host: string, status: HostStatus, msg?: string, item?: string): void {
    this.events.emit({ event: 'host_result', host, task: this.current, status, msg, ...(item !== undefined ? { item } : {}), time: now() });
  }

  warning(msg: string): void {
    this.events.emit({ event: 'warning', msg, time: now() });
  }
}
