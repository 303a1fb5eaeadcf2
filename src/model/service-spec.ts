// The swarm service of one service on one stage, finished in TypeScript: the parameters of
// hive_swarm_services (docker_swarm_service's names) that follow from the inventory alone. It
// becomes the service host's variable `hive_service_spec`; roles/services/templates/specs.json.j2
// adds only what is known at deploy time (the image version built, the role defaults for update,
// rollback and logging) and the values that are Jinja templates in the inventory (a templated
// replicas or cpu_limit is a number only once Ansible has rendered it).
//
// Swarm's names are swapped against docker's: the service's `command` is the module's `args`,
// its `entrypoint` the module's `command`.
import { isObject as isMapping } from '../lib/values.js';
import { AnsibleUnsafe, AnsibleVault } from '../lib/yaml-dialect.js';
import type { Service, Stage, StageName } from './site.js';

/** `!unsafe` and `!vault` values go to Ansible as they are: it decrypts or leaves them untemplated. */
const isOpaque = (v: unknown) => v instanceof AnsibleUnsafe || v instanceof AnsibleVault;
const isObject = (v: unknown): v is Record<string, any> => isMapping(v) && !isOpaque(v);
const given = (v: unknown) => v !== undefined && v !== null;
/** Python's truth, which hive-builder's templates used for "is this key set". */
const truthy = (v: unknown) =>
  given(v) && v !== false && v !== '' && v !== 0 && !(Array.isArray(v) && v.length === 0) && !(isObject(v) && Object.keys(v).length === 0);
