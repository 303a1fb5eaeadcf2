// An in-memory model of the part of an EC2 account hive uses, behind aws-sdk-client-mock, so
// that create-then-describe is consistent, filters (tags, vpc, state, name wildcards) work, AWS's
// dependency rules hold (a VPC with subnets cannot be deleted, an address cannot be associated
// with a pending instance, ...), instance states advance on describe, and failures can be injected.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteInternetGatewayCommand,
  DeleteKeyPairCommand,
  DeleteRouteTableCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeAddressesCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  EC2Client,
  EC2ServiceException,
  ImportKeyPairCommand,
  ModifyVpcAttributeCommand,
  ReleaseAddressCommand,
  ReplaceRouteCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type IpPermission,
  type Tag,
  type TagSpecification,
} from '@aws-sdk/client-ec2';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';

type Any = Record<string, any>;

export function awsError(code: string, message = code): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode: 400, requestId: 'fake-request' },
    message,
  });
}

export interface FakeEc2Options {
  region?: string;
  /** Zone name → state. */
  zones?: Record<string, 'available' | 'impaired' | 'unavailable'>;
  /** Instance type → architecture. */
  instanceTypes?: Record<string, 'x86_64' | 'arm64'>;
  /** `type@zone` pairs that are NOT offered. */
  notOffered?: string[];
}

interface Vpc {
  VpcId: string;
  CidrBlock: string;
  State: string;
  Tags: Tag[];
  dnsHostnames: boolean;
}
interface Igw {
  InternetGatewayId: string;
  Attachments: { VpcId: string; State: string }[];
  Tags: Tag[];
}
interface Subnet {
  SubnetId: string;
  VpcId: string;
  CidrBlock: string;
  AvailabilityZone: string;
  Tags: Tag[];
}
interface RouteTable {
  RouteTableId: string;
  VpcId: string;
  Routes: Any[];
  Associations: { RouteTableAssociationId: string; RouteTableId: string; SubnetId?: string; Main: boolean }[];
  Tags: Tag[];
}
/** One permission atom: proto, ports and exactly one source. */
interface Atom {
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  cidr?: string;
  groupId?: string;
  description?: string;
}
interface SecurityGroup {
  GroupId: string;
  GroupName: string;
  Description: string;
  VpcId: string;
  atoms: Atom[];
  Tags: Tag[];
}
interface KeyPair {
  KeyPairId: string;
  KeyName: string;
  PublicKey: string;
  KeyFingerprint: string;
  Tags: Tag[];
}
interface Instance {
  InstanceId: string;
  State: { Name: string; Code: number };
  ImageId: string;
  InstanceType: string;
  KeyName?: string;
  SubnetId: string;
  VpcId: string;
  PrivateIpAddress: string;
  PublicIpAddress?: string;
  SecurityGroups: { GroupId: string; GroupName: string }[];
  Placement: { AvailabilityZone: string };
  requested: Any;
  volumes: { device: string; size?: number; encrypted: boolean; kmsKeyId?: string; type?: string; tags: Tag[] }[];
  Tags: Tag[];
}
interface Address {
  AllocationId: string;
  PublicIp: string;
  Domain: string;
  AssociationId?: string;
  InstanceId?: string;
  Tags: Tag[];
}
interface Image {
  ImageId: string;
  Name: string;
  OwnerId: string;
  Architecture: string;
  CreationDate: string;
  State: string;
  RootDeviceName: string;
}

export interface Call {
  command: string;
  input: Any;
}

interface Failure {
  command?: string;
  when?: (input: Any) => boolean;
  error: () => Error;
  times: number;
  /** The call takes effect, then the error is returned (the response was lost). */
  afterEffect: boolean;
}

const STATE_CODES: Record<string, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

// ---------------------------------------------------------------- address helpers
const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
function cidrRange(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = ipToInt(ip) - (ipToInt(ip) % size);
  return [start, start + size - 1];
}
const within = (inner: string, outer: string) => {
  const [a, b] = cidrRange(inner);
  const [c, d] = cidrRange(outer);
  return a >= c && b <= d;
};
const overlaps = (x: string, y: string) => {
  const [a, b] = cidrRange(x);
  const [c, d] = cidrRange(y);
  return a <= d && c <= b;
};
const ipIn = (ip: string, cidr: string) => {
  const [a, b] = cidrRange(cidr);
  const n = ipToInt(ip);
  return n >= a && n <= b;
};

function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

const tagFields = (tags: Tag[]) => {
  const out: Record<string, string[]> = { 'tag-key': tags.map((t) => t.Key!) };
  for (const t of tags) out[`tag:${t.Key}`] = [t.Value!];
  return out;
};

const tagsFrom = (specs: TagSpecification[] | undefined, type: string): Tag[] =>
  (specs ?? []).filter((s) => s.ResourceType === type).flatMap((s) => s.Tags ?? []).map((t) => ({ Key: t.Key, Value: t.Value }));

export const tagValue = (tags: Tag[] | undefined, key: string) => tags?.find((t) => t.Key === key)?.Value;

export class FakeEc2 {
  readonly mock: AwsClientStub<EC2Client>;
  readonly calls: Call[] = [];
  readonly region: string;
  vpcs: Vpc[] = [];
  igws: Igw[] = [];
  subnets: Subnet[] = [];
  routeTables: RouteTable[] = [];
  securityGroups: SecurityGroup[] = [];
  keyPairs: KeyPair[] = [];
  instances: Instance[] = [];
  addresses: Address[] = [];
  images: Image[] = [];
  zones: Record<string, string>;
  instanceTypes: Record<string, string>;
  notOffered: Set<string>;
  private failures: Failure[] = [];
  private mutationBudget: { remaining: number; error: () => Error; afterEffect: boolean } | undefined;
  private seq = 0;

  constructor(opts: FakeEc2Options = {}) {
    this.region = opts.region ?? 'ap-northeast-1';
    this.zones = opts.zones ?? {
      [`${this.region}a`]: 'available',
      [`${this.region}b`]: 'available',
      [`${this.region}c`]: 'available',
      [`${this.region}d`]: 'available',
    };
    this.instanceTypes = opts.instanceTypes ?? {
      't3.micro': 'x86_64',
      't3.medium': 'x86_64',
      't3.large': 'x86_64',
      't3.xlarge': 'x86_64',
      't4g.large': 'arm64',
    };
    this.notOffered = new Set(opts.notOffered ?? []);
    this.images = [
      this.image('debian-12-amd64-20240102-1614', 'x86_64', '2024-01-02T16:14:00.000Z'),
      this.image('debian-12-amd64-20250610-2137', 'x86_64', '2025-06-10T21:37:00.000Z'),
      this.image('debian-12-amd64-20250301-2040', 'x86_64', '2025-03-01T20:40:00.000Z'),
      this.image('debian-12-arm64-20250610-2137', 'arm64', '2025-06-10T21:37:00.000Z'),
      this.image('debian-11-amd64-20250610-2137', 'x86_64', '2025-06-11T00:00:00.000Z'),
      // Same name pattern, another owner: must never be picked.
      { ...this.image('debian-12-amd64-29990101-0000', 'x86_64', '2999-01-01T00:00:00.000Z'), OwnerId: '999999999999' },
    ];
    this.mock = mockClient(EC2Client);
    this.register();
  }

