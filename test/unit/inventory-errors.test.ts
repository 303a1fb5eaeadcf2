// One test per class of bad input: each names file, line and key exactly as the user sees it.
import { afterEach, describe, expect, it } from 'vitest';
import { MINIMAL_HIVE, cleanupProjects, problems, read } from '../fixtures/inventory/helpers.js';

afterEach(cleanupProjects);

const hive = (stages: string, name = 'demo') => `plugin: hive_inventory\nname: ${name}\nstages:\n${stages}`;
const services = (body: string, head = '') => `plugin: hive_services\n${head}services:\n${body}`;

describe('YAML', () => {
  it('reports syntax errors with their line', () => {
    expect(problems({ 'app.yml': services('  web:\n    image: [nginx\n') })).toEqual([
      'inventory/app.yml:5: services.web.image.0: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('reports duplicate keys', () => {
    expect(problems({ 'app.yml': services('  web:\n    image: a\n    image: b\n') })).toEqual([
      'inventory/app.yml:5: services.web.image: duplicate key "image" (first on line 4)',
    ]);
  });

  it('reports tab indentation', () => {
    expect(problems({ 'app.yml': services('  web:\n\timage: a\n') })).toEqual([
      'inventory/app.yml:4: (document): tab used for indentation (YAML allows spaces only)',
    ]);
  });

  it('reports an empty file and a top level that is not a mapping', () => {
    expect(problems({ 'empty.yml': '# nothing yet\n', 'list.yml': '- plugin: hive_services\n' })).toEqual([
      'inventory/empty.yml:1: (document): file is empty',
      'inventory/list.yml:1: (document): the top level must be a mapping (key: value)',
    ]);
  });

  it('ignores YAML files of other inventory sources but not unknown hive plugins', () => {
    expect(problems({ 'hosts.yml': 'all:\n  hosts:\n    extra: {}\n', 'x.yml': 'plugin: hive_service\nservices: {}\n' })).toEqual([
      'inventory/x.yml:1: plugin: unknown plugin "hive_service": must be hive_inventory or hive_services',
    ]);
  });

  it('needs exactly one hive definition', () => {
    expect(read({ 'app.yml': services('  web: {image: nginx}\n') }).lines).toEqual([
      'inventory:0: (folder): no hive definition: one *.yml file of the inventory folder needs `plugin: hive_inventory`',
    ]);
    expect(read({ 'a.yml': MINIMAL_HIVE, 'b.yml': MINIMAL_HIVE }).lines).toEqual([
      'inventory/b.yml:1: plugin: a second hive definition: the first is inventory/a.yml (only one file may have plugin: hive_inventory)',
    ]);
  });
});

describe('schema', () => {
  it('rejects an invalid cidr', () => {
    const lines = read({ 'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.0/33\n') }).lines;
    expect(lines).toEqual(['inventory/hive.yml:6: stages.private.cidr: "10.90.0.0/33" is not an IPv4 network']);
  });

  it('rejects unknown keys, suggesting the closest one', () => {
    const lines = read({ 'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.0/24\n    cidrr: 10.0.0.0/8\n') }).lines;
    expect(lines).toEqual(['inventory/hive.yml:7: stages.private.cidrr: unknown key "cidrr" (did you mean "cidr"?)']);
    expect(problems({ 'app.yml': services('  web:\n    image: nginx\n    replica: 2\n') })).toEqual([
      'inventory/app.yml:5: services.web.replica: unknown key "replica" (did you mean "replicas"?)',
    ]);
  });

  it('rejects unknown stages and providers, missing keys and wrong types', () => {
    const lines = read({
      'hive.yml': hive('  prod:\n    provider: local\n  private:\n    provider: docker\n    number_of_hosts: "2"\n'),
    }).lines;
    expect(lines).toEqual([
      'inventory/hive.yml:4: stages.prod: unknown stage "prod": must be one of private, staging, production',
      'inventory/hive.yml:6: stages.private.cidr: missing required key',
      'inventory/hive.yml:7: stages.private.provider: must be one of local, aws, prepared, vagrant, azure, gcp, openstack, kickstart, not "docker"',
      'inventory/hive.yml:8: stages.private.number_of_hosts: must be an integer, not the string "2"',
    ]);
  });

  it('rejects unknown stages in available_on', () => {
    expect(problems({ 'app.yml': services('  web:\n    image: nginx\n    available_on: [private, prod]\n') })).toEqual([
      'inventory/app.yml:5: services.web.available_on.1: must be one of private, staging, production, not "prod"',
    ]);
  });

  it('explains ports read as base-60 numbers and short volume syntax', () => {
    expect(problems({ 'app.yml': services('  ssh:\n    image: sshd\n    ports:\n      - 22:22\n    volumes:\n      - data:/data\n') })).toEqual([
      'inventory/app.yml:6: services.ssh.ports.0: must be a string or a mapping, not the number 1342 (YAML 1.1 reads unquoted 22:22 as a base-60 number: quote it, "22:22")',
      'inventory/app.yml:8: services.ssh.volumes.0: short volume syntax "data:/data" is not supported: write source: data and target: /data',
    ]);
  });

  it('accepts Jinja templates where a value is only known at deploy time', () => {
    expect(problems({ 'app.yml': services('  dns:\n    image: pdns\n    mode: "{{ dns_mode }}"\n    replicas: "{{ n }}"\n') })).toEqual([]);
    expect(problems({ 'app.yml': services('  dns:\n    image: pdns\n    mode: globall\n') })).toEqual([
      'inventory/app.yml:5: services.dns.mode: must be one of replicated, global, not "globall"',
    ]);
  });

  it('requires pull_on with pull_from', () => {
    expect(problems({ 'app.yml': services('  db:\n    image:\n      from: mariadb\n      pull_from: x/db\n') })).toEqual([
      'inventory/app.yml:6: services.db.image.pull_from: requires "pull_on" too',
    ]);
  });
});

