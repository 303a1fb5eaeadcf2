// The aws provider against an in-memory EC2 account (aws-sdk-client-mock): what a user would
// see in the EC2 console after build-infra, -H and -D, and what each AWS failure tells them.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CredentialsProviderError } from '@smithy/core/config';
import { createAwsProvider, planInfra, type AwsDeps } from '../../src/providers/aws/index.js';
import awsDefault from '../../src/providers/aws/index.js';
import { ProviderError } from '../../src/providers/errors.js';
import { FakeEc2, awsError, tagValue } from './fake-ec2.js';
import { awsSite, contextFor, type SiteOptions, type TestContext } from './fake-ec2-site.js';

let fake: FakeEc2;
/** One stage folder (and so one SSH key) per test, like one project on one machine. */
let stageDir: string;
let sshWaits: string[];
let sleeps: number;

const deps = (): Partial<AwsDeps> => ({
  sleep: async () => {
    sleeps += 1;
  },
  waitForSsh: async (address, port) => {
    sshWaits.push(`${address}:${port}`);
  },
  pollIntervalMs: 1000,
  waitTimeoutMs: 60_000,
});

const provider = () => createAwsProvider(deps());

async function build(o: SiteOptions = {}, ctxOpts: Parameters<typeof contextFor>[1] = {}): Promise<TestContext> {
  const ctx = contextFor(awsSite(o), { stageDir, ...ctxOpts });
  await provider().buildInfra(ctx);
  return ctx;
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
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
  sshWaits = [];
  sleeps = 0;
});
afterEach(() => {
  fake.restore();
  expect(connects).not.toHaveBeenCalled();
  connects.mockRestore();
});

