// The service roles' pure parts, run by the real ansible-playbook on this machine (connection
// local): the swarm service parameters deploy-services hands to docker_swarm_service, the DRBD
// resource files build-volumes writes (checked by drbdadm), the digest build-images versions
// images with. What needs a swarm is in test/e2e/services.test.ts.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { serviceSpec, type ServiceSpecContext } from '../../src/model/service-spec.js';
import type { PortSpec, Service, Stage } from '../../src/model/site.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ROLES = join(REPO, 'roles');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-service-roles-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `tasks` on localhost against an inventory whose stage group holds `hosts`. */
async function playbook(name: string, hosts: Record<string, Record<string, unknown>>, groups: Record<string, string[]>, tasks: unknown[], vars: Record<string, unknown> = {}) {
  const inventory = {
    all: {
      children: {
        private: { hosts: { ...hosts, localhost: { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3' } } },
        ...Object.fromEntries(Object.entries(groups).map(([g, members]) => [g, { hosts: Object.fromEntries(members.map((m) => [m, {}])) }])),
      },
    },
  };
  const inv = join(dir, `${name}-inventory.yml`);
  const pb = join(dir, `${name}.yml`);
  writeFileSync(inv, stringify(inventory));
  writeFileSync(pb, stringify([{ hosts: 'localhost', gather_facts: false, vars: { hive_stage: 'private', ...vars }, tasks }]));
  const r = await run('ansible-playbook', ['-i', inv, pb], { ANSIBLE_ROLES_PATH: ROLES, ANSIBLE_NOCOLOR: '1', ANSIBLE_STDOUT_CALLBACK: 'default' });
  if (r.code !== 0) throw new Error(`ansible-playbook ${name} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

interface Spec {
  name: string;
  hash: string;
  image: string;
  built: boolean;
  unbuilt: boolean;
  version: string | null;
  sysctls: Record<string, string>;
  params: Record<string, any>;
}

const services: Record<string, Record<string, unknown>> = {
  web: {
    hive_image_name: 'image_web',
    hive_command: ['python3', '-m', 'http.server', '8080'],
    hive_entrypoint: '/usr/bin/env',
    hive_replicas: 2,
    hive_endpoint_mode: 'dnsrr',
    hive_ports: [{ target_port: 8080, published_port: 8080, protocol: 'tcp', mode: 'host' }],
    hive_environment: { LEVEL: 3, DEBUG: true, EMPTY: null, NAME: "{{ 'we' ~ 'b' }}" },
    hive_healthcheck: { test: ['CMD', 'true'], interval: '2s', retries: 3, start_period: 1_500_000_000 },
    hive_labels: { published_fqdn: 'www.example.com', weight: { a: 1 } },
    hive_sysctls: { 'net.core.somaxconn': 1024 },
    hive_update_config: { parallelism: 2 },
  },
  api: {
    hive_image: 'registry.example.com/api:1.2',
    hive_networks: ['backend'],
    hive_volumes: [{ source: 'api_data', target: '/data', type: 'volume' }],
    hive_mode: 'global',
    hive_cpu_limit: 0.5,
    hive_mem_limit: 256,
    hive_logging: { driver: 'json-file', options: { 'max-size': '10m' } },
    hive_hosts: { 'ldap.example.com': '10.9.9.9' },
    hive_restart_config: { condition: 'on-failure', delay: '5s', max_attempts: 3 },
    hive_placement: { constraints: ['node.role == manager'] },
    hive_dns: '10.0.0.53',
  },
  cache: { hive_image_name: 'image_cache', hive_command: 'redis-server --save ""' },
  worker: { hive_image_name: 'image_worker' },
};
const images = {
  image_cache: { hive_from: 'redis:7', hive_pull_on: ['private'], hive_pull_from: 'redis:7.2' },
  image_worker: { hive_from: 'debian:bookworm' },
};
const servers = {
  'p-hive0.demo': { hive_private_ip: '10.1.0.4' },
  'p-hive3.demo': { hive_private_ip: '10.1.0.7' },
};

/** The stage the specs are for: its servers go into every task's /etc/hosts. */
const stage = {
  name: 'private',
  hosts: Object.entries(servers).map(([name, v]) => ({ name, privateIp: v.hive_private_ip })),
} as unknown as Stage;

/**
 * What deploy-services computes, both halves: hive's TypeScript spec of each service (the host
 * variable hive_service_spec of the inventory it writes), then the role's template on it.
 */
async function renderSpecs(
  extra: Record<string, Record<string, unknown>> = {},
  opts: { volumeDriver?: boolean; drbdSources?: string[] } = {},
): Promise<Spec[]> {
  const out = join(dir, `specs-${Math.random().toString(36).slice(2)}.json`);
  const serviceVars = Object.fromEntries(Object.entries(services).map(([name, v]) => [name, { ...v, ...(extra[name] ?? {}) }]));
  const ctx: ServiceSpecContext = {
    stage,
    drbdSources: new Set(opts.drbdSources ?? []),
    volumeDriver: opts.volumeDriver ?? false,
    defaultNetworks: ['hive_default_network', 'backend'],
    imageVars: new Map(Object.entries(images)),
  };
  const serviceHosts = Object.fromEntries(
    Object.entries(serviceVars).map(([name, vars]) => {
      const service = { name, stages: ['private'], vars, ports: (vars.hive_ports as PortSpec[]) ?? [], volumes: [] } as unknown as Service;
      // as inventory.yml carries it: through JSON (the YAML writer keeps the same values)
      return [name, { ...vars, hive_service_spec: JSON.parse(JSON.stringify(serviceSpec(service, ctx))) }];
    }),
  );
  const hosts = { ...servers, ...serviceHosts, ...images };
  await playbook('specs', hosts, { services: Object.keys(services), images: Object.keys(images) }, [
    { 'ansible.builtin.copy': { content: `{{ lookup('ansible.builtin.template', '${ROLES}/services/templates/specs.json.j2') }}`, dest: out, mode: '0644' } },
  ], {
    services_names: Object.keys(services),
    services_stage: 'private',
    services_registry: 'p-hive3.demo:5000',
    services_image_records: { web: { repository: 'p-hive3.demo:5000/image_web', latest: 'c3c3', pinned: 'b2b2' } },
    services_default_logging: { driver: 'syslog', options: { 'syslog-address': 'udp://10.1.0.7:10514', 'syslog-facility': 'local0' } },
    services_update_defaults: { parallelism: 1, failure_action: 'rollback', monitor: '5s' },
    services_rollback_defaults: { parallelism: 1, failure_action: 'pause', monitor: '5s' },
  });
  return JSON.parse(readFileSync(out, 'utf8')) as Spec[];
}

describe('deploy-services: docker_swarm_service parameters of each service', () => {
  let specs: Record<string, Spec>;
  beforeAll(async () => {
    specs = Object.fromEntries((await renderSpecs()).map((s) => [s.name, s]));
  });

  it('swaps command and entrypoint the swarm way (command → args, entrypoint → command)', () => {
    expect(specs.web.params.args).toEqual(['python3', '-m', 'http.server', '8080']);
    expect(specs.web.params.command).toEqual(['/usr/bin/env']);
    expect(specs.cache.params.args).toEqual(['redis-server', '--save', '""']);
  });

  it('deploys the pinned version of a built image, pull_from on pull_on stages, references as given', () => {
    expect(specs.web.image).toBe('p-hive3.demo:5000/image_web:b2b2');
    expect(specs.web.built).toBe(true);
    expect(specs.cache.image).toBe('redis:7.2');
    expect(specs.cache.built).toBe(false);
    expect(specs.api.image).toBe('registry.example.com/api:1.2');
  });

  it('flags a built image that has no version yet', () => {
    expect(specs.worker.unbuilt).toBe(true);
    expect(specs.worker.image).toBe('p-hive3.demo:5000/image_worker:not-built');
  });

  it('turns environment values into strings and renders templates', () => {
    expect(specs.web.params.env).toEqual({ LEVEL: '3', DEBUG: 'true', EMPTY: '', NAME: 'web' });
  });

  it('lists every server in /etc/hosts, then the service own entries', () => {
    const servers = { 'p-hive0.demo': '10.1.0.4', 'p-hive0': '10.1.0.4', 'p-hive3.demo': '10.1.0.7', 'p-hive3': '10.1.0.7' };
    expect(specs.web.params.hosts).toEqual(servers);
    expect(specs.api.params.hosts).toEqual({ ...servers, 'ldap.example.com': '10.9.9.9' });
  });

  it('logs to the repository syslog tagged with the service, unless the service says otherwise', () => {
    expect(specs.web.params.logging).toEqual({
      driver: 'syslog',
      options: { 'syslog-address': 'udp://10.1.0.7:10514', 'syslog-facility': 'local0', tag: 'web' },
    });
    expect(specs.api.params.logging).toEqual({ driver: 'json-file', options: { 'max-size': '10m' } });
  });

  it('updates start-first only without host-mode ports and volumes, rolls back on failure', () => {
    expect(specs.web.params.update_config).toEqual({ parallelism: 2, failure_action: 'rollback', monitor: '5s', order: 'stop-first' });
    expect(specs.api.params.update_config.order).toBe('stop-first');
    expect(specs.cache.params.update_config).toEqual({ parallelism: 1, failure_action: 'rollback', monitor: '5s', order: 'start-first' });
    expect(specs.cache.params.rollback_config).toEqual({ parallelism: 1, failure_action: 'pause', monitor: '5s', order: 'start-first' });
  });

  it('maps ports, mounts, networks, mode, resources, placement, restart policy and health check', () => {
    expect(specs.web.params.publish).toEqual([{ target_port: 8080, published_port: 8080, protocol: 'tcp', mode: 'host' }]);
    expect(specs.web.params.replicas).toBe(2);
    expect(specs.web.params.endpoint_mode).toBe('dnsrr');
    expect(specs.web.params.networks).toEqual(['hive_default_network', 'backend']);
    expect(specs.web.params.healthcheck).toEqual({ test: ['CMD', 'true'], interval: '2s', retries: 3, start_period: '1500000us' });
    expect(specs.api.params.mounts).toEqual([{ source: 'api_data', target: '/data', type: 'volume', readonly: false }]);
    expect(specs.api.params.networks).toEqual(['backend']);
    expect(specs.api.params.mode).toBe('global');
    expect(specs.api.params.replicas).toBeUndefined();
    expect(specs.api.params.limits).toEqual({ cpus: 0.5, memory: '256M' });
    expect(specs.api.params.placement).toEqual({ constraints: ['node.role == manager'] });
    expect(specs.api.params.restart_config).toEqual({ condition: 'on-failure', delay: '5s', max_attempts: 3 });
    expect(specs.api.params.dns).toEqual(['10.0.0.53']);
    expect(specs.cache.params.replicas).toBe(1);
  });

  it('labels every service with its stage and a hash of its spec; JSON-encodes non-string labels', () => {
    expect(specs.web.params.labels).toEqual({
      published_fqdn: 'www.example.com',
      weight: '{"a": 1}',
      HIVE_STANDALONE: 'False',
      'hive.stage': 'private',
      'hive.spec': specs.web.hash,
    });
    expect(specs.web.sysctls).toEqual({ 'net.core.somaxconn': '1024' });
  });

  it('renders the numbers that are templates in the inventory at deploy time: replicas an integer, cpus a float', async () => {
    const t = Object.fromEntries(
      (await renderSpecs({ web: { hive_replicas: '{{ 1 + 2 }}', hive_cpu_limit: '{{ 0.25 * 2 }}', hive_mem_limit: '{{ 64 * 2 }}' } })).map((s) => [s.name, s]),
    );
    expect(t.web.params.replicas).toBe(3);
    expect(t.web.params.limits).toEqual({ cpus: 0.5, memory: '128M' });
    const global = Object.fromEntries((await renderSpecs({ web: { hive_mode: "{{ 'glo' ~ 'bal' }}" } })).map((s) => [s.name, s]));
    expect(global.web.params.mode).toBe('global');
    expect(global.web.params.replicas).toBeUndefined();
  });

  it('keeps the hash when nothing changes and changes it with any parameter', async () => {
    const again = Object.fromEntries((await renderSpecs()).map((s) => [s.name, s]));
    expect(again.web.hash).toBe(specs.web.hash);
    const changed = Object.fromEntries((await renderSpecs({ web: { hive_replicas: 3 } })).map((s) => [s.name, s]));
    expect(changed.web.hash).not.toBe(specs.web.hash);
    expect(changed.api.hash).toBe(specs.api.hash);
  });
});

/** Runs a function of roles/services/library/hive_swarm_services.py on JSON arguments. */
async function swarmModule(fn: string, ...args: unknown[]): Promise<any> {
  const code = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(join(ROLES, 'services', 'library'))})`,
    'import hive_swarm_services as m',
    `print(json.dumps(m.${fn}(*json.loads(sys.argv[1]))))`,
  ].join('\n');
  // Debian's python3, the one that has ansible (a pyenv python3 may come first on PATH)
  const r = await run('/usr/bin/python3', ['-c', code, JSON.stringify(args)]);
  if (r.code !== 0) throw new Error(`hive_swarm_services.${fn} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('deploy-services: the Engine API specs hive_swarm_services posts', () => {
  let specs: Record<string, Spec>;
  const networkIds = { hive_default_network: 'n0default', backend: 'n1backend' };
  const engine = (s: Spec) => swarmModule('engine_spec', s.name, s.params, s.sysctls, networkIds);
  beforeAll(async () => {
    specs = Object.fromEntries((await renderSpecs()).map((s) => [s.name, s]));
  });

  it('mounts a DRBD volume through the hive driver, only where build-volumes labelled a replica', async () => {
    const drbd = Object.fromEntries(
      (await renderSpecs({}, { volumeDriver: true, drbdSources: ['api_data'] })).map((s) => [s.name, s]),
    );
    expect(drbd.api.params.mounts).toEqual([{ target: '/data', type: 'volume', readonly: false, source: 'api_data', driver: 'hive' }]);
    // the service's own constraint stays, the volume's is added
    expect(drbd.api.params.placement.constraints).toEqual(['node.role == manager', 'node.labels.hive.volume.api_data == true']);
    const api = await engine(drbd.api);
    expect(api.TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions).toEqual({ DriverConfig: { Name: 'hive' } });
    expect(api.TaskTemplate.Placement.Constraints).toContain('node.labels.hive.volume.api_data == true');
    // without the driver (the local provider) nothing changes
    expect(specs.api.params.mounts[0].driver).toBeUndefined();
    expect(specs.api.params.placement).toEqual({ constraints: ['node.role == manager'] });
  });

  it('turns every parameter into its ServiceSpec field, durations in nanoseconds, sizes in bytes', async () => {
    const web = await engine(specs.web);
    const c = web.TaskTemplate.ContainerSpec;
    expect(c.Image).toBe('p-hive3.demo:5000/image_web:b2b2');
    expect(c.Args).toEqual(['python3', '-m', 'http.server', '8080']);
    expect(c.Command).toEqual(['/usr/bin/env']);
    expect(c.Env).toEqual(expect.arrayContaining(['LEVEL=3', 'DEBUG=true', 'EMPTY=', 'NAME=web']));
    expect(c.Healthcheck).toEqual({ Test: ['CMD', 'true'], Interval: 2e9, Retries: 3, StartPeriod: 1.5e9 });
    expect(c.Sysctls).toEqual({ 'net.core.somaxconn': '1024' });
    expect(c.Hosts).toContain('10.1.0.4 p-hive0.demo');
    expect(web.Mode).toEqual({ Replicated: { Replicas: 2 } });
    expect(web.EndpointSpec).toEqual({ Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishedPort: 8080, PublishMode: 'host' }] });
    expect(web.TaskTemplate.Networks).toEqual([{ Target: 'n0default' }, { Target: 'n1backend' }]);
    expect(web.UpdateConfig).toEqual({ Parallelism: 2, FailureAction: 'rollback', Monitor: 5e9, Order: 'stop-first' });
    expect(web.Labels['hive.spec']).toBe(specs.web.hash);

    const api = await engine(specs.api);
    expect(api.Mode).toEqual({ Global: {} });
    expect(api.TaskTemplate.Resources).toEqual({ Limits: { NanoCPUs: 5e8, MemoryBytes: 256 * 1024 * 1024 } });
    expect(api.TaskTemplate.RestartPolicy).toEqual({ Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3 });
    expect(api.TaskTemplate.Placement).toEqual({ Constraints: ['node.role == manager'] });
    expect(api.TaskTemplate.LogDriver).toEqual({ Name: 'json-file', Options: { 'max-size': '10m' } });
    expect(api.TaskTemplate.ContainerSpec.Mounts).toEqual([{ Target: '/data', Type: 'volume', ReadOnly: false, Source: 'api_data' }]);
    expect(api.TaskTemplate.ContainerSpec.DNSConfig).toEqual({ Nameservers: ['10.0.0.53'] });
    expect(api.TaskTemplate.ContainerSpec.Hosts).toContain('10.9.9.9 ldap.example.com');
  });

  it('sees no change against the same spec with the defaults swarm fills in, and names the fields that differ', async () => {
    const desired = await engine(specs.web);
    // what `docker service inspect` shows for it: defaults added, networks and env in another order
    const live = structuredClone(desired);
    live.TaskTemplate.ContainerSpec.Isolation = 'default';
    live.TaskTemplate.ContainerSpec.Env.reverse();
    live.TaskTemplate.ForceUpdate = 0;
    live.TaskTemplate.Placement = {};
    live.TaskTemplate.Networks.reverse();
    live.UpdateConfig.MaxFailureRatio = 0;
    live.RollbackConfig.MaxFailureRatio = 0;
    const [same] = await swarmModule('differences', desired, live);
    expect(same).toEqual([]);

    live.TaskTemplate.ContainerSpec.Image = 'p-hive3.demo:5000/image_web:a1a1';
    live.TaskTemplate.ContainerSpec.Env = live.TaskTemplate.ContainerSpec.Env.map((kv: string) => (kv.startsWith('NAME=') ? 'NAME=s3cr3t-old' : kv));
    live.Mode.Replicated.Replicas = 1;
    const [changes, before, after] = await swarmModule('differences', desired, live);
    expect(changes).toEqual(['image', 'env', 'replicas']);
    expect(before.image).toBe('p-hive3.demo:5000/image_web:a1a1');
    expect(after.replicas).toBe(2);

    // a plan shows durations as the inventory writes them
    delete live.TaskTemplate.ContainerSpec.Healthcheck;
    live.UpdateConfig.Monitor = 90e9;
    const [, was, will] = await swarmModule('differences', desired, live);
    expect(will.healthcheck).toEqual({ Test: ['CMD', 'true'], Interval: '2s', Retries: 3, StartPeriod: '1500ms' });
    expect(was.update_config.Monitor).toBe('1m30s');
    expect(will.update_config.Monitor).toBe('5s');
    // environment values are digests: the plan can tell NAME changed without showing it
    expect(JSON.stringify(before.env)).not.toContain('s3cr3t-old');
    expect(before.env.find((kv: string) => kv.startsWith('NAME='))).not.toBe(after.env.find((kv: string) => kv.startsWith('NAME=')));
  });

  it('hands the module name, params and sysctls of the services to deploy, nothing else (tasks/deploy.yml)', async () => {
    const deploy = parse(readFileSync(join(ROLES, 'services/tasks/deploy.yml'), 'utf8')) as any[];
    const expression = deploy.find((t) => t.hive_swarm_services).hive_swarm_services.services as string;
    const out = join(dir, 'module-services.json');
    await playbook('module-args', {}, {}, [
      { 'ansible.builtin.copy': { content: `{{ (${expression.trim().slice(2, -2)}) | to_json }}`, dest: out, mode: '0644' } },
    ], { services_specs: Object.values(specs), services_to_deploy: ['web'] });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([{ name: 'web', params: specs.web.params, sysctls: specs.web.sysctls }]);
  });

  it('refuses a duration or a size it cannot read', async () => {
    const bad = structuredClone(specs.api);
    bad.params.restart_config.delay = '5 parsecs';
    await expect(engine(bad)).rejects.toThrow(/not a duration/);
    bad.params.restart_config.delay = '5s';
    bad.params.limits.memory = 'lots';
    await expect(engine(bad)).rejects.toThrow(/not a memory size/);
  });
});

describe('build-volumes: DRBD resource files', () => {
  const hives = {
    'p-hive0.demo': { hive_private_ip: '172.30.5.4' },
    'p-hive1.demo': { hive_private_ip: '172.30.5.5' },
    'p-hive2.demo': { hive_private_ip: '172.30.5.6' },
  };
  let res: string;
  beforeAll(async () => {
    const out = join(dir, 'drbd.d');
    mkdirSync(out, { recursive: true });
    await playbook('drbd', hives, { hives: Object.keys(hives) }, [
      {
        'ansible.builtin.include_role': { name: 'drbd_volume' },
        vars: {
          drbd_volume: { name: 'notes_data', drbd: { fstype: 'xfs', size: '100M', device_id: 7, diskless: ['p-hive2'] } },
          drbd_volume_render_only: true,
          drbd_volume_config_dir: out,
        },
      },
    ]);
    res = join(out, 'notes_data.res');
    writeFileSync(join(out, 'global.conf'), 'global { usage-count no; }\n');
  });

  it('writes a 3-node mesh with quorum majority, io-error without quorum and auto-promote', () => {
    const text = readFileSync(res, 'utf8');
    expect(text).toMatch(/auto-promote yes;\s+quorum majority;\s+on-no-quorum io-error;/);
    expect(text).toMatch(/hosts p-hive0\.demo p-hive1\.demo p-hive2\.demo;/);
    expect(text).toContain('address 172.30.5.5:7007;');
    expect(text).toMatch(/on p-hive2\.demo \{\s+node-id 2;\s+address 172\.30\.5\.6:7007;\s+device minor 7;\s+disk none;\s+\}/);
  });

  it.each(['p-hive0.demo', 'p-hive1.demo', 'p-hive2.demo'])('is accepted by drbdadm on %s', async (host) => {
    // drbdadm picks its own section by `uname -n`: give it the hive's name in a UTS namespace
    const conf = join(dirname(res), 'main.conf');
    writeFileSync(conf, `include "${join(dirname(res), 'global.conf')}";\n`);
    const r = await run('unshare', ['-u', 'sh', '-c', `hostname ${host} && drbdadm -c ${conf} --config-to-test ${res} dump notes_data`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`# resource notes_data on ${host}: not ignored, not stacked`);
    expect(r.stdout).toMatch(/on-no-quorum\s+io-error;/);
    expect(r.stdout).toMatch(host === 'p-hive2.demo' ? /on p-hive2\.demo \{[^}]*disk\s+none;/ : /disk\s+\/dev\/drbdvg\/notes_data;/);
  });

  it('is refused by drbdadm when broken (the check can fail)', async () => {
    const broken = join(dirname(res), 'broken.res');
    writeFileSync(broken, readFileSync(res, 'utf8').replace('quorum majority;', 'quorum sometimes;'));
    const conf = join(dirname(res), 'main.conf');
    const r = await run('unshare', ['-u', 'sh', '-c', `hostname p-hive0.demo && drbdadm -c ${conf} --config-to-test ${broken} dump notes_data`]);
    expect(r.code).not.toBe(0);
  });
});

describe('build-images: the version digest of roles and variables', () => {
  const digest = async (roles: string[], paths: string[], extra: string[] = []) => {
    const args = Buffer.from(JSON.stringify({ roles, paths, extra })).toString('base64');
    const r = await run('python3', [join(ROLES, 'image_build/files/role_digest.py'), args]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { digest: string; found: Record<string, string>; missing: string[] };
  };

  it('depends on file contents and names, not on times; finds roles in the first folder that has them', async () => {
    const project = join(dir, 'project-roles');
    const bundled = join(dir, 'bundled-roles');
    mkdirSync(join(project, 'web/tasks'), { recursive: true });
    mkdirSync(join(bundled, 'web/tasks'), { recursive: true });
    mkdirSync(join(bundled, 'base/tasks'), { recursive: true });
    writeFileSync(join(project, 'web/tasks/main.yml'), '- ansible.builtin.debug: {msg: hi}\n');
    writeFileSync(join(bundled, 'web/tasks/main.yml'), 'ignored: the project role wins\n');
    writeFileSync(join(bundled, 'base/tasks/main.yml'), '[]\n');
    const first = await digest(['web', 'base', 'ns.coll.role'], [project, bundled]);
    expect(first.found).toEqual({ web: join(project, 'web'), base: join(bundled, 'base') });
    expect(first.missing).toEqual(['ns.coll.role']);

    utimesSync(join(project, 'web/tasks/main.yml'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect((await digest(['web', 'base', 'ns.coll.role'], [project, bundled])).digest).toBe(first.digest);

    writeFileSync(join(project, 'web/tasks/main.yml'), '- ansible.builtin.debug: {msg: hello}\n');
    expect((await digest(['web', 'base', 'ns.coll.role'], [project, bundled])).digest).not.toBe(first.digest);

    const vars = join(dir, 'group_vars');
    mkdirSync(vars, { recursive: true });
    writeFileSync(join(vars, 'all.yml'), 'greeting: hi\n');
    const withVars = await digest(['web'], [project], [vars]);
    writeFileSync(join(vars, 'all.yml'), 'greeting: hello\n');
    expect((await digest(['web'], [project], [vars])).digest).not.toBe(withVars.digest);
  });
});