const isTemplate = (v: unknown): v is string => typeof v === 'string' && /\{\{|\{%/.test(v);

/** Environment, option and sysctl values are strings for docker: true → 'true', null → ''. */
export function scalar(value: unknown): unknown {
  if (isOpaque(value)) return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null || value === undefined) return '';
  return String(value);
}

/** A duration for the module: an integer of the inventory is nanoseconds, the module wants units. */
export function duration(value: unknown): unknown {
  return typeof value === 'number' ? `${Math.floor(value / 1000)}us` : value;
}

/** A command as a list of words: a string is split at white space (shell quoting is not applied). */
const words = (value: unknown): unknown[] =>
  typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : isOpaque(value) ? [value] : (value as unknown[]).map((w) => (isOpaque(w) ? w : String(w)));

/** JSON as Python's json.dumps writes it (Ansible's to_json): `, ` and `: `, non-ASCII escaped. */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (isObject(value)) return `{${Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`;
  if (value === undefined) return 'null';
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface ServiceSpecContext {
  stage: Stage;
  /** Sources of the stage's DRBD volumes. */
  drbdSources: Set<string>;
  /** Mount DRBD volumes through hive's volume driver (every provider but local). */
  volumeDriver: boolean;
  /** Networks a service joins when it names none: every network of the stage. */
  defaultNetworks: string[];
  /** Image hosts (image_<service>) by name, for pull_on / pull_from. */
  imageVars: Map<string, Record<string, unknown>>;
}

/** What hive_swarm_services gets for `service` on `ctx.stage`, less the deploy-time values. */
export function serviceSpec(service: Service, ctx: ServiceSpecContext): Record<string, unknown> {
  const sv = service.vars;
  const stage: StageName = ctx.stage.name;
  const standalone = sv.hive_standalone === true;
  const p: Record<string, unknown> = { name: service.name, hostname: service.name };

  // the image: a reference as given, pull_from on a pull_on stage, else built (its version is
  // read at deploy time: build-images of the same run may have just made it)
  if (typeof sv.hive_image_name === 'string') {
    const build = ctx.imageVars.get(sv.hive_image_name) ?? {};
    const pullOn = Array.isArray(build.hive_pull_on) ? (build.hive_pull_on as string[]) : [];
    if (pullOn.includes(stage)) p.image_ref = String(build.hive_pull_from ?? '');
    else p.image_build = sv.hive_image_name;
  } else {
    p.image_ref = String(sv.hive_image);
  }

  if (given(sv.hive_command)) p.args = words(sv.hive_command);
  if (given(sv.hive_entrypoint)) p.command = words(sv.hive_entrypoint);

  const env: Record<string, unknown> = {};
  if (isObject(sv.hive_environment)) {
    for (const [k, v] of Object.entries(sv.hive_environment)) env[k] = scalar(v);
  } else if (Array.isArray(sv.hive_environment)) {
    for (const entry of sv.hive_environment as string[]) {
      const at = String(entry).indexOf('=');
      if (at < 0) env[String(entry)] = '';
      else env[String(entry).slice(0, at)] = String(entry).slice(at + 1);
    }
  }
  if (Object.keys(env).length) p.env = env;

  // ports: the model resolved short forms and automatic published ports
  const publish = service.ports.map((port) => ({
    target_port: port.target_port,
    protocol: port.protocol,
    published_port: port.published_port,
    mode: port.mode ?? 'ingress',
  }));
  if (publish.length) p.publish = publish;
  const hostPorts = publish.some((port) => port.mode === 'host');

  // mounts (a standalone service's tmpfs mounts are among them, added by the model); a DRBD
  // volume is mounted through hive's volume driver, which promotes the replica safely
  const mounts: Record<string, unknown>[] = [];
  const drbdMounted: string[] = [];
  let hasVolume = false;
  for (const m of Array.isArray(sv.hive_volumes) ? (sv.hive_volumes as Record<string, any>[]) : []) {
    const type = m.type || 'bind';
    const entry: Record<string, unknown> = { target: m.target, type, readonly: m.readonly === true };
    if (type !== 'tmpfs') entry.source = m.source;
    if (type === 'volume') {
      hasVolume = true;
      if (ctx.volumeDriver && ctx.drbdSources.has(m.source)) {
        entry.driver = 'hive';
        drbdMounted.push(m.source);
      }
    }
    mounts.push(entry);
  }
  if (mounts.length) p.mounts = mounts;

  p.networks = Array.isArray(sv.hive_networks) && sv.hive_networks.length ? [...(sv.hive_networks as string[])] : [...ctx.defaultNetworks];

  const labels: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(isObject(sv.hive_labels) ? sv.hive_labels : {})) labels[k] = typeof v === 'string' || isOpaque(v) ? v : pythonJson(v);
  labels.HIVE_STANDALONE = standalone ? 'True' : 'False';
  labels['hive.stage'] = stage;
  p.labels = labels;

  // placement; a task with DRBD volumes runs only where build-volumes labelled a replica
  const volumeConstraints = drbdMounted.map((source) => `node.labels.hive.volume.${source} == true`);
  if (truthy(sv.hive_placement) || volumeConstraints.length) {
    const placementGiven = isObject(sv.hive_placement) ? sv.hive_placement : {};
    const placement: Record<string, unknown> = {};
    for (const key of ['constraints', 'preferences', 'replicas_max_per_node']) {
      if (placementGiven[key] !== undefined) placement[key] = placementGiven[key];
    }
    if (volumeConstraints.length) {
      const constraints: string[] = Array.isArray(placement.constraints) ? [...(placement.constraints as string[])] : [];
      placement.constraints = [...constraints, ...volumeConstraints.filter((c) => !constraints.includes(c))];
    }
    p.placement = placement;
  }

  // mode and replicas (templates are rendered, and replicas made a number, at deploy time)
  p.mode = truthy(sv.hive_mode) ? sv.hive_mode : 'replicated';
  if (p.mode === 'replicated' || isTemplate(p.mode)) {
    const replicas = sv.hive_replicas;
    p.replicas = isTemplate(replicas) ? replicas : typeof replicas === 'number' && replicas >= 0 ? replicas : 1;
  }
  if (truthy(sv.hive_endpoint_mode)) p.endpoint_mode = sv.hive_endpoint_mode;

  for (const key of ['user', 'working_dir']) if (given(sv[`hive_${key}`])) p[key] = String(sv[`hive_${key}`]);
  if (truthy(sv.hive_dns)) p.dns = typeof sv.hive_dns === 'string' ? [sv.hive_dns] : [...(sv.hive_dns as string[])];
  // the model added a standalone service's capabilities to hive_cap_add
  if (truthy(sv.hive_cap_add)) p.cap_add = [...new Set(sv.hive_cap_add as string[])];
  if (truthy(sv.hive_cap_drop)) p.cap_drop = [...(sv.hive_cap_drop as string[])];
  if (given(sv.hive_stop_grace_period)) p.stop_grace_period = duration(sv.hive_stop_grace_period);

  if (truthy(sv.hive_restart_config)) {
    const rc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(sv.hive_restart_config as Record<string, unknown>)) rc[k] = k === 'delay' || k === 'window' ? duration(v) : v;
    p.restart_config = rc;
  }

  // health check (compose spelling)
  if (truthy(sv.hive_healthcheck)) {
    const hc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(sv.hive_healthcheck as Record<string, unknown>)) {
      if (k === 'test') hc.test = typeof v === 'string' ? v : (v as unknown[]).map(String);
      else if (k === 'interval' || k === 'timeout' || k === 'start_period') hc[k] = duration(v);
      else hc[k] = v;
    }
    p.healthcheck = hc;
  }

  // resources: cpus becomes a float and a bare memory number megabytes at deploy time (either
  // may be a template)
  const limits: Record<string, unknown> = {};
  if (given(sv.hive_cpu_limit)) limits.cpus = sv.hive_cpu_limit;
  if (given(sv.hive_mem_limit)) limits.memory = /^[0-9]+$/.test(String(sv.hive_mem_limit)) ? `${sv.hive_mem_limit}M` : String(sv.hive_mem_limit);
  if (Object.keys(limits).length) p.limits = limits;

  // /etc/hosts: every server of the stage, then the service's own entries
  const hosts: Record<string, string> = {};
  for (const h of ctx.stage.hosts) {
    hosts[h.name] = h.privateIp;
    hosts[h.name.split('.')[0]!] = h.privateIp;
  }
  if (isObject(sv.hive_hosts)) Object.assign(hosts, sv.hive_hosts);
  p.hosts = hosts;

  // the service's log driver; without one the deploy uses syslog to the repository, tagged
  if (isObject(sv.hive_logging) && truthy(sv.hive_logging)) {
    const logging: Record<string, unknown> = { driver: sv.hive_logging.driver ?? 'json-file' };
    if (truthy(sv.hive_logging.options)) {
      logging.options = Object.fromEntries(Object.entries(sv.hive_logging.options as Record<string, unknown>).map(([k, v]) => [k, scalar(v)]));
    }
    p.logging = logging;
  }

  // update and rollback: start-first only where two tasks side by side cannot conflict; the
  // role's defaults go under the service's own values at deploy time
  p.update_order = hostPorts || hasVolume || standalone ? 'stop-first' : 'start-first';
  for (const key of ['update_config', 'rollback_config']) {
    const own = sv[`hive_${key}`];
    const cfg: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(isObject(own) ? own : {})) cfg[k] = k === 'delay' || k === 'monitor' ? duration(v) : v;
    p[key] = cfg;
  }

  // kernel parameters: ContainerSpec.Sysctls, which hive_swarm_services puts in the spec
  const sysctls: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(isObject(sv.hive_sysctls) ? sv.hive_sysctls : {})) sysctls[k] = scalar(v);
  p.sysctls = sysctls;
  return p;
}
