// build-infra on AWS: create or find (by the site's tags) everything the stage needs. Every step
// first describes, then creates only what is missing, so a second run changes nothing and a run
// interrupted half way is completed by the next one. With dryRun the same steps run with
// describe calls only and report what they would do (`hive plan`).
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
  DescribeAddressesCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  ImportKeyPairCommand,
  ModifyVpcAttributeCommand,
  ReplaceRouteCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  type Address,
  type BlockDeviceMapping,
  type Image,
  type Instance,
  type InternetGateway,
  type IpPermission,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { existsSync, readFileSync } from 'node:fs';
import type { ProviderContext } from '../provider.js';
import { ensureSshKeyPair } from '../credentials.js';
import { ProviderError } from '../errors.js';
import { StageDir } from '../../state/stage-dir.js';
import { forgetKnownHosts, knownHostsName, renderSshConfig, writeIfChanged } from '../ssh-config.js';
import { ALIVE_STATES, tagsOf, type AwsApi, type AwsDeps } from './api.js';
import {
  DEBIAN_OWNER,
  MIRRORED_DEVICE,
  TAG_HOST,
  TAG_SUBNET,
  ruleKey,
  type DesiredHost,
  type DesiredInfra,
  type InfraScope,
  type IngressRule,
} from './desired.js';
import { errorCode } from './errors.js';
import type { AwsPlan, AwsRun } from './plan.js';

/** One ingress atom as found on the group, with the permission that revokes exactly it. */
interface FoundRule {
  key: string;
  perm: IpPermission;
}

export class AwsBuild {
  private readonly ctx: ProviderContext;
  private readonly scope: InfraScope;
  private readonly deps: AwsDeps;
  private readonly dryRun: boolean;
  private readonly api: AwsApi;
  private readonly plan: AwsPlan;

  constructor(run: AwsRun) {
    ({ ctx: this.ctx, scope: this.scope, deps: this.deps, dryRun: this.dryRun, api: this.api, plan: this.plan } = run);
  }

  private get stageFiles(): StageDir {
    return new StageDir(this.ctx.stageDir);
  }

  async build(d: DesiredInfra): Promise<void> {
    const images = await this.preflight(d);
    const publicKey = await this.sshKey();
    const vpcId = await this.vpc(d);
    const igwId = await this.internetGateway(d, vpcId);
    const subnetIds = await this.subnets(d, vpcId);
    await this.routeTable(d, vpcId, igwId, subnetIds);
    const sgId = await this.securityGroup(d, vpcId);
    await this.keyPair(d, publicKey);
    const instances = await this.instances(d, images, subnetIds, sgId);
    const addresses = await this.addresses(d, instances);
    if (this.dryRun) return;
    await this.waitForSsh(d, addresses);
    this.writeSshConfig(d, addresses);
  }

