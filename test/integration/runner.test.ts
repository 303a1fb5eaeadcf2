// The runner against the real ansible-playbook, on this machine: the fixture project's two hives
// are `ansible_connection: local` through its host_vars, so the whole path runs for real:
// generated files, group_vars passthrough, the hive_events callback, event parsing, stats,
// failures, the run record, secrets, the lock and the watchdog.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { HiveContext } from '../../src/lib/context.js';
import type { Site } from '../../src/model/site.js';
import { renderStageFiles } from '../../src/render/stage-files.js';
import type { EventSink, HiveEvent } from '../../src/lib/events.js';
import { LockHeldError } from '../../src/runner/lock.js';
import { StageDir } from '../../src/state/stage-dir.js';

/** The lock file stays (every run flocks the same file); a free lock names nobody. */
const lockPath = (stageDir: string) => new StageDir(stageDir).lock;
const lockHeld = (stageDir: string) => existsSync(lockPath(stageDir)) && readFileSync(lockPath(stageDir), 'utf8').trim() !== '';
import { MASK } from '../../src/model/secrets.js';
import { readProgress } from '../../src/runner/resume.js';
import { runPhase, type RunIO } from '../../src/runner/run-phase.js';
import { fixtureProject, fixtureSite } from '../fixtures/runner/site.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = join(repo, 'test/fixtures/runner');
const REGISTRY_PASSWORD = 'RegistryPw-0815-xyz';
const GROUP_VARS_SECRET = 'GroupVarsSecret-4711';

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A copy of the fixture project; `install` = hive's folder (the repo) or one with fixture playbooks. */
function project(install: 'repo' | 'fixture' = 'fixture'): { ctx: HiveContext; site: Site } {
  const tmp = mkdtempSync(join(tmpdir(), 'hive-runner-'));
  temps.push(tmp);
  const rootDir = join(tmp, 'project');
  cpSync(fixtureProject, rootDir, { recursive: true });
  let installDir = repo;
  if (install === 'fixture') {
    installDir = join(tmp, 'install');
    mkdirSync(installDir);
    cpSync(join(fixtures, 'playbooks'), join(installDir, 'playbooks'), { recursive: true });
    for (const d of ['callback_plugins', 'templates', 'roles']) symlinkSync(join(repo, d), join(installDir, d));
  }
  const hiveDir = join(rootDir, '.hive');
  const ctx: HiveContext = { rootDir, inventoryDir: join(rootDir, 'inventory'), stage: 'private', hiveDir, stageDir: join(hiveDir, 'private'), installDir };
  mkdirSync(ctx.stageDir, { recursive: true });
  writeFileSync(join(ctx.stageDir, 'registry_password'), REGISTRY_PASSWORD + '\n', { mode: 0o600 });
  return { ctx, site: fixtureSite(ctx.inventoryDir) };
}

class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

function collector(): EventSink & { events: HiveEvent[] } {
  const events: HiveEvent[] = [];
  return { events, emit: (e) => events.push(e) };
}

function io(extra: Partial<RunIO> = {}) {
  const sink = collector();
  const stdout = new Capture();
  const stderr = new Capture();
  return { sink, stdout, stderr, io: { sinks: [sink], stdout, stderr, ...extra } as RunIO };
}

const ofKind = <K extends HiveEvent['event']>(events: HiveEvent[], kind: K) =>
  events.filter((e): e is Extract<HiveEvent, { event: K }> => e.event === kind);