describe('aws build-infra, first run', () => {
  it('creates exactly the stage resources with the expected parameters and tags', async () => {
    const ctx = await build();
    const names = fake.mutations().map((c) => c.command);
    expect(names).toEqual([
      'CreateVpc',
      'ModifyVpcAttribute',
      'CreateInternetGateway',
      'AttachInternetGateway',
      'CreateSubnet',
      'CreateSubnet',
      'CreateSubnet',
      'CreateRouteTable',
      'CreateRoute',
      'AssociateRouteTable',
      'AssociateRouteTable',
      'AssociateRouteTable',
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
      'ImportKeyPair',
      'RunInstances',
      'RunInstances',
      'RunInstances',
      'RunInstances',
      'AllocateAddress',
      'AssociateAddress',
      'AllocateAddress',
      'AssociateAddress',
      'AllocateAddress',
      'AssociateAddress',
      'AllocateAddress',
      'AssociateAddress',
    ]);

    const s = fake.summary();
    const tags = (name: string, extra: Record<string, string> = {}) =>
      expect.arrayContaining(
        Object.entries({ 'hive:site': 'pdns', 'hive:stage': 'staging', Name: name, ...extra }).map(([Key, Value]) => ({ Key, Value })),
      );
    expect(s.vpcs).toEqual([{ tags: tags('hive-pdns-staging'), cidr: '192.168.0.0/24', dnsHostnames: true }]);
    expect(s.igws).toEqual([{ tags: tags('hive-pdns-staging-igw'), attached: ['hive-pdns-staging'] }]);
    expect(s.subnets.map((x: any) => [tagValue(x.tags, 'hive:subnet'), x.cidr, x.az])).toEqual([
      ['subnet-a', '192.168.0.0/26', 'ap-northeast-1d'],
      ['subnet-b', '192.168.0.64/26', 'ap-northeast-1b'],
      ['subnet-c', '192.168.0.128/26', 'ap-northeast-1c'],
    ]);
    const rt = s.routeTables.find((r: any) => r.tags.length);
    expect(rt).toEqual({
      tags: tags('hive-pdns-staging-public'),
      vpc: 'hive-pdns-staging',
      routes: ['0.0.0.0/0→hive-pdns-staging-igw', '192.168.0.0/24→local'],
      subnets: ['hive-pdns-staging-subnet-a', 'hive-pdns-staging-subnet-b', 'hive-pdns-staging-subnet-c'],
    });
    const sg = s.securityGroups.find((g: any) => g.name === 'hive-pdns-staging');
    // Internal traffic from the VPC, ssh and the published ports < 10000; 61001 and the
    // production-only 443 stay closed.
    expect(sg.rules).toEqual(['-1:-:192.168.0.0/24', 'tcp:22-22:0.0.0.0/0', 'tcp:53-53:0.0.0.0/0', 'tcp:8081-8081:0.0.0.0/0', 'udp:53-53:0.0.0.0/0']);
    expect(sg.tags).toEqual(tags('hive-pdns-staging'));

    const pub = readFileSync(join(ctx.stageDir, 'id_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    expect(s.keyPairs).toEqual([{ tags: tags('hive-pdns-staging'), name: 'hive-pdns-staging', key: `${pub} hive-pdns-staging` }]);

    const debian = fake.images.find((i) => i.Name === 'debian-12-amd64-20250610-2137')!.ImageId;
    expect(s.instances).toHaveLength(4);
    const byHost = Object.fromEntries(s.instances.map((x: any) => [tagValue(x.tags, 'hive:host'), x]));
    expect(byHost['s-hive0.pdns']).toMatchObject({
      state: 'running',
      type: 't3.xlarge',
      image: debian,
      ip: '192.168.0.5',
      subnet: 'hive-pdns-staging-subnet-a',
      volumes: [
        { device: '/dev/xvda', size: 20, encrypted: false, type: 'gp3' },
        { device: '/dev/xvdb', size: 20, encrypted: false, type: 'gp3' },
      ],
    });
    expect(byHost['s-hive0.pdns'].tags).toEqual(tags('s-hive0.pdns', { 'hive:host': 's-hive0.pdns' }));
    expect(byHost['s-hive0.pdns'].volumes[1].tags).toEqual(tags('s-hive0.pdns', { 'hive:host': 's-hive0.pdns' }));
    expect(byHost['s-hive1.pdns']).toMatchObject({ ip: '192.168.0.69', subnet: 'hive-pdns-staging-subnet-b' });
    expect(byHost['s-hive2.pdns']).toMatchObject({ ip: '192.168.0.133', subnet: 'hive-pdns-staging-subnet-c' });
    // The repository: its own instance type and disk, no DRBD disk.
    expect(byHost['s-hive3.pdns']).toMatchObject({
      type: 't3.large',
      ip: '192.168.0.6',
      subnet: 'hive-pdns-staging-subnet-a',
      volumes: [{ device: '/dev/xvda', size: 40, encrypted: false, type: 'gp3' }],
    });

    const run = fake.calls.find((c) => c.command === 'RunInstances')!.input;
    expect(run).toMatchObject({
      KeyName: 'hive-pdns-staging',
      MetadataOptions: { HttpTokens: 'required' },
      NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: false, PrivateIpAddress: '192.168.0.5' }],
    });
    expect(run.NetworkInterfaces[0].Groups).toEqual([fake.securityGroups.find((g) => g.GroupName === 'hive-pdns-staging')!.GroupId]);

    expect(s.addresses).toHaveLength(4);
    for (const a of s.addresses) expect(a.instance).toBe(tagValue(a.tags, 'hive:host'));

    // ssh_config leads to the Elastic IPs, as the admin of the Debian image.
    const eip = (host: string) => fake.addresses.find((a) => tagValue(a.Tags, 'hive:host') === host)!.PublicIp;
    const config = readFileSync(join(ctx.stageDir, 'ssh_config'), 'utf8');
    expect(config).toContain(
      [
        'Host s-hive0.pdns',
        `  HostName ${eip('s-hive0.pdns')}`,
        '  Port 22',
        '  User admin',
        `  IdentityFile ${join(ctx.stageDir, 'id_ed25519')}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${join(ctx.stageDir, 'known_hosts')}`,
        '  StrictHostKeyChecking accept-new',
      ].join('\n'),
    );
    expect(config.match(/^Host /gm)).toHaveLength(4);
    expect(sshWaits.sort()).toEqual(['s-hive0.pdns', 's-hive1.pdns', 's-hive2.pdns', 's-hive3.pdns'].map((h) => `${eip(h)}:22`).sort());

    // Events: a task per step, every created resource reported as changed.
    const results = ctx.recorded.filter((e) => e.event === 'host_result');
    expect(results.filter((e) => e.event === 'host_result' && /^created instance/.test(e.msg ?? '')).map((e) => (e as any).host).sort()).toEqual([
      's-hive0.pdns',
      's-hive1.pdns',
      's-hive2.pdns',
      's-hive3.pdns',
    ]);
    expect(results.find((e) => (e as any).msg?.startsWith('created vpc hive-pdns-staging'))).toMatchObject({ status: 'changed', host: 's-mother.pdns' });
    expect(ctx.recorded.filter((e) => e.event === 'task_start').map((e) => (e as any).task)).toContain('aws : security group');
  });

  it('is the default export', () => {
    expect(typeof awsDefault.buildInfra).toBe('function');
  });

  it('encrypts the disks with the KMS key when asked, and uses image_name instead of the Debian lookup', async () => {
    const image = fake.images.find((i) => i.Name === 'debian-12-amd64-20240102-1614')!.ImageId;
    await build({
      hostVars: {
        hive_disk_encrypted: true,
        hive_mirrored_disk_encrypted: true,
        hive_kms_key_id: 'dedfc30c-0f77-4c97-8afc-7772f39eb6d5',
        hive_vm_image_name: image,
      },
    });
    expect(fake.calls.some((c) => c.command === 'DescribeImages' && c.input.Owners)).toBe(false);
    const s = fake.summary();
    for (const x of s.instances) {
      expect(x.image).toBe(image);
      for (const v of x.volumes) expect(v).toMatchObject({ encrypted: true, kmsKeyId: 'dedfc30c-0f77-4c97-8afc-7772f39eb6d5' });
    }
  });

  it('picks the arm64 Debian image for arm instance types', async () => {
    await build({ instanceType: 't4g.large', repositoryInstanceType: 't4g.large' });
    const arm = fake.images.find((i) => i.Name === 'debian-12-arm64-20250610-2137')!.ImageId;
    expect(new Set(fake.summary().instances.map((x: any) => x.image))).toEqual(new Set([arm]));
  });

  it('opens exactly hive_ec2_group_rules to the world when the inventory gives them', async () => {
    await build({
      groupVars: {
        hive_ec2_group_rules: [
          { proto: 'tcp', from_port: 22, to_port: 22, cidr_ip: '198.51.100.0/24' },
          { proto: 'tcp', ports: ['443', '8000-8010'], cidr_ip: ['0.0.0.0/0'] },
          { proto: 'all', group_name: 'default' },
        ],
      },
    });
    const sg = fake.summary().securityGroups.find((g: any) => g.name === 'hive-pdns-staging');
    expect(sg.rules).toEqual([
      '-1:-:192.168.0.0/24',
      '-1:-:self',
      'tcp:22-22:198.51.100.0/24',
      'tcp:443-443:0.0.0.0/0',
      'tcp:8000-8010:0.0.0.0/0',
    ]);
  });

  it('rejects a malformed hive_ec2_group_rules before calling AWS (exit 2)', async () => {
    const e = await failure(build({ groupVars: { hive_ec2_group_rules: [{ proto: 'tcp', from_port: 22 }] } }));
    expect(e.message).toBe('hive_ec2_group_rules[0]: needs cidr_ip or group_name');
    expect(e.exitCode).toBe(2);
    expect(fake.calls).toEqual([]);
  });
});

