// The last e2e file (sequencer.ts sorts e2e files by path): stops and then removes the shared
// local site, and checks that nothing with the site's label is left.
import { describe, beforeAll, expect, it } from 'vitest';
import { dockerOut, explain, forgetSite, runPhase, siteResources, useSite, type LocalSite } from './site-fixture.js';

const running = async (site: LocalSite) =>
  (await dockerOut(['inspect', '--format', '{{.State.Running}}', ...site.hosts.map((h) => h.name)])).split('\n');

describe('halt and destroy', () => {
  let site: LocalSite;
  beforeAll(async () => {
    site = await useSite();
  });

  it('-H stops every host container and keeps them', async () => {
    const r = await runPhase(site, 'build-infra', ['-H']);
    expect(r.code, explain(r)).toBe(0);
    expect(await running(site)).toEqual(site.hosts.map(() => 'false'));
  });

  it('-D without a terminal and without --yes refuses (exit 2) and removes nothing', async () => {
    const r = await runPhase(site, 'build-infra', ['-D']);
    expect(r.code, explain(r)).toBe(2);
    expect(r.stderr).toMatch(/--yes/);
    expect((await siteResources(site.name)).containers.length).toBe(site.hosts.length);
  });

  it('-D leaves no container, network or volume with the site label', async () => {
    const r = await runPhase(site, 'build-infra', ['-D', '--yes']);
    forgetSite();
    expect(r.code, explain(r)).toBe(0);
    expect(await siteResources(site.name)).toEqual({ containers: [], networks: [], volumes: [] });
    // the host image stays cached for the next site
    expect(await dockerOut(['images', '-q', 'hive-host:bookworm'])).not.toBe('');
  });
});
