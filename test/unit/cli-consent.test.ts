// Consent before -D (src/cli/consent.ts): typed stage name on a terminal, --yes without one,
// production protected unless allow_destroy: true.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { confirmDestroy, destroyScope, type ConsentIO } from '../../src/cli/consent.js';
import { UsageError } from '../../src/lib/errors.js';
import type { Site } from '../../src/model/site.js';

const site = (allowDestroy?: boolean) =>
  ({
    stages: {
      private: { settings: {}, source: { file: 'inventory/hive.yml', line: 4 } },
      production: { settings: allowDestroy === undefined ? {} : { allow_destroy: allowDestroy }, source: { file: 'inventory/hive.yml', line: 12 } },
    },
  }) as unknown as Site;

/** A terminal whose user types `answer`; collects what was asked. */
function terminal(answer?: string): ConsentIO & { asked: () => string } {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const stderr = Object.assign(new PassThrough(), { isTTY: true });
  let asked = '';
  let answered = false;
  stderr.on('data', (d) => {
    asked += String(d);
    // once: readline echoes what is typed to the terminal, which must not trigger another answer
    if (answer !== undefined && !answered && asked.includes('Type the stage name')) {
      answered = true;
      stdin.write(`${answer}\n`);
    }
  });
  return { stdin, stderr, asked: () => asked };
}

const noTerminal = (): ConsentIO => ({ stdin: new PassThrough(), stderr: new PassThrough() });

describe('destroy consent', () => {
  it('needs none without -D, in check mode, or for -D limited to some volumes / services', () => {
    expect(destroyScope({ phase: 'build-infra', stage: 'private' })).toBeUndefined();
    expect(destroyScope({ phase: 'build-infra', stage: 'private', destroy: true, changesNothing: true })).toBeUndefined();
    expect(destroyScope({ phase: 'build-volumes', stage: 'private', destroy: true, limit: 'pgdata' })).toBeUndefined();
    expect(destroyScope({ phase: 'deploy-services', stage: 'private', destroy: true, limit: 'web' })).toBeUndefined();
    // a server's disks go with it: build-infra -D asks even with -l
    expect(destroyScope({ phase: 'build-infra', stage: 'private', destroy: true, limit: 'p-hive1' })).toMatch(/p-hive1/);
  });

  it('without a terminal: refuses (exit 2) unless --yes', async () => {
    const err = await confirmDestroy(site(), { phase: 'build-volumes', stage: 'private', destroy: true }, noTerminal()).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/every volume.*--yes/);
    await expect(confirmDestroy(site(), { phase: 'build-volumes', stage: 'private', destroy: true, yes: true }, noTerminal())).resolves.toBeUndefined();
  });

  it('on a terminal: goes on only when the stage name is typed', async () => {
    const ok = terminal('private');
    await expect(confirmDestroy(site(), { phase: 'deploy-services', stage: 'private', destroy: true }, ok)).resolves.toBeUndefined();
    expect(ok.asked()).toContain('every service of stage private');
    const wrong = terminal('yes');
    await expect(confirmDestroy(site(), { phase: 'deploy-services', stage: 'private', destroy: true }, wrong)).rejects.toThrow(/not confirmed.*nothing was destroyed/);
  });

  it('production: refused even with --yes unless the stage has allow_destroy: true, naming where', async () => {
    for (const allow of [undefined, false]) {
      const err = await confirmDestroy(site(allow), { phase: 'build-infra', stage: 'production', destroy: true, yes: true }, noTerminal()).catch((e) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain('inventory/hive.yml:12: stages.production');
      expect((err as Error).message).toContain('allow_destroy: true');
    }
    await expect(confirmDestroy(site(true), { phase: 'build-infra', stage: 'production', destroy: true, yes: true }, noTerminal())).resolves.toBeUndefined();
    // allowed production still asks on a terminal
    await expect(confirmDestroy(site(true), { phase: 'build-infra', stage: 'production', destroy: true }, terminal('staging'))).rejects.toThrow(/not confirmed/);
  });
});
