import { describe, expect, it } from 'vitest';
import type { HiveContext } from '../../src/lib/context.js';
import { exitCodeFor } from '../../src/cli/errors.js';
import { UsageError } from '../../src/lib/errors.js';
import { PHASES, type PhaseName } from '../../src/model/phases.js';
import { limitPattern, phaseCommand, verbosityFlag } from '../../src/runner/phase-command.js';
import { fixtureSite } from '../fixtures/runner/site.js';

const ctx: HiveContext = {
  rootDir: '/srv/demo',
  inventoryDir: '/srv/demo/inventory',
  stage: 'private',
  hiveDir: '/srv/demo/.hive',
  stageDir: '/srv/demo/.hive/private',
  installDir: '/opt/hive',
};
const files = {
  inventoryPath: '/srv/demo/.hive/private/inventory.yml',
  varsPath: '/srv/demo/.hive/private/vars.yml',
  cfgPath: '/srv/demo/.hive/private/ansible.cfg',
};
const site = fixtureSite();
const head = ['ansible-playbook', '-i', files.inventoryPath, '--limit'];
const tail = (phase: string) => ['-e', `@${files.varsPath}`, `/opt/hive/playbooks/${phase}.yml`];

describe('phaseCommand argv', () => {
  it.each(PHASES)('%s without options is limited to the stage', (phase) => {
    expect(phaseCommand(ctx, site, phase, {}, files).argv).toEqual([...head, 'private', ...tail(phase)]);
  });

  it('setup-hosts -l maps host names (short names widened) and keeps the stage', () => {
    const { argv } = phaseCommand(ctx, site, 'setup-hosts', { limit: 'p-hive0, p-hive1.demo' }, files);
    expect(argv).toEqual([...head, 'p-hive0.demo:p-hive1.demo:&private', ...tail('setup-hosts')]);
  });

  it('setup-hosts -T passes --tags, -C check mode, -v gives -vvv', () => {
    const { argv } = phaseCommand(ctx, site, 'setup-hosts', { tags: 'base, docker', check: true, verbose: 1 }, files);
    expect(argv).toEqual([...head, 'private', '--tags', 'base,docker', '-C', '-vvv', ...tail('setup-hosts')]);
  });

  it('--task-timeout sets ANSIBLE_TASK_TIMEOUT; without it Ansible has no task limit', () => {
    expect(phaseCommand(ctx, site, 'setup-hosts', { taskTimeout: 600 }, files).env.ANSIBLE_TASK_TIMEOUT).toBe('600');
    expect(phaseCommand(ctx, site, 'setup-hosts', {}, files).env.ANSIBLE_TASK_TIMEOUT).toBeUndefined();
    expect(phaseCommand(ctx, site, 'setup-hosts', { taskTimeout: 0 }, files).env.ANSIBLE_TASK_TIMEOUT).toBeUndefined();
  });

  it('build-images -l maps services to image hosts plus the repository', () => {
    expect(limitPattern(site, 'private', 'build-images', 'web,db')).toBe('image_web:image_db:repository:&private');
  });

  it('refuses -l names the phase has nothing of, with exit 2, before Ansible starts', () => {
    const refused = (phase: PhaseName, limit: string) => {
      try {
        phaseCommand(ctx, site, phase, { limit }, files);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        expect(exitCodeFor(e)).toBe(2);
        return (e as Error).message;
      }
      throw new Error(`${phase} -l ${limit} was accepted`);
    };
    expect(refused('deploy-services', 'web,wbe')).toBe('deploy-services -l: no service wbe in stage private (services: web)');
    expect(refused('initialize-services', 'nosuch')).toMatch(/^initialize-services -l: no service nosuch in stage private/);
    expect(refused('build-images', 'web')).toBe('build-images -l: no image web in stage private (images: none)');
    expect(refused('build-volumes', 'data')).toMatch(/^build-volumes -l: no volume data in stage private/);
    // names that exist pass, and host patterns are Ansible's business
    expect(phaseCommand(ctx, site, 'deploy-services', { limit: 'web' }, files).argv).toContain('private');
    expect(phaseCommand(ctx, site, 'setup-hosts', { limit: 'hives' }, files).argv).toContain('hives:&private');
  });

  it('initialize-services -l keeps service names', () => {
    const { argv } = phaseCommand(ctx, site, 'initialize-services', { limit: 'web' }, files);
    expect(argv).toEqual([...head, 'web:&private', ...tail('initialize-services')]);
  });

  it.each(['build-infra', 'build-volumes', 'build-networks', 'deploy-services'] as const)(
    '%s -l only reaches the playbook as hive_limit: --limit stays the stage',
    (phase) => {
      expect(limitPattern(site, 'private', phase, 'a,b')).toBe('private');
    },
  );

  it('--dry-run runs Ansible in check mode', () => {
    expect(phaseCommand(ctx, site, 'deploy-services', { dryRun: true }, files).argv).toContain('-C');
  });

  it('an empty -l is no limit', () => {
    expect(limitPattern(site, 'private', 'setup-hosts', ' , ')).toBe('private');
  });

  it('verbosity: -v → -vvv, capped at -vvvvvv', () => {
    expect(verbosityFlag(0)).toBeUndefined();
    expect(verbosityFlag(1)).toBe('-vvv');
    expect(verbosityFlag(2)).toBe('-vvvv');
    expect(verbosityFlag(9)).toBe('-vvvvvv');
  });
});

