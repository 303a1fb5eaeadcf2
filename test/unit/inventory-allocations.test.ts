// DRBD minors and automatic published ports are allocated once per stage and kept in
// .hive/<stage>/allocations.yml: adding, removing or reordering services never renumbers them.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InventoryError, readSite } from '../../src/model/index.js';
import { Allocator, emptyAllocations, readAllocations, saveAllocations } from '../../src/state/allocations.js';
import type { Site } from '../../src/model/site.js';
import { MINIMAL_HIVE, cleanupProjects, inDir, makeProject } from '../fixtures/inventory/helpers.js';

afterEach(cleanupProjects);

const drbd = (svc: string, source: string, extra = '') =>
  `  ${svc}:\n    image: x\n    volumes:\n      - {source: ${source}, target: /data, drbd: {fstype: xfs, size: 1G${extra}}}\n`;
const port = (svc: string, target: number) => `  ${svc}:\n    image: x\n    ports: ["${target}"]\n`;
const servicesFile = (...blocks: string[]) => `plugin: hive_services\nservices:\n${blocks.join('')}`;

function project(services: string) {
  const p = makeProject({ 'hive.yml': MINIMAL_HIVE, 'services.yml': services });
  const write = (text: string) => writeFileSync(join(p.inventoryDir, 'services.yml'), text);
  // what a run does: read the site, then save what was allocated (under the stage lock)
  const readAs = (stage: 'private' | 'production' | undefined, { save = true } = {}) =>
    inDir(p.root, () => {
      const site = readSite({ inventoryDir: 'inventory', hiveDir: '.hive', ...(stage ? { stage } : {}) });
      if (save) saveAllocations('.hive', site);
      return site;
    });
  return { ...p, write, readAs, file: (stage: string) => join(p.hiveDir, stage, 'allocations.yml') };
}

const minors = (site: Site) => Object.fromEntries(site.volumes.map((v) => [v.source, (v.definition.drbd as any).device_id]));
const autoPorts = (site: Site) =>
  Object.fromEntries(site.services.flatMap((s) => s.ports.filter((p) => p.auto).map((p) => [`${s.name}${p.target_port}`, p.published_port])));

describe('allocations', () => {
  it('are written to the stage file on first use', () => {
    const p = project(servicesFile(drbd('db', 'db_data'), port('web', 8080)));
    const site = p.readAs('private');
    expect(minors(site)).toEqual({ db_data: 1 });
    expect(autoPorts(site)).toEqual({ web8080: 61001 });
    expect(site.allocationStage).toBe('private');
    const text = readFileSync(p.file('private'), 'utf8');
    expect(text).toContain('drbd_minors:\n  db_data: 1\n');
    expect(text).toContain('published_ports:\n  web8080: 61001\n');
    // written atomically: no temporary file left behind
    expect(readdirSync(join(p.hiveDir, 'private'))).toEqual(['allocations.yml']);
  });

  it('never renumber existing entries when volumes and ports are added before them', () => {
    const p = project(servicesFile(drbd('db', 'db_data'), port('web', 8080)));
    p.readAs('private');
    // new volume and port come first in the file now
    p.write(servicesFile(drbd('cache', 'cache_data'), port('api', 9000), drbd('db', 'db_data'), port('web', 8080)));
    const site = p.readAs('private');
    expect(minors(site)).toEqual({ cache_data: 2, db_data: 1 });
    expect(autoPorts(site)).toEqual({ api9000: 61002, web8080: 61001 });
  });

  it('do not hand a removed volume\'s minor to a new one', () => {
    const p = project(servicesFile(drbd('a', 'va'), drbd('b', 'vb')));
    p.readAs('private');
    p.write(servicesFile(drbd('b', 'vb'), drbd('c', 'vc')));
    expect(minors(p.readAs('private'))).toEqual({ vb: 2, vc: 3 });
  });

  it('are kept per stage', () => {
    const p = project(servicesFile(drbd('a', 'va')));
    p.readAs('private');
    p.write(servicesFile(drbd('b', 'vb'), drbd('a', 'va')));
    expect(minors(p.readAs('production'))).toEqual({ vb: 1, va: 2 });
    expect(minors(p.readAs('private'))).toEqual({ vb: 2, va: 1 });
  });

  it('avoid explicit values and refuse an explicit device_id held by another volume', () => {
    const web = '  web:\n    image: x\n    ports: ["80", "61001:81"]\n';
    const p = project(servicesFile(drbd('a', 'va', ', device_id: 1'), drbd('b', 'vb'), web));
    const site = p.readAs('private');
    expect(minors(site)).toEqual({ va: 1, vb: 2 });
    expect(autoPorts(site)).toEqual({ web80: 61002 });
    p.write(servicesFile(drbd('a', 'va'), drbd('b', 'vb'), drbd('c', 'vc', ', device_id: 2')));
    let error: unknown;
    try {
      p.readAs('private');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InventoryError);
    expect((error as InventoryError).message).toBe(
      'inventory/services.yml:14: services.c.volumes.0.drbd.device_id: DRBD device_id 2 is already allocated to volume "vb" (.hive/private/allocations.yml)',
    );
  });

  it('let a service pin its own automatic port but not take another\'s', () => {
    const p = project(servicesFile(port('web', 8080), port('api', 9000)));
    p.readAs('private');
    p.write(servicesFile('  web:\n    image: x\n    ports: ["61001:8080"]\n', port('api', 9000)));
    expect(autoPorts(p.readAs('private'))).toEqual({ api9000: 61002 });
    p.write(servicesFile(port('web', 8080), '  api:\n    image: x\n    ports: ["61001:9000"]\n'));
    expect(() => p.readAs('private')).toThrow(
      'inventory/services.yml:8: services.api.ports.0: published port 61001 is already allocated automatically to web8080 (.hive/private/allocations.yml)',
    );
  });

  it('are only written when something new was allocated', () => {
    const p = project(servicesFile(drbd('db', 'db_data')));
    p.readAs('private');
    const before = statSync(p.file('private')).mtimeMs;
    writeFileSync(p.file('private'), readFileSync(p.file('private'), 'utf8') + '# touched by the test\n');
    p.readAs('private');
    expect(readFileSync(p.file('private'), 'utf8')).toContain('# touched by the test');
    expect(statSync(p.file('private')).mtimeMs).toBeGreaterThanOrEqual(before);
  });

  it('are not written without a stage, nor by reading the inventory alone', () => {
    const p = project(servicesFile(drbd('db', 'db_data'), port('web', 8080)));
    const provisional = p.readAs(undefined);
    expect(provisional.allocationStage).toBeUndefined();
    expect(minors(provisional)).toEqual({ db_data: 1 });
    const read = p.readAs('private', { save: false });
    expect(read.allocationsChanged).toBe(true);
    expect(minors(read)).toEqual({ db_data: 1 });
    expect(existsSync(p.hiveDir)).toBe(false);
  });

  it('report a damaged store with its path', () => {
    const p = project(servicesFile(drbd('db', 'db_data')));
    p.readAs('private');
    writeFileSync(p.file('private'), 'drbd_minors:\n  db_data: 300\n');
    expect(() => p.readAs('private')).toThrow('.hive/private/allocations.yml:1: drbd_minors.db_data: must be a number 1-255');
  });
});