describe('aws build-infra, idempotence', () => {
  it('second run creates nothing and reports every resource as ok', async () => {
    const first = await build();
    const before = fake.summary();
    const config = readFileSync(join(first.stageDir, 'ssh_config'), 'utf8');
    fake.resetCalls();
    const ctx = contextFor(awsSite(), { stageDir: first.stageDir });
    await provider().buildInfra(ctx);
    expect(fake.mutations()).toEqual([]);
    expect(fake.summary()).toEqual(before);
    expect(readFileSync(join(ctx.stageDir, 'ssh_config'), 'utf8')).toBe(config);
    const statuses = ctx.recorded.filter((e) => e.event === 'host_result').map((e) => (e as any).status);
    expect(statuses.length).toBeGreaterThan(10);
    expect(new Set(statuses)).toEqual(new Set(['ok']));
    const plan = await planInfra(ctx, deps());
    expect(new Set(plan.map((p) => p.action))).toEqual(new Set(['keep']));
  });

  it('recreates an instance terminated by hand, moves its address to it and forgets the old host key', async () => {
    await build();
    const gone = fake.instances.find((i) => tagValue(i.Tags, 'hive:host') === 's-hive1.pdns')!;
    const eip = (host: string) => fake.addresses.find((a) => tagValue(a.Tags, 'hive:host') === host)!.PublicIp;
    writeFileSync(join(stageDir, 'known_hosts'), `${eip('s-hive0.pdns')} ssh-ed25519 AAAAkeep\n${eip('s-hive1.pdns')} ssh-ed25519 AAAAold\n`);
    const { EC2Client, TerminateInstancesCommand, DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
    const ec2 = new EC2Client({ region: 'ap-northeast-1' });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone.InstanceId] }));
    await ec2.send(new DescribeInstancesCommand({ InstanceIds: [gone.InstanceId] }));
    fake.resetCalls();
    await build();
    expect(fake.mutations().map((c) => c.command)).toEqual(['RunInstances', 'AssociateAddress']);
    const fresh = fake.instances.find((i) => tagValue(i.Tags, 'hive:host') === 's-hive1.pdns' && i.State.Name === 'running')!;
    expect(fresh.InstanceId).not.toBe(gone.InstanceId);
    expect(fresh.PublicIpAddress).toBe(eip('s-hive1.pdns'));
    expect(readFileSync(join(stageDir, 'known_hosts'), 'utf8')).toBe(`${eip('s-hive0.pdns')} ssh-ed25519 AAAAkeep\n`);
  });

  it('closes security group rules that left the inventory and opens new ones', async () => {
    const first = await build();
    fake.resetCalls();
    await provider().buildInfra(
      contextFor(awsSite({ ports: [{ published_port: 8443, target_port: 443, protocol: 'tcp' }] }), { stageDir: first.stageDir }),
    );
    expect(fake.mutations().map((c) => c.command)).toEqual(['AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress']);
    const sg = fake.summary().securityGroups.find((g: any) => g.name === 'hive-pdns-staging');
    expect(sg.rules).toEqual(['-1:-:192.168.0.0/24', 'tcp:22-22:0.0.0.0/0', 'tcp:8443-8443:0.0.0.0/0']);
  });

  // Every mutating call of a first build is a point where a run can die (quota, network,
  // Ctrl-C). Before the call took effect, or after it took effect but the answer was lost:
  // either way the next run must finish the job with no duplicates.
  it('completes a run interrupted at any step, with the same end state as an uninterrupted run', async () => {
    const clean = await build();
    const expected = fake.summary();
    const steps = fake.mutations().length;
    fake.restore();
    const stageDir = clean.stageDir;

    for (const afterEffect of [false, true]) {
      for (let n = 0; n < steps; n++) {
        fake = new FakeEc2();
        fake.failAfterMutations(n, { afterEffect });
        const e = await failure(provider().buildInfra(contextFor(awsSite(), { stageDir })));
        expect(e.exitCode, `step ${n}`).toBe(1);
        expect(e.message, `step ${n}`).toMatch(/^cannot reach the AWS EC2 endpoint for region ap-northeast-1 while /);
        expect(e.message).not.toContain('\n');
        fake.resetCalls();
        await provider().buildInfra(contextFor(awsSite(), { stageDir }));
        expect(normalize(fake.summary()), `interrupted at step ${n} (${afterEffect ? 'after' : 'before'} effect)`).toEqual(normalize(expected));
        fake.restore();
      }
    }
    fake = new FakeEc2();
  });
});