const readRecord = (path: string): HiveEvent[] =>
  readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('runner with the real ansible-playbook', () => {
  it('runs a phase: events, stats, run record, group_vars passthrough, no secrets', async () => {
    const { ctx, site } = project();
    const { sink, stdout, stderr, io: runIo } = io();
    const result = await runPhase(ctx, site, 'setup-hosts', { json: true }, runIo);

    expect(result.ok).toBe(true);
    expect(result.rc).toBe(0);
    const events = sink.events;
    expect(events[0]).toMatchObject({ event: 'phase_start', phase: 'setup-hosts', stage: 'private' });
    expect(events.at(-1)).toMatchObject({ event: 'phase_end', phase: 'setup-hosts', ok: true, rc: 0 });
    expect(ofKind(events, 'task_start').map((e) => e.task)).toEqual([
      'Read a value from the project\'s group_vars',
      'Change something',
      'Use secrets without showing them',
      'Loop over accounts',
      'Loop over secrets without showing them',
      'Only on hives that are not the repository',
    ]);
    const results = ofKind(events, 'host_result');
    // the project's inventory/group_vars reached the play
    expect(results.filter((e) => e.msg === 'group_vars say hello from group_vars').map((e) => e.host).sort()).toEqual(['p-hive0.demo', 'p-hive1.demo']);
    expect(results.filter((e) => e.task === 'Use secrets without showing them').map((e) => [e.status, e.msg])).toEqual([['ok', undefined], ['ok', undefined]]);
    // loop items: labels without the password key; a no_log loop's items stay items, unlabelled
    expect(results.filter((e) => e.item !== undefined).map((e) => e.item)).toEqual([
      '{"name": "admin"}',
      '{"name": "admin"}',
      '(hidden: no_log)',
      '(hidden: no_log)',
    ]);

    const stats = {
      'p-hive0.demo': { ok: 6, changed: 1, failed: 0, unreachable: 0, skipped: 0 },
      'p-hive1.demo': { ok: 5, changed: 1, failed: 0, unreachable: 0, skipped: 1 },
    };
    expect(result.stats).toEqual(stats);
    expect(events.at(-1)).toMatchObject({ stats });

    // --json: stdout is exactly the events; the run record holds the same events
    expect(stdout.text.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(events);
    expect(result.runRecord).toMatch(new RegExp(`/\\.hive/private/runs/\\d{8}T\\d{6}Z-setup-hosts\\.ndjson$`));
    expect(readRecord(result.runRecord)).toEqual(events);

    for (const text of [stdout.text, stderr.text, readFileSync(result.runRecord, 'utf8')]) {
      expect(text).not.toContain(GROUP_VARS_SECRET);
      expect(text).not.toContain(REGISTRY_PASSWORD);
    }
    expect(Object.keys(readProgress(ctx.stageDir).succeeded)).toEqual(['setup-hosts']);
    expect(lockHeld(ctx.stageDir)).toBe(false);
  }, 90_000);

  it('a failing task: ok=false, rc≠0, host and task named, secret in the error masked', async () => {
    const { ctx, site } = project();
    const { sink, stdout, stderr, io: runIo } = io();
    // -v: ansible-playbook's own -vvv text is passed on (to stderr), masked like the events
    const result = await runPhase(ctx, site, 'build-volumes', { verbose: 1 }, runIo);

    expect(result.ok).toBe(false);
    expect(result.rc).toBe(2);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]).toMatchObject({ host: 'p-hive1.demo', task: 'Break on the second hive' });
    expect(result.failed[0].msg).toContain('disk full');
    expect(result.failed[0].msg).toContain(MASK);
    expect(result.stats).toEqual({
      'p-hive0.demo': { ok: 2, changed: 0, failed: 0, unreachable: 0, skipped: 1 },
      'p-hive1.demo': { ok: 1, changed: 0, failed: 1, unreachable: 0, skipped: 0 },
    });
    const end = sink.events.at(-1)!;
    expect(end).toMatchObject({ event: 'phase_end', ok: false, rc: 2, failed: result.failed });
    // plain output (no terminal) names the failure and ends with the recap
    expect(stdout.text).toContain('[build-volumes] FAILED p-hive1.demo | Break on the second hive | non-zero return code');
    expect(stdout.text).toMatch(/== build-volumes FAILED \(rc 2\) in [\d.]+s\nhost +ok +changed +failed +unreachable +skipped\n/);
    expect(stderr.text).toMatch(/ESTABLISH LOCAL CONNECTION/);
    for (const text of [stdout.text, stderr.text, readFileSync(result.runRecord, 'utf8')]) expect(text).not.toContain(REGISTRY_PASSWORD);
    expect(readProgress(ctx.stageDir).succeeded['build-volumes']).toBeUndefined();
  }, 90_000);

  it('an unreachable host: ok=false, counted as unreachable, named with the ssh error', async () => {
    const { ctx, site } = project();
    const { io: runIo } = io();
    const result = await runPhase(ctx, site, 'initialize-services', {}, runIo);
    expect(result.ok).toBe(false);
    expect(result.rc).toBe(4);
    expect(result.stats['p-hive1.demo']).toMatchObject({ unreachable: 1, failed: 0 });
    expect(result.failed).toEqual([{ host: 'p-hive1.demo', task: 'Reach the host', msg: expect.stringMatching(/ssh/i) }]);
  }, 90_000);

  it('the lock stops a concurrent run; the watchdog names a silent task and its host', async () => {
    const { ctx, site } = project();
    const slow = io();
    const first = runPhase(ctx, site, 'build-networks', { silentAfter: 2 }, slow.io);
    for (let i = 0; i < 100 && !lockHeld(ctx.stageDir); i++) await new Promise((r) => setTimeout(r, 50));

    const second = io();
    const err = await runPhase(ctx, site, 'setup-hosts', {}, second.io).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).message).toContain(`pid ${process.pid}`);
    expect(second.sink.events).toEqual([]); // nothing ran

    const result = await first;
    expect(result.ok).toBe(true);
    const silent = ofKind(slow.sink.events, 'task_silent');
    expect(silent.length).toBeGreaterThanOrEqual(1);
    expect(silent[0]).toMatchObject({ task: 'Sleep past the watchdog', hosts: ['p-hive0.demo'] });
    expect(silent[0].seconds).toBeGreaterThanOrEqual(2);
    expect(slow.stdout.text).toContain('SILENT for');
    expect(lockHeld(ctx.stageDir)).toBe(false);
  }, 90_000);

  it('--task-timeout fails a hung task on its host, naming both, instead of waiting for it', async () => {
    const { ctx, site } = project();
    const hung = io();
    const started = Date.now();
    const result = await runPhase(ctx, site, 'build-networks', { taskTimeout: 2, extraVars: { fixture_sleep: 60 } }, hung.io);
    expect(result.ok).toBe(false);
    expect(result.failed).toEqual([{ host: 'p-hive0.demo', task: 'Sleep past the watchdog', msg: expect.stringMatching(/time ?frame|timed? ?out/i) }]);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(lockHeld(ctx.stageDir)).toBe(false);
  }, 90_000);

  it('Ctrl-C stops ansible-playbook and everything it started, ends the phase and frees the lock', async () => {
    const { ctx, site } = project();
    const run = io();
    const pending = runPhase(ctx, site, 'build-networks', { extraVars: { fixture_sleep: 47 } }, run.io);
    for (let i = 0; i < 300 && !run.sink.events.some((e) => e.event === 'host_start'); i++) await new Promise((r) => setTimeout(r, 50));
    // let the command start (on a busy machine the module takes a while to get there)
    for (let i = 0; i < 300 && spawnSync('pgrep', ['-f', 'sleep 47']).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(spawnSync('pgrep', ['-f', 'sleep 47']).status).toBe(0);
    process.emit('SIGINT', 'SIGINT'); // what a terminal's Ctrl-C does to hive
    const result = await pending;
    expect(result).toMatchObject({ ok: false, interrupted: true });
    expect(result.duration).toBeLessThan(30);
    expect(result.failed).toEqual([{ host: 'ansible-playbook', task: 'Sleep past the watchdog', msg: 'interrupted' }]);
    expect(run.sink.events.at(-1)).toMatchObject({ event: 'phase_end', ok: false });
    expect(spawnSync('pgrep', ['-f', 'sleep 47']).status).toBe(1); // nothing left running
    expect(lockHeld(ctx.stageDir)).toBe(false);
  }, 90_000);

  it('runs the caller\'s step before the playbook: its events in the record, its failure the phase\'s', async () => {
    const { ctx, site } = project();
    const phases: string[] = [];
    const step = (fail: boolean, runPlaybook: boolean): RunIO['before'] => (phase) => {
      phases.push(phase);
      return {
        host: 'test provider',
        task: 'test provider: build infrastructure',
        async run(events) {
          events.emit({ event: 'task_start', task: 'test : step', time: new Date().toISOString() });
          events.emit({ event: 'host_result', host: 'p-mother.fixture', task: 'test : step', status: 'changed', msg: 'did it', time: new Date().toISOString() });
          if (fail) throw new Error('the step broke');
          return runPlaybook;
        },
      };
    };

    const skipped = io({ before: step(false, false) });
    const done = await runPhase(ctx, site, 'setup-hosts', {}, skipped.io);
    expect(done).toMatchObject({ ok: true, rc: 0 });
    expect(ofKind(skipped.sink.events, 'task_start').map((e) => e.task)).toEqual(['test : step']);
    expect(ofKind(readRecord(done.runRecord), 'host_result').map((e) => e.msg)).toEqual(['did it']);

    const failing = io({ before: step(true, true) });
    const failed = await runPhase(ctx, site, 'setup-hosts', {}, failing.io);
    expect(failed).toMatchObject({ ok: false, rc: 1, failed: [{ host: 'test provider', task: 'test : step', msg: 'the step broke' }] });
    expect(ofKind(failing.sink.events, 'task_start').map((e) => e.task)).toEqual(['test : step']);
    expect(phases).toEqual(['setup-hosts', 'setup-hosts']);
    expect(lockHeld(ctx.stageDir)).toBe(false);
  }, 90_000);

  it('takes over a stale lock of a dead process, with a warning naming it', async () => {
    const { ctx, site } = project();
    const dead = spawnSync('true').pid!;
    writeFileSync(
      lockPath(ctx.stageDir),
      JSON.stringify({ pid: dead, command: 'hive all', started: '2020-01-01T00:00:00.000Z', host: hostname(), token: 'old' }),
    );
    const { sink, io: runIo } = io();
    const result = await runPhase(ctx, site, 'setup-hosts', {}, runIo);
    expect(result.ok).toBe(true);
    const warnings = ofKind(sink.events, 'warning').map((e) => e.msg);
    expect(warnings.some((m) => m.includes(`pid ${dead}`) && m.includes('stale'))).toBe(true);
  }, 90_000);
});