describe('semantic checks', () => {
  it('rejects host bits in a cidr', () => {
    expect(read({ 'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.1/24\n') }).lines).toEqual([
      'inventory/hive.yml:6: stages.private.cidr: "10.90.0.1/24" is not an IPv4 network: host bits are set (did you mean 10.90.0.0/24?)',
    ]);
  });

  it('rejects subnets outside the cidr or overlapping each other', () => {
    const lines = read({
      'hive.yml': hive(
        '  staging:\n    provider: aws\n    cidr: 10.1.0.0/16\n    subnets:\n' +
          '      - {cidr: 10.1.0.0/24, name: a, available_zone: z}\n' +
          '      - {cidr: 10.1.0.128/25, name: b, available_zone: z}\n' +
          '      - {cidr: 10.2.0.0/24, name: c, available_zone: z}\n    region: eu-west-1\n',
      ),
    }).lines;
    expect(lines).toEqual([
      'inventory/hive.yml:9: stages.staging.subnets.1.cidr: "10.1.0.128/25" overlaps subnet 0 (10.1.0.0/24)',
      'inventory/hive.yml:10: stages.staging.subnets.2.cidr: "10.2.0.0/24" is not inside the stage cidr 10.1.0.0/16',
    ]);
  });

  it('rejects a cidr or a subnet too small for the servers', () => {
    expect(read({ 'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.0/29\n    number_of_hosts: 4\n') }).lines).toEqual([
      'inventory/hive.yml:6: stages.private.cidr: 10.90.0.0/29 is too small for 4 servers (the first 3 addresses are reserved; room for 3)',
    ]);
    const lines = read({
      'hive.yml': hive(
        '  staging:\n    provider: aws\n    cidr: 10.1.0.0/24\n    number_of_hosts: 5\n    subnets:\n' +
          '      - {cidr: 10.1.0.0/29, name: a, available_zone: z}\n      - {cidr: 10.1.0.8/29, name: b, available_zone: z}\n    region: eu-west-1\n',
      ),
    }).lines;
    expect(lines).toEqual([
      'inventory/hive.yml:9: stages.staging.subnets.0.cidr: 10.1.0.0/29 is too small for its 3 servers (the first 4 addresses are reserved; room for 2)',
    ]);
  });

  it('checks ip_address_list against the cidr and number_of_hosts', () => {
    const lines = read({
      'hive.yml': hive(
        '  production:\n    provider: prepared\n    cidr: 192.168.20.0/24\n    number_of_hosts: 4\n' +
          '    ip_address_list: [192.168.20.5, 192.168.21.6, 192.168.20.5, 192.168.20.255]\n',
      ),
    }).lines;
    expect(lines).toEqual([
      'inventory/hive.yml:8: stages.production.ip_address_list.1: "192.168.21.6" is not inside the stage cidr 192.168.20.0/24',
      'inventory/hive.yml:8: stages.production.ip_address_list.2: "192.168.20.5" is listed twice (also item 0)',
      'inventory/hive.yml:8: stages.production.ip_address_list.3: "192.168.20.255" is the broadcast address of 192.168.20.0/24',
    ]);
    expect(
      read({ 'hive.yml': hive('  production:\n    provider: prepared\n    cidr: 192.168.20.0/24\n    number_of_hosts: 4\n    ip_address_list: [192.168.20.5, 192.168.20.6]\n') })
        .lines,
    ).toEqual(['inventory/hive.yml:7: stages.production.number_of_hosts: is 4 but ip_address_list has 2 addresses']);
  });

  it('refuses keys of another provider', () => {
    const lines = read({
      'hive.yml': hive(
        '  private:\n    provider: vagrant\n    cidr: 10.90.0.0/24\n    region: eu\n    instance_type: t3.large\n' +
          '  staging:\n    provider: local\n    cidr: 10.91.0.0/24\n    mirrored_disk_size: 10\n' +
          '  production:\n    provider: prepared\n    cidr: 10.92.0.0/24\n    kms_key_id: k\n    repository_memory_size: 1024\n',
      ),
    }).lines;
    expect(lines).toEqual([
      'inventory/hive.yml:7: stages.private.region: not allowed with provider "vagrant" (only with aws, azure, gcp, openstack)',
      'inventory/hive.yml:8: stages.private.instance_type: not allowed with provider "vagrant" (only with aws, azure, gcp, openstack)',
      'inventory/hive.yml:12: stages.staging.mirrored_disk_size: not allowed with provider "local" (it takes cidr, number_of_hosts, separate_repository, custom_hostname, memory_size, cpus, internal_cidr)',
      'inventory/hive.yml:16: stages.production.kms_key_id: not allowed with provider "prepared" (only with aws)',
      'inventory/hive.yml:17: stages.production.repository_memory_size: not allowed with provider "prepared" (only with vagrant)',
    ]);
  });

  it('requires kms_key_id for encrypted disks', () => {
    expect(read({ 'hive.yml': hive('  staging:\n    provider: aws\n    cidr: 10.91.0.0/24\n    disk_encrypted: true\n    region: eu-west-1\n') }).lines).toEqual([
      'inventory/hive.yml:7: stages.staging.disk_encrypted: requires kms_key_id',
    ]);
  });

  it('checks custom_hostname syntax and length', () => {
    expect(read({ 'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.0/24\n    custom_hostname: Node_\n') }).lines).toEqual([
      'inventory/hive.yml:7: stages.private.custom_hostname: "Node_" is not a valid host name stem (lowercase letters, digits and hyphens, at least 2 characters, no hyphen at either end)',
    ]);
    const long = 'a'.repeat(30);
    expect(read({ 'hive.yml': hive(`  private:\n    provider: local\n    cidr: 10.90.0.0/24\n    custom_hostname: ${long}\n`, 'b'.repeat(25)) }).lines).toEqual([
      `inventory/hive.yml:7: stages.private.custom_hostname: "${long}" is too long: custom_hostname and name together must be under 55 characters`,
    ]);
  });

  it('refuses a single server that is only the repository', () => {
    expect(read({ 'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.0/24\n    number_of_hosts: 1\n') }).lines).toEqual([
      'inventory/hive.yml:7: stages.private.number_of_hosts: one server with separate_repository: true leaves no hive (swarm node): use 2 or more servers, or separate_repository: false',
    ]);
  });

  it('rejects the same published port twice on a stage', () => {
    const lines = problems({
      'a.yml': services('  dns:\n    image: pdns\n    ports: ["53:53/udp", "53:53/tcp"]\n'),
      'b.yml': services('  dns2:\n    image: pdns\n    ports:\n      - {target_port: 5353, published_port: 53, protocol: udp}\n'),
      // same port on another stage only: fine
      'c.yml': services('  dns3:\n    image: pdns\n    available_on: [staging]\n    ports: ["53:53/udp"]\n'),
    });
    expect(lines).toEqual([
      'inventory/b.yml:6: services.dns2.ports.0: published port 53/udp is already used on stage private by service "dns" at inventory/a.yml:5 (services.dns.ports.0)',
    ]);
  });

  it('rejects one volume declared with two definitions', () => {
    const lines = problems({
      'a.yml': services(
        '  proxy:\n    image: nginx\n    volumes:\n      - {source: conf, target: /etc/nginx, drbd: {fstype: xfs, size: 80M}}\n' +
          '  configure:\n    image: cfg\n    volumes:\n      - {source: conf, target: /conf, drbd: {fstype: xfs, size: 100M}}\n' +
          '  other:\n    image: x\n    volumes:\n      - {source: conf, target: /x}\n',
      ),
    });
    expect(lines).toEqual([
      'inventory/a.yml:10: services.configure.volumes.0.drbd.size: volume "conf" is declared with size 100M here but size 80M at inventory/a.yml:6 (services.proxy.volumes.0)',
    ]);
    expect(problems({ 'a.yml': services('  s:\n    image: x\n    volumes:\n      - {source: v, target: /v, drbd: {fstype: xfs, size: 1G}, nfs: {}}\n') })).toEqual([
      'inventory/a.yml:6: services.s.volumes.0.nfs: a volume takes only one of drbd, nfs and driver (drbd and nfs given)',
    ]);
  });

  it('rejects networks that are not declared', () => {
    expect(
      problems({
        'a.yml': services('  web:\n    image: nginx\n    networks: [hive_default_network, front, back]\n', 'networks:\n  front:\n'),
      }),
    ).toEqual(['inventory/a.yml:7: services.web.networks.2: network "back" is not declared (declare it under networks: in a service file)']);
  });

  it('rejects a service defined in two files and the reserved hive- prefix', () => {
    expect(problems({ 'a.yml': services('  web:\n    image: nginx\n'), 'b.yml': services('  web:\n    image: httpd\n  hive-x:\n    image: y\n') })).toEqual([
      'inventory/b.yml:3: services.web: service "web" is already defined at inventory/a.yml:3 (services.web)',
      'inventory/b.yml:5: services.hive-x: service names starting with "hive-" are reserved for hive\'s own services',
    ]);
  });

  it('rejects two volumes claiming one DRBD device_id', () => {
    expect(
      problems({
        'a.yml': services(
          '  a:\n    image: x\n    volumes:\n      - {source: va, target: /a, drbd: {fstype: xfs, size: 1G, device_id: 7}}\n' +
            '  b:\n    image: x\n    volumes:\n      - {source: vb, target: /b, drbd: {fstype: xfs, size: 1G, device_id: 7}}\n',
        ),
      }),
    ).toEqual([
      'inventory/a.yml:10: services.b.volumes.0.drbd.device_id: DRBD device_id 7 is already used by volume "va" at inventory/a.yml:6 (services.a.volumes.0.drbd.device_id)',
    ]);
  });

  it('rejects a first hive index that is not a hive of the stage', () => {
    expect(problems({}, { stage: 'production', firstHive: 3 })).toEqual([
      "inventory/hive.yml:9: stages.production: first hive index 3 is not one of the stage's 2 hives (hive-builder's first_hive setting)",
    ]);
  });
});

describe('collecting', () => {
  it('reports every problem of every file at once, sorted by file and line', () => {
    const lines = read({
      'hive.yml': hive('  private:\n    provider: local\n    cidr: 10.90.0.0/33\n    cpus: 0\n'),
      'app.yml': services('  web:\n    image: nginx\n    ports: ["80:80", "99999"]\n'),
    }).lines;
    expect(lines).toEqual([
      'inventory/app.yml:5: services.web.ports.1: target port 99999 is not in 1-65535',
      'inventory/hive.yml:6: stages.private.cidr: "10.90.0.0/33" is not an IPv4 network',
      'inventory/hive.yml:7: stages.private.cpus: must be at least 1, not 0',
    ]);
  });
});
