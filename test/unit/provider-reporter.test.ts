// The one reporter of provider progress: event shapes and task names as each provider wrote them.
import { describe, expect, it } from 'vitest';
import type { HiveEvent } from '../../src/lib/events.js';
import { TaskReporter } from '../../src/providers/reporter.js';

const recorder = () => {
  const seen: HiveEvent[] = [];
  return { seen, sink: { emit: (e: HiveEvent) => void seen.push(e) } };
};
const shape = (events: HiveEvent[]) => events.map((e) => JSON.stringify({ ...e, time: 'T' }));

describe('provider task reporter', () => {
  it('local: the "local provider" play and "local: " task names', () => {
    const { seen, sink } = recorder();
    const r = new TaskReporter(sink, 'local');
    r.startPlay();
    expect(r.startTask('sshd')).toBe('local: sshd');
    r.result('p-hive0.pdns', 'ok', 'sshd answers');
    r.warning('careful');
    expect(shape(seen)).toEqual([
      '{"event":"play_start","play":"local provider","time":"T"}',
      '{"event":"task_start","task":"local: sshd","play":"local provider","time":"T"}',
      '{"event":"host_result","host":"p-hive0.pdns","task":"local: sshd","status":"ok","msg":"sshd answers","time":"T"}',
      '{"event":"warning","msg":"careful","time":"T"}',
    ]);
  });

  it.each([
    ['prepared', 'prepared : ssh key'],
    ['aws', 'aws : ssh key'],
  ] as const)('%s: no play, "<name> : " task names, item only when given', (provider, task) => {
    const { seen, sink } = recorder();
    const r = new TaskReporter(sink, provider);
    r.startPlay();
    r.startTask('ssh key');
    r.result('s-mother.pdns', 'changed', 'created it');
    r.result('s-mother.pdns', 'ok', 'found vpc x', 'x');
    expect(r.task).toBe(task);
    expect(shape(seen)).toEqual([
      `{"event":"task_start","task":"${task}","time":"T"}`,
      `{"event":"host_result","host":"s-mother.pdns","task":"${task}","status":"changed","msg":"created it","time":"T"}`,
      `{"event":"host_result","host":"s-mother.pdns","task":"${task}","status":"ok","msg":"found vpc x","item":"x","time":"T"}`,
    ]);
  });
});
