// `hive logs / backup / restore` refuse bad requests with exit 2 before any ssh runs (the
// e2e suite test/e2e/ops.test.ts covers what they do on a real site).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/lib/context.js';
import { readSite } from '../../src/model/index.js';
import { runBackup, runRestore, showLogs, type OpsIo } from '../../src/ops/index.js';
import { cleanupProjects, makeProject } from '../fixtures/inventory/helpers.js';

const HIVE = `plugin: hive_inventory
name: ops
stages:
  private:
    provider: local
    cidr: 10.93.0.0/24
`;
const SERVICES = `plugin: hive_services
services:
  notes:
    image: "debian:bookworm"
    backup_scripts:
      - {name: data, directory: /var/lib/notes}
  web:
    image: "nginx:1.27"
  later:
    image: "nginx:1.27"
    available_on: [production]
`;

function setup(withSshConfig: boolean) {
  const p = makeProject({ 'hive.yml': HIVE, 'services.yml': SERVICES });
  const ctx = makeContext({ root: p.root, stage: 'private' });
  const site = readSite({ inventoryDir: ctx.inventoryDir, hiveDir: ctx.hiveDir, stage: 'private' });
  if (withSshConfig) {
    mkdirSync(ctx.stageDir, { recursive: true });
    // a host that cannot be reached: any ssh attempt would fail with exit 1, not 2
    writeFileSync(join(ctx.stageDir, 'ssh_config'), 'Host p-hive3.ops\n  HostName 127.0.0.1\n  Port 9\n');
  }
  return { ctx, site };
}

function io() {
  const out = { stdout: '', stderr: '' };
  const sink = (k: 'stdout' | 'stderr') =>
    new Writable({
      write(chunk, _e, cb) {
        out[k] += String(chunk);
        cb();
      },
    });
  const streams: OpsIo = { stdout: sink('stdout'), stderr: sink('stderr'), tty: false };
  return { out, streams };
}

afterAll(() => cleanupProjects());

describe('ops requests', () => {
  it('refuses logs of a service that is not in the stage', async () => {
    const { ctx, site } = setup(true);
    for (const name of ['nope', 'later']) {
      const { out, streams } = io();
      expect(await showLogs(ctx, site, name, {}, streams)).toBe(2);
      expect(out.stderr).toMatch(new RegExp(`no service "${name}" in stage private \\(services: notes, web\\)`));
    }
  });

  it('refuses a bad line count', async () => {
    const { ctx, site } = setup(true);
    const { out, streams } = io();
    expect(await showLogs(ctx, site, 'notes', { lines: -3 }, streams)).toBe(2);
    expect(out.stderr).toMatch(/--lines/);
  });

  it('refuses a backup or restore of a service without backup_scripts, naming where it is defined', async () => {
    const { ctx, site } = setup(true);
    const b = io();
    expect(await runBackup(ctx, site, 'web', b.streams)).toBe(2);
    expect(b.out.stderr).toMatch(/service "web" has no backup_scripts in the inventory \(.*services\.yml:\d+\)/);
    const r = io();
    expect(await runRestore(ctx, site, 'web', {}, r.streams)).toBe(2);
    expect(r.out.stderr).toMatch(/no backup_scripts/);
  });

  it('says to run build-infra first when the stage has no ssh_config', async () => {
    const { ctx, site } = setup(false);
    const { out, streams } = io();
    expect(await runBackup(ctx, site, 'notes', streams)).toBe(2);
    expect(out.stderr).toMatch(/ssh_config does not exist: run "hive run --phase build-infra --stage private" first/);
  });

  it('reports an unreachable repository as a failure (exit 1), not a bad request', async () => {
    const { ctx, site } = setup(true);
    const { streams } = io();
    expect(await runRestore(ctx, site, 'notes', { from: 'data-latest.tar.gz' }, streams)).toBe(1);
  });
});
