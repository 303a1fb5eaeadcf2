// -H and -D on AWS. -H stops the stage's instances. -D terminates them, then walks TEARDOWN: per
// kind of resource, in an order AWS accepts (what depends on a resource goes before it), it
// describes what carries the stage's tags and deletes each. In dry-run only the describe calls
// run. An interrupted -D is finished by the next one: each kind is looked up afresh.
import {
  DeleteInternetGatewayCommand,
  DeleteKeyPairCommand,
  DeleteRouteTableCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeAddressesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  ReleaseAddressCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Address,
  type Filter,
  type InternetGateway,
  type KeyPairInfo,
  type RouteTable,
  type SecurityGroup,
  type Subnet,
  type Vpc,
} from '@aws-sdk/client-ec2';
import { StageDir } from '../../state/stage-dir.js';
import { removeFiles } from '../ssh-config.js';
import { ALIVE_STATES, nameOf, tagsOf, type AwsApi } from './api.js';
import { TAG_HOST } from './desired.js';
import type { AwsRun } from './plan.js';

/** One kind of resource -D deletes. */
interface Teardown<T> {
  /** The task shown while this kind is deleted. */
  task: string;
  /** The plan item kind. */
  kind: string;
  /** What the describe call is doing, for its error message. */
  looking: string;
  /** The resources carrying the stage's tags: a describe call only. */
  find(api: AwsApi, filters: Filter[]): Promise<T[] | undefined>;
  /** Deletes one resource (never called in dry-run). */
  remove(api: AwsApi, r: T): Promise<void>;
  name(r: T): string;
  id(r: T): string | undefined;
}

const kind = <T>(t: Teardown<T>): Teardown<T> => t;

/** The order of deletion: addresses and key pair (nothing depends on them), then the network inside out. */
const TEARDOWN: readonly Teardown<unknown>[] = [
  kind<Address>({
    task: 'release Elastic IPs',
    kind: 'elastic-ip',
    looking: 'looking up the Elastic IPs',
    find: (api, Filters) => api.ec2.send(new DescribeAddressesCommand({ Filters })).then((r) => r.Addresses),
    async remove(api, a) {
      if (a.AssociationId) {
        await api.change(`disassociating Elastic IP ${a.PublicIp}`, () =>
          api.ec2.send(new DisassociateAddressCommand({ AssociationId: a.AssociationId })),
        );
      }
      await api.change(`releasing Elastic IP ${a.PublicIp}`, () => api.ec2.send(new ReleaseAddressCommand({ AllocationId: a.AllocationId })));
    },
    name: (a) => `${tagsOf(a.Tags)[TAG_HOST] ?? ''} ${a.PublicIp}`.trim(),
    id: (a) => a.AllocationId,
  }),
  kind<KeyPairInfo>({
    task: 'delete key pair',
    kind: 'key-pair',
    looking: 'looking up the key pair',
    find: (api, Filters) => api.ec2.send(new DescribeKeyPairsCommand({ Filters })).then((r) => r.KeyPairs),
    async remove(api, k) {
      await api.change(`deleting key pair ${k.KeyName}`, () => api.ec2.send(new DeleteKeyPairCommand({ KeyPairId: k.KeyPairId })));
    },
    name: (k) => k.KeyName ?? '',
    id: (k) => k.KeyPairId,
  }),
  kind<RouteTable>({
    task: 'delete route table',
    kind: 'route-table',
    looking: 'looking up the route tables',
    find: (api, Filters) => api.ec2.send(new DescribeRouteTablesCommand({ Filters })).then((r) => r.RouteTables),
    async remove(api, t) {
      for (const a of t.Associations ?? []) {
        if (a.Main || !a.RouteTableAssociationId) continue;
        await api.change(`disassociating route table ${t.RouteTableId} from ${a.SubnetId}`, () =>
          api.ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId })),
        );
      }
      await api.retryDependency(`deleting route table ${t.RouteTableId}`, () =>
        api.ec2.send(new DeleteRouteTableCommand({ RouteTableId: t.RouteTableId })),
      );
    },
    name: (t) => nameOf(t.Tags, t.RouteTableId),
    id: (t) => t.RouteTableId,
  }),
  kind<Subnet>({
    task: 'delete subnets',
    kind: 'subnet',
    looking: 'looking up the subnets',
    find: (api, Filters) => api.ec2.send(new DescribeSubnetsCommand({ Filters })).then((r) => r.Subnets),
    async remove(api, sn) {
      await api.retryDependency(`deleting subnet ${sn.SubnetId}`, () => api.ec2.send(new DeleteSubnetCommand({ SubnetId: sn.SubnetId })));
    },
    name: (sn) => nameOf(sn.Tags, sn.SubnetId),
    id: (sn) => sn.SubnetId,
  }),
  kind<InternetGateway>({
    task: 'delete internet gateway',
    kind: 'internet-gateway',
    looking: 'looking up the internet gateway',
    find: (api, Filters) => api.ec2.send(new DescribeInternetGatewaysCommand({ Filters })).then((r) => r.InternetGateways),
    async remove(api, g) {
      for (const a of g.Attachments ?? []) {
        await api.retryDependency(`detaching internet gateway ${g.InternetGatewayId} from ${a.VpcId}`, () =>
          api.ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: g.InternetGatewayId, VpcId: a.VpcId })),
        );
      }
      await api.change(`deleting internet gateway ${g.InternetGatewayId}`, () =>
        api.ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: g.InternetGatewayId })),
      );
    },
    name: (g) => nameOf(g.Tags, g.InternetGatewayId),
    id: (g) => g.InternetGatewayId,
  }),
  kind<SecurityGroup>({
    task: 'delete security group',
    kind: 'security-group',
    looking: 'looking up the security group',
    find: (api, Filters) => api.ec2.send(new DescribeSecurityGroupsCommand({ Filters })).then((r) => r.SecurityGroups),
    async remove(api, g) {
      await api.retryDependency(`deleting security group ${g.GroupId}`, () => api.ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId })));
    },
    name: (g) => g.GroupName ?? '',
    id: (g) => g.GroupId,
  }),
  kind<Vpc>({
    task: 'delete VPC',
    kind: 'vpc',
    looking: 'looking up the VPC',
    find: (api, Filters) => api.ec2.send(new DescribeVpcsCommand({ Filters })).then((r) => r.Vpcs),
    async remove(api, v) {
      await api.retryDependency(`deleting VPC ${v.VpcId}`, () => api.ec2.send(new DeleteVpcCommand({ VpcId: v.VpcId })));
    },
    name: (v) => nameOf(v.Tags, v.VpcId),
    id: (v) => v.VpcId,
  }),
];