/** Image ids and key comments are the same across fakes; addresses differ by allocation order. */
function normalize(summary: any) {
  return JSON.parse(JSON.stringify(summary).replace(/ami-[0-9a-f]+/g, 'ami'));
}

describe('aws -H (halt)', () => {
  it('stops the instances and nothing else; the next build starts them again with the same addresses', async () => {
    const ctx = await build();
    const addresses = fake.summary().addresses;
    fake.resetCalls();
    await provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, halt: true }));
    expect(fake.mutations().map((c) => c.command)).toEqual(['StopInstances']);
    expect(fake.mutations()[0].input.InstanceIds.sort()).toEqual(fake.instances.map((i) => i.InstanceId).sort());
    expect(fake.instances.map((i) => i.State.Name)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
    expect(fake.summary().addresses).toEqual(addresses);
    expect(existsSync(join(ctx.stageDir, 'ssh_config'))).toBe(true);

    fake.resetCalls();
    await provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, halt: true }));
    expect(fake.mutations()).toEqual([]);

    fake.resetCalls();
    await provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir }));
    expect(fake.mutations().map((c) => c.command)).toEqual(['StartInstances']);
    expect(fake.instances.map((i) => i.State.Name)).toEqual(['running', 'running', 'running', 'running']);
    expect(fake.summary().addresses).toEqual(addresses);
  });
});

/** Resources of other sites and stages, and hand-made ones, that -D must not touch. */
async function seedForeign() {
  await provider().buildInfra(contextFor(awsSite({ site: 'other' })));
  await provider().buildInfra(
    contextFor(
      awsSite({
        stage: 'production',
        subnets: [{ cidr: '192.168.0.0/24', name: 'subnet-a', availableZone: 'ap-northeast-1a' }],
      }),
    ),
  );
  // Hand-made, untagged: a VPC with an instance and an Elastic IP, and a key pair.
  const { EC2Client, CreateVpcCommand, CreateSubnetCommand, CreateSecurityGroupCommand, RunInstancesCommand, AllocateAddressCommand, ImportKeyPairCommand } =
    await import('@aws-sdk/client-ec2');
  const ec2 = new EC2Client({ region: 'ap-northeast-1' });
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'ap-northeast-1a' }));
  const sg = await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc.Vpc!.VpcId, GroupName: 'hive-pdns-staging', Description: 'same name, not ours' }));
  await ec2.send(new ImportKeyPairCommand({ KeyName: 'mine', PublicKeyMaterial: new TextEncoder().encode('ssh-ed25519 AAAAmine me') }));
  await ec2.send(
    new RunInstancesCommand({
      ImageId: fake.images[0].ImageId,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      KeyName: 'mine',
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet.Subnet!.SubnetId, PrivateIpAddress: '10.0.1.10', Groups: [sg.GroupId!] }],
      // Named like a hive host, but without the site tags.
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 's-hive0.pdns' }, { Key: 'hive:host', Value: 's-hive0.pdns' }] }],
    }),
  );
  await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
}

const foreignIds = (): string[] => {
  const ours = new Set(fake.taggedIds('pdns', 'staging'));
  const all = [
    ...fake.vpcs.map((x) => x.VpcId),
    ...fake.igws.map((x) => x.InternetGatewayId),
    ...fake.subnets.map((x) => x.SubnetId),
    ...fake.routeTables.map((x) => x.RouteTableId),
    ...fake.securityGroups.map((x) => x.GroupId),
    ...fake.keyPairs.map((x) => x.KeyPairId),
    ...fake.instances.filter((x) => x.State.Name !== 'terminated').map((x) => x.InstanceId),
    ...fake.addresses.map((x) => x.AllocationId),
  ];
  return all.filter((id) => !ours.has(id));
};

