// Inputs that look harmless to a YAML parser but must be refused before anything runs: a service
// without an image, hive files missing their plugin line, aws stages without a region, alias
// bombs, oversized files and text that is not UTF-8. Each problem names file, line and key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InventoryError, readSite } from '../../src/model/index.js';
import { MAX_ALIAS_VALUES, MAX_FILE_BYTES } from '../../src/inventory/load.js';
import { MINIMAL_HIVE, aliasBomb, cleanupProjects, inDir, makeProject, problems, read, servicesFile as services } from '../fixtures/inventory/helpers.js';

afterEach(cleanupProjects);

describe('services without an image', () => {
  it('are refused, naming the service', () => {
    expect(problems({ 'app.yml': services('  web:\n    replicas: 2\n  db:\n    image: postgres:16\n') })).toEqual([
      'inventory/app.yml:3: services.web.image: missing required key: a service needs an image to run, a reference to pull (e.g. image: nginx:1.27) or a build definition (image: {from: ..., roles: [...]})',
    ]);
  });

  it('are refused when standalone too; a standalone service with a built image stays valid', () => {
    expect(problems({ 'app.yml': services('  sys:\n    standalone: true\n') })).toEqual([
      expect.stringMatching(/^inventory\/app\.yml:3: services\.sys\.image: missing required key/),
    ]);
    expect(
      problems({
        'app.yml': services(
          '  sys:\n    standalone: true\n    image:\n      from: "almalinux:9"\n      roles: [hive-syslog]\n      standalone: true\n' +
            '  pulled:\n    image:\n      from: "almalinux:9"\n      pull_on: [production]\n      pull_from: "registry.example.com/pulled:1"\n',
        ),
      }),
    ).toEqual([]);
  });
});

describe('hive files without a plugin line', () => {
  it('are refused with the plugin they need instead of being ignored', () => {
    expect(
      problems({
        'app.yml': 'services:\n  web:\n    image: nginx\n',
        'nets.yml': '# extra networks\nnetworks:\n  backend: {}\n',
        'stages.yml': 'name: other\nstages:\n  private: {provider: local, cidr: 10.9.0.0/24}\n',
      }),
    ).toEqual([
      'inventory/app.yml:1: services: a services: key but no plugin: line, so this file would be ignored: add `plugin: hive_services` as its first line (or move the file out of the inventory folder)',
      'inventory/nets.yml:2: networks: a networks: key but no plugin: line, so this file would be ignored: add `plugin: hive_services` as its first line (or move the file out of the inventory folder)',
      'inventory/stages.yml:2: stages: a stages: key but no plugin: line, so this file would be ignored: add `plugin: hive_inventory` as its first line (or move the file out of the inventory folder)',
    ]);
  });

  it('still ignores Ansible YAML inventories, even with a group called services', () => {
    expect(problems({ 'hosts.yml': 'all:\n  hosts:\n    extra: {}\nservices:\n  hosts:\n    other: {}\n  vars:\n    x: 1\n' })).toEqual([]);
  });
});

describe('aws stages without a region', () => {
  it('are reported for every such stage by validation, not only by its build-infra', () => {
    const hive =
      'plugin: hive_inventory\nname: demo\nstages:\n' +
      '  private:\n    provider: local\n    cidr: 10.90.0.0/24\n' +
      '  staging:\n    provider: aws\n    cidr: 10.91.0.0/24\n    instance_type: t3.medium\n' +
      '  production:\n    provider: aws\n    cidr: 10.92.0.0/24\n    region: "  "\n';
    expect(read({ 'hive.yml': hive }).lines).toEqual([
      "inventory/hive.yml:7: stages.staging.region: missing required key: provider aws needs the stage's AWS region (e.g. region: ap-northeast-1)",
      "inventory/hive.yml:14: stages.production.region: missing required key: provider aws needs the stage's AWS region (e.g. region: ap-northeast-1)",
    ]);
    // also when only another stage is asked for
    expect(read({ 'hive.yml': hive }, { stage: 'private' }).lines).toHaveLength(2);
    expect(read({ 'hive.yml': hive.replace('region: "  "', 'region: eu-west-1').replace('instance_type', 'region: eu-west-1\n    instance_type') }).lines).toEqual([]);
  });
});

