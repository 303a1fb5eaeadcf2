// The Ansible modules in roles/*/library as a playbook author meets them: ansible-doc shows their
// documentation, the documented options are the ones the module takes, and a task run by the
// real ansible-playbook (connection local) behaves as documented in check mode and with --diff.
// The swarm is a stand-in docker library (test/fixtures/fake-docker), Zabbix a JSON-RPC server
// in this process: nothing here needs a docker engine or a Zabbix server.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// Debian's python3, the one with the ansible package (a pyenv python3 may come first on PATH)
const python = '/usr/bin/python3';
const modules = {
  hive_swarm_services: join(repo, 'roles/services/library'),
  hive_zabbix_site: join(repo, 'roles/zabbix_hosts/library'),
  hive_warning: join(repo, 'roles/docker_volumes/library'),
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-role-modules-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface TaskResult {
  changed?: boolean;
  failed?: boolean;
  msg?: string;
  diff?: { before?: any; after?: any };
  warnings?: string[];
  [key: string]: any;
}

/** Runs one task on localhost with ansible-playbook and returns its result as the json callback prints it. */
async function runTask(name: string, task: Record<string, unknown>, opts: { check?: boolean; diff?: boolean; env?: Record<string, string> } = {}): Promise<TaskResult> {
  const pb = join(dir, `${name}.yml`);
  writeFileSync(pb, stringify([{ hosts: 'localhost', gather_facts: false, tasks: [{ name, ...task }] }]));
  const args = ['-i', 'localhost,', '-c', 'local', '-e', `ansible_python_interpreter=${python}`, pb];
  if (opts.check) args.push('--check');
  if (opts.diff) args.push('--diff');
  const r = await execa('ansible-playbook', args, {
    reject: false,
    env: {
      ANSIBLE_LIBRARY: Object.values(modules).join(':'),
      ANSIBLE_STDOUT_CALLBACK: 'json',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_CONFIG: join(dir, 'none.cfg'),
      ...opts.env,
    },
    timeout: 120_000,
  });
  let out: any;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`ansible-playbook ${name}: no JSON output (exit ${r.exitCode})\n${r.stdout}\n${r.stderr}`);
  }
  return out.plays[0].tasks[0].hosts.localhost;
}

describe('documentation of the role modules', () => {
  for (const [module, library] of Object.entries(modules)) {
    it(`${module}: ansible-doc reads its DOCUMENTATION, EXAMPLES and RETURN`, async () => {
      const r = await execa('ansible-doc', ['-j', '-M', library, module], { reject: false, env: { ANSIBLE_CONFIG: join(dir, 'none.cfg') } });
      expect(r.stderr).toBe('');
      const doc = JSON.parse(r.stdout)[module];
      expect(doc.doc.module).toBe(module);
      expect(Object.keys(doc.doc.options).length).toBeGreaterThan(0);
      expect(doc.doc.attributes.check_mode.support).toBe('full');
      expect(doc.examples).toContain(`${module}:`);
      expect(Object.keys(doc.return).length).toBeGreaterThan(0);
    });
  }

  const check = async (...files: string[]) => {
    const r = await execa(python, [join(repo, 'test/integration/module_docs.py'), ...files], { reject: false });
    expect(r.stderr).toBe('');
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { module: string; problems: string[]; documented: string[] });
  };

  it('documents exactly the options of each argument_spec: names, types, elements, required, defaults (suboptions too)', async () => {
    const results = await check(...Object.entries(modules).map(([m, lib]) => join(lib, `${m}.py`)));
    for (const r of results) expect(r.problems, r.module).toEqual([]);
    const documented = Object.fromEntries(results.map((r) => [r.module, r.documented]));
    // the check compared something: every option, down to the suboptions
    expect(documented.hive_swarm_services).toEqual(['services', 'services.name', 'services.params', 'services.sysctls']);
    expect(documented.hive_zabbix_site).toEqual(expect.arrayContaining(['hosts.port', 'hosts.templates', 'login_password', 'timeout']));
    expect(documented.hive_warning).toEqual(['msg']);
  });

  it("the check and the tests' stand-in docker library are flake8-clean", async () => {
    const files = ['test/integration/module_docs.py', 'test/fixtures/fake-docker/docker/__init__.py', 'test/fixtures/fake-docker/docker/errors.py'];
    const r = await execa(python, ['-m', 'flake8', '--max-line-length', '150', ...files], { cwd: repo, reject: false });
    expect(r.stdout + r.stderr).toBe('');
  });

  it('tells a documentation that differs from the argument_spec', async () => {
    const copy = join(dir, 'hive_warning_drifted.py');
    copyFileSync(join(modules.hive_warning, 'hive_warning.py'), copy);
    const text = readFileSync(copy, 'utf8');
    writeFileSync(copy, text.replace('{"msg": {"type": "str", "required": True}}', '{"msg": {"type": "raw"}, "level": {"type": "int", "default": 1}}'));
    const [r] = await check(copy);
    expect(r.problems).toEqual([
      'level: in argument_spec but not documented',
      "msg: type is 'str' in DOCUMENTATION, 'raw' in argument_spec",
      'msg: required is True in DOCUMENTATION, False in argument_spec',
    ]);
  });
});