  restore() {
    this.mock.restore();
  }

  private id(prefix: string) {
    this.seq += 1;
    return `${prefix}-${this.seq.toString(16).padStart(17, '0')}`;
  }

  private image(name: string, arch: string, date: string): Image {
    return {
      ImageId: this.id('ami'),
      Name: name,
      OwnerId: '136693071363',
      Architecture: arch,
      CreationDate: date,
      State: 'available',
      RootDeviceName: '/dev/xvda',
    };
  }

  // ---------------------------------------------------------------- failure injection

  /** Make `command` fail (`times` times; optionally only for matching input). */
  failOn(
    command: string,
    error: Error | (() => Error),
    opts: { times?: number; when?: (input: Any) => boolean; afterEffect?: boolean } = {},
  ) {
    this.failures.push({
      command,
      when: opts.when,
      error: typeof error === 'function' ? error : () => error,
      times: opts.times ?? 1,
      afterEffect: opts.afterEffect ?? false,
    });
  }

  /** Let `n` mutating calls succeed, then fail the next one (an interrupted run). */
  failAfterMutations(n: number, opts: { afterEffect?: boolean; error?: () => Error } = {}) {
    this.mutationBudget = {
      remaining: n,
      error: opts.error ?? (() => Object.assign(new Error('socket hang up'), { name: 'ECONNRESET', code: 'ECONNRESET' })),
      afterEffect: opts.afterEffect ?? false,
    };
  }

  clearFailures() {
    this.failures = [];
    this.mutationBudget = undefined;
  }

  mutations(): Call[] {
    return this.calls.filter((c) => !c.command.startsWith('Describe'));
  }

  resetCalls() {
    this.calls.length = 0;
  }

  // ---------------------------------------------------------------- wiring

  private register() {
    const on = (cmd: any, name: string, fn: (input: Any) => Any) => {
      this.mock.on(cmd).callsFake(async (input: Any) => this.dispatch(name, input, fn));
    };
    on(DescribeAvailabilityZonesCommand, 'DescribeAvailabilityZones', (i) => this.describeZones(i));
    on(DescribeInstanceTypesCommand, 'DescribeInstanceTypes', (i) => this.describeInstanceTypes(i));
    on(DescribeInstanceTypeOfferingsCommand, 'DescribeInstanceTypeOfferings', (i) => this.describeOfferings(i));
    on(DescribeImagesCommand, 'DescribeImages', (i) => this.describeImages(i));
    on(DescribeVpcsCommand, 'DescribeVpcs', (i) => this.describeVpcs(i));
    on(CreateVpcCommand, 'CreateVpc', (i) => this.createVpc(i));
    on(DescribeVpcAttributeCommand, 'DescribeVpcAttribute', (i) => this.describeVpcAttribute(i));
    on(ModifyVpcAttributeCommand, 'ModifyVpcAttribute', (i) => this.modifyVpcAttribute(i));
    on(DeleteVpcCommand, 'DeleteVpc', (i) => this.deleteVpc(i));
    on(DescribeInternetGatewaysCommand, 'DescribeInternetGateways', (i) => this.describeIgws(i));
    on(CreateInternetGatewayCommand, 'CreateInternetGateway', (i) => this.createIgw(i));
    on(AttachInternetGatewayCommand, 'AttachInternetGateway', (i) => this.attachIgw(i));
    on(DetachInternetGatewayCommand, 'DetachInternetGateway', (i) => this.detachIgw(i));
    on(DeleteInternetGatewayCommand, 'DeleteInternetGateway', (i) => this.deleteIgw(i));
    on(DescribeSubnetsCommand, 'DescribeSubnets', (i) => this.describeSubnets(i));
    on(CreateSubnetCommand, 'CreateSubnet', (i) => this.createSubnet(i));
    on(DeleteSubnetCommand, 'DeleteSubnet', (i) => this.deleteSubnet(i));
    on(DescribeRouteTablesCommand, 'DescribeRouteTables', (i) => this.describeRouteTables(i));
    on(CreateRouteTableCommand, 'CreateRouteTable', (i) => this.createRouteTable(i));
    on(CreateRouteCommand, 'CreateRoute', (i) => this.createRoute(i, false));
    on(ReplaceRouteCommand, 'ReplaceRoute', (i) => this.createRoute(i, true));
    on(AssociateRouteTableCommand, 'AssociateRouteTable', (i) => this.associateRouteTable(i));
    on(DisassociateRouteTableCommand, 'DisassociateRouteTable', (i) => this.disassociateRouteTable(i));
    on(DeleteRouteTableCommand, 'DeleteRouteTable', (i) => this.deleteRouteTable(i));
    on(DescribeSecurityGroupsCommand, 'DescribeSecurityGroups', (i) => this.describeSecurityGroups(i));
    on(CreateSecurityGroupCommand, 'CreateSecurityGroup', (i) => this.createSecurityGroup(i));
    on(AuthorizeSecurityGroupIngressCommand, 'AuthorizeSecurityGroupIngress', (i) => this.authorize(i));
    on(RevokeSecurityGroupIngressCommand, 'RevokeSecurityGroupIngress', (i) => this.revoke(i));
    on(DeleteSecurityGroupCommand, 'DeleteSecurityGroup', (i) => this.deleteSecurityGroup(i));
    on(DescribeKeyPairsCommand, 'DescribeKeyPairs', (i) => this.describeKeyPairs(i));
    on(ImportKeyPairCommand, 'ImportKeyPair', (i) => this.importKeyPair(i));
    on(DeleteKeyPairCommand, 'DeleteKeyPair', (i) => this.deleteKeyPair(i));
    on(DescribeInstancesCommand, 'DescribeInstances', (i) => this.describeInstances(i));
    on(RunInstancesCommand, 'RunInstances', (i) => this.runInstances(i));
    on(StartInstancesCommand, 'StartInstances', (i) => this.setStates(i, ['stopped'], 'pending'));
    on(StopInstancesCommand, 'StopInstances', (i) => this.setStates(i, ['pending', 'running', 'stopping', 'stopped'], 'stopping'));
    on(TerminateInstancesCommand, 'TerminateInstances', (i) => this.terminate(i));
    on(DescribeAddressesCommand, 'DescribeAddresses', (i) => this.describeAddresses(i));
    on(AllocateAddressCommand, 'AllocateAddress', (i) => this.allocateAddress(i));
    on(AssociateAddressCommand, 'AssociateAddress', (i) => this.associateAddress(i));
    on(DisassociateAddressCommand, 'DisassociateAddress', (i) => this.disassociateAddress(i));
    on(ReleaseAddressCommand, 'ReleaseAddress', (i) => this.releaseAddress(i));
  }