describe('aws -D (destroy)', () => {
  it('deletes the stage resources in a valid order and touches nothing without the site tags', async () => {
    await seedForeign();
    const ctx = await build();
    // The default route table and security group of the stage VPC are AWS's, untagged: they go with the VPC.
    const stageVpc = fake.vpcs.find((v) => tagValue(v.Tags, 'Name') === 'hive-pdns-staging' && tagValue(v.Tags, 'hive:site') === 'pdns' && tagValue(v.Tags, 'hive:stage') === 'staging')!.VpcId;
    const vpcDefaults = [
      ...fake.routeTables.filter((r) => r.VpcId === stageVpc && !r.Tags.length).map((r) => r.RouteTableId),
      ...fake.securityGroups.filter((g) => g.VpcId === stageVpc && !g.Tags.length).map((g) => g.GroupId),
    ];
    const foreignBefore = foreignIds().filter((id) => !vpcDefaults.includes(id));
    const foreignState = JSON.stringify(
      fake.instances.filter((i) => foreignBefore.includes(i.InstanceId)).map((i) => [i.InstanceId, i.State.Name]),
    );
    const ours = fake.taggedIds('pdns', 'staging');
    expect(ours.length).toBe(1 + 1 + 3 + 1 + 1 + 1 + 4 + 4);
    writeFileSync(join(ctx.stageDir, 'known_hosts'), '203.0.113.9 ssh-ed25519 AAAAold\n');
    fake.resetCalls();

    await provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, destroy: true }));

    const order = fake.mutations().map((c) => c.command);
    expect(order).toEqual([
      'TerminateInstances',
      'ReleaseAddress',
      'ReleaseAddress',
      'ReleaseAddress',
      'ReleaseAddress',
      'DeleteKeyPair',
      'DisassociateRouteTable',
      'DisassociateRouteTable',
      'DisassociateRouteTable',
      'DeleteRouteTable',
      'DeleteSubnet',
      'DeleteSubnet',
      'DeleteSubnet',
      'DetachInternetGateway',
      'DeleteInternetGateway',
      'DeleteSecurityGroup',
      'DeleteVpc',
    ]);
    // Termination was awaited before the network went away.
    const describeAfterTerminate = fake.calls.findIndex((c, i) => i > fake.calls.findIndex((x) => x.command === 'TerminateInstances') && c.command === 'DescribeInstances');
    expect(describeAfterTerminate).toBeLessThan(fake.calls.findIndex((c) => c.command === 'ReleaseAddress'));

    // Every id a mutating call named was ours.
    const touched = fake.mutations().flatMap((c) => JSON.stringify(c.input).match(/\b(vpc|igw|subnet|rtb|sg|key|i|eipalloc)-[0-9a-f]{17}\b/g) ?? []);
    for (const id of touched) expect(ours.concat(vpcDefaults), id).toContain(id);
    expect(fake.taggedIds('pdns', 'staging')).toEqual([]);
    expect(foreignIds().sort()).toEqual(foreignBefore.sort());
    expect(JSON.stringify(fake.instances.filter((i) => foreignBefore.includes(i.InstanceId)).map((i) => [i.InstanceId, i.State.Name]))).toBe(foreignState);
    expect(existsSync(join(ctx.stageDir, 'ssh_config'))).toBe(false);
    expect(existsSync(join(ctx.stageDir, 'known_hosts'))).toBe(false);

    // Nothing left: a second -D does nothing.
    fake.resetCalls();
    await provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, destroy: true }));
    expect(fake.mutations()).toEqual([]);
  });

  it('disassociates addresses that are still associated before releasing them', async () => {
    const ctx = await build();
    // Someone attached a stage address to a hand-made instance, which -D does not terminate.
    const { EC2Client, RunInstancesCommand, AssociateAddressCommand, DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
    const ec2 = new EC2Client({ region: 'ap-northeast-1' });
    const subnet = fake.subnets[0];
    const sg = fake.securityGroups.find((g) => g.GroupName === 'default' && g.VpcId === subnet.VpcId)!;
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: fake.images[1].ImageId,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet.SubnetId, PrivateIpAddress: '192.168.0.50', Groups: [sg.GroupId] }],
      }),
    );
    await ec2.send(new DescribeInstancesCommand({ InstanceIds: [r.Instances![0].InstanceId!] }));
    await ec2.send(new AssociateAddressCommand({ AllocationId: fake.addresses[0].AllocationId, InstanceId: r.Instances![0].InstanceId, AllowReassociation: true }));
    fake.resetCalls();
    // Subnet deletion then fails for good: reported, with what to do.
    const e = await failure(provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, destroy: true })));
    const order = fake.mutations().map((c) => c.command);
    expect(order.indexOf('DisassociateAddress')).toBeGreaterThan(-1);
    expect(order.indexOf('DisassociateAddress')).toBeLessThan(order.indexOf('ReleaseAddress'));
    expect(e.message).toMatch(/^cannot finish deleting subnet subnet-\w+ in ap-northeast-1: .*something outside hive still uses it/);
    expect(e.exitCode).toBe(1);
    expect(fake.instances.find((i) => i.InstanceId === r.Instances![0].InstanceId)!.State.Name).toBe('running');
  });

  it('completes a destroy interrupted at any step', async () => {
    await build();
    fake.resetCalls();
    await provider().buildInfra(contextFor(awsSite(), { stageDir, destroy: true }));
    const steps = fake.mutations().length;
    expect(steps).toBe(17);
    for (let n = 0; n < steps; n++) {
      fake.restore();
      fake = new FakeEc2();
      await build();
      fake.failAfterMutations(n);
      await failure(provider().buildInfra(contextFor(awsSite(), { stageDir, destroy: true })));
      expect(fake.taggedIds('pdns', 'staging').length, `step ${n}`).toBeGreaterThan(0);
      await provider().buildInfra(contextFor(awsSite(), { stageDir, destroy: true }));
      expect(fake.taggedIds('pdns', 'staging'), `interrupted at step ${n}`).toEqual([]);
      expect(fake.vpcs).toEqual([]);
    }
  });

  it('keeps a user-owned hive_published_ip: associated on build, never released', async () => {
    const { EC2Client, AllocateAddressCommand } = await import('@aws-sdk/client-ec2');
    const own = await new EC2Client({ region: 'ap-northeast-1' }).send(new AllocateAddressCommand({ Domain: 'vpc' }));
    const site = awsSite();
    site.stages.staging!.hosts[3].vars.hive_published_ip = own.PublicIp;
    const ctx = contextFor(site, { stageDir });
    await provider().buildInfra(ctx);
    const repo = fake.instances.find((i) => tagValue(i.Tags, 'hive:host') === 's-hive3.pdns')!;
    expect(fake.addresses.find((a) => a.AllocationId === own.AllocationId)!.InstanceId).toBe(repo.InstanceId);
    expect(fake.addresses).toHaveLength(4);
    expect(readFileSync(join(stageDir, 'ssh_config'), 'utf8')).toContain(`Host s-hive3.pdns\n  HostName ${own.PublicIp}\n`);
    await provider().buildInfra(contextFor(site, { stageDir, destroy: true }));
    expect(fake.addresses.map((a) => a.AllocationId)).toEqual([own.AllocationId]);
  });

  it('retries deletions that AWS refuses while terminated instances release their interfaces', async () => {
    const ctx = await build();
    fake.failOn('DeleteSubnet', () => awsError('DependencyViolation', 'The subnet has dependencies and cannot be deleted.'), { times: 2 });
    fake.failOn('DeleteSecurityGroup', () => awsError('DependencyViolation', 'resource has a dependent object'), { times: 1 });
    await provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, destroy: true }));
    expect(fake.taggedIds('pdns', 'staging')).toEqual([]);
    expect(sleeps).toBeGreaterThanOrEqual(3);
  });
});