  /** Zones, instance types and images checked before anything is created. */
  private async preflight(d: DesiredInfra): Promise<Map<string, Image>> {
    this.plan.startTask('check zones, instance types and images');
    const zones = await this.api.look('listing the availability zones', () =>
      this.api.ec2.send(new DescribeAvailabilityZonesCommand({})),
    );
    const available = (zones.AvailabilityZones ?? []).filter((z) => z.State === 'available').map((z) => z.ZoneName ?? '');
    for (const s of d.subnets) {
      if (s.az && !available.includes(s.az)) {
        throw new ProviderError(
          `availability zone ${s.az} of subnet ${s.name} is not available in ${d.region} (available: ${available.join(', ') || 'none'}): fix available_zone in the inventory's hive.yml`,
          { exitCode: 1 },
        );
      }
    }

    const types = [...new Set(d.hosts.map((h) => h.instanceType))];
    const arch = new Map<string, string>();
    for (const t of types) {
      const host = d.hosts.find((h) => h.instanceType === t)!;
      const r = await this.api.look(`checking instance type ${t} of host ${host.name}`, () =>
        this.api.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [t as _InstanceType] })),
        { instanceType: t },
      );
      const archs = r.InstanceTypes?.[0]?.ProcessorInfo?.SupportedArchitectures ?? [];
      if (!r.InstanceTypes?.length) {
        throw new ProviderError(
          `instance type ${t} of host ${host.name} is not offered in ${d.region}: fix instance_type / repository_instance_type in the inventory's hive.yml`,
        );
      }
      arch.set(t, archs.includes('x86_64') ? 'x86_64' : (archs[0] ?? 'x86_64'));
    }
    const offerings = await this.api.look('checking instance type offerings per zone', () =>
      this.api.ec2.send(
        new DescribeInstanceTypeOfferingsCommand({
          LocationType: 'availability-zone',
          Filters: [{ Name: 'instance-type', Values: types }],
        }),
      ),
    );
    const offered = new Set((offerings.InstanceTypeOfferings ?? []).map((o) => `${o.InstanceType}@${o.Location}`));
    for (const h of d.hosts) {
      const az = d.subnets.find((s) => s.name === h.subnet)?.az;
      if (az && !offered.has(`${h.instanceType}@${az}`)) {
        throw new ProviderError(
          `instance type ${h.instanceType} of host ${h.name} is not offered in zone ${az}: choose another available_zone for subnet ${h.subnet} or another instance type in the inventory's hive.yml`,
        );
      }
    }

    // One image per host: the inventory's image_name, else the newest Debian 12 for its architecture.
    const images = new Map<string, Image>();
    const byKey = new Map<string, Image>();
    for (const h of d.hosts) {
      const a = arch.get(h.instanceType)!;
      const key = h.imageId ?? `debian-12/${a}`;
      let image = byKey.get(key);
      if (!image) {
        image = h.imageId ? await this.imageById(h.imageId, h.name) : await this.debianImage(a);
        byKey.set(key, image);
      }
      images.set(h.name, image);
    }
    return images;
  }

  private async imageById(imageId: string, host: string): Promise<Image> {
    const r = await this.api.look(`looking up image ${imageId} of host ${host}`, () =>
      this.api.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })),
      { imageId },
    );
    const image = r.Images?.[0];
    if (!image) {
      throw new ProviderError(`image ${imageId} of host ${host} not found in ${this.scope.region}: fix image_name in the inventory (AMI ids differ per region)`);
    }
    return image;
  }

  private async debianImage(arch: string): Promise<Image> {
    const pattern = `debian-12-${arch === 'arm64' ? 'arm64' : 'amd64'}-*`;
    const r = await this.api.look(`looking up the current Debian 12 image (${pattern})`, () =>
      this.api.ec2.send(
        new DescribeImagesCommand({
          Owners: [DEBIAN_OWNER],
          Filters: [
            { Name: 'name', Values: [pattern] },
            { Name: 'architecture', Values: [arch] },
            { Name: 'state', Values: ['available'] },
          ],
        }),
      ),
    );
    const newest = (r.Images ?? [])
      .filter((i) => !/daily/.test(i.Name ?? ''))
      .sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
    if (!newest) {
      throw new ProviderError(
        `no Debian 12 image (owner ${DEBIAN_OWNER}, ${pattern}) found in ${this.scope.region}: set image_name to an AMI id in the inventory's hive.yml`,
      );
    }
    return newest;
  }

  private async sshKey(): Promise<string | undefined> {
    const publicKeyPath = this.stageFiles.publicKey;
    if (this.dryRun) return existsSync(publicKeyPath) ? readFileSync(publicKeyPath, 'utf8').trim() : undefined;
    return (await ensureSshKeyPair(this.ctx.stageDir, `hive-${this.scope.site}-${this.scope.stage}`)).publicKey;
  }

  private async vpc(d: DesiredInfra): Promise<string | undefined> {
    this.plan.startTask('VPC');
    const vpcs = (
      await this.api.look('looking up the VPC', () => this.api.ec2.send(new DescribeVpcsCommand({ Filters: this.api.tagFilters() })))
    ).Vpcs ?? [];
    if (vpcs.length > 1) this.plan.warn(`${vpcs.length} VPCs carry the tags of ${d.baseName}; using ${vpcs[0].VpcId}`);
    const vpc = vpcs[0];
    if (vpc?.VpcId) {
      if (vpc.CidrBlock !== d.cidr) {
        throw new ProviderError(
          `VPC ${vpc.VpcId} (${d.baseName}) has cidr ${vpc.CidrBlock} but the stage's cidr is ${d.cidr}: restore cidr in the inventory, or destroy the stage (-D) and build it again`,
        );
      }
      this.plan.report('keep', 'vpc', d.baseName, vpc.VpcId);
      const attr = await this.api.look(`reading DNS settings of VPC ${vpc.VpcId}`, () =>
        this.api.ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpc.VpcId, Attribute: 'enableDnsHostnames' })),
      );
      if (!attr.EnableDnsHostnames?.Value) {
        if (!this.dryRun) await this.enableDnsHostnames(vpc.VpcId);
        this.plan.report('change', 'vpc-attribute', `${d.baseName} enableDnsHostnames`, vpc.VpcId);
      }
      return vpc.VpcId;
    }
    if (this.dryRun) {
      this.plan.report('create', 'vpc', d.baseName);
      return undefined;
    }
    const created = await this.api.change(`creating VPC ${d.baseName} (${d.cidr})`, () =>
      this.api.ec2.send(new CreateVpcCommand({ CidrBlock: d.cidr, TagSpecifications: [this.api.tagSpec('vpc', d.baseName)] })),
      { cidr: d.cidr },
    );
    const id = created.Vpc!.VpcId!;
    await this.enableDnsHostnames(id);
    this.plan.report('create', 'vpc', d.baseName, id);
    return id;
  }

  private async enableDnsHostnames(vpcId: string) {
    await this.api.change(`enabling DNS hostnames on VPC ${vpcId}`, () =>
      this.api.ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: true } })),
    );
  }

  private async internetGateway(d: DesiredInfra, vpcId: string | undefined): Promise<string | undefined> {
    this.plan.startTask('internet gateway');
    const name = `${d.baseName}-igw`;
    const igws = (
      await this.api.look('looking up the internet gateway', () =>
        this.api.ec2.send(new DescribeInternetGatewaysCommand({ Filters: this.api.tagFilters() })),
      )
    ).InternetGateways ?? [];
    let igw: InternetGateway | undefined = igws.find((g) => g.Attachments?.some((a) => a.VpcId === vpcId)) ?? igws[0];
    let id = igw?.InternetGatewayId;
    if (id) this.plan.report('keep', 'internet-gateway', name, id);
    else if (this.dryRun) this.plan.report('create', 'internet-gateway', name);
    else {
      const r = await this.api.change(`creating internet gateway ${name}`, () =>
        this.api.ec2.send(new CreateInternetGatewayCommand({ TagSpecifications: [this.api.tagSpec('internet-gateway', name)] })),
      );
      igw = r.InternetGateway;
      id = igw!.InternetGatewayId!;
      this.plan.report('create', 'internet-gateway', name, id);
    }
    const attachedTo = igw?.Attachments?.find((a) => a.State !== 'detached')?.VpcId;
    if (attachedTo && attachedTo !== vpcId && vpcId) {
      throw new ProviderError(
        `internet gateway ${id} (${name}) is attached to ${attachedTo}, not to the stage VPC ${vpcId}: detach it, then run build-infra again`,
      );
    }
    if (!attachedTo) {
      if (!this.dryRun && id && vpcId) {
        const igwId = id;
        await this.api.change(`attaching internet gateway ${igwId} to VPC ${vpcId}`, () =>
          this.api.ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igwId, VpcId: vpcId })),
        );
      }
      this.plan.report('change', 'igw-attachment', `${name} → ${d.baseName}`, id);
    }
    return id;
  }

  private async subnets(d: DesiredInfra, vpcId: string | undefined): Promise<Map<string, string>> {
    this.plan.startTask('subnets');
    const ids = new Map<string, string>();
    const found = vpcId
      ? ((
          await this.api.look('looking up the subnets', () =>
            this.api.ec2.send(
              new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, ...this.api.tagFilters()] }),
            ),
          )
        ).Subnets ?? [])
      : [];
    for (const s of d.subnets) {
      const name = `${d.baseName}-${s.name}`;
      const have = found.find((f) => tagsOf(f.Tags)[TAG_SUBNET] === s.name);
      if (have?.SubnetId) {
        if (have.CidrBlock !== s.cidr || (s.az && have.AvailabilityZone !== s.az)) {
          throw new ProviderError(
            `subnet ${have.SubnetId} (${s.name}) is ${have.CidrBlock} in ${have.AvailabilityZone} but the inventory asks for ${s.cidr} in ${s.az ?? 'any zone'}: restore the subnet in the inventory, or destroy the stage (-D) and build it again`,
          );
        }
        ids.set(s.name, have.SubnetId);
        this.plan.report('keep', 'subnet', name, have.SubnetId);
      } else if (this.dryRun || !vpcId) {
        this.plan.report('create', 'subnet', name);
      } else {
        const r = await this.api.change(
          `creating subnet ${s.name} (${s.cidr}${s.az ? ` in ${s.az}` : ''})`,
          () =>
            this.api.ec2.send(
              new CreateSubnetCommand({
                VpcId: vpcId,
                CidrBlock: s.cidr,
                AvailabilityZone: s.az,
                TagSpecifications: [this.api.tagSpec('subnet', name, { [TAG_SUBNET]: s.name })],
              }),
            ),
          { zone: s.az, cidr: s.cidr },
        );
        ids.set(s.name, r.Subnet!.SubnetId!);
        this.plan.report('create', 'subnet', name, r.Subnet!.SubnetId);
      }
    }
    return ids;
  }

  private async routeTable(
    d: DesiredInfra,
    vpcId: string | undefined,
    igwId: string | undefined,
    subnetIds: Map<string, string>,
  ): Promise<void> {
    this.plan.startTask('route table');
    const name = `${d.baseName}-public`;
    let rt = vpcId
      ? (
          await this.api.look('looking up the route table', () =>
            this.api.ec2.send(
              new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, ...this.api.tagFilters()] }),
            ),
          )
        ).RouteTables?.[0]
      : undefined;
    if (rt?.RouteTableId) this.plan.report('keep', 'route-table', name, rt.RouteTableId);
    else if (this.dryRun || !vpcId) this.plan.report('create', 'route-table', name);
    else {
      rt = (
        await this.api.change(`creating route table ${name}`, () =>
          this.api.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId, TagSpecifications: [this.api.tagSpec('route-table', name)] })),
        )
      ).RouteTable;
      this.plan.report('create', 'route-table', name, rt?.RouteTableId);
    }
    const rtId = rt?.RouteTableId;

    const route = rt?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
    if (!route || (igwId && route.GatewayId !== igwId)) {
      if (!this.dryRun && rtId && igwId) {
        const input = { RouteTableId: rtId, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igwId };
        await this.api.change(`routing 0.0.0.0/0 of ${name} to the internet gateway`, () =>
          this.api.ec2.send(route ? new ReplaceRouteCommand(input) : new CreateRouteCommand(input)),
        );
      }
      this.plan.report('change', 'route', `${name} 0.0.0.0/0 → internet gateway`, rtId);
    }

    for (const s of d.subnets) {
      const subnetId = subnetIds.get(s.name);
      if (subnetId && rt?.Associations?.some((a) => a.SubnetId === subnetId)) continue;
      if (!this.dryRun && rtId && subnetId) {
        await this.api.change(`associating subnet ${s.name} with route table ${name}`, () =>
          this.api.ec2.send(new AssociateRouteTableCommand({ RouteTableId: rtId, SubnetId: subnetId })),
        );
      }
      this.plan.report('change', 'route-association', `${name} ↔ ${s.name}`, rtId);
    }
  }

  private async securityGroup(d: DesiredInfra, vpcId: string | undefined): Promise<string | undefined> {
    this.plan.startTask('security group');
    const name = d.baseName;
    let sg = vpcId
      ? (
          await this.api.look('looking up the security group', () =>
            this.api.ec2.send(
              new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, ...this.api.tagFilters()] }),
            ),
          )
        ).SecurityGroups?.[0]
      : undefined;
    let id = sg?.GroupId;
    if (id) this.plan.report('keep', 'security-group', name, id);
    else if (this.dryRun || !vpcId) this.plan.report('create', 'security-group', name);
    else {
      const r = await this.api.change(`creating security group ${name}`, () =>
        this.api.ec2.send(
          new CreateSecurityGroupCommand({
            GroupName: name,
            Description: `hive ${d.site} ${d.stage}: traffic between the servers, ssh and published ports`,
            VpcId: vpcId,
            TagSpecifications: [this.api.tagSpec('security-group', name)],
          }),
        ),
      );
      id = r.GroupId!;
      sg = undefined;
      this.plan.report('create', 'security-group', name, id);
    }

    const have = flattenPermissions(sg?.IpPermissions ?? [], id);
    const want = new Map(d.ingress.map((r) => [ruleKey(r), r]));
    const missing = [...want.values()].filter((r) => !have.some((h) => h.key === ruleKey(r)));
    const extra = have.filter((h) => !want.has(h.key));
    if (missing.length) {
      if (!this.dryRun && id) {
        const groupId = id;
        await this.api.change(`opening ${missing.length} rule(s) in security group ${name}`, () =>
          this.api.ec2.send(
            new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: missing.map((r) => toPermission(r, groupId)) }),
          ),
        );
      }
      for (const r of missing) this.plan.report('create', 'security-group-rule', describeRule(r), id);
    }
    if (extra.length) {
      if (!this.dryRun && id) {
        const groupId = id;
        await this.api.change(`closing ${extra.length} rule(s) no longer in the inventory in security group ${name}`, () =>
          this.api.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: extra.map((e) => e.perm) })),
        );
      }
      for (const e of extra) this.plan.report('delete', 'security-group-rule', e.key, id);
    }
    return id;
  }

  private async keyPair(d: DesiredInfra, publicKey: string | undefined): Promise<void> {
    this.plan.startTask('key pair');
    const r = await this.api.look(`looking up key pair ${d.keyName}`, () =>
      this.api.ec2.send(
        new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: [d.keyName] }], IncludePublicKey: true }),
      ),
    );
    const kp = r.KeyPairs?.[0];
    if (kp) {
      if (!this.api.isOurs(kp.Tags)) {
        throw new ProviderError(
          `key pair ${d.keyName} exists in ${d.region} but does not carry the tags of this site and stage: delete it (aws ec2 delete-key-pair --key-name ${d.keyName}) or rename the site`,
        );
      }
      const fields = (k: string | undefined) => (k ?? '').trim().split(/\s+/).slice(0, 2).join(' ');
      if (publicKey && kp.PublicKey && fields(kp.PublicKey) !== fields(publicKey)) {
        throw new ProviderError(
          `key pair ${d.keyName} holds another public key than ${this.stageFiles.publicKey} and the instances accept only that one: restore the stage's id_ed25519 files, or destroy the stage (-D) and build it again`,
        );
      }
      this.plan.report('keep', 'key-pair', d.keyName, kp.KeyPairId);
      return;
    }
    if (this.dryRun || !publicKey) {
      this.plan.report('create', 'key-pair', d.keyName);
      return;
    }
    const created = await this.api.change(`importing key pair ${d.keyName}`, () =>
      this.api.ec2.send(
        new ImportKeyPairCommand({
          KeyName: d.keyName,
          PublicKeyMaterial: new TextEncoder().encode(publicKey),
          TagSpecifications: [this.api.tagSpec('key-pair', d.keyName)],
        }),
      ),
    );
    this.plan.report('create', 'key-pair', d.keyName, created.KeyPairId);
  }

  private blockDevices(h: DesiredHost, image: Image): BlockDeviceMapping[] {
    const kms = (encrypted: boolean) => (encrypted ? { Encrypted: true, ...(h.kmsKeyId ? { KmsKeyId: h.kmsKeyId } : {}) } : {});
    const devices: BlockDeviceMapping[] = [
      {
        DeviceName: image.RootDeviceName ?? '/dev/xvda',
        Ebs: {
          VolumeType: 'gp3',
          DeleteOnTermination: true,
          ...(h.diskSize ? { VolumeSize: h.diskSize } : {}),
          ...kms(h.diskEncrypted),
        },
      },
    ];
    if (h.mirroredDiskSize) {
      devices.push({
        DeviceName: MIRRORED_DEVICE,
        Ebs: { VolumeType: 'gp3', DeleteOnTermination: true, VolumeSize: h.mirroredDiskSize, ...kms(h.mirroredDiskEncrypted) },
      });
    }
    return devices;
  }

  /** Host name → instance (undefined in dry-run when it would be created). */
  private async instances(
    d: DesiredInfra,
    images: Map<string, Image>,
    subnetIds: Map<string, string>,
    sgId: string | undefined,
  ): Promise<Map<string, { id?: string; fresh: boolean }>> {
    this.plan.startTask('instances');
    const found = await this.api.ourInstances(ALIVE_STATES);
    const byHost = new Map<string, Instance>();
    for (const i of found) {
      const host = tagsOf(i.Tags)[TAG_HOST];
      if (!host) continue;
      if (byHost.has(host)) this.plan.warn(`host ${host} has two instances (${byHost.get(host)!.InstanceId}, ${i.InstanceId}); using the first`);
      else byHost.set(host, i);
      if (!d.hosts.some((h) => h.name === host)) {
        this.plan.warn(`instance ${i.InstanceId} (host ${host}) is no longer in the inventory; hive leaves it alone (-D removes the whole stage)`);
      }
    }

    const result = new Map<string, { id?: string; fresh: boolean }>();
    const toStart: string[] = [];
    const waitRunning: string[] = [];
    for (const h of d.hosts) {
      const inst = byHost.get(h.name);
      if (inst?.InstanceId) {
        if (inst.PrivateIpAddress && inst.PrivateIpAddress !== h.privateIp) {
          this.plan.warn(`instance ${inst.InstanceId} of host ${h.name} has address ${inst.PrivateIpAddress}, the inventory now says ${h.privateIp}; destroy and rebuild the stage to move it`);
        }
        if (inst.InstanceType !== h.instanceType) {
          this.plan.warn(`instance ${inst.InstanceId} of host ${h.name} is ${inst.InstanceType}, the inventory says ${h.instanceType}; hive does not resize running instances`);
        }
        const state = inst.State?.Name;
        if (state === 'stopped' || state === 'stopping') {
          toStart.push(inst.InstanceId);
          this.plan.report('start', 'instance', h.name, inst.InstanceId, h.name);
        } else {
          this.plan.report('keep', 'instance', h.name, inst.InstanceId, h.name);
        }
        waitRunning.push(inst.InstanceId);
        result.set(h.name, { id: inst.InstanceId, fresh: false });
        continue;
      }
      const subnetId = subnetIds.get(h.subnet);
      if (this.dryRun || !subnetId || !sgId) {
        this.plan.report('create', 'instance', h.name, undefined, h.name);
        result.set(h.name, { fresh: true });
        continue;
      }
      const image = images.get(h.name)!;
      const zone = d.subnets.find((s) => s.name === h.subnet)?.az;
      const r = await this.api.change(
        `launching instance ${h.name} (${h.instanceType}, ${h.privateIp})`,
        () =>
          this.api.ec2.send(
            new RunInstancesCommand({
              ImageId: image.ImageId,
              InstanceType: h.instanceType as _InstanceType,
              MinCount: 1,
              MaxCount: 1,
              KeyName: d.keyName,
              NetworkInterfaces: [
                {
                  DeviceIndex: 0,
                  SubnetId: subnetId,
                  PrivateIpAddress: h.privateIp,
                  Groups: [sgId],
                  AssociatePublicIpAddress: false,
                  DeleteOnTermination: true,
                },
              ],
              BlockDeviceMappings: this.blockDevices(h, image),
              MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
              TagSpecifications: [
                this.api.tagSpec('instance', h.name, { [TAG_HOST]: h.name }),
                this.api.tagSpec('volume', h.name, { [TAG_HOST]: h.name }),
              ],
            }),
          ),
        { instanceType: h.instanceType, zone, imageId: image.ImageId, kmsKeyId: h.kmsKeyId },
      );
      const id = r.Instances![0].InstanceId!;
      waitRunning.push(id);
      result.set(h.name, { id, fresh: true });
      this.plan.report('create', 'instance', h.name, id, h.name);
    }

    if (!this.dryRun) {
      // Stopping instances must finish stopping before they can be started again.
      if (toStart.length) {
        const states = await this.api.describeInstances([{ Name: 'instance-id', Values: toStart }], 'reading instance states');
        const stopping = states.filter((i) => i.State?.Name === 'stopping').map((i) => i.InstanceId!);
        await this.api.waitInstances(stopping, 'stopped');
        await this.api.change(`starting instances ${toStart.join(', ')}`, () =>
          this.api.ec2.send(new StartInstancesCommand({ InstanceIds: toStart })),
        );
      }
      this.plan.startTask('wait for instances to run');
      await this.api.waitInstances(waitRunning, 'running');
    }
    return result;
  }

  /** Host name → public address (undefined in dry-run when it would be allocated). */
  private async addresses(
    d: DesiredInfra,
    instances: Map<string, { id?: string; fresh: boolean }>,
  ): Promise<Map<string, string | undefined>> {
    this.plan.startTask('Elastic IPs');
    const tagged = (
      await this.api.look('looking up the Elastic IPs', () =>
        this.api.ec2.send(new DescribeAddressesCommand({ Filters: this.api.tagFilters() })),
      )
    ).Addresses ?? [];
    const result = new Map<string, string | undefined>();
    for (const h of d.hosts) {
      const inst = instances.get(h.name);
      let addr: Address | undefined;
      if (h.publishedIp) {
        const ip = h.publishedIp;
        addr = (
          await this.api.look(`looking up hive_published_ip ${ip} of host ${h.name}`, () =>
            this.api.ec2.send(new DescribeAddressesCommand({ PublicIps: [ip] })),
          ).catch((e: ProviderError) => {
            if (errorCode(e.cause) === 'InvalidAddress.NotFound') return { Addresses: [] };
            throw e;
          })
        ).Addresses?.[0];
        if (!addr) {
          throw new ProviderError(
            `hive_published_ip ${ip} of host ${h.name} is not an Elastic IP of this account in ${d.region}: allocate it there or remove hive_published_ip`,
          );
        }
        this.plan.report('keep', 'elastic-ip', `${h.name} ${ip}`, addr.AllocationId, h.name);
      } else {
        addr = tagged.find((a) => tagsOf(a.Tags)[TAG_HOST] === h.name);
        if (addr) this.plan.report('keep', 'elastic-ip', `${h.name} ${addr.PublicIp}`, addr.AllocationId, h.name);
        else if (this.dryRun) this.plan.report('create', 'elastic-ip', h.name, undefined, h.name);
        else {
          const r = await this.api.change(`allocating an Elastic IP for host ${h.name}`, () =>
            this.api.ec2.send(
              new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: [this.api.tagSpec('elastic-ip', h.name, { [TAG_HOST]: h.name })] }),
            ),
          );
          addr = { AllocationId: r.AllocationId, PublicIp: r.PublicIp };
          this.plan.report('create', 'elastic-ip', `${h.name} ${r.PublicIp}`, r.AllocationId, h.name);
        }
      }
      result.set(h.name, addr?.PublicIp);

      if (addr?.InstanceId && addr.InstanceId === inst?.id) continue;
      if (!this.dryRun && addr?.AllocationId && inst?.id) {
        const allocationId = addr.AllocationId;
        const instanceId = inst.id;
        await this.api.change(`associating Elastic IP ${addr.PublicIp} with instance ${instanceId} (${h.name})`, () =>
          this.api.ec2.send(
            new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: !h.publishedIp }),
          ),
        );
        // The address now leads to another machine: its old host key must not block ssh.
        forgetKnownHosts(this.stageFiles.knownHosts, [knownHostsName(addr.PublicIp!, h.sshPort)]);
      }
      this.plan.report('change', 'eip-association', `${h.name} ${addr?.PublicIp ?? '(new address)'}`, addr?.AllocationId, h.name);
    }
    for (const a of tagged) {
      const host = tagsOf(a.Tags)[TAG_HOST];
      if (host && !d.hosts.some((h) => h.name === host)) {
        this.plan.warn(`Elastic IP ${a.PublicIp} (host ${host}) is no longer in the inventory; hive keeps it (-D releases the stage's addresses)`);
      }
    }
    return result;
  }

  private async waitForSsh(d: DesiredInfra, addresses: Map<string, string | undefined>): Promise<void> {
    this.plan.startTask('wait for SSH');
    await Promise.all(
      d.hosts.map(async (h) => {
        const ip = addresses.get(h.name)!;
        try {
          await this.deps.waitForSsh(ip, h.sshPort);
        } catch (e) {
          throw new ProviderError(
            `host ${h.name} (${ip}) does not answer on ssh port ${h.sshPort}: ${(e as Error).message}; check the instance's system log in the EC2 console, then run build-infra again`,
            { cause: e },
          );
        }
        this.plan.result(h.name, 'ok', `ssh answers on ${ip}`);
      }),
    );
  }

  private writeSshConfig(d: DesiredInfra, addresses: Map<string, string | undefined>): void {
    this.plan.startTask('ssh_config');
    const config = renderSshConfig(
      this.ctx.stageDir,
      this.stageFiles.privateKey,
      d.hosts.map((h) => ({ alias: h.name, hostName: addresses.get(h.name)!, port: h.sshPort, user: h.admin, strict: 'accept-new' })),
      'aws',
    );
    const changed = writeIfChanged(this.stageFiles.sshConfig, config);
    this.plan.result(this.scope.motherName, changed ? 'changed' : 'ok', `${changed ? 'wrote' : 'unchanged'} ${this.stageFiles.sshConfig}`);
  }
}