  private dispatch(name: string, input: Any, fn: (input: Any) => Any): Any {
    this.calls.push({ command: name, input: structuredClone(input) });
    const mutating = !name.startsWith('Describe');
    let injected: Failure | undefined;
    const f = this.failures.find((x) => x.times > 0 && x.command === name && (!x.when || x.when(input)));
    if (f) {
      f.times -= 1;
      injected = f;
    } else if (mutating && this.mutationBudget) {
      if (this.mutationBudget.remaining === 0) {
        const b = this.mutationBudget;
        this.mutationBudget = undefined;
        injected = { error: b.error, afterEffect: b.afterEffect, times: 0 };
      } else this.mutationBudget.remaining -= 1;
    }
    if (injected && !injected.afterEffect) throw injected.error();
    const out = fn(input);
    if (injected) throw injected.error();
    return { $metadata: { httpStatusCode: 200 }, ...out };
  }

  private filter<T>(items: T[], filters: Filter[] | undefined, fields: (x: T) => Record<string, string[] | undefined>, known: string[]): T[] {
    for (const f of filters ?? []) {
      if (!f.Name!.startsWith('tag:') && f.Name !== 'tag-key' && !known.includes(f.Name!)) {
        throw awsError('InvalidParameterValue', `The filter '${f.Name}' is invalid`);
      }
    }
    return items.filter((x) => {
      const values = fields(x);
      return (filters ?? []).every((f) => {
        const have = values[f.Name!] ?? [];
        return (f.Values ?? []).some((v) => have.some((h) => wildcard(v).test(h)));
      });
    });
  }

  // ---------------------------------------------------------------- regions, types, images

  private describeZones(_i: Any) {
    return {
      AvailabilityZones: Object.entries(this.zones).map(([ZoneName, State]) => ({
        ZoneName,
        State,
        RegionName: this.region,
        ZoneType: 'availability-zone',
        OptInStatus: 'opt-in-not-required',
      })),
    };
  }