describe('aws --dry-run and plan', () => {
  const MUTATING = (c: { command: string }) => !c.command.startsWith('Describe');

  it('on an empty account: lists what would be created, calls no mutating API, writes nothing', async () => {
    const ctx = contextFor(awsSite(), { dryRun: true });
    await provider().buildInfra(ctx);
    expect(fake.calls.filter(MUTATING)).toEqual([]);
    expect(existsSync(ctx.stageDir)).toBe(false);
    const plan = await planInfra(contextFor(awsSite()), deps());
    expect(fake.calls.filter(MUTATING)).toEqual([]);
    const creates = plan.filter((p) => p.action === 'create').map((p) => `${p.kind} ${p.name}`);
    expect(creates).toEqual([
      'vpc hive-pdns-staging',
      'internet-gateway hive-pdns-staging-igw',
      'subnet hive-pdns-staging-subnet-a',
      'subnet hive-pdns-staging-subnet-b',
      'subnet hive-pdns-staging-subnet-c',
      'route-table hive-pdns-staging-public',
      'security-group hive-pdns-staging',
      'security-group-rule all from 192.168.0.0/24',
      'security-group-rule tcp 22 from 0.0.0.0/0',
      'security-group-rule udp 53 from 0.0.0.0/0',
      'security-group-rule tcp 53 from 0.0.0.0/0',
      'security-group-rule tcp 8081 from 0.0.0.0/0',
      'key-pair hive-pdns-staging',
      'instance s-hive0.pdns',
      'instance s-hive1.pdns',
      'instance s-hive2.pdns',
      'instance s-hive3.pdns',
      'elastic-ip s-hive0.pdns',
      'elastic-ip s-hive1.pdns',
      'elastic-ip s-hive2.pdns',
      'elastic-ip s-hive3.pdns',
    ]);
    expect(plan.filter((p) => p.action === 'change').map((p) => p.kind)).toEqual([
      'igw-attachment',
      'route',
      'route-association',
      'route-association',
      'route-association',
      'eip-association',
      'eip-association',
      'eip-association',
      'eip-association',
    ]);
    const msgs = ctx.recorded.filter((e) => e.event === 'host_result').map((e) => (e as any).msg);
    expect(msgs).toContain('would create vpc hive-pdns-staging');
  });

  it('after an interrupted run: plans only what is missing', async () => {
    fake.failAfterMutations(17); // VPC .. key pair and the first instance exist
    const ctx = contextFor(awsSite());
    await failure(provider().buildInfra(ctx));
    fake.resetCalls();
    const plan = await planInfra(contextFor(awsSite(), { stageDir: ctx.stageDir }), deps());
    expect(fake.calls.filter(MUTATING)).toEqual([]);
    expect(plan.filter((p) => p.action !== 'keep').map((p) => `${p.action} ${p.kind} ${p.name}`)).toEqual([
      'create instance s-hive2.pdns',
      'create instance s-hive3.pdns',
      'create elastic-ip s-hive0.pdns',
      'change eip-association s-hive0.pdns (new address)',
      'create elastic-ip s-hive1.pdns',
      'change eip-association s-hive1.pdns (new address)',
      'create elastic-ip s-hive2.pdns',
      'change eip-association s-hive2.pdns (new address)',
      'create elastic-ip s-hive3.pdns',
      'change eip-association s-hive3.pdns (new address)',
    ]);
  });

  it('-H and -D plans: stop / delete, from describe calls only', async () => {
    const ctx = await build();
    fake.resetCalls();
    const halt = await planInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, halt: true }), deps());
    expect(halt.map((p) => `${p.action} ${p.kind} ${p.name}`).sort()).toEqual(
      ['s-hive0.pdns', 's-hive1.pdns', 's-hive2.pdns', 's-hive3.pdns'].map((h) => `stop instance ${h}`),
    );
    const destroyCtx = contextFor(awsSite(), { stageDir: ctx.stageDir, destroy: true, dryRun: true });
    await provider().buildInfra(destroyCtx);
    const destroy = await planInfra(contextFor(awsSite(), { stageDir: ctx.stageDir, destroy: true }), deps());
    expect(fake.calls.filter(MUTATING)).toEqual([]);
    expect(destroy.every((p) => p.action === 'delete')).toBe(true);
    expect(destroy.map((p) => p.kind)).toEqual([
      'instance', 'instance', 'instance', 'instance',
      'elastic-ip', 'elastic-ip', 'elastic-ip', 'elastic-ip',
      'key-pair', 'route-table', 'subnet', 'subnet', 'subnet', 'internet-gateway', 'security-group', 'vpc',
    ]);
    expect(existsSync(join(ctx.stageDir, 'ssh_config'))).toBe(true);
    expect(fake.taggedIds('pdns', 'staging')).toHaveLength(16);
  });
});

