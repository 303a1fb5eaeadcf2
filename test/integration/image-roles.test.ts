// The built-in image roles (image_roles/: python-aptk, hive-trust-ca, hive-certificate,
// hive-syslog) applied for real, the way build-images applies an image's roles (roles/image_build
// tasks/build.yml): the real ansible-playbook switches the image host to the
// community.docker.docker connection with set_fact and include_role's each role, here into
// containers of the local provider's host image (hive-host:bookworm, Debian 12) on this
// machine's docker engine. Controller work (signing with the site CA) runs on localhost.
//
// - "app": a plain container (main process `sleep infinity`) whose python3 is purged first
//   (apt-get purge takes a second; a python-less base image would have to be downloaded or
//   debootstrapped), so python-aptk really installs python3 with apt; then hive-trust-ca and
//   hive-certificate.
// - "standalone": systemd as PID 1, as a standalone image's build container; python-aptk finds
//   the image's python3, hive-syslog installs rsyslog and forwards to a UDP socket of this test.
//
// apt downloads go through the same apt cache the local provider gives its hosts (apt-cacher-ng
// on this machine, HIVE_APT_PROXY), else straight from the mirror. The containers carry the label
// hive.site=e2e-image-roles and are recorded like an e2e site, so a killed run's leftovers are
// removed by the next run's global setup.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensureSiteCa } from '../../src/providers/credentials.js';
import { aptProxyConf, resolveAptProxy } from '../../src/providers/local/apt-cache.js';
import { ensureHostImage, HOST_IMAGE, machineDebianMirrors, SUITE } from '../../src/providers/local/host-image.js';
import { REGISTRY } from '../e2e/site-fixture.js';
// the flags the local provider runs its systemd host containers with
import { SYSTEMD_FLAGS } from '../../src/providers/local/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE_ROLES = join(REPO, 'image_roles');
const SITE_LABEL = 'e2e-image-roles';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {}): Promise<Result> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...opts.env }, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024, timeout: opts.timeout ?? 120_000 },
      (err, stdout, stderr) => {
        res({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function docker(args: string[], timeout = 120_000): Promise<string> {
  const r = await run('docker', args, { timeout });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs `script` with sh in the container; resolves with its exit code and output. */
const sh = (container: string, script: string) => run('docker', ['exec', container, 'sh', '-c', script]);

/** Why this suite cannot run here (undefined: it can). Builds the host image when it is missing and that is possible. */
async function unavailable(): Promise<string | undefined> {
  if ((await run('docker', ['info', '--format', '{{.ServerVersion}}'])).code !== 0) return 'no docker engine answers';
  if ((await run('ansible-playbook', ['--version'])).code !== 0) return 'ansible-playbook is not installed';
  if ((await run('docker', ['image', 'inspect', HOST_IMAGE])).code === 0) return undefined;
  // built the way build-infra of the local provider builds it (debootstrap + docker import)
  const mirrors = machineDebianMirrors();
  const { proxy } = await resolveAptProxy('127.0.0.1', `${mirrors.mirror}/dists/${SUITE}/Release`);
  try {
    await ensureHostImage({ aptProxy: proxy?.forMachine });
    return undefined;
  } catch (e) {
    return `the host image ${HOST_IMAGE} is missing and cannot be built here: ${(e as Error).message}`;
  }
}

const skipReason = await unavailable();
if (skipReason) process.stderr.write(`image-roles: skipped: ${skipReason}\n`);

describe('build-images finds and digests the built-in image roles', () => {
  it('looks in image_roles after the project\'s and hive\'s roles (image_build defaults, role_digest.py)', async () => {
    const project = mkdtempSync(join(tmpdir(), 'hive-image-roles-project-'));
    try {
      const defaults = parse(readFileSync(join(REPO, 'roles/image_build/defaults/main.yml'), 'utf8')) as { image_build_role_paths: string[] };
      const paths = defaults.image_build_role_paths.map((p) => p.replace('{{ hive_root_dir }}', project).replace('{{ hive_install_dir }}', REPO));
      expect(paths).toEqual([join(project, 'roles'), join(REPO, 'roles'), join(REPO, 'image_roles')]);
      // a project role of the same name overrides the built-in one
      mkdirSync(join(project, 'roles', 'hive-syslog', 'tasks'), { recursive: true });
      writeFileSync(join(project, 'roles', 'hive-syslog', 'tasks', 'main.yml'), '---\n[]\n');
      const roles = ['python-aptk', 'hive-trust-ca', 'hive-certificate', 'hive-syslog'];
      const args = Buffer.from(JSON.stringify({ roles, paths, extra: [] })).toString('base64');
      const r = await run('python3', [join(REPO, 'roles/image_build/files/role_digest.py'), args]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { digest: string; found: Record<string, string>; missing: string[] };
      expect(out.missing).toEqual([]);
      expect(out.found).toEqual({
        'python-aptk': join(REPO, 'image_roles', 'python-aptk'),
        'hive-trust-ca': join(REPO, 'image_roles', 'hive-trust-ca'),
        'hive-certificate': join(REPO, 'image_roles', 'hive-certificate'),
        'hive-syslog': join(project, 'roles', 'hive-syslog'),
      });
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});


interface Apply {
  stdout: string;
  ok: number;
  changed: number;
  failed: number;
  /** Names of the tasks that reported changed. */
  changedTasks: string[];
}

describe.skipIf(skipReason !== undefined)('built-in image roles in containers', () => {
  const suffix = randomBytes(3).toString('hex');
  const app = `hive-image-roles-${suffix}-app`;
  const standalone = `hive-image-roles-${suffix}-standalone`;
  let dir: string;
  let ctx: string;
  let gateway: string;
  let syslog: Socket;
  let syslogPort: number;
  const received: string[] = [];

  /**
   * Applies `roles` to `host` (an image_<service> inventory host) like build-images: set_fact
   * switches it to the docker connection, include_role runs each role.
   */
  async function apply(name: string, host: string, container: string, roles: string[], vars: Record<string, unknown> = {}): Promise<Apply> {
    const inventory = {
      all: {
        children: {
          private: { hosts: { [host]: {}, 'p-hive3.image-roles': { hive_private_ip: gateway } } },
          images: { hosts: { [host]: {} } },
          repository: { hosts: { 'p-hive3.image-roles': {} } },
        },
      },
    };
    const play = {
      name: `image roles ${name}`,
      hosts: host,
      gather_facts: false,
      vars: { hive_stage: 'private', hive_context_dir: ctx, hive_syslog_port: syslogPort, ...vars },
      tasks: [
        {
          name: 'Reach the build container over the docker connection',
          'ansible.builtin.set_fact': {
            ansible_connection: 'community.docker.docker',
            ansible_host: container,
            ansible_docker_user: 'root',
            ansible_become: false,
          },
        },
        {
          name: "Apply the image's roles in the build container",
          'ansible.builtin.include_role': { name: '{{ image_role }}' },
          loop: roles,
          loop_control: { loop_var: 'image_role' },
        },
      ],
    };
    const inv = join(dir, `${name}-inventory.yml`);
    const pb = join(dir, `${name}.yml`);
    writeFileSync(inv, stringify(inventory));
    writeFileSync(pb, stringify([play]));
    const r = await run('ansible-playbook', ['-i', inv, pb], {
      cwd: dir,
      timeout: 600_000,
      env: { ANSIBLE_ROLES_PATH: IMAGE_ROLES, ANSIBLE_NOCOLOR: '1', ANSIBLE_STDOUT_CALLBACK: 'default', ANSIBLE_RETRY_FILES_ENABLED: 'False' },
    });
    const recap = new RegExp(`^${host.replace(/[.]/g, '\\.')}\\s*:\\s*ok=(\\d+)\\s+changed=(\\d+)\\s+unreachable=\\d+\\s+failed=(\\d+)`, 'm').exec(r.stdout);
    const changedTasks: string[] = [];
    let task = '';
    for (const line of r.stdout.split('\n')) {
      const t = /^TASK \[(.*)\]/.exec(line);
      if (t) task = t[1];
      else if (/^changed: /.test(line) && changedTasks.at(-1) !== task) changedTasks.push(task);
    }
    return {
      stdout: `${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`,
      ok: Number(recap?.[1] ?? 0),
      changed: Number(recap?.[2] ?? 0),
      failed: r.code !== 0 ? Math.max(1, Number(recap?.[3] ?? 0)) : 0,
      changedTasks,
    };
  }

  const applied = (a: Apply) => {
    if (a.failed) throw new Error(`ansible-playbook failed:\n${a.stdout}`);
    return a;
  };

  const certificates = [
    { fqdn: 'www.image-roles.test', sub_prefix: '/C=JP/O=Example Corp', cert_dest: '/etc/ssl/www/www.crt', key_dest: '/etc/ssl/www/private/www.key' },
    // hive-builder's spelling of the keys
    { certificate_fqdn: 'api.image-roles.test', ca_valid_in: 90, cert_dest: '/etc/api.pem', key_dest: '/etc/api-key.pem' },
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-image-roles-'));
    ctx = join(dir, 'ctx');
    // the site CA as build-infra makes it: <context>/ca/cacert.pem, cakey.pem
    await ensureSiteCa(ctx, 'image-roles.test');
    // recorded like an e2e site: the next run's global setup removes what a killed run left
    mkdirSync(REGISTRY, { recursive: true });
    writeFileSync(join(REGISTRY, `${SITE_LABEL}.json`), JSON.stringify({ name: SITE_LABEL, dir: '', owner: Number(process.env.HIVE_E2E_OWNER ?? process.pid) }));

    // docker's default bridge: its IPAM config names the gateway on some engines only (Debian's
    // 20.10 gives just the subnet); the bridge interface's own address is the gateway anyway
    gateway = (await docker(['network', 'inspect', 'bridge', '--format', '{{range .IPAM.Config}}{{.Gateway}} {{end}}'])).trim().split(/\s+/)[0] ?? '';
    if (!gateway) {
      const bridge = (await docker(['network', 'inspect', 'bridge', '--format', '{{index .Options "com.docker.network.bridge.name"}}'])).trim() || 'docker0';
      const addr = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' });
      gateway = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)?.[1] ?? '';
    }
    if (!gateway) throw new Error('no address of docker\'s default bridge: the containers have nothing to send logs to');
    const mirrors = machineDebianMirrors();
    const { proxy } = await resolveAptProxy(gateway, `${mirrors.mirror}/dists/${SUITE}/Release`);

    syslog = createSocket('udp4');
    syslog.on('message', (m) => received.push(m.toString('utf8')));
    await new Promise<void>((res) => syslog.bind(0, '0.0.0.0', () => res()));
    syslogPort = syslog.address().port;

    const label = ['--label', `hive.site=${SITE_LABEL}`];
    await docker(['run', '-d', '--name', app, '--hostname', 'image-app', ...label, '--entrypoint', 'sleep', HOST_IMAGE, 'infinity']);
    await docker(['run', '-d', '--name', standalone, '--hostname', 'image-web', ...label, ...SYSTEMD_FLAGS, HOST_IMAGE]);
    for (const c of [app, standalone]) {
      // what build-images lends a build container while its roles run: the apt proxy settings
      const conf = proxy ? aptProxyConf(proxy.forHosts) : '// no apt cache: direct downloads\n';
      await new Promise<void>((res, rej) => {
        const p = execFile('docker', ['exec', '-i', c, 'sh', '-c', 'cat > /etc/apt/apt.conf.d/00hive-build-proxy'], (err) => (err ? rej(err) : res()));
        p.stdin?.on('error', () => {}); // the exit code tells what went wrong
        p.stdin?.end(conf);
      });
      // as official debian/ubuntu images ship: no package lists, and a lists folder that looks
      // fresh (a role that trusts cache_valid_time alone then finds no package at all)
      const noLists = await sh(c, 'rm -rf /var/lib/apt/lists/* && touch /var/lib/apt/lists && ! ls /var/lib/apt/lists/*_Packages* 2>/dev/null');
      if (noLists.code !== 0) throw new Error(`the package lists of ${c} could not be removed: ${noLists.stderr}`);
    }
    const purge = await sh(
      app,
      'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q python3 python3-minimal python3.11 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib >/dev/null 2>&1; ' +
        'if command -v python3 || ls /usr/bin/python3*; then exit 1; fi',
    );
    if (purge.code !== 0) throw new Error(`python3 could not be removed from ${app}: ${purge.stdout} ${purge.stderr}`);
    // systemd up (degraded is fine: some units cannot work in a container)
    for (let i = 0; ; i++) {
      const s = (await sh(standalone, 'systemctl is-system-running 2>/dev/null')).stdout.trim();
      if (s === 'running' || s === 'degraded') break;
      if (i > 60) throw new Error(`systemd in ${standalone} did not come up: ${s}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

  afterAll(async () => {
    await run('docker', ['rm', '-f', '-v', app, standalone]);
    syslog?.close();
    rmSync(join(REGISTRY, `${SITE_LABEL}.json`), { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('python-aptk, hive-trust-ca, hive-certificate in a container without python', () => {
    const roles = ['python-aptk', 'hive-trust-ca', 'hive-certificate'];
    let first: Apply;
    beforeAll(async () => {
      first = applied(await apply('app-1', 'image_app', app, roles, { certificates }));
    });

    it('python-aptk installs python3 with apt and reports it changed', async () => {
      expect(first.changedTasks).toContain('python-aptk : Find python3 in the container, install it when missing');
      expect((await sh(app, 'python3 --version')).code).toBe(0);
    });

    it('hive-trust-ca makes the container trust the site CA, and links /etc/cacert_pip.pem to it', async () => {
      // a certificate the site CA signs here, unknown to the container until now
      const leafKey = join(dir, 'leaf.key');
      const leafCsr = join(dir, 'leaf.csr');
      const leaf = join(dir, 'leaf.crt');
      expect((await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=leaf.image-roles.test', '-keyout', leafKey, '-out', leafCsr])).code).toBe(0);
      const signed = await run('openssl', ['x509', '-req', '-in', leafCsr, '-CA', join(ctx, 'ca', 'cacert.pem'), '-CAkey', join(ctx, 'ca', 'cakey.pem'), '-CAcreateserial', '-days', '2', '-out', leaf]);
      expect(signed.code, signed.stderr).toBe(0);
      await docker(['cp', leaf, `${app}:/tmp/leaf.crt`]);
      const verify = await sh(app, 'openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt /tmp/leaf.crt');
      expect(verify.stdout + verify.stderr).toContain('/tmp/leaf.crt: OK');

      const pip = await sh(app, 'test -L /etc/cacert_pip.pem && cat /etc/cacert_pip.pem');
      expect(pip.code).toBe(0);
      expect(pip.stdout.trim()).toBe(readFileSync(join(ctx, 'ca', 'cacert.pem'), 'utf8').trim());
    });

    it('hive-certificate installs a certificate of the site CA for the fqdn, with its key 0600', async () => {
      const www = await sh(
        app,
        'openssl verify -CAfile /etc/cacert_pip.pem /etc/ssl/www/www.crt && openssl x509 -in /etc/ssl/www/www.crt -noout -subject -ext subjectAltName && stat -c "%a %U" /etc/ssl/www/private/www.key /etc/ssl/www/private',
      );
      expect(www.code, www.stderr).toBe(0);
      expect(www.stdout).toContain('/etc/ssl/www/www.crt: OK');
      expect(www.stdout).toMatch(/subject=C = JP, O = Example Corp, CN = www\.image-roles\.test/);
      expect(www.stdout).toMatch(/DNS:www\.image-roles\.test/);
      expect(www.stdout).toMatch(/^600 root$/m);
      expect(www.stdout).toMatch(/^700 root$/m);
      // the key is the certificate's
      const pair = await sh(app, 'openssl x509 -in /etc/ssl/www/www.crt -noout -pubkey; echo KEY-OF-THE-CERT-ABOVE; openssl pkey -in /etc/ssl/www/private/www.key -pubout');
      const [fromCert, fromKey] = pair.stdout.split('KEY-OF-THE-CERT-ABOVE');
      expect(fromCert).toContain('BEGIN PUBLIC KEY');
      expect(fromCert.trim()).toBe(fromKey.trim());

      // hive-builder's keys: certificate_fqdn, ca_valid_in (days)
      const api = await sh(
        app,
        'openssl verify -CAfile /etc/cacert_pip.pem /etc/api.pem && openssl x509 -in /etc/api.pem -noout -ext subjectAltName && stat -c %a /etc/api-key.pem && ' +
          'openssl x509 -in /etc/api.pem -noout -checkend $((89*86400)) && ! openssl x509 -in /etc/api.pem -noout -checkend $((91*86400))',
      );
      expect(api.code, api.stdout + api.stderr).toBe(0);
      expect(api.stdout).toMatch(/DNS:api\.image-roles\.test/);
      expect(api.stdout).toMatch(/^600$/m);
    });

    it('changes nothing when applied again: no package, no trust store rebuild, no new signature', async () => {
      const before = (await sh(app, 'sha256sum /etc/ssl/www/www.crt /etc/ssl/www/private/www.key /etc/api.pem')).stdout;
      const again = applied(await apply('app-2', 'image_app', app, roles, { certificates }));
      expect(again.changed, `changed: ${again.changedTasks.join(', ')}\n${again.stdout}`).toBe(0);
      expect((await sh(app, 'sha256sum /etc/ssl/www/www.crt /etc/ssl/www/private/www.key /etc/api.pem')).stdout).toBe(before);
    });

    it('repairs the image: signs again for new names or a certificate not of the site CA, puts the CA back in the store', async () => {
      // api.pem replaced by a self-signed certificate for the same name and key
      const forged = await sh(
        app,
        'openssl req -x509 -new -key /etc/api-key.pem -subj /CN=api.image-roles.test -addext subjectAltName=DNS:api.image-roles.test -days 90 -out /etc/api.pem && ! openssl verify -CAfile /etc/cacert_pip.pem /etc/api.pem',
      );
      expect(forged.code, forged.stderr).toBe(0);
      // the anchor file in place but the store rebuilt without it (a run stopped before its rebuild)
      const lost = await sh(
        app,
        'mv /usr/local/share/ca-certificates/hive-ca.crt /root/ && update-ca-certificates --fresh >/dev/null && mv /root/hive-ca.crt /usr/local/share/ca-certificates/ && ' +
          '! openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt /tmp/leaf.crt',
      );
      expect(lost.code, lost.stdout + lost.stderr).toBe(0);
      const renamed = [{ ...certificates[0], fqdn: 'web.image-roles.test' }, certificates[1]];
      const third = applied(await apply('app-3', 'image_app', app, roles, { certificates: renamed }));
      expect(third.changedTasks).toEqual(
        expect.arrayContaining([
          'hive-trust-ca : Rebuild the system trust store',
          'hive-certificate : Sign with the site CA unless the certificate is still good - web.image-roles.test',
          'hive-certificate : Sign with the site CA unless the certificate is still good - api.image-roles.test',
        ]),
      );
      const check = await sh(
        app,
        'openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt /tmp/leaf.crt /etc/ssl/www/www.crt /etc/api.pem && openssl x509 -in /etc/ssl/www/www.crt -noout -ext subjectAltName',
      );
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toMatch(/DNS:web\.image-roles\.test/);
      expect(check.stdout).not.toMatch(/DNS:www\.image-roles\.test/);
    });

    it('rejects an item of certificates without key_dest before touching the container', async () => {
      const bad = await apply('app-bad', 'image_app', app, ['hive-certificate'], {
        certificates: [{ fqdn: 'bad.image-roles.test', cert_dest: '/etc/bad.crt' }],
      });
      expect(bad.failed).toBeGreaterThan(0);
      expect(bad.stdout).toMatch(/key_dest/);
      expect((await sh(app, 'test -e /etc/bad.crt')).code).not.toBe(0);
    });
  });

  describe('python-aptk, hive-syslog in a standalone container (systemd inside)', () => {
    const roles = ['python-aptk', 'hive-syslog'];
    let first: Apply;
    beforeAll(async () => {
      first = applied(await apply('standalone-1', 'image_web', standalone, roles));
    });

    it('python-aptk finds the python3 the image has and changes nothing', () => {
      expect(first.changedTasks.filter((t) => t.startsWith('python-aptk'))).toEqual([]);
    });

    it('hive-syslog writes a forwarding rule rsyslogd accepts, and runs rsyslog under systemd', async () => {
      const check = await sh(standalone, 'rsyslogd -N1 2>&1; echo rc=$?; systemctl is-active rsyslog; systemctl is-enabled rsyslog; cat /etc/rsyslog.d/90-hive-forward.conf');
      expect(check.stdout).toMatch(/rc=0/);
      expect(check.stdout).toMatch(/^active$/m);
      expect(check.stdout).toMatch(/^enabled$/m);
      expect(check.stdout).toContain(`target="${gateway}" port="${syslogPort}" protocol="udp"`);
    });

    it('forwards info and above to the collector as local0 tagged with the service, without mail', async () => {
      const marker = randomBytes(4).toString('hex');
      await sh(standalone, `logger -p mail.info -t mailer "mail ${marker}"; logger -p daemon.debug -t app "debug ${marker}"; logger -p daemon.warning -t app "hello ${marker}"`);
      const deadline = Date.now() + 20_000;
      while (!received.some((m) => m.includes(`hello ${marker}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const mine = received.filter((m) => m.includes(marker));
      const why = mine.length ? '' : (await sh(standalone, 'systemctl status rsyslog --no-pager -l 2>&1 | tail -20; cat /etc/rsyslog.d/*.conf; ls -la /dev/log /run/systemd/journal/ 2>&1')).stdout;
      // RFC 5424: <PRI>1 TIME HOST APP-NAME ...; local0 (16) * 8 + warning (4) = 132
      expect(mine, `received ${JSON.stringify(received.slice(-5))}\n${why}`).toEqual([expect.stringMatching(new RegExp(`^<132>1 \\S+ image-web web - - - app: hello ${marker}$`))]);
    });

    it('changes nothing when applied again', async () => {
      const again = applied(await apply('standalone-2', 'image_web', standalone, roles));
      expect(again.changed, `changed: ${again.changedTasks.join(', ')}\n${again.stdout}`).toBe(0);
    });
  });
});