describe('phaseCommand vault flags', () => {
  it('passes --vault-id (repeated, in order), --vault-password-file and --ask-vault-pass to ansible-playbook as given', () => {
    const { argv, interactive } = phaseCommand(
      ctx,
      site,
      'deploy-services',
      { vaultIds: ['dev@/srv/demo/dev.pw', 'prod@prompt'], vaultPasswordFiles: ['/srv/demo/vault.pw'], askVaultPass: true },
      files,
    );
    expect(argv).toEqual([
      ...head,
      'private',
      '--vault-id',
      'dev@/srv/demo/dev.pw',
      '--vault-id',
      'prod@prompt',
      '--vault-password-file',
      '/srv/demo/vault.pw',
      '--ask-vault-pass',
      ...tail('deploy-services'),
    ]);
    expect(interactive).toBe(true);
  });

  it('a password file alone needs no terminal; a prompt does', () => {
    const file = phaseCommand(ctx, site, 'setup-hosts', { vaultPasswordFiles: ['/srv/demo/vault.pw'] }, files);
    expect(file.argv).toEqual([...head, 'private', '--vault-password-file', '/srv/demo/vault.pw', ...tail('setup-hosts')]);
    expect(file.interactive).toBe(false);
    expect(phaseCommand(ctx, site, 'setup-hosts', { vaultIds: ['prompt'] }, files).interactive).toBe(true);
    expect(phaseCommand(ctx, site, 'setup-hosts', { vaultIds: ['ops@/srv/demo/prompt'] }, files).interactive).toBe(false);
    expect(phaseCommand(ctx, site, 'setup-hosts', {}, files).interactive).toBe(false);
  });

  it('every phase gets the flags, with the other options', () => {
    for (const phase of PHASES) {
      const { argv } = phaseCommand(ctx, site, phase, { tags: 'x', vaultIds: ['a@/p/a'] }, files);
      expect(argv.slice(-5)).toEqual(['--vault-id', 'a@/p/a', ...tail(phase)]);
    }
  });
});

describe('phaseCommand env', () => {
  it('points Ansible at the stage config and the hive_events callback', () => {
    expect(phaseCommand(ctx, site, 'setup-hosts', {}, files).env).toEqual({
      ANSIBLE_CONFIG: files.cfgPath,
      ANSIBLE_STDOUT_CALLBACK: 'hive_events',
      ANSIBLE_CALLBACK_PLUGINS: '/opt/hive/callback_plugins',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      PYTHONUNBUFFERED: '1',
      HIVE_EVENTS_FD: '3',
    });
  });
});