describe('DRBD disk nodes and node-ids', () => {
  const hives = ['p-hive0.x', 'p-hive1.x', 'p-hive2.x'];

  it('spreads the 8.4 pairs over the hives and keeps a pair once chosen', () => {
    const a = new Allocator(emptyAllocations());
    expect(a.diskNodesFor('one', hives, [])).toEqual(['p-hive0.x', 'p-hive1.x']);
    // the next volume starts on the hive that carries nothing yet
    expect(a.diskNodesFor('two', hives, [])).toEqual(['p-hive2.x', 'p-hive0.x']);
    const again = new Allocator(a.state);
    expect(again.diskNodesFor('one', [...hives].reverse(), [])).toEqual(['p-hive0.x', 'p-hive1.x']);
    expect(again.changed).toBe(false);
  });

  it('leaves diskless hives out and replaces only a node that is gone', () => {
    const a = new Allocator(emptyAllocations());
    expect(a.diskNodesFor('v', hives, ['p-hive0'])).toEqual(['p-hive1.x', 'p-hive2.x']);
    const b = new Allocator(a.state);
    expect(b.diskNodesFor('v', ['p-hive0.x', 'p-hive2.x', 'p-hive3.x'], [])).toEqual(['p-hive2.x', 'p-hive0.x']);
    expect(new Allocator(emptyAllocations()).diskNodesFor('v', hives, ['p-hive0', 'p-hive1'])).toBeNull();
  });

  it('gives each hive a node-id once and never renumbers it', () => {
    const a = new Allocator(emptyAllocations());
    expect(hives.map((h) => a.nodeIdFor(h))).toEqual([0, 1, 2]);
    const b = new Allocator({ ...a.state, drbdNodeIds: { 'p-hive1.x': 1, 'p-hive2.x': 2 } });
    // a rebuilt p-hive0 under a new name takes the free id, the others keep theirs
    expect(b.nodeIdFor('p-hive9.x')).toBe(0);
    expect(b.nodeIdFor('p-hive2.x')).toBe(2);
  });

  it('stores both in allocations.yml and reads them back', () => {
    const p = project(servicesFile(drbd('db', 'data')));
    // production: 3 servers, the last the repository, so two hives
    p.readAs('production');
    const stored = readAllocations(p.hiveDir, 'production');
    expect(stored.drbdDiskNodes.data).toEqual(['hive0.demo', 'hive1.demo']);
    expect(stored.drbdNodeIds).toEqual({ 'hive0.demo': 0, 'hive1.demo': 1 });
    // the single hive of private cannot hold a pair: node-ids only
    p.readAs('private');
    expect(readAllocations(p.hiveDir, 'private').drbdDiskNodes).toEqual({});
    writeFileSync(p.file('production'), 'drbd_disk_nodes:\n  data: [hive0.demo]\n');
    expect(() => readAllocations(p.hiveDir, 'production')).toThrow(InventoryError);
  });
});