function flattenPermissions(perms: IpPermission[], groupId: string | undefined): FoundRule[] {
  const out: FoundRule[] = [];
  for (const p of perms) {
    const proto = p.IpProtocol ?? '-1';
    const base: IpPermission =
      proto === '-1' ? { IpProtocol: '-1' } : { IpProtocol: proto, FromPort: p.FromPort, ToPort: p.ToPort };
    const rule = (source: string): string =>
      ruleKey({ proto, from: p.FromPort, to: p.ToPort, source });
    for (const r of p.IpRanges ?? []) out.push({ key: rule(r.CidrIp ?? ''), perm: { ...base, IpRanges: [{ CidrIp: r.CidrIp }] } });
    for (const g of p.UserIdGroupPairs ?? []) {
      const src = g.GroupId === groupId ? 'self' : `sg:${g.GroupId}`;
      out.push({ key: rule(src), perm: { ...base, UserIdGroupPairs: [{ GroupId: g.GroupId }] } });
    }
    for (const r of p.Ipv6Ranges ?? []) out.push({ key: rule(`v6:${r.CidrIpv6}`), perm: { ...base, Ipv6Ranges: [{ CidrIpv6: r.CidrIpv6 }] } });
    for (const l of p.PrefixListIds ?? []) out.push({ key: rule(`pl:${l.PrefixListId}`), perm: { ...base, PrefixListIds: [{ PrefixListId: l.PrefixListId }] } });
  }
  return out;
}

function toPermission(r: IngressRule, groupId: string): IpPermission {
  const base: IpPermission = r.proto === '-1' ? { IpProtocol: '-1' } : { IpProtocol: r.proto, FromPort: r.from, ToPort: r.to };
  const description = r.source === '0.0.0.0/0' ? 'hive: published' : 'hive: servers';
  return r.source === 'self'
    ? { ...base, UserIdGroupPairs: [{ GroupId: groupId, Description: description }] }
    : { ...base, IpRanges: [{ CidrIp: r.source, Description: description }] };
}

function describeRule(r: IngressRule): string {
  const proto = r.proto === '-1' ? 'all' : r.proto;
  const ports = r.proto === '-1' ? '' : r.from === r.to ? ` ${r.from}` : ` ${r.from}-${r.to}`;
  return `${proto}${ports} from ${r.source}`;
}
