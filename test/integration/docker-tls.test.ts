// Who may use the docker TLS API (2376), checked with the real ansible-playbook and openssl on
// this machine:
// - host_certificate makes a docker client CA of its own on the controller (not the site CA) and
//   signs the repository's docker client certificate with it (clientAuth only); hive-certificate
//   signs services' certificates with the site CA as server identities only (serverAuth), and
//   signs again a certificate an older hive made with clientAuth. A TLS server set up as dockerd
//   is (client certificates must chain to the docker client CA) refuses the service certificate
//   and accepts the client certificate.
// - the firewall's rule set, loaded in network namespaces made here: 2376 answers a server's
//   own address, and neither another address nor a container behind docker_gwbridge, on this
//   host or forwarded to another server; the other site ports still answer the container side.
// Roles run on localhost (connection local) with every path under a temporary folder; the
// network part needs root (it is skipped otherwise, with the reason).
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureSiteCa } from '../../src/providers/credentials.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): Promise<Result> {
  return new Promise((res) => {
    const p = execFile(cmd, args, { env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024, timeout: opts.timeout ?? 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    // a command that exits without reading its input closes the pipe: not an error of the test
    p.stdin?.on('error', () => {});
    p.stdin?.end(opts.input ?? '');
  });
}

const sh = (script: string, input?: string) => run('bash', ['-c', script], { input });

const isRoot = process.getuid?.() === 0;
const hasTools = (await sh('command -v ansible-playbook && command -v openssl && command -v nft && command -v ip')).code === 0;
const netnsWorks = isRoot && hasTools && (await sh('ip netns add hive-tls-probe && ip netns del hive-tls-probe')).code === 0;
const skipAll = isRoot && hasTools ? undefined : 'needs root (the roles set root ownership), ansible-playbook, openssl, nft and ip';
if (skipAll) process.stderr.write(`docker-tls: skipped: ${skipAll}\n`);

let dir: string;
let ctx: string;
let svc: string;
let client: string;
let inventory: string;

// two servers of stage private, as setup-hosts sees them; the addresses only live in the
// namespaces below
const HIVE_IP = '10.77.0.10';
const REPO_IP = '10.77.0.20';

function writeInventory(): void {
  inventory = join(dir, 'inventory.yml');
  writeFileSync(
    inventory,
    stringify({
      all: {
        vars: {
          ansible_connection: 'local',
          ansible_python_interpreter: '/usr/bin/python3',
          hive_context_dir: ctx,
          hive_name: 'tls-test',
          hive_stage: 'private',
        },
        children: {
          servers: { hosts: { 'hive0.tls-test': { hive_private_ip: HIVE_IP }, 'repo.tls-test': { hive_private_ip: REPO_IP } } },
          hives: { hosts: { 'hive0.tls-test': null } },
          repository: { hosts: { 'repo.tls-test': null } },
          private: { hosts: { 'hive0.tls-test': null, 'repo.tls-test': null } },
        },
      },
    }),
  );
}

/** Runs a playbook of tasks on the given hosts; resolves with the run's per-host stats (json callback). */
async function play(name: string, hosts: string, tasks: unknown[]): Promise<{ r: Result; changed: number }> {
  const file = join(dir, `${name}.yml`);
  writeFileSync(file, stringify([{ name, hosts, gather_facts: false, tasks }]));
  const r = await run('ansible-playbook', ['-i', inventory, file], {
    env: {
      ANSIBLE_ROLES_PATH: `${join(REPO, 'roles')}:${join(REPO, 'image_roles')}`,
      ANSIBLE_STDOUT_CALLBACK: 'json',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCALHOST_WARNING: 'false',
      ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false',
    },
    timeout: 300_000,
  });
  let changed = -1;
  try {
    const stats = JSON.parse(r.stdout).stats as Record<string, { changed: number }>;
    changed = Object.values(stats).reduce((n, s) => n + s.changed, 0);
  } catch {
    /* not json: the failure shows in r */
  }
  return { r, changed };
}

const why = (r: Result) => `${r.stderr}\n${r.stdout.slice(-4000)}`;
const x509 = async (file: string, what: string) => (await sh(`openssl x509 -noout ${what} -in ${file}`)).stdout.trim();
const verify = (ca: string, cert: string, purpose: string) => sh(`openssl verify -x509_strict -purpose ${purpose} -CAfile ${ca} ${cert}`);

const certTasks = () => [
  { 'ansible.builtin.include_role': { name: 'host_certificate', tasks_from: 'docker_client_ca' } },
  {
    'ansible.builtin.include_role': { name: 'host_certificate', tasks_from: 'docker_client' },
    vars: {
      host_certificate_signed_dir: join(ctx, 'ca', 'hosts'),
      host_certificate_docker_client_cert_path: join(client, 'docker-client.crt'),
      host_certificate_docker_client_csr_path: join(client, 'docker-client.csr'),
      host_certificate_docker_client_key_path: join(client, 'docker-client.key'),
    },
  },
  {
    'ansible.builtin.include_role': { name: 'hive-certificate' },
    vars: { certificates: [{ fqdn: 'web.tls-test', cert_dest: join(svc, 'web.crt'), key_dest: join(svc, 'private', 'web.key') }] },
  },
];

describe.skipIf(skipAll !== undefined)('docker API certificates: a client CA of its own, services are servers only', () => {
  let first: { r: Result; changed: number };
  let siteCa: string;
  let dockerCa: string;
  let oldKey: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-docker-tls-'));
    ctx = join(dir, 'ctx');
    svc = join(dir, 'service');
    client = join(dir, 'repository');
    mkdirSync(join(svc, 'private'), { recursive: true });
    mkdirSync(client, { recursive: true });
    mkdirSync(join(ctx, 'ca', 'hosts'), { recursive: true });
    siteCa = (await ensureSiteCa(ctx, 'tls-test')).certPath;
    dockerCa = join(ctx, 'ca', 'docker-client', 'cacert.pem');
    writeInventory();
    // what an older hive left in a service: a certificate of the site CA with clientAuth
    const old = await sh(
      `set -e; cd ${svc}; openssl req -newkey rsa:2048 -nodes -keyout private/web.key -subj /CN=web.tls-test -out web.csr 2>/dev/null; ` +
        `openssl x509 -req -in web.csr -CA ${siteCa} -CAkey ${join(ctx, 'ca', 'cakey.pem')} -CAcreateserial -days 3650 -out web.crt ` +
        `-extfile <(printf 'subjectAltName=DNS:web.tls-test\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature,keyEncipherment\\nextendedKeyUsage=serverAuth,clientAuth\\n') 2>/dev/null; ` +
        `chmod 0600 private/web.key; rm web.csr`,
    );
    if (old.code !== 0) throw new Error(`the old service certificate could not be made: ${old.stderr}`);
    oldKey = readFileSync(join(svc, 'private', 'web.key'), 'utf8');
    first = await play('certificates', 'repo.tls-test', certTasks());
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('makes a docker client CA distinct from the site CA, with its key 0600', async () => {
    expect(first.r.code, why(first.r)).toBe(0);
    expect(await x509(dockerCa, '-subject')).toMatch(/CN ?= ?docker-client-ca\.tls-test/);
    expect(await x509(dockerCa, '-subject')).not.toBe(await x509(siteCa, '-subject'));
    expect(await x509(dockerCa, '-pubkey')).not.toBe(await x509(siteCa, '-pubkey'));
    expect(await x509(dockerCa, '-ext basicConstraints')).toMatch(/CA:TRUE, pathlen:0/);
    // self-signed: the site CA did not sign it, it is no intermediate of the site
    expect((await verify(siteCa, dockerCa, 'any')).code).not.toBe(0);
    expect((await sh(`stat -c %a ${join(ctx, 'ca', 'docker-client', 'cakey.pem')}`)).stdout.trim()).toBe('600');
  });

  it('signs the docker client certificate with the docker client CA, for clientAuth only', async () => {
    const cert = join(client, 'docker-client.crt');
    expect(await x509(cert, '-ext extendedKeyUsage')).toMatch(/^X509v3 Extended Key Usage:\s*TLS Web Client Authentication$/);
    expect((await verify(dockerCa, cert, 'sslclient')).code).toBe(0);
    expect((await verify(siteCa, cert, 'sslclient')).code).not.toBe(0);
  });

  it('gives a service (hive-certificate) a certificate of the site CA for serverAuth only, signed again over an old clientAuth one', async () => {
    const cert = join(svc, 'web.crt');
    expect(await x509(cert, '-ext extendedKeyUsage')).toMatch(/^X509v3 Extended Key Usage:\s*TLS Web Server Authentication$/);
    expect((await verify(siteCa, cert, 'sslserver')).code).toBe(0);
    expect((await verify(siteCa, cert, 'sslclient')).code).not.toBe(0);
    expect((await verify(dockerCa, cert, 'any')).code).not.toBe(0);
    // the service keeps its key: only the certificate was signed again
    expect(readFileSync(join(svc, 'private', 'web.key'), 'utf8')).toBe(oldKey);
  });

  it('a TLS server that trusts the docker client CA (as dockerd does) refuses the service certificate and takes the client one', async () => {
    // the server's own identity: a certificate of the site CA, as the hosts' are
    const srv = await sh(
      `set -e; cd ${dir}; openssl req -newkey rsa:2048 -nodes -keyout srv.key -subj /CN=127.0.0.1 -out srv.csr 2>/dev/null; ` +
        `openssl x509 -req -in srv.csr -CA ${siteCa} -CAkey ${join(ctx, 'ca', 'cakey.pem')} -CAcreateserial -days 1 -out srv.crt ` +
        `-extfile <(printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n') 2>/dev/null`,
    );
    expect(srv.code, srv.stderr).toBe(0);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = spawn(
      'openssl',
      ['s_server', '-quiet', '-accept', `127.0.0.1:${port}`, '-cert', join(dir, 'srv.crt'), '-key', join(dir, 'srv.key'), '-CAfile', dockerCa, '-Verify', '1', '-verify_return_error', '-www'],
      { stdio: 'ignore' },
    );
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const asClient = (cert: string, key: string) =>
        sh(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 10 openssl s_client -connect 127.0.0.1:${port} -CAfile ${siteCa} -verify_return_error -cert ${cert} -key ${key} -ign_eof 2>&1`);
      const service = await asClient(join(svc, 'web.crt'), join(svc, 'private', 'web.key'));
      expect(service.stdout).not.toMatch(/HTTP\/1\.0 200/);
      const repository = await asClient(join(client, 'docker-client.crt'), join(client, 'docker-client.key'));
      expect(repository.stdout).toMatch(/HTTP\/1\.0 200/);
    } finally {
      server.kill();
    }
  });

  it('changes nothing when applied again', async () => {
    const again = await play('certificates', 'repo.tls-test', certTasks());
    expect(again.r.code, why(again.r)).toBe(0);
    expect(again.changed).toBe(0);
  }, 300_000);
});

// Names of this run's namespaces: srv (a hive with docker_gwbridge), peer (the site network:
// another server's address and a foreign one), ctr (a container behind docker_gwbridge).
const NS = `hivefw${process.pid % 100000}`;
const ns = (n: string) => `${NS}-${n}`;

describe.skipIf(!netnsWorks)('firewall: the docker TLS API answers the servers only, never a container', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-docker-tls-'));
    ctx = join(dir, 'ctx');
    writeInventory();
    const rules = await play('firewall', 'hive0.tls-test', [
      { 'ansible.builtin.include_role': { name: 'firewall', tasks_from: 'rules' }, vars: { firewall_rules_path: join(dir, 'hive0.nft') } },
    ]);
    if (rules.r.code !== 0) throw new Error(`the rule set was not written: ${why(rules.r)}`);
    const S = ns('srv');
    const P = ns('peer');
    const C = ns('ctr');
    const up = await sh(
      [
        'set -e',
        ...[S, P, C].map((n) => `ip netns add ${n}; ip -n ${n} link set lo up`),
        // site network: srv eth0 10.77.0.10 <-> peer eth0 10.77.0.20 (a server) and .99 (not one)
        `ip link add ${NS}a netns ${S} type veth peer name ${NS}b netns ${P}`,
        `ip -n ${S} link set ${NS}a name eth0; ip -n ${P} link set ${NS}b name eth0`,
        `ip -n ${S} addr add ${HIVE_IP}/24 dev eth0; ip -n ${S} link set eth0 up`,
        `ip -n ${P} addr add ${REPO_IP}/24 dev eth0; ip -n ${P} addr add 10.77.0.99/24 dev eth0; ip -n ${P} link set eth0 up`,
        // a container behind the hive's docker_gwbridge, masqueraded on the way out as docker does
        `ip link add ${NS}c netns ${S} type veth peer name ${NS}d netns ${C}`,
        `ip -n ${S} link set ${NS}c name docker_gwbridge; ip -n ${S} addr add 172.31.250.1/24 dev docker_gwbridge; ip -n ${S} link set docker_gwbridge up`,
        `ip -n ${C} link set ${NS}d name eth0; ip -n ${C} addr add 172.31.250.2/24 dev eth0; ip -n ${C} link set eth0 up; ip -n ${C} route add default via 172.31.250.1`,
        `ip netns exec ${S} sysctl -qw net.ipv4.ip_forward=1`,
        `printf 'table ip nat {\\n chain post {\\n type nat hook postrouting priority srcnat;\\n ip saddr 172.31.250.0/24 oifname "eth0" masquerade\\n }\\n}\\n' | ip netns exec ${S} nft -f -`,
        `ip netns exec ${S} nft -f ${join(dir, 'hive0.nft')}`,
      ].join('\n'),
    );
    if (up.code !== 0) throw new Error(`the namespaces could not be set up: ${up.stderr}`);
    // listeners: the hive's 2376 and 2377 (a site port), the other server's 2376
    for (const [n, port] of [[S, 2376], [S, 2377], [P, 2376]] as const) {
      spawn('ip', ['netns', 'exec', n, 'timeout', '120', 'python3', '-c', LISTENER, String(port)], { stdio: 'ignore', detached: false }).unref();
    }
    await new Promise((r) => setTimeout(r, 1500));
  }, 300_000);

  afterAll(async () => {
    await sh([ns('srv'), ns('peer'), ns('ctr')].map((n) => `ip netns pids ${n} 2>/dev/null | xargs -r kill; ip netns del ${n} 2>/dev/null`).join('; '));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Connects from namespace n (from address src, when given) to ip:port; "open" or the error. */
  async function connect(n: string, ip: string, port: number, src?: string): Promise<string> {
    const r = await run('ip', ['netns', 'exec', n, 'python3', '-c', CONNECT, ip, String(port), src ?? '']);
    return r.stdout.trim() || r.stderr.trim();
  }

  it("opens 2376 to a server's own address and refuses any other", async () => {
    expect(await connect(ns('peer'), HIVE_IP, 2376, REPO_IP)).toBe('open');
    expect(await connect(ns('peer'), HIVE_IP, 2376, '10.77.0.99')).toBe('refused');
  });

  it('refuses 2376 to a container behind docker_gwbridge, which still reaches the other site ports', async () => {
    expect(await connect(ns('ctr'), HIVE_IP, 2376)).toBe('refused');
    expect(await connect(ns('ctr'), '172.31.250.1', 2376)).toBe('refused');
    // the trusted interface still works for everything else
    expect(await connect(ns('ctr'), HIVE_IP, 2377)).toBe('open');
  });

  it("refuses a container's connection to another server's 2376 (it would arrive there as this server)", async () => {
    expect(await connect(ns('ctr'), REPO_IP, 2376)).toBe('refused');
  });
});

const LISTENER = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
`;

const CONNECT = `
import socket, sys
s = socket.socket()
s.settimeout(3)
if sys.argv[3]:
    s.bind((sys.argv[3], 0))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print(type(e).__name__)
`;
