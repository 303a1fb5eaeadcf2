// The docker TLS API (2376) on the shared local site, as an attacker inside a service would try
// it: a running task of the sample service web is given a certificate made by the hive-certificate
// image role (site CA, on the controller, exactly as build-images makes one for an image) and
// tries the API of its own hive and of another one. The firewall refuses it, and the engines
// refuse that certificate even where the firewall lets it through (from the repository); the
// repository's own docker client identity, the one its backups use, works.
// Cheap: one local ansible-playbook run for the certificate, then a few ssh commands. It runs
// after the services and ops suites; it deploys the services only when none is running.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, phaseOnce, REPO, run, runPhase, ssh, useSite, type CommandResult, type LocalSite, type SiteHost } from './site-fixture.js';

const LONG = 15 * 60_000;
const PROBE = '/tmp/hive-e2e-docker-api';
const SITE_CA = '/usr/local/share/ca-certificates/hive-ca.crt';

let site: LocalSite;
let hives: SiteHost[];
let repository: SiteHost;
/** The hive running a task of web, and that task's container. */
let taskHive: SiteHost;
let container: string;
let local: string;

function sshIn(host: string, command: string, input: string): Promise<CommandResult> {
  return run('ssh', ['-F', site.sshConfig, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', host, command], { input, timeoutMs: 120_000 });
}

async function webTask(): Promise<{ hive: SiteHost; container: string } | undefined> {
  for (const h of hives) {
    const r = await ssh(site, h.name, 'docker ps -q -f label=com.docker.swarm.service.name=web | head -1');
    if (r.code === 0 && r.stdout.trim()) return { hive: h, container: r.stdout.trim() };
  }
  return undefined;
}

/**
 * GET https://ip:2376/version from inside the service's container with its certificate (python3
 * is in the sample images): prints the HTTP status line, "refused", or the TLS error.
 */
const FROM_SERVICE = `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="${PROBE}/ca.crt")
ctx.check_hostname = False
ctx.load_cert_chain("${PROBE}/web.crt", "${PROBE}/web.key")
try:
    with socket.create_connection((sys.argv[1], 2376), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"GET /version HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n")
            print(s.recv(200).decode(errors="replace").splitlines()[0])
except ConnectionRefusedError:
    print("refused")
except (ssl.SSLError, OSError) as e:
    print(type(e).__name__, e)
`;

describe('docker TLS API: only hive\'s own client identity, never a service', () => {
  beforeAll(async () => {
    site = await useSite();
    hives = site.hosts.filter((h) => h.isHive);
    repository = site.hosts.find((h) => h.isRepository)!;
    const setup = await phaseOnce(site, 'setup-hosts');
    expect(setup.code, explain(setup)).toBe(0);
    let task = await webTask();
    if (!task) {
      for (const phase of ['build-images', 'build-volumes', 'build-networks']) {
        const r = await phaseOnce(site, phase);
        expect(r.code, `${phase}: ${explain(r)}`).toBe(0);
      }
      const deploy = await runPhase(site, 'deploy-services');
      expect(deploy.code, explain(deploy)).toBe(0);
      for (let i = 0; i < 60 && !task; i++) {
        await new Promise((r) => setTimeout(r, 2000));
        task = await webTask();
      }
    }
    if (!task) throw new Error('no task of web runs on any hive');
    taskHive = task.hive;
    container = task.container;

    // the certificate as the image role makes it in an image: key and certificate signed by the
    // site CA on the controller, then put into the container
    local = mkdtempSync(join(tmpdir(), 'hive-e2e-docker-api-'));
    const playbook = join(local, 'cert.yml');
    writeFileSync(
      playbook,
      JSON.stringify([
        {
          hosts: 'localhost',
          gather_facts: false,
          vars: { hive_context_dir: site.stageDir },
          roles: [{ role: 'hive-certificate', certificates: [{ fqdn: `web.${site.name}`, cert_dest: join(local, 'web.crt'), key_dest: join(local, 'web.key') }] }],
        },
      ]),
    );
    const made = await run('ansible-playbook', ['-i', 'localhost,', '-c', 'local', playbook], {
      env: { ...process.env, ANSIBLE_ROLES_PATH: join(REPO, 'image_roles'), ANSIBLE_NOCOLOR: '1' },
      timeoutMs: 300_000,
    });
    expect(made.code, made.stdout + made.stderr).toBe(0);
    const files: [string, string][] = [
      ['web.crt', readFileSync(join(local, 'web.crt'), 'utf8')],
      ['web.key', readFileSync(join(local, 'web.key'), 'utf8')],
      ['ca.crt', readFileSync(join(site.stageDir, 'ca', 'cacert.pem'), 'utf8')],
    ];
    for (const [name, text] of files) {
      const inService = await sshIn(taskHive.name, `docker exec -i ${container} sh -c 'mkdir -p ${PROBE} && cat > ${PROBE}/${name}'`, text);
      expect(inService.code, inService.stderr).toBe(0);
      // the same certificate on the repository, which the firewall lets reach 2376
      const onRepository = await sshIn(repository.name, `mkdir -p ${PROBE} && cat > ${PROBE}/${name} && chmod 0600 ${PROBE}/${name}`, text);
      expect(onRepository.code, onRepository.stderr).toBe(0);
    }
  }, LONG);

  afterAll(async () => {
    if (taskHive) await ssh(site, taskHive.name, `docker exec ${container} rm -rf ${PROBE}`);
    if (repository) await ssh(site, repository.name, `rm -rf ${PROBE}`);
    if (local) rmSync(local, { recursive: true, force: true });
  });

  it('the service certificate is a server identity only (extendedKeyUsage serverAuth)', async () => {
    const eku = await run('openssl', ['x509', '-noout', '-ext', 'extendedKeyUsage', '-in', join(local, 'web.crt')]);
    expect(eku.stdout.trim()).toMatch(/^X509v3 Extended Key Usage:\s*TLS Web Server Authentication$/);
  });

  it('from inside the service, the API of its own hive and of another hive is refused', async () => {
    const other = hives.find((h) => h.name !== taskHive.name)!;
    for (const target of [taskHive, other]) {
      const r = await ssh(site, taskHive.name, `docker exec ${container} python3 -c '${FROM_SERVICE}' ${target.ip}`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim(), `${target.name} from the service`).toBe('refused');
    }
  });

  it('the engines refuse the service certificate and the old host certificates, and take the repository\'s docker client identity', async () => {
    const hive = hives[0];
    const api = (cert: string, key: string) =>
      ssh(site, repository.name, `sudo docker --tlsverify --tlscacert ${SITE_CA} --tlscert ${cert} --tlskey ${key} -H tcp://${hive.name}:2376 version --format '{{.Server.Version}}'`);
    const service = await api(`${PROBE}/web.crt`, `${PROBE}/web.key`);
    expect(service.code).not.toBe(0);
    expect(service.stderr).toMatch(/certificate|tls/i);
    // what the backups used before: the repository's host certificate of the site CA
    const host = await api('/etc/ssl/hive/host.crt', '/etc/ssl/private/hive-host.key');
    expect(host.code).not.toBe(0);
    const own = await api('/etc/ssl/hive/docker-client.crt', '/etc/ssl/private/hive-docker-client.key');
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout.trim()).toMatch(/^\d+\.\d+/);
    // the same with curl, as any https client would: no docker CLI needed for the attack
    const curl = await ssh(
      site,
      repository.name,
      `sudo curl -sS -o /dev/null -w '%{http_code}' --cacert ${SITE_CA} --cert ${PROBE}/web.crt --key ${PROBE}/web.key https://${hive.name}:2376/version`,
    );
    expect(curl.stdout).not.toBe('200');
  });

  it('dockerd listens for TCP on the hive\'s site address only', async () => {
    const r = await ssh(site, hives[0].name, `sudo ss -ltnH 'sport = :2376'`);
    expect(r.code, r.stderr).toBe(0);
    const listening = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]);
    expect(listening).toEqual([`${hives[0].ip}:2376`]);
  });
});