describe('YAML alias bombs', () => {
  it('are refused quickly without expanding them', () => {
    const text = aliasBomb();
    expect(text.length).toBeLessThan(1024);
    const started = Date.now();
    const lines = problems({ 'bomb.yml': text });
    // expanded, the file is 387 million strings: walking it would take minutes and gigabytes
    expect(Date.now() - started).toBeLessThan(10_000);
    // a5 is the first list whose aliases repeat more than the limit: named at its own line
    expect(lines).toEqual([
      `inventory/bomb.yml:7: a5: YAML aliases repeat more than ${MAX_ALIAS_VALUES} values: hive does not expand them (a "billion laughs" alias bomb?)`,
    ]);
  });

  it('refuses an alias that contains itself', () => {
    expect(problems({ 'loop.yml': services('  web:\n    image: nginx\n    command: &c [sh, *c]\n') })).toEqual([
      'inventory/loop.yml:5: services.web.command: a YAML alias refers to the value that contains it (endless data)',
    ]);
  });

  it('keeps ordinary anchors, aliases and merge keys working', () => {
    const { site, lines } = read({
      'hive.yml': MINIMAL_HIVE,
      'app.yml': services(
        '  web: &web\n    image: nginx\n    environment: &env {A: "1", B: "2"}\n' +
          '  web2:\n    <<: *web\n    labels: *env\n',
      ),
    });
    expect(lines).toEqual([]);
    const web2 = site!.services.find((s) => s.name === 'web2')!;
    expect(JSON.stringify(web2)).toContain('"B":"2"');
  });
});

describe('file size and encoding', () => {
  it('refuses a file over the size limit, saying the limit', () => {
    const big = services('  web:\n    image: nginx\n    labels:\n') + '      x: "' + 'a'.repeat(MAX_FILE_BYTES) + '"\n';
    expect(problems({ 'big.yml': big })).toEqual([
      `inventory/big.yml:1: (document): file is 4.0 MiB (${big.length} bytes): inventory files may be at most 4 MiB (${MAX_FILE_BYTES} bytes)`,
    ]);
  });

  it('refuses invalid UTF-8, naming the line and byte offset, instead of reading U+FFFD', () => {
    const { inventoryDir, root } = makeProject({ 'hive.yml': MINIMAL_HIVE });
    // a Latin-1 é (0xE9) in a file saved in the wrong encoding
    const head = Buffer.from(services('  web:\n    image: nginx\n    environment:\n      GREETING: "caf'));
    writeFileSync(join(inventoryDir, 'app.yml'), Buffer.concat([head, Buffer.from([0xe9]), Buffer.from('"\n')]));
    // a truncated sequence: the first two bytes of a three-byte character, then a quote
    writeFileSync(join(inventoryDir, 'cut.yml'), Buffer.concat([Buffer.from('plugin: hive_services\nservices: {x: {image: "'), Buffer.from([0xe2, 0x82]), Buffer.from('"}}\n')]));
    expect(linesOf(root)).toEqual([
      `inventory/app.yml:6: (document): not valid UTF-8 (byte offset ${head.length}, 0xe9): save the file as UTF-8`,
      'inventory/cut.yml:2: (document): not valid UTF-8 (byte offset 45, 0xe2): save the file as UTF-8',
    ]);
  });
});

/** The problem lines of the project at `root` (read from there, as hive does). */
function linesOf(root: string): string[] {
  return inDir(root, () => {
    try {
      readSite({ inventoryDir: 'inventory', hiveDir: '.hive' });
      return [];
    } catch (e) {
      if (!(e instanceof InventoryError)) throw e;
      return e.message.split('\n');
    }
  });
}
