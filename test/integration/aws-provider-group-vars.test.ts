// The aws provider on inventories whose group_vars / host_vars Ansible reads (hive runs
// ansible-inventory for them), against the in-memory EC2 account of test/unit/aws-provider.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAwsProvider } from '../../src/providers/aws/index.js';
import { readSite } from '../../src/model/index.js';
import { FakeEc2, tagValue } from '../unit/fake-ec2.js';
import { awsSite, contextFor, type SiteOptions, type TestContext } from '../unit/fake-ec2-site.js';

let fake: FakeEc2;
let stageDir: string;

const provider = () =>
  createAwsProvider({ sleep: async () => {}, waitForSsh: async () => {}, pollIntervalMs: 1000, waitTimeoutMs: 60_000 });

async function build(o: SiteOptions = {}): Promise<TestContext> {
  const ctx = contextFor(awsSite(o), { stageDir });
  await provider().buildInfra(ctx);
  return ctx;
}

// Nothing here may reach the network: the EC2 API is the fake, SSH waits are injected.
let connects: ReturnType<typeof vi.spyOn>;

beforeEach(() => {
  connects = vi.spyOn(Socket.prototype, 'connect').mockImplementation(() => {
    throw new Error('a test opened a TCP connection');
  });
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  fake = new FakeEc2();
  stageDir = join(mkdtempSync(join(tmpdir(), 'hive-aws-')), '.hive', 'staging');
});
afterEach(() => {
  fake.restore();
  expect(connects).not.toHaveBeenCalled();
  connects.mockRestore();
});

describe('aws build-infra with the inventory read by Ansible', () => {
  it('builds the staging stage of the pdns example inventory as read by hive', async () => {
    const inventoryDir = fileURLToPath(new URL('../../../shared/examples/hive-builder-pdns', import.meta.url));
    const site = readSite({ inventoryDir, hiveDir: join(stageDir, '..'), stage: 'staging' });
    const ctx = contextFor(site, { stageDir });
    ctx.stage = site.stages.staging!;
    await provider().buildInfra(ctx);
    const s = fake.summary();
    expect(
      s.instances.map((x: any) => [tagValue(x.tags, 'hive:host'), x.type, x.ip, x.subnet, x.volumes.map((v: any) => `${v.device}:${v.size}`).join(' ')]).sort(),
    ).toEqual([
      ['s-hive0.pdns', 't3.xlarge', '192.168.0.5', 'hive-pdns-staging-subnet-a', '/dev/xvda:20 /dev/xvdb:20'],
      ['s-hive1.pdns', 't3.xlarge', '192.168.0.69', 'hive-pdns-staging-subnet-b', '/dev/xvda:20 /dev/xvdb:20'],
      ['s-hive2.pdns', 't3.xlarge', '192.168.0.133', 'hive-pdns-staging-subnet-c', '/dev/xvda:20 /dev/xvdb:20'],
      // the repository: no repository_disk_size, so the image's default root size
      ['s-hive3.pdns', 't3.large', '192.168.0.6', 'hive-pdns-staging-subnet-a', '/dev/xvda:8'],
    ]);
    expect(s.securityGroups.find((g: any) => g.name === 'hive-pdns-staging').rules).toEqual([
      '-1:-:192.168.0.0/24',
      'tcp:22-22:0.0.0.0/0',
      'tcp:443-443:0.0.0.0/0',
      'tcp:53-53:0.0.0.0/0',
      'tcp:80-80:0.0.0.0/0',
      'udp:53-53:0.0.0.0/0',
    ]);
    expect(readFileSync(join(stageDir, 'ssh_config'), 'utf8').match(/^Host .*/gm)).toEqual([
      'Host s-hive0.pdns',
      'Host s-hive1.pdns',
      'Host s-hive2.pdns',
      'Host s-hive3.pdns',
    ]);
  });

  it('reads hive_ec2_group_rules and hive_admin from the inventory group_vars files', async () => {
    const inventoryDir = mkdtempSync(join(tmpdir(), 'hive-aws-inv-'));
    mkdirSync(join(inventoryDir, 'group_vars', 'servers'), { recursive: true });
    writeFileSync(join(inventoryDir, 'group_vars', 'all.yml'), 'hive_admin: debian\nhive_timezone: Asia/Tokyo\n');
    writeFileSync(
      join(inventoryDir, 'group_vars', 'servers', 'firewall.yml'),
      'hive_ec2_group_rules:\n  - {proto: tcp, from_port: 22, to_port: 22, cidr_ip: 198.51.100.7/32}\n',
    );
    const ctx = await build({ inventoryDir });
    const sg = fake.summary().securityGroups.find((g: any) => g.name === 'hive-pdns-staging');
    expect(sg.rules).toEqual(['-1:-:192.168.0.0/24', 'tcp:22-22:198.51.100.7/32']);
    expect(readFileSync(join(ctx.stageDir, 'ssh_config'), 'utf8')).toMatch(/^ {2}User debian$/m);
  });
});