describe('hive_swarm_services in check mode and with --diff', () => {
  const fakeDocker = join(repo, 'test/fixtures/fake-docker');
  let swarmFile: string;
  const swarm = () => JSON.parse(readFileSync(swarmFile, 'utf8'));
  const env = () => ({ HIVE_FAKE_SWARM: swarmFile, PYTHONPATH: fakeDocker });
  beforeAll(() => {
    swarmFile = join(dir, 'swarm.json');
  });
  /** A swarm with the service web (nginx:1, one replica) and the network backend. */
  const reset = (extra: Record<string, unknown> = {}) =>
    writeFileSync(
      swarmFile,
      JSON.stringify({
        services: [
          {
            ID: 'svc-web',
            Version: { Index: 7 },
            Spec: {
              Name: 'web',
              Labels: {},
              TaskTemplate: { ContainerSpec: { Image: 'nginx:1@sha256:aaa', Hostname: 'web', Env: ['PASSWORD=old-s3cret'] } },
              Mode: { Replicated: { Replicas: 1 } },
              EndpointSpec: { Mode: 'vip' },
            },
          },
          {
            ID: 'svc-cache',
            Version: { Index: 3 },
            Spec: { Name: 'cache', Labels: {}, TaskTemplate: { ContainerSpec: { Image: 'redis:7', Hostname: 'cache' } }, Mode: { Replicated: { Replicas: 1 } } },
          },
        ],
        networks: [{ Name: 'backend', Id: 'net-backend' }],
        digests: { 'nginx:2': 'sha256:bbb' },
        ...extra,
      }),
    );
  const task = {
    hive_swarm_services: {
      services: [
        { name: 'web', params: { image: 'nginx:2', replicas: 2, env: { PASSWORD: 'new-s3cret' } } },
        { name: 'api', params: { image: 'nginx:2', networks: ['backend'] }, sysctls: { 'net.core.somaxconn': '1024' } },
        { name: 'cache', params: { image: 'redis:7' } },
      ],
    },
  };

  it('check mode posts nothing, says what would change, and --diff shows it without environment values', async () => {
    reset();
    const r = await runTask('swarm-check', task, { check: true, diff: true, env: env() });
    expect(r.failed).toBeFalsy();
    expect(r.changed).toBe(true);
    expect(swarm().posted).toBeUndefined();
    expect(r.services.api).toEqual({ action: 'create', changed: true });
    expect(r.services.cache).toEqual({ action: 'unchanged', changed: false });
    expect(r.services.web).toMatchObject({ action: 'update', changed: true, changes: ['image', 'env', 'replicas'] });
    expect(r.services.web.before).toMatchObject({ image: 'nginx:1', replicas: 1 });
    // the diff: updated fields before and after, every field of the new service, nothing of cache
    expect(Object.keys(r.diff!.before)).toEqual(['web']);
    expect(r.diff!.before.web).toEqual(r.services.web.before);
    expect(r.diff!.after.web).toEqual(r.services.web.after);
    expect(r.diff!.after.api).toMatchObject({ image: 'nginx:2', sysctls: { 'net.core.somaxconn': '1024' } });
    expect(r.diff!.after.cache).toBeUndefined();
    expect(JSON.stringify(r.diff)).not.toMatch(/s3cret/);
    expect(r.diff!.after.web.env[0]).toMatch(/^PASSWORD=[0-9a-f]{12}$/);
  });

  it('without --diff there is no diff, and a swarm that matches is not changed', async () => {
    reset();
    const r = await runTask('swarm-nodiff', { hive_swarm_services: { services: [task.hive_swarm_services.services[2]] } }, { check: true, env: env() });
    expect(r.changed).toBe(false);
    expect(r.diff).toBeUndefined();
    expect(r.services).toEqual({ cache: { action: 'unchanged', changed: false } });
  });

  it('a real run posts the create and the update (images pinned to their digest), and --diff leaves out a refused service', async () => {
    reset({ refuse: ['api'] });
    const r = await runTask('swarm-apply', task, { diff: true, env: env() });
    expect(r.changed).toBe(true);
    expect(r.services.api).toEqual({ action: 'error', changed: false, msg: 'the fake swarm refuses api' });
    expect(r.services.web).toEqual({ action: 'update', changed: true, changes: ['image', 'env', 'replicas'] });
    const posted = swarm().posted;
    expect(posted).toHaveLength(1);
    expect(posted[0]).toMatchObject({ update: 'web', id: 'svc-web', version: 7, mode: { Replicated: { Replicas: 2 } } });
    expect(posted[0].task_template.ContainerSpec.Image).toBe('nginx:2@sha256:bbb');
    expect(Object.keys(r.diff!.after)).toEqual(['web']);
    expect(r.diff!.before.web.image).toBe('nginx:1');
  });

  it('refuses a service without params before it reads the swarm', async () => {
    reset();
    const r = await runTask('swarm-bad', { hive_swarm_services: { services: [{ name: 'web' }] } }, { check: true, env: env() });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/missing required arguments: params found in services/);
  });
});