/** -H: stop the stage's instances (waiting for pending ones to run first), keep everything. */
export async function halt({ api, plan, dryRun }: AwsRun): Promise<void> {
  plan.startTask('stop instances');
  const found = await api.ourInstances(ALIVE_STATES);
  const running = found.filter((i) => ['pending', 'running'].includes(i.State?.Name ?? ''));
  for (const i of found) {
    const host = tagsOf(i.Tags)[TAG_HOST] ?? i.InstanceId!;
    plan.report(running.includes(i) ? 'stop' : 'keep', 'instance', host, i.InstanceId, host);
  }
  if (dryRun || !found.length) return;
  const pending = running.filter((i) => i.State?.Name === 'pending').map((i) => i.InstanceId!);
  await api.waitInstances(pending, 'running');
  const ids = running.map((i) => i.InstanceId!);
  if (ids.length) {
    await api.change(`stopping instances ${ids.join(', ')}`, () => api.ec2.send(new StopInstancesCommand({ InstanceIds: ids })));
  }
  await api.waitInstances(found.map((i) => i.InstanceId!), 'stopped');
}

/** -D: terminate the instances and wait until they are gone, walk TEARDOWN, forget ssh_config and known_hosts. */
export async function destroy({ ctx, scope, api, plan, dryRun }: AwsRun): Promise<void> {
  plan.startTask('terminate instances');
  const instances = await api.ourInstances([...ALIVE_STATES, 'shutting-down']);
  for (const i of instances) {
    const host = tagsOf(i.Tags)[TAG_HOST] ?? i.InstanceId!;
    plan.report('delete', 'instance', host, i.InstanceId, host);
  }
  if (!dryRun && instances.length) {
    const ids = instances.map((i) => i.InstanceId!);
    const alive = instances.filter((i) => i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
    if (alive.length) {
      await api.change(`terminating instances ${alive.join(', ')}`, () => api.ec2.send(new TerminateInstancesCommand({ InstanceIds: alive })));
    }
    await api.waitInstances(ids, 'terminated');
  }

  for (const t of TEARDOWN) {
    plan.startTask(t.task);
    const found = (await api.look(t.looking, () => t.find(api, api.tagFilters()))) ?? [];
    for (const r of found) {
      if (!dryRun) await t.remove(api, r);
      plan.report('delete', t.kind, t.name(r), t.id(r));
    }
  }

  if (!dryRun) {
    plan.startTask('forget ssh_config and known_hosts');
    const stageFiles = new StageDir(ctx.stageDir);
    for (const f of removeFiles(stageFiles.sshConfig, stageFiles.knownHosts)) plan.result(scope.motherName, 'changed', `removed ${f}`);
  }
}