describe('hive playbooks with the generated files', () => {
  it('every playbooks/*.yml passes ansible-playbook --syntax-check', async () => {
    const { ctx, site } = project('repo');
    const files = renderStageFiles(ctx, site, null, {});
    const playbooks = readdirSync(join(repo, 'playbooks'))
      .filter((f) => f.endsWith('.yml'))
      .map((f) => join(repo, 'playbooks', f));
    expect(playbooks.length).toBeGreaterThanOrEqual(5);
    for (const pb of playbooks) {
      const r = await execa('ansible-playbook', ['--syntax-check', '-i', files.inventoryPath, '-e', `@${files.varsPath}`, pb], {
        env: { ANSIBLE_CONFIG: files.cfgPath },
        reject: false,
      });
      expect({ playbook: pb, rc: r.exitCode, stderr: r.stderr }).toMatchObject({ rc: 0 });
    }
  }, 120_000);

  it('vars.yml reads back unchanged in Ansible\'s YAML loader', async () => {
    const { ctx, site } = project('repo');
    const extraVars = { yes_word: 'yes', octal: '0777', time: '1:20', text: 'quote " and \\ and é', nested: { list: [1, 'on', null] } };
    const files = renderStageFiles(ctx, site, 'deploy-services', { extraVars, limit: 'web' });
    const r = await execa('/usr/bin/python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', files.varsPath]);
    expect(JSON.parse(r.stdout)).toMatchObject({ ...extraVars, hive_phase: 'deploy-services', hive_limit: 'web', hive_stage: 'private' });
  }, 60_000);

  it('ansible-inventory sees the generated inventory plus the project group_vars and host_vars', async () => {
    const { ctx, site } = project('repo');
    const files = renderStageFiles(ctx, site, null, {});
    const r = await execa('ansible-inventory', ['--list'], { env: { ANSIBLE_CONFIG: files.cfgPath } });
    const inv = JSON.parse(r.stdout);
    expect(inv.private.hosts).toEqual(expect.arrayContaining(['p-hive0.demo', 'p-hive1.demo']));
    expect(inv._meta.hostvars['p-hive0.demo']).toMatchObject({ fixture_greeting: 'hello from group_vars', ansible_connection: 'local' });
  }, 60_000);
});