describe('hive_zabbix_site in check mode and with --diff', () => {
  let server: Server;
  let url: string;
  const calls: string[] = [];
  // read-only methods: check mode may call these and nothing else
  const reads = new Set(['user.login', 'user.logout', 'usermacro.get', 'hostgroup.get', 'template.get', 'host.get']);
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const { method, params, id } = JSON.parse(body);
        calls.push(method);
        let result: unknown = true;
        if (method === 'user.login') result = 'session-token';
        else if (method === 'usermacro.get') result = [{ globalmacroid: '5', value: 'sha-of-older-templates' }];
        else if (method === 'hostgroup.get') result = [{ groupid: '1', name: 'hive' }];
        else if (method === 'hostgroup.create') result = { groupids: ['2'] };
        else if (method === 'template.get') result = [{ templateid: '10', host: 'Linux by Zabbix agent' }];
        else if (method === 'host.get' && params.selectInterfaces) {
          result = [
            {
              hostid: '20',
              host: 'p-hive0.demo',
              interfaces: [{ interfaceid: '30', ip: '10.1.0.9', port: '10050', type: '1', main: '1', useip: '1' }],
              groups: [{ groupid: '1', name: 'hive' }],
              parentTemplates: [],
            },
          ];
        } else if (method === 'host.get') result = [{ hostid: '99', host: 'Zabbix server' }];
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ jsonrpc: '2.0', result, id }));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api_jsonrpc.php`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  const task = () => ({
    hive_zabbix_site: {
      url,
      login_user: 'Admin',
      login_password: 'zabbix-s3cret',
      templates: 'zabbix_export: {version: "6.0"}\n',
      groups: ['hive', 'repository'],
      hosts: [
        { name: 'p-hive0.demo', ip: '10.1.0.4', groups: ['hive'], templates: ['Linux by Zabbix agent'] },
        { name: 'p-hive3.demo', ip: '10.1.0.7', port: 10051, groups: ['repository'] },
      ],
      remove_hosts: ['Zabbix server'],
    },
  });

  it('check mode only reads, lists what would change, and --diff shows Zabbix before and after', async () => {
    calls.length = 0;
    const r = await runTask('zabbix-check', task(), { check: true, diff: true });
    expect(r.failed).toBeFalsy();
    expect(r.changed).toBe(true);
    expect(calls.filter((m) => !reads.has(m))).toEqual([]);
    expect(r.actions).toEqual([
      'templates imported',
      'host group repository created',
      'host p-hive0.demo: templates updated',
      'host p-hive0.demo: agent interface updated',
      'host p-hive3.demo created',
      'host Zabbix server deleted',
    ]);
    expect(r.diff).toEqual({
      before: {
        templates_sha256: 'sha-of-older-templates',
        host_groups: ['hive'],
        hosts: {
          'p-hive0.demo': { groups: ['hive'], templates: [], agent: '10.1.0.9:10050' },
          'Zabbix server': 'exists',
        },
      },
      after: {
        templates_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        host_groups: ['hive', 'repository'],
        hosts: {
          'p-hive0.demo': { groups: ['hive'], templates: ['Linux by Zabbix agent'], agent: '10.1.0.4:10050' },
          'p-hive3.demo': { groups: ['repository'], templates: [], agent: '10.1.0.7:10051' },
        },
      },
    });
    expect(JSON.stringify(r)).not.toContain('zabbix-s3cret');
  });

  it('a real run makes the changes check mode listed', async () => {
    calls.length = 0;
    const r = await runTask('zabbix-apply', task());
    expect(r.changed).toBe(true);
    expect(r.diff).toBeUndefined();
    expect(calls.filter((m) => !reads.has(m))).toEqual([
      'configuration.import',
      'usermacro.updateglobal',
      'hostgroup.create',
      'host.update',
      'hostinterface.update',
      'host.create',
      'host.delete',
    ]);
  });
});

describe('hive_warning', () => {
  it('warns in check mode too, and changes nothing', async () => {
    const r = await runTask('warning', { hive_warning: { msg: 'volume data is not replicated' } }, { check: true, diff: true });
    expect(r.changed).toBe(false);
    expect(r.warnings).toEqual(['volume data is not replicated']);
    expect(r.diff).toBeUndefined();
  });
});