  private describeInstanceTypes(i: Any) {
    const wanted: string[] = i.InstanceTypes ?? Object.keys(this.instanceTypes);
    const unknown = wanted.filter((t) => !this.instanceTypes[t]);
    if (unknown.length) {
      throw awsError('InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`);
    }
    return {
      InstanceTypes: wanted.map((t) => ({ InstanceType: t, ProcessorInfo: { SupportedArchitectures: [this.instanceTypes[t]] } })),
    };
  }

  private describeOfferings(i: Any) {
    if (i.LocationType !== 'availability-zone') throw new Error('fake: only availability-zone offerings are modelled');
    const all = Object.keys(this.instanceTypes).flatMap((t) =>
      Object.keys(this.zones)
        .filter((z) => !this.notOffered.has(`${t}@${z}`))
        .map((z) => ({ InstanceType: t, Location: z, LocationType: 'availability-zone' })),
    );
    return {
      InstanceTypeOfferings: this.filter(all, i.Filters, (o) => ({ 'instance-type': [o.InstanceType], location: [o.Location] }), [
        'instance-type',
        'location',
      ]),
    };
  }

  private describeImages(i: Any) {
    let images = this.images;
    if (i.ImageIds) {
      for (const id of i.ImageIds) {
        if (!/^ami-[0-9a-f]+$/.test(id)) throw awsError('InvalidAMIID.Malformed', `Invalid id: "${id}"`);
        if (!images.some((x) => x.ImageId === id)) throw awsError('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
      }
      images = images.filter((x) => i.ImageIds.includes(x.ImageId));
    }
    if (i.Owners) images = images.filter((x) => i.Owners.includes(x.OwnerId));
    return {
      Images: this.filter(
        images,
        i.Filters,
        (x) => ({ name: [x.Name], architecture: [x.Architecture], state: [x.State], 'owner-id': [x.OwnerId], 'image-id': [x.ImageId] }),
        ['name', 'architecture', 'state', 'owner-id', 'image-id'],
      ),
    };
  }

  // ---------------------------------------------------------------- VPC

  private vpc(id: string): Vpc {
    const v = this.vpcs.find((x) => x.VpcId === id);
    if (!v) throw awsError('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`);
    return v;
  }

  private describeVpcs(i: Any) {
    const items = this.filter(
      this.vpcs.filter((v) => !i.VpcIds || i.VpcIds.includes(v.VpcId)),
      i.Filters,
      (v) => ({ 'vpc-id': [v.VpcId], 'cidr-block': [v.CidrBlock], cidr: [v.CidrBlock], state: [v.State], ...tagFields(v.Tags) }),
      ['vpc-id', 'cidr-block', 'cidr', 'state'],
    );
    return { Vpcs: items.map(({ dnsHostnames: _d, ...v }) => structuredClone(v)) };
  }

  private createVpc(i: Any) {
    if (!/^\d+\.\d+\.\d+\.\d+\/(1[6-9]|2[0-8])$/.test(i.CidrBlock ?? '')) {
      throw awsError('InvalidVpc.Range', `The CIDR '${i.CidrBlock}' is invalid.`);
    }
    const vpc: Vpc = { VpcId: this.id('vpc'), CidrBlock: i.CidrBlock, State: 'available', Tags: tagsFrom(i.TagSpecifications, 'vpc'), dnsHostnames: false };
    this.vpcs.push(vpc);
    // Every VPC comes with a main route table and a default security group (untagged).
    const rtId = this.id('rtb');
    this.routeTables.push({
      RouteTableId: rtId,
      VpcId: vpc.VpcId,
      Routes: [{ DestinationCidrBlock: vpc.CidrBlock, GatewayId: 'local', State: 'active' }],
      Associations: [{ RouteTableAssociationId: this.id('rtbassoc'), RouteTableId: rtId, Main: true }],
      Tags: [],
    });
    const sgId = this.id('sg');
    this.securityGroups.push({
      GroupId: sgId,
      GroupName: 'default',
      Description: 'default VPC security group',
      VpcId: vpc.VpcId,
      atoms: [{ IpProtocol: '-1', groupId: sgId }],
      Tags: [],
    });
    const { dnsHostnames: _d, ...out } = vpc;
    return { Vpc: structuredClone(out) };
  }

  private describeVpcAttribute(i: Any) {
    const v = this.vpc(i.VpcId);
    if (i.Attribute !== 'enableDnsHostnames') throw new Error('fake: only enableDnsHostnames is modelled');
    return { VpcId: v.VpcId, EnableDnsHostnames: { Value: v.dnsHostnames } };
  }

  private modifyVpcAttribute(i: Any) {
    const v = this.vpc(i.VpcId);
    if (i.EnableDnsHostnames) v.dnsHostnames = i.EnableDnsHostnames.Value;
    return {};
  }

  private deleteVpc(i: Any) {
    const v = this.vpc(i.VpcId);
    const blockers = [
      ...this.subnets.filter((s) => s.VpcId === v.VpcId).map((s) => s.SubnetId),
      ...this.igws.filter((g) => g.Attachments.some((a) => a.VpcId === v.VpcId)).map((g) => g.InternetGatewayId),
      ...this.securityGroups.filter((g) => g.VpcId === v.VpcId && g.GroupName !== 'default').map((g) => g.GroupId),
      ...this.routeTables.filter((r) => r.VpcId === v.VpcId && !r.Associations.some((a) => a.Main)).map((r) => r.RouteTableId),
    ];
    if (blockers.length) {
      throw awsError('DependencyViolation', `The vpc '${v.VpcId}' has dependencies and cannot be deleted. (${blockers.join(', ')})`);
    }
    this.vpcs = this.vpcs.filter((x) => x !== v);
    this.routeTables = this.routeTables.filter((r) => r.VpcId !== v.VpcId);
    this.securityGroups = this.securityGroups.filter((g) => g.VpcId !== v.VpcId);
    return {};
  }

  // ---------------------------------------------------------------- internet gateway

  private igw(id: string): Igw {
    const g = this.igws.find((x) => x.InternetGatewayId === id);
    if (!g) throw awsError('InvalidInternetGatewayID.NotFound', `The internetGateway ID '${id}' does not exist`);
    return g;
  }

  private describeIgws(i: Any) {
    return {
      InternetGateways: structuredClone(
        this.filter(
          this.igws,
          i.Filters,
          (g) => ({ 'internet-gateway-id': [g.InternetGatewayId], 'attachment.vpc-id': g.Attachments.map((a) => a.VpcId), ...tagFields(g.Tags) }),
          ['internet-gateway-id', 'attachment.vpc-id'],
        ),
      ),
    };
  }

  private createIgw(i: Any) {
    const g: Igw = { InternetGatewayId: this.id('igw'), Attachments: [], Tags: tagsFrom(i.TagSpecifications, 'internet-gateway') };
    this.igws.push(g);
    return { InternetGateway: structuredClone(g) };
  }

  private attachIgw(i: Any) {
    const g = this.igw(i.InternetGatewayId);
    this.vpc(i.VpcId);
    if (g.Attachments.length) throw awsError('Resource.AlreadyAssociated', `resource ${g.InternetGatewayId} is already attached to network ${g.Attachments[0].VpcId}`);
    if (this.igws.some((x) => x.Attachments.some((a) => a.VpcId === i.VpcId))) {
      throw awsError('Resource.AlreadyAssociated', `network ${i.VpcId} already has an internet gateway attached`);
    }
    g.Attachments.push({ VpcId: i.VpcId, State: 'available' });
    return {};
  }

  private detachIgw(i: Any) {
    const g = this.igw(i.InternetGatewayId);
    if (!g.Attachments.some((a) => a.VpcId === i.VpcId)) throw awsError('Gateway.NotAttached', `resource ${g.InternetGatewayId} is not attached to network ${i.VpcId}`);
    const mapped = this.addresses.filter((a) => a.InstanceId && this.instances.find((x) => x.InstanceId === a.InstanceId)?.VpcId === i.VpcId);
    if (mapped.length) {
      throw awsError('DependencyViolation', `Network ${i.VpcId} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.`);
    }
    g.Attachments = g.Attachments.filter((a) => a.VpcId !== i.VpcId);
    return {};
  }

  private deleteIgw(i: Any) {
    const g = this.igw(i.InternetGatewayId);
    if (g.Attachments.length) throw awsError('DependencyViolation', `The internetGateway '${g.InternetGatewayId}' has dependencies and cannot be deleted.`);
    this.igws = this.igws.filter((x) => x !== g);
    return {};
  }

  // ---------------------------------------------------------------- subnets

  private subnet(id: string): Subnet {
    const s = this.subnets.find((x) => x.SubnetId === id);
    if (!s) throw awsError('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`);
    return s;
  }

  private describeSubnets(i: Any) {
    return {
      Subnets: structuredClone(
        this.filter(
          this.subnets,
          i.Filters,
          (s) => ({ 'vpc-id': [s.VpcId], 'subnet-id': [s.SubnetId], 'cidr-block': [s.CidrBlock], 'availability-zone': [s.AvailabilityZone], ...tagFields(s.Tags) }),
          ['vpc-id', 'subnet-id', 'cidr-block', 'availability-zone'],
        ),
      ),
    };
  }

  private createSubnet(i: Any) {
    const v = this.vpc(i.VpcId);
    const az = i.AvailabilityZone ?? Object.keys(this.zones)[0];
    if (!(az in this.zones)) {
      throw awsError(
        'InvalidParameterValue',
        `Value (${az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${Object.keys(this.zones).join(', ')}.`,
      );
    }
    if (this.zones[az] !== 'available') throw awsError('Unsupported', `The requested Availability Zone ${az} is currently constrained.`);
    if (!within(i.CidrBlock, v.CidrBlock)) throw awsError('InvalidSubnet.Range', `The CIDR '${i.CidrBlock}' is invalid.`);
    if (this.subnets.some((s) => s.VpcId === v.VpcId && overlaps(s.CidrBlock, i.CidrBlock))) {
      throw awsError('InvalidSubnet.Conflict', `The CIDR '${i.CidrBlock}' conflicts with another subnet`);
    }
    const s: Subnet = { SubnetId: this.id('subnet'), VpcId: v.VpcId, CidrBlock: i.CidrBlock, AvailabilityZone: az, Tags: tagsFrom(i.TagSpecifications, 'subnet') };
    this.subnets.push(s);
    return { Subnet: structuredClone(s) };
  }

  private deleteSubnet(i: Any) {
    const s = this.subnet(i.SubnetId);
    if (this.instances.some((x) => x.SubnetId === s.SubnetId && x.State.Name !== 'terminated')) {
      throw awsError('DependencyViolation', `The subnet '${s.SubnetId}' has dependencies and cannot be deleted.`);
    }
    this.subnets = this.subnets.filter((x) => x !== s);
    for (const r of this.routeTables) r.Associations = r.Associations.filter((a) => a.SubnetId !== s.SubnetId);
    return {};
  }

  // ---------------------------------------------------------------- route tables

  private routeTable(id: string): RouteTable {
    const r = this.routeTables.find((x) => x.RouteTableId === id);
    if (!r) throw awsError('InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`);
    return r;
  }

  private describeRouteTables(i: Any) {
    return {
      RouteTables: structuredClone(
        this.filter(
          this.routeTables,
          i.Filters,
          (r) => ({
            'vpc-id': [r.VpcId],
            'route-table-id': [r.RouteTableId],
            'association.subnet-id': r.Associations.map((a) => a.SubnetId ?? ''),
            'association.main': [String(r.Associations.some((a) => a.Main))],
            ...tagFields(r.Tags),
          }),
          ['vpc-id', 'route-table-id', 'association.subnet-id', 'association.main'],
        ),
      ),
    };
  }

  private createRouteTable(i: Any) {
    const v = this.vpc(i.VpcId);
    const r: RouteTable = {
      RouteTableId: this.id('rtb'),
      VpcId: v.VpcId,
      Routes: [{ DestinationCidrBlock: v.CidrBlock, GatewayId: 'local', State: 'active' }],
      Associations: [],
      Tags: tagsFrom(i.TagSpecifications, 'route-table'),
    };
    this.routeTables.push(r);
    return { RouteTable: structuredClone(r) };
  }

  private createRoute(i: Any, replace: boolean) {
    const r = this.routeTable(i.RouteTableId);
    const g = this.igw(i.GatewayId);
    if (!g.Attachments.some((a) => a.VpcId === r.VpcId)) {
      throw awsError('InvalidParameterValue', `route table ${r.RouteTableId} and network gateway ${g.InternetGatewayId} belong to different networks`);
    }
    const existing = r.Routes.find((x) => x.DestinationCidrBlock === i.DestinationCidrBlock);
    if (existing && !replace) throw awsError('RouteAlreadyExists', `The route identified by ${i.DestinationCidrBlock} already exists.`);
    if (!existing && replace) throw awsError('InvalidRoute.NotFound', `no route with destination-cidr-block ${i.DestinationCidrBlock}`);
    r.Routes = r.Routes.filter((x) => x !== existing);
    r.Routes.push({ DestinationCidrBlock: i.DestinationCidrBlock, GatewayId: g.InternetGatewayId, State: 'active' });
    return { Return: true };
  }

  private associateRouteTable(i: Any) {
    const r = this.routeTable(i.RouteTableId);
    const s = this.subnet(i.SubnetId);
    if (s.VpcId !== r.VpcId) throw awsError('InvalidParameterValue', 'route table and subnet belong to different networks');
    const other = this.routeTables.find((x) => x.Associations.some((a) => a.SubnetId === s.SubnetId));
    if (other) throw awsError('Resource.AlreadyAssociated', `the specified association for route table ${other.RouteTableId} conflicts with an existing association`);
    const id = this.id('rtbassoc');
    r.Associations.push({ RouteTableAssociationId: id, RouteTableId: r.RouteTableId, SubnetId: s.SubnetId, Main: false });
    return { AssociationId: id };
  }

  private disassociateRouteTable(i: Any) {
    const r = this.routeTables.find((x) => x.Associations.some((a) => a.RouteTableAssociationId === i.AssociationId));
    if (!r) throw awsError('InvalidAssociationID.NotFound', `The association ID '${i.AssociationId}' does not exist`);
    const a = r.Associations.find((x) => x.RouteTableAssociationId === i.AssociationId)!;
    if (a.Main) throw awsError('InvalidParameterValue', 'cannot disassociate the main route table association');
    r.Associations = r.Associations.filter((x) => x !== a);
    return {};
  }

  private deleteRouteTable(i: Any) {
    const r = this.routeTable(i.RouteTableId);
    if (r.Associations.length) throw awsError('DependencyViolation', `The routeTable '${r.RouteTableId}' has dependencies and cannot be deleted.`);
    this.routeTables = this.routeTables.filter((x) => x !== r);
    return {};
  }

  // ---------------------------------------------------------------- security groups

  private sg(id: string): SecurityGroup {
    const g = this.securityGroups.find((x) => x.GroupId === id);
    if (!g) throw awsError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    return g;
  }

  private static atomsOf(perms: IpPermission[]): Atom[] {
    const out: Atom[] = [];
    for (const p of perms) {
      const base = p.IpProtocol === '-1' ? { IpProtocol: '-1' } : { IpProtocol: p.IpProtocol!, FromPort: p.FromPort, ToPort: p.ToPort };
      for (const r of p.IpRanges ?? []) out.push({ ...base, cidr: r.CidrIp, description: r.Description });
      for (const g of p.UserIdGroupPairs ?? []) out.push({ ...base, groupId: g.GroupId, description: g.Description });
      if (!p.IpRanges?.length && !p.UserIdGroupPairs?.length) throw awsError('InvalidParameterValue', 'permission without a source');
    }
    return out;
  }

  private static sameAtom(a: Atom, b: Atom) {
    return a.IpProtocol === b.IpProtocol && a.FromPort === b.FromPort && a.ToPort === b.ToPort && a.cidr === b.cidr && a.groupId === b.groupId;
  }

  private static permissions(atoms: Atom[]): IpPermission[] {
    const groups = new Map<string, IpPermission>();
    for (const a of atoms) {
      const key = `${a.IpProtocol}:${a.FromPort}:${a.ToPort}`;
      let p = groups.get(key);
      if (!p) {
        p = { IpProtocol: a.IpProtocol, ...(a.IpProtocol === '-1' ? {} : { FromPort: a.FromPort, ToPort: a.ToPort }), IpRanges: [], UserIdGroupPairs: [], Ipv6Ranges: [], PrefixListIds: [] };
        groups.set(key, p);
      }
      if (a.cidr) p.IpRanges!.push({ CidrIp: a.cidr, Description: a.description });
      if (a.groupId) p.UserIdGroupPairs!.push({ GroupId: a.groupId, UserId: '123456789012', Description: a.description });
    }
    return [...groups.values()];
  }

  private describeSecurityGroups(i: Any) {
    const items = this.filter(
      this.securityGroups.filter((g) => !i.GroupIds || i.GroupIds.includes(g.GroupId)),
      i.Filters,
      (g) => ({ 'vpc-id': [g.VpcId], 'group-id': [g.GroupId], 'group-name': [g.GroupName], ...tagFields(g.Tags) }),
      ['vpc-id', 'group-id', 'group-name'],
    );
    return {
      SecurityGroups: items.map((g) => ({
        GroupId: g.GroupId,
        GroupName: g.GroupName,
        Description: g.Description,
        VpcId: g.VpcId,
        IpPermissions: FakeEc2.permissions(g.atoms),
        IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        Tags: structuredClone(g.Tags),
      })),
    };
  }

  private createSecurityGroup(i: Any) {
    const v = this.vpc(i.VpcId);
    if (this.securityGroups.some((g) => g.VpcId === v.VpcId && g.GroupName === i.GroupName)) {
      throw awsError('InvalidGroup.Duplicate', `The security group '${i.GroupName}' already exists for VPC '${v.VpcId}'`);
    }
    const g: SecurityGroup = {
      GroupId: this.id('sg'),
      GroupName: i.GroupName,
      Description: i.Description,
      VpcId: v.VpcId,
      atoms: [],
      Tags: tagsFrom(i.TagSpecifications, 'security-group'),
    };
    this.securityGroups.push(g);
    return { GroupId: g.GroupId };
  }

  private authorize(i: Any) {
    const g = this.sg(i.GroupId);
    const atoms = FakeEc2.atomsOf(i.IpPermissions ?? []);
    for (const a of atoms) {
      if (a.groupId) this.sg(a.groupId);
      if (g.atoms.some((b) => FakeEc2.sameAtom(a, b))) {
        throw awsError('InvalidPermission.Duplicate', `the specified rule "peer: ${a.cidr ?? a.groupId}, ${a.IpProtocol}, from port: ${a.FromPort}, to port: ${a.ToPort}, ALLOW" already exists`);
      }
    }
    g.atoms.push(...atoms);
    return { Return: true };
  }

  private revoke(i: Any) {
    const g = this.sg(i.GroupId);
    const atoms = FakeEc2.atomsOf(i.IpPermissions ?? []);
    for (const a of atoms) {
      if (!g.atoms.some((b) => FakeEc2.sameAtom(a, b))) throw awsError('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
    }
    g.atoms = g.atoms.filter((b) => !atoms.some((a) => FakeEc2.sameAtom(a, b)));
    return { Return: true };
  }

  private deleteSecurityGroup(i: Any) {
    const g = this.sg(i.GroupId);
    if (g.GroupName === 'default') throw awsError('CannotDelete', `the specified group: "${g.GroupId}" name: "default" cannot be deleted by a user`);
    if (this.instances.some((x) => x.State.Name !== 'terminated' && x.SecurityGroups.some((s) => s.GroupId === g.GroupId))) {
      throw awsError('DependencyViolation', `resource ${g.GroupId} has a dependent object`);
    }
    this.securityGroups = this.securityGroups.filter((x) => x !== g);
    return {};
  }

  // ---------------------------------------------------------------- key pairs

  private describeKeyPairs(i: Any) {
    if (i.KeyNames) {
      for (const n of i.KeyNames) {
        if (!this.keyPairs.some((k) => k.KeyName === n)) throw awsError('InvalidKeyPair.NotFound', `The key pair '${n}' does not exist`);
      }
    }
    const items = this.filter(
      this.keyPairs.filter((k) => !i.KeyNames || i.KeyNames.includes(k.KeyName)),
      i.Filters,
      (k) => ({ 'key-name': [k.KeyName], 'key-pair-id': [k.KeyPairId], fingerprint: [k.KeyFingerprint], ...tagFields(k.Tags) }),
      ['key-name', 'key-pair-id', 'fingerprint'],
    );
    return {
      KeyPairs: items.map(({ PublicKey, ...k }) => ({ ...structuredClone(k), KeyType: 'ed25519', ...(i.IncludePublicKey ? { PublicKey } : {}) })),
    };
  }

  private importKeyPair(i: Any) {
    if (this.keyPairs.some((k) => k.KeyName === i.KeyName)) throw awsError('InvalidKeyPair.Duplicate', `The keypair already exists`);
    const material = new TextDecoder().decode(i.PublicKeyMaterial as Uint8Array);
    if (!/^ssh-(ed25519|rsa) \S+/.test(material)) throw awsError('InvalidKey.Format', 'Key is not in valid OpenSSH public key format');
    const k: KeyPair = {
      KeyPairId: this.id('key'),
      KeyName: i.KeyName,
      // AWS keeps the key type and body, and appends the key name as the comment.
      PublicKey: `${material.split(/\s+/).slice(0, 2).join(' ')} ${i.KeyName}`,
      KeyFingerprint: `fp-${material.length}`,
      Tags: tagsFrom(i.TagSpecifications, 'key-pair'),
    };
    this.keyPairs.push(k);
    return { KeyName: k.KeyName, KeyPairId: k.KeyPairId, KeyFingerprint: k.KeyFingerprint };
  }

  private deleteKeyPair(i: Any) {
    // Like AWS: deleting a key pair that does not exist succeeds.
    this.keyPairs = this.keyPairs.filter((k) => !(k.KeyPairId === i.KeyPairId || (i.KeyName && k.KeyName === i.KeyName)));
    return { Return: true };
  }

  // ---------------------------------------------------------------- instances

  private instance(id: string): Instance {
    const x = this.instances.find((y) => y.InstanceId === id);
    if (!x) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return x;
  }

  private view(x: Instance) {
    return {
      InstanceId: x.InstanceId,
      State: { ...x.State },
      ImageId: x.ImageId,
      InstanceType: x.InstanceType,
      KeyName: x.KeyName,
      SubnetId: x.State.Name === 'terminated' ? undefined : x.SubnetId,
      VpcId: x.State.Name === 'terminated' ? undefined : x.VpcId,
      PrivateIpAddress: x.State.Name === 'terminated' ? undefined : x.PrivateIpAddress,
      PublicIpAddress: x.PublicIpAddress,
      SecurityGroups: structuredClone(x.SecurityGroups),
      Placement: { ...x.Placement },
      BlockDeviceMappings: x.volumes.map((v) => ({ DeviceName: v.device, Ebs: { VolumeId: `vol-${x.InstanceId.slice(2)}${v.device.slice(-1)}`, Status: 'attached' } })),
      Tags: structuredClone(x.Tags),
    };
  }

  /** States advance when someone looks: pending → running, stopping → stopped, shutting-down → terminated. */
  private advance(x: Instance) {
    const next: Record<string, string> = { pending: 'running', stopping: 'stopped', 'shutting-down': 'terminated' };
    const to = next[x.State.Name];
    if (to) x.State = { Name: to, Code: STATE_CODES[to] };
  }

  private describeInstances(i: Any) {
    if (i.InstanceIds) for (const id of i.InstanceIds) this.instance(id);
    const items = this.filter(
      this.instances.filter((x) => !i.InstanceIds || i.InstanceIds.includes(x.InstanceId)),
      i.Filters,
      (x) => ({
        'instance-id': [x.InstanceId],
        'instance-state-name': [x.State.Name],
        'vpc-id': [x.VpcId],
        'subnet-id': [x.SubnetId],
        'private-ip-address': [x.PrivateIpAddress],
        ...tagFields(x.Tags),
      }),
      ['instance-id', 'instance-state-name', 'vpc-id', 'subnet-id', 'private-ip-address'],
    );
    const out = items.map((x) => this.view(x));
    for (const x of items) this.advance(x);
    return { Reservations: out.length ? [{ ReservationId: 'r-fake', Instances: out }] : [] };
  }

  private runInstances(i: Any) {
    if (i.MinCount !== 1 || i.MaxCount !== 1) throw new Error('fake: hive launches one instance per call');
    const image = this.images.find((x) => x.ImageId === i.ImageId);
    if (!image) throw awsError('InvalidAMIID.NotFound', `The image id '[${i.ImageId}]' does not exist`);
    if (!this.instanceTypes[i.InstanceType]) throw awsError('InvalidParameterValue', `Invalid value '${i.InstanceType}' for InstanceType.`);
    if (this.instanceTypes[i.InstanceType] !== image.Architecture) {
      throw awsError('InvalidParameterValue', `The architecture '${image.Architecture}' of the specified instance type does not match the architecture of the AMI`);
    }
    if (i.KeyName && !this.keyPairs.some((k) => k.KeyName === i.KeyName)) throw awsError('InvalidKeyPair.NotFound', `The key pair '${i.KeyName}' does not exist`);
    const nic = i.NetworkInterfaces?.[0];
    if (!nic) throw new Error('fake: hive passes the subnet and address through NetworkInterfaces');
    const subnet = this.subnet(nic.SubnetId);
    if (this.notOffered.has(`${i.InstanceType}@${subnet.AvailabilityZone}`)) {
      throw awsError('Unsupported', `Your requested instance type (${i.InstanceType}) is not supported in your requested Availability Zone (${subnet.AvailabilityZone}).`);
    }
    const ip = nic.PrivateIpAddress;
    if (!ipIn(ip, subnet.CidrBlock)) throw awsError('InvalidParameterValue', `Address ${ip} does not fall within the subnet's address range`);
    if (this.instances.some((x) => x.SubnetId === subnet.SubnetId && x.PrivateIpAddress === ip && x.State.Name !== 'terminated')) {
      throw awsError('InvalidIPAddress.InUse', `Address ${ip} is in use.`);
    }
    const groups = (nic.Groups ?? []).map((g: string) => this.sg(g));
    for (const g of groups) if (g.VpcId !== subnet.VpcId) throw awsError('InvalidParameter', 'Security group and subnet belong to different networks.');
    for (const b of i.BlockDeviceMappings ?? []) {
      if (b.Ebs?.KmsKeyId && !b.Ebs.Encrypted) throw awsError('InvalidParameterDependency', 'KmsKeyId requires Encrypted');
    }
    const volumeTags = tagsFrom(i.TagSpecifications, 'volume');
    const rootReq = (i.BlockDeviceMappings ?? []).find((b: Any) => b.DeviceName === image.RootDeviceName);
    const volumes = [
      {
        device: image.RootDeviceName,
        size: rootReq?.Ebs?.VolumeSize ?? 8,
        encrypted: !!rootReq?.Ebs?.Encrypted,
        kmsKeyId: rootReq?.Ebs?.KmsKeyId,
        type: rootReq?.Ebs?.VolumeType ?? 'gp2',
        tags: volumeTags,
      },
      ...(i.BlockDeviceMappings ?? [])
        .filter((b: Any) => b.DeviceName !== image.RootDeviceName)
        .map((b: Any) => ({ device: b.DeviceName, size: b.Ebs?.VolumeSize, encrypted: !!b.Ebs?.Encrypted, kmsKeyId: b.Ebs?.KmsKeyId, type: b.Ebs?.VolumeType, tags: volumeTags })),
    ];
    const x: Instance = {
      InstanceId: this.id('i'),
      State: { Name: 'pending', Code: 0 },
      ImageId: image.ImageId,
      InstanceType: i.InstanceType,
      KeyName: i.KeyName,
      SubnetId: subnet.SubnetId,
      VpcId: subnet.VpcId,
      PrivateIpAddress: ip,
      SecurityGroups: groups.map((g: SecurityGroup) => ({ GroupId: g.GroupId, GroupName: g.GroupName })),
      Placement: { AvailabilityZone: subnet.AvailabilityZone },
      requested: structuredClone(i),
      volumes,
      Tags: tagsFrom(i.TagSpecifications, 'instance'),
    };
    this.instances.push(x);
    return { Instances: [this.view(x)] };
  }

  private setStates(i: Any, from: string[], to: string) {
    const xs = (i.InstanceIds as string[]).map((id) => this.instance(id));
    for (const x of xs) {
      if (!from.includes(x.State.Name)) {
        throw awsError('IncorrectInstanceState', `The instance '${x.InstanceId}' is not in a state from which it can be ${to === 'pending' ? 'started' : 'stopped'}.`);
      }
    }
    const changes = xs.map((x) => {
      const previous = { ...x.State };
      if (!(to === 'stopping' && x.State.Name === 'stopped')) x.State = { Name: to, Code: STATE_CODES[to] };
      return { InstanceId: x.InstanceId, PreviousState: previous, CurrentState: { ...x.State } };
    });
    return to === 'pending' ? { StartingInstances: changes } : { StoppingInstances: changes };
  }

  private terminate(i: Any) {
    const xs = (i.InstanceIds as string[]).map((id) => this.instance(id));
    const changes = xs.map((x) => {
      const previous = { ...x.State };
      if (x.State.Name !== 'terminated') x.State = { Name: 'shutting-down', Code: STATE_CODES['shutting-down'] };
      // Like AWS: a terminated instance loses its Elastic IP association.
      for (const a of this.addresses.filter((y) => y.InstanceId === x.InstanceId)) {
        a.InstanceId = undefined;
        a.AssociationId = undefined;
      }
      x.PublicIpAddress = undefined;
      return { InstanceId: x.InstanceId, PreviousState: previous, CurrentState: { ...x.State } };
    });
    return { TerminatingInstances: changes };
  }

  // ---------------------------------------------------------------- addresses

  private address(allocationId: string): Address {
    const a = this.addresses.find((x) => x.AllocationId === allocationId);
    if (!a) throw awsError('InvalidAllocationID.NotFound', `The allocation ID '${allocationId}' does not exist`);
    return a;
  }

  private describeAddresses(i: Any) {
    if (i.PublicIps) {
      for (const ip of i.PublicIps) {
        if (!this.addresses.some((a) => a.PublicIp === ip)) throw awsError('InvalidAddress.NotFound', `Address '${ip}' not found.`);
      }
    }
    const items = this.filter(
      this.addresses.filter((a) => (!i.PublicIps || i.PublicIps.includes(a.PublicIp)) && (!i.AllocationIds || i.AllocationIds.includes(a.AllocationId))),
      i.Filters,
      (a) => ({ 'allocation-id': [a.AllocationId], 'public-ip': [a.PublicIp], 'instance-id': a.InstanceId ? [a.InstanceId] : [], domain: [a.Domain], ...tagFields(a.Tags) }),
      ['allocation-id', 'public-ip', 'instance-id', 'domain'],
    );
    return { Addresses: structuredClone(items) };
  }

  private allocateAddress(i: Any) {
    const n = this.addresses.length + 10 + this.seq;
    const a: Address = {
      AllocationId: this.id('eipalloc'),
      PublicIp: `203.0.113.${n % 250}`,
      Domain: 'vpc',
      Tags: tagsFrom(i.TagSpecifications, 'elastic-ip'),
    };
    this.addresses.push(a);
    return { AllocationId: a.AllocationId, PublicIp: a.PublicIp, Domain: 'vpc' };
  }

  private associateAddress(i: Any) {
    const a = this.address(i.AllocationId);
    const x = this.instance(i.InstanceId);
    if (!['running', 'stopped'].includes(x.State.Name)) {
      throw awsError('IncorrectInstanceState', `The pending instance '${x.InstanceId}' is not in a valid state for this operation.`);
    }
    if (a.InstanceId && a.InstanceId !== x.InstanceId && !i.AllowReassociation) {
      throw awsError('Resource.AlreadyAssociated', `resource ${a.AllocationId} is already associated with associate-id ${a.AssociationId}`);
    }
    // The instance's previous Elastic IP (if any) is released from it.
    for (const other of this.addresses.filter((y) => y.InstanceId === x.InstanceId && y !== a)) {
      other.InstanceId = undefined;
      other.AssociationId = undefined;
    }
    a.InstanceId = x.InstanceId;
    a.AssociationId = this.id('eipassoc');
    x.PublicIpAddress = a.PublicIp;
    return { AssociationId: a.AssociationId };
  }

  private disassociateAddress(i: Any) {
    const a = this.addresses.find((x) => x.AssociationId === i.AssociationId);
    if (!a) throw awsError('InvalidAssociationID.NotFound', `The association ID '${i.AssociationId}' does not exist`);
    const x = this.instances.find((y) => y.InstanceId === a.InstanceId);
    if (x) x.PublicIpAddress = undefined;
    a.InstanceId = undefined;
    a.AssociationId = undefined;
    return {};
  }

  private releaseAddress(i: Any) {
    const a = this.address(i.AllocationId);
    if (a.AssociationId) throw awsError('InvalidIPAddress.InUse', `Address ${a.PublicIp} is in use.`);
    this.addresses = this.addresses.filter((x) => x !== a);
    return {};
  }

  // ---------------------------------------------------------------- inspection

  /**
   * The account's resources with ids replaced by names, to compare end states of different runs.
   * Terminated instances are left out.
   */
  summary(): Any {
    const nameOf = (tags: Tag[]) => tagValue(tags, 'Name') ?? '(untagged)';
    const vpcName = (id: string) => nameOf(this.vpcs.find((v) => v.VpcId === id)?.Tags ?? []);
    const subnetName = (id?: string) => nameOf(this.subnets.find((s) => s.SubnetId === id)?.Tags ?? []);
    const hostOf = (id?: string) => nameOf(this.instances.find((x) => x.InstanceId === id)?.Tags ?? []);
    const sorted = <T>(xs: T[]) => xs.map((x) => JSON.stringify(x)).sort().map((s) => JSON.parse(s));
    return {
      vpcs: sorted(this.vpcs.map((v) => ({ tags: v.Tags, cidr: v.CidrBlock, dnsHostnames: v.dnsHostnames }))),
      igws: sorted(this.igws.map((g) => ({ tags: g.Tags, attached: g.Attachments.map((a) => vpcName(a.VpcId)) }))),
      subnets: sorted(this.subnets.map((s) => ({ tags: s.Tags, vpc: vpcName(s.VpcId), cidr: s.CidrBlock, az: s.AvailabilityZone }))),
      routeTables: sorted(
        this.routeTables.map((r) => ({
          tags: r.Tags,
          vpc: vpcName(r.VpcId),
          routes: r.Routes.map((x) => `${x.DestinationCidrBlock}→${x.GatewayId === 'local' ? 'local' : nameOf(this.igws.find((g) => g.InternetGatewayId === x.GatewayId)?.Tags ?? [])}`).sort(),
          subnets: r.Associations.map((a) => (a.Main ? 'main' : subnetName(a.SubnetId))).sort(),
        })),
      ),
      securityGroups: sorted(
        this.securityGroups.map((g) => ({
          tags: g.Tags,
          name: g.GroupName,
          vpc: vpcName(g.VpcId),
          rules: g.atoms.map((a) => `${a.IpProtocol}:${a.FromPort ?? ''}-${a.ToPort ?? ''}:${a.cidr ?? (a.groupId === g.GroupId ? 'self' : a.groupId)}`).sort(),
        })),
      ),
      keyPairs: sorted(this.keyPairs.map((k) => ({ tags: k.Tags, name: k.KeyName, key: k.PublicKey }))),
      instances: sorted(
        this.instances
          .filter((x) => x.State.Name !== 'terminated')
          .map((x) => ({
            tags: x.Tags,
            state: x.State.Name,
            type: x.InstanceType,
            image: x.ImageId,
            ip: x.PrivateIpAddress,
            subnet: subnetName(x.SubnetId),
            volumes: x.volumes.map(({ device, size, encrypted, kmsKeyId, type, tags }) => ({ device, size, encrypted, kmsKeyId, type, tags })),
          })),
      ),
      addresses: sorted(this.addresses.map((a) => ({ tags: a.Tags, instance: a.InstanceId ? hostOf(a.InstanceId) : null }))),
    };
  }

  /** Every resource id the fake holds whose tags carry the given site and stage. */
  taggedIds(site: string, stage: string): string[] {
    const ours = (tags: Tag[]) => tagValue(tags, 'hive:site') === site && tagValue(tags, 'hive:stage') === stage;
    return [
      ...this.vpcs.filter((x) => ours(x.Tags)).map((x) => x.VpcId),
      ...this.igws.filter((x) => ours(x.Tags)).map((x) => x.InternetGatewayId),
      ...this.subnets.filter((x) => ours(x.Tags)).map((x) => x.SubnetId),
      ...this.routeTables.filter((x) => ours(x.Tags)).map((x) => x.RouteTableId),
      ...this.securityGroups.filter((x) => ours(x.Tags)).map((x) => x.GroupId),
      ...this.keyPairs.filter((x) => ours(x.Tags)).map((x) => x.KeyPairId),
      ...this.instances.filter((x) => ours(x.Tags) && x.State.Name !== 'terminated').map((x) => x.InstanceId),
      ...this.addresses.filter((x) => ours(x.Tags)).map((x) => x.AllocationId),
    ];
  }
}