describe('aws errors: one line naming the resource and what to do, exit 1', () => {
  const expectLine = (e: ProviderError, re: RegExp) => {
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(1);
  };

  it('no credentials', async () => {
    fake.failOn('DescribeAvailabilityZones', () => new CredentialsProviderError('Could not load credentials from any providers'));
    const e = await failure(build());
    expectLine(e, /^no AWS credentials while listing the availability zones: set AWS_PROFILE or AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY/);
    expect(fake.mutations()).toEqual([]);
  });

  it('rejected credentials and missing permissions', async () => {
    fake.failOn('DescribeAvailabilityZones', () => awsError('AuthFailure', 'AWS was not able to validate the provided access credentials'));
    expectLine(await failure(build()), /^AWS rejected the credentials while listing the availability zones in ap-northeast-1 \(AuthFailure\): check AWS_PROFILE/);
    fake.failOn('CreateVpc', () => awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    expectLine(await failure(build()), /^not authorized while creating VPC hive-pdns-staging \(192\.168\.0\.0\/24\) in ap-northeast-1 \(UnauthorizedOperation\)/);
  });

  it('instance quota, naming the host', async () => {
    fake.failOn('RunInstances', () => awsError('InstanceLimitExceeded', 'You have requested more instances (21) than your current instance limit of 20 allows'), {
      when: (i) => i.NetworkInterfaces[0].PrivateIpAddress === '192.168.0.133',
    });
    const e = await failure(build());
    expectLine(e, /^AWS quota reached while launching instance s-hive2\.pdns \(t3\.xlarge, 192\.168\.0\.133\) in ap-northeast-1 \(InstanceLimitExceeded\): .*Service Quotas.*reused by the next run$/);
    // What was made before stays, tagged, and the next run finishes.
    expect(fake.summary().instances).toHaveLength(2);
    await provider().buildInfra(contextFor(awsSite(), { stageDir }));
    expect(fake.summary().instances).toHaveLength(4);
  });

  it('address quota and vCPU quota', async () => {
    fake.failOn('AllocateAddress', () => awsError('AddressLimitExceeded', 'The maximum number of addresses has been reached.'));
    expectLine(await failure(build()), /^AWS quota reached while allocating an Elastic IP for host s-hive0\.pdns in ap-northeast-1 \(AddressLimitExceeded\)/);
    fake.restore();
    fake = new FakeEc2();
    fake.failOn('CreateVpc', () => awsError('VpcLimitExceeded', 'The maximum number of VPCs has been reached.'));
    expectLine(await failure(build()), /^AWS quota reached while creating VPC hive-pdns-staging \(192\.168\.0\.0\/24\) in ap-northeast-1 \(VpcLimitExceeded\)/);
  });

  it('unknown instance type: found before anything is created', async () => {
    const e = await failure(build({ instanceType: 't3.huge' }));
    expectLine(e, /^instance type t3\.huge is not offered in ap-northeast-1 \(InvalidInstanceType\) while checking instance type t3\.huge of host s-hive0\.pdns: fix instance_type/);
    expect(fake.mutations()).toEqual([]);
  });

  it('instance type refused at launch (InvalidParameterValue)', async () => {
    fake.failOn('RunInstances', () => awsError('InvalidParameterValue', "Invalid value 't3.xlarge' for InstanceType."));
    expectLine(await failure(build()), /^instance type t3\.xlarge is not offered in ap-northeast-1d \(InvalidParameterValue\) while launching instance s-hive0\.pdns/);
  });

  it('availability zone not available: unknown zone, impaired zone, type not offered in the zone, or refused at creation', async () => {
    let e = await failure(build({ subnets: [{ cidr: '192.168.0.0/24', name: 'subnet-z', availableZone: 'ap-northeast-1z' }] }));
    expectLine(e, /^availability zone ap-northeast-1z of subnet subnet-z is not available in ap-northeast-1 \(available: ap-northeast-1a, ap-northeast-1b, ap-northeast-1c, ap-northeast-1d\): fix available_zone/);
    expect(fake.mutations()).toEqual([]);

    fake.zones['ap-northeast-1b'] = 'impaired';
    e = await failure(build());
    expectLine(e, /^availability zone ap-northeast-1b of subnet subnet-b is not available/);
    fake.zones['ap-northeast-1b'] = 'available';

    fake.notOffered.add('t3.xlarge@ap-northeast-1c');
    e = await failure(build());
    expectLine(e, /^instance type t3\.xlarge of host s-hive2\.pdns is not offered in zone ap-northeast-1c: choose another available_zone for subnet subnet-c/);
    fake.notOffered.clear();
    expect(fake.mutations()).toEqual([]);

    fake.failOn('CreateSubnet', () => awsError('Unsupported', 'The requested Availability Zone ap-northeast-1b is currently constrained.'), {
      when: (i) => i.AvailabilityZone === 'ap-northeast-1b',
    });
    e = await failure(build());
    expectLine(e, /^availability zone ap-northeast-1b cannot be used while creating subnet subnet-b \(192\.168\.0\.64\/26 in ap-northeast-1b\) \(Unsupported: .*\): choose another available_zone/);
  });

  it('no capacity, bad image, bad KMS key, throttling, unreachable endpoint', async () => {
    fake.failOn('RunInstances', () => awsError('InsufficientInstanceCapacity', 'We currently do not have sufficient t3.xlarge capacity'));
    expectLine(await failure(build()), /^AWS has no capacity for t3\.xlarge in ap-northeast-1d right now/);
    const e = await failure(build({ hostVars: { hive_vm_image_name: 'ami-0123456789abcdef0' } }));
    expectLine(e, /^image ami-0123456789abcdef0 not found in ap-northeast-1 while looking up image ami-0123456789abcdef0 of host s-hive0\.pdns \(InvalidAMIID\.NotFound\): fix image_name/);
    fake.failOn('RunInstances', () => awsError('InvalidParameterValue', 'The KMS key arn:aws:kms:xxx is not valid'));
    expectLine(
      await failure(build({ hostVars: { hive_disk_encrypted: true, hive_kms_key_id: 'arn:aws:kms:xxx' } })),
      /^KMS key arn:aws:kms:xxx cannot be used while launching instance s-hive/,
    );
    fake.failOn('DescribeVpcs', () => awsError('RequestLimitExceeded', 'Request limit exceeded.'));
    expectLine(await failure(build()), /^AWS throttled the requests while looking up the VPC in ap-northeast-1/);
    fake.failOn('DescribeAvailabilityZones', () => Object.assign(new Error('getaddrinfo ENOTFOUND ec2.ap-northeast-1.amazonaws.com'), { code: 'ENOTFOUND' }));
    expectLine(await failure(build()), /^cannot reach the AWS EC2 endpoint for region ap-northeast-1/);
  });

  it('an instance that dies while booting is reported with its reason', async () => {
    const original = (fake as any).advance.bind(fake);
    (fake as any).advance = (x: any) => {
      if (x.State.Name === 'pending' && x.PrivateIpAddress === '192.168.0.69') x.State = { Name: 'terminated', Code: 48 };
      else original(x);
    };
    const e = await failure(build());
    expectLine(e, /^instance i-\w+ of host s-hive1\.pdns stopped by itself/);
  });

  it('key pair problems: another key under the name, or not ours', async () => {
    const ctx = await build();
    writeFileSync(join(ctx.stageDir, 'id_ed25519.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther other\n');
    expectLine(
      await failure(provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir }))),
      /^key pair hive-pdns-staging holds another public key than .*id_ed25519\.pub/,
    );
    fake.keyPairs[0].Tags = [];
    expectLine(await failure(provider().buildInfra(contextFor(awsSite(), { stageDir: ctx.stageDir }))), /^key pair hive-pdns-staging exists in ap-northeast-1 but does not carry the tags/);
  });

  it('inventory without region or instance type: exit 2, no AWS call', async () => {
    const site = awsSite();
    delete site.stages.staging!.settings.region;
    delete site.stages.staging!.motherVars.hive_region;
    const e = await failure(provider().buildInfra(contextFor(site)));
    expect(e.message).toBe("stage staging uses provider aws but has no region: set stages.staging.region in the inventory's hive.yml");
    expect(e.exitCode).toBe(2);
    const e2 = await failure(build({ hostVars: { hive_instance_type: undefined } }));
    expect(e2.message).toMatch(/^host s-hive0\.pdns has no instance type: set stages\.staging\.instance_type/);
    expect(fake.calls).toEqual([]);
  });

  it('an existing VPC with another cidr is reported, not reused', async () => {
    await build();
    fake.vpcs[0].CidrBlock = '10.1.0.0/16';
    expectLine(await failure(build()), /^VPC vpc-\w+ \(hive-pdns-staging\) has cidr 10\.1\.0\.0\/16 but the stage's cidr is 192\.168\.0\.0\/24/);
  });

  it('never reaches a mutating call in dry-run even when AWS state is odd', async () => {
    await build();
    fake.vpcs[0].dnsHostnames = false;
    fake.resetCalls();
    const plan = await planInfra(contextFor(awsSite(), { stageDir }), deps());
    expect(fake.mutations()).toEqual([]);
    expect(plan.filter((p) => p.action !== 'keep')).toEqual([
      { action: 'change', kind: 'vpc-attribute', name: 'hive-pdns-staging enableDnsHostnames', id: fake.vpcs[0].VpcId },
    ]);
  });
});
