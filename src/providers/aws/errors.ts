// AWS SDK errors → one line that names the resource and says what to do.
import { ProviderError } from '../errors.js';

export interface AwsErrorContext {
  /** What hive was doing, e.g. `creating subnet subnet-a (192.168.0.0/26)`. */
  doing: string;
  region: string;
  instanceType?: string;
  zone?: string;
  imageId?: string;
  kmsKeyId?: string;
  cidr?: string;
}

const QUOTA_CODES = new Set([
  'InstanceLimitExceeded',
  'AddressLimitExceeded',
  'VcpuLimitExceeded',
  'VpcLimitExceeded',
  'SubnetLimitExceeded',
  'InternetGatewayLimitExceeded',
  'RouteTableLimitExceeded',
  'SecurityGroupLimitExceeded',
  'RulesPerSecurityGroupLimitExceeded',
  'KeyPairLimitExceeded',
  'VolumeLimitExceeded',
  'MaxIOPSLimitExceeded',
  'ResourceLimitExceeded',
]);
const AUTH_CODES = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'UnrecognizedClientException',
  'OptInRequired',
]);
const NETWORK_CODES = new Set(['ENOTFOUND', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError', 'NetworkingError']);

export function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string };
  return e?.Code ?? (e?.name && e.name !== 'Error' ? e.name : undefined) ?? e?.code ?? 'Error';
}

const oneLine = (s: unknown) => String(s ?? '').replace(/\s+/g, ' ').trim();

export function mapAwsError(err: unknown, c: AwsErrorContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = errorCode(err);
  const msg = oneLine((err as Error)?.message);
  const make = (text: string) => new ProviderError(text, { cause: err });
  const kept = 'what already exists is tagged and is reused by the next run';

  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(msg)) {
    return make(
      `no AWS credentials while ${c.doing}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or configure ~/.aws/credentials), then run build-infra again`,
    );
  }
  if (AUTH_CODES.has(code)) {
    return make(
      `AWS rejected the credentials while ${c.doing} in ${c.region} (${code}): check AWS_PROFILE or the access key pair, or refresh the session token`,
    );
  }
  if (code === 'UnauthorizedOperation') {
    return make(
      `not authorized while ${c.doing} in ${c.region} (UnauthorizedOperation): grant the IAM identity the EC2 permissions hive uses (ec2:Describe*, Create*, Run/Start/Stop/TerminateInstances, addresses, key pairs)`,
    );
  }
  if (code === 'RequestLimitExceeded' || code === 'ThrottlingException') {
    return make(`AWS throttled the requests while ${c.doing} in ${c.region} (${code}): wait a minute and run build-infra again; ${kept}`);
  }
  if (QUOTA_CODES.has(code) || /LimitExceeded$/.test(code)) {
    return make(
      `AWS quota reached while ${c.doing} in ${c.region} (${code}): free unused resources or request a higher quota in Service Quotas, then run build-infra again; ${kept}`,
    );
  }
  if (code === 'InsufficientInstanceCapacity') {
    return make(
      `AWS has no capacity for ${c.instanceType ?? 'the instance type'} in ${c.zone ?? c.region} right now while ${c.doing}: run again later or choose another instance_type or available_zone; ${kept}`,
    );
  }
  if (
    code === 'InvalidInstanceType' ||
    (code === 'InvalidParameterValue' && /instance ?type/i.test(msg)) ||
    (code === 'Unsupported' && c.instanceType && /instance type|instancetype/i.test(msg))
  ) {
    return make(
      `instance type ${c.instanceType ?? '(unknown)'} is not offered in ${c.zone ?? c.region} (${code}) while ${c.doing}: fix instance_type / repository_instance_type in the inventory's hive.yml`,
    );
  }
  if (
    code === 'InvalidAvailabilityZone' ||
    code === 'Unsupported' ||
    (code === 'InvalidParameterValue' && /availability ?zone/i.test(msg))
  ) {
    return make(
      `availability zone ${c.zone ?? '(default)'} cannot be used while ${c.doing} (${code}: ${msg}): choose another available_zone for this subnet in the inventory's hive.yml`,
    );
  }
  if (/^InvalidAMIID\./.test(code)) {
    return make(`image ${c.imageId ?? ''} not found in ${c.region} while ${c.doing} (${code}): fix image_name in the inventory (AMI ids differ per region)`);
  }
  if (/KMS/i.test(code) || (/kms/i.test(msg) && c.kmsKeyId)) {
    return make(`KMS key ${c.kmsKeyId ?? ''} cannot be used while ${c.doing} (${code}: ${msg}): fix kms_key_id in the inventory or the key's policy`);
  }
  if (/^Invalid(Subnet|Vpc)\.(Range|Conflict)$/.test(code)) {
    return make(`cidr ${c.cidr ?? ''} is not usable while ${c.doing} (${code}: ${msg}): fix cidr / subnets in the inventory's hive.yml`);
  }
  if (code === 'InvalidIPAddress.InUse') {
    return make(`${msg} while ${c.doing} (${code}): another instance holds this private address; remove it or change the stage cidr`);
  }
  if (NETWORK_CODES.has(code) || NETWORK_CODES.has(String((err as { code?: string })?.code))) {
    return make(`cannot reach the AWS EC2 endpoint for region ${c.region} while ${c.doing} (${code}): check the network, proxy settings and the stage's region`);
  }
  return make(`AWS error while ${c.doing} in ${c.region}: ${code}: ${msg}`);
}
