// Zabbix and DRBD: the probe's parsers (roles/zabbix_agent/files/hive-zabbix-probe) on recorded
// outputs of both kernel module generations (DRBD 9: `drbdsetup status --json`; 8.4: /proc/drbd
// and the resource files for the names), and the DRBD part of the hive template
// (roles/zabbix_hosts/files/hive_templates.yaml) against the keys the probe prints.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const probePath = join(repo, 'roles/zabbix_agent/files/hive-zabbix-probe');
const fixtures = join(repo, 'test/fixtures/drbd');
const templatesPath = join(repo, 'roles/zabbix_hosts/files/hive_templates.yaml');
// the interpreter of the hosts' probe (Debian's python3)
const python = '/usr/bin/python3';

// Loads the probe as a module (its main runs only as a script) and prints, as JSON, the result of
// one of its functions: argv = probe, function, arguments (@name: the text of fixture file name).
// parse_proc_drbd takes the minors' names from a second argument, a resource file's text; a
// constant (a set of states) is printed sorted.
const DRIVER = `
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader("probe", sys.argv[1])
spec = importlib.util.spec_from_loader("probe", loader)
probe = importlib.util.module_from_spec(spec)
loader.exec_module(probe)
fn, args = sys.argv[2], [open(a[1:], encoding="utf-8").read() if a.startswith("@") else a for a in sys.argv[3:]]
if fn == "parse_proc_drbd":
    result = probe.parse_proc_drbd(args[0], probe.parse_res_minors(args[1]) if len(args) > 1 else {})
elif callable(getattr(probe, fn)):
    result = getattr(probe, fn)(*args)
else:
    result = sorted(getattr(probe, fn))
print(json.dumps(result))
`;

/** A probe function's result; an argument @name is the text of test/fixtures/drbd/name. */
async function probe(fn: string, ...args: string[]): Promise<unknown> {
  const r = await execa(python, ['-c', DRIVER, probePath, fn, ...args.map((a) => (a.startsWith('@') ? `@${join(fixtures, a.slice(1))}` : a))]);
  return JSON.parse(r.stdout);
}

const ENTRY_KEYS = ['name', 'role', 'disk', 'peer_role', 'peer_disk', 'connection', 'degraded'];

describe('hive-zabbix-probe drbd, DRBD 8.4 (/proc/drbd)', () => {
  it('tells the 8.4 module from DRBD 9 by the version line', async () => {
    expect(await probe('is_drbd84', '@proc-drbd-84.txt')).toBe(true);
    expect(await probe('is_drbd84', 'version: 9.2.12 (api:2/proto:86-122)\nGIT-hash: 0e2f0d6 build by root\n')).toBe(false);
    expect(await probe('is_drbd84', '')).toBe(false);
  });

  it('reads the minors of the resource files (device /dev/drbdN and device minor N)', async () => {
    expect(await probe('parse_res_minors', '@drbd84.res')).toEqual({ 1: 'pgdata', 2: 'uploads', 3: 'backups' });
  });

  it('reports a connected, a waiting (peer DUnknown) and a syncing resource; skips unconfigured minors', async () => {
    expect(await probe('parse_proc_drbd', '@proc-drbd-84.txt', '@drbd84.res')).toEqual([
      { name: 'pgdata', role: 'Primary', disk: 'UpToDate', peer_role: 'Secondary', peer_disk: 'UpToDate', connection: 'Connected', degraded: false },
      { name: 'uploads', role: 'Secondary', disk: 'UpToDate', peer_role: 'Unknown', peer_disk: 'DUnknown', connection: 'WFConnection', degraded: true },
      { name: 'backups', role: 'Primary', disk: 'UpToDate', peer_role: 'Secondary', peer_disk: 'Inconsistent', connection: 'SyncSource', degraded: true },
    ]);
  });

  it('names a minor that no resource file has after its device', async () => {
    const out = (await probe('parse_proc_drbd', '@proc-drbd-84.txt')) as Array<{ name: string }>;
    expect(out.map((e) => e.name)).toEqual(['drbd1', 'drbd2', 'drbd3']);
  });
});

describe('hive-zabbix-probe drbd, DRBD 9 (drbdsetup status --json)', () => {
  it('reports the worst peer: Connecting over Connected, a sync as the connection, a connected Diskless peer as fine', async () => {
    expect(await probe('parse_drbdsetup_status', '@drbdsetup-status-9.json')).toEqual([
      { name: 'pgdata', role: 'Primary', disk: 'UpToDate', peer_role: 'Unknown', peer_disk: 'DUnknown', connection: 'Connecting', degraded: true },
      { name: 'uploads', role: 'Secondary', disk: 'UpToDate', peer_role: 'Primary', peer_disk: 'UpToDate', connection: 'Connected', degraded: false },
      { name: 'backups', role: 'Secondary', disk: 'Inconsistent', peer_role: 'Primary', peer_disk: 'UpToDate', connection: 'SyncTarget', degraded: true },
    ]);
  });

  it('a resource without peers has empty peer fields and is not degraded', async () => {
    const status = [{ name: 'solo', role: 'Secondary', devices: [{ volume: 0, 'disk-state': 'UpToDate' }], connections: [] }];
    expect(await probe('parse_drbdsetup_status', JSON.stringify(status))).toEqual([
      { name: 'solo', role: 'Secondary', disk: 'UpToDate', peer_role: '', peer_disk: '', connection: '', degraded: false },
    ]);
  });
});

describe('hive-zabbix-probe as a script', () => {
  it('prints its usage for an unknown probe (main runs as a script only)', async () => {
    const r = await execa(python, [probePath, 'nonsense'], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/usage: .*swarm-node\|swarm-services\|volumes\|drbd/);
  });
});

interface Item { uuid: string; key: string; type?: string; value_type?: string; master_item?: { key: string };
  preprocessing?: Array<{ type: string; parameters: string[] }>; tags?: Array<{ tag: string; value: string }> }
interface Trigger { uuid: string; expression: string; name: string; priority: string }
interface Rule { uuid: string; key: string; master_item?: { key: string }; item_prototypes?: Item[]; trigger_prototypes?: Trigger[] }
interface Template { uuid: string; template: string; items?: Array<Item & { triggers?: Trigger[] }>; discovery_rules?: Rule[] }

describe('hive template, DRBD resources', () => {
  const doc = yaml.load(readFileSync(templatesPath, 'utf8')) as { zabbix_export: { groups: Array<{ uuid: string }>; templates: Template[] } };
  const node = doc.zabbix_export.templates.find((t) => t.template === 'Hive swarm node')!;
  const rule = node.discovery_rules!.find((r) => r.key === 'hive.drbd.discovery')!;
  const prototypes = rule.item_prototypes ?? [];
  const byKey = (key: string) => prototypes.find((p) => p.key === key);

  it('has item prototypes for the local disk, the connection state and the peer disk, taken from hive.drbd', () => {
    expect(rule.master_item?.key).toBe('hive.drbd');
    for (const [key, field] of [['hive.drbd.disk[{#RESOURCE}]', 'disk'], ['hive.drbd.connection[{#RESOURCE}]', 'connection'],
      ['hive.drbd.peer_disk[{#RESOURCE}]', 'peer_disk']] as const) {
      const p = byKey(key);
      expect(p, key).toBeDefined();
      expect(p!.type).toBe('DEPENDENT');
      expect(p!.value_type).toBe('CHAR');
      expect(p!.master_item?.key).toBe('hive.drbd');
      expect(p!.preprocessing).toEqual([{ type: 'JSONPATH', parameters: [`$[?(@.name=="{#RESOURCE}")].${field}.first()`] }]);
      expect(p!.tags).toEqual([{ tag: 'volume', value: '{#RESOURCE}' }]);
      // the field is one the probe prints for a resource
      expect(ENTRY_KEYS).toContain(field);
    }
  });

  it('has trigger prototypes for a lost peer and a peer disk, on keys of this template', () => {
    const triggers = rule.trigger_prototypes ?? [];
    const connected = triggers.find((t) => t.name === 'DRBD {#RESOURCE}: not connected to its peer ({ITEM.LASTVALUE1})');
    const peerDisk = triggers.find((t) => t.name === 'DRBD {#RESOURCE}: peer disk is {ITEM.LASTVALUE1}');
    expect(connected?.expression).toMatch(/^count\(\/Hive swarm node\/hive\.drbd\.connection\[\{#RESOURCE\}\],#2,"regexp","[^"]+"\)=0$/);
    expect(peerDisk?.expression).toMatch(/^count\(\/Hive swarm node\/hive\.drbd\.peer_disk\[\{#RESOURCE\}\],#2,"regexp","[^"]+"\)=0$/);
    const keys = new Set([...(node.items ?? []).map((i) => i.key), ...node.discovery_rules!.flatMap((r) => (r.item_prototypes ?? []).map((p) => p.key))]);
    for (const t of triggers) {
      const refs = [...t.expression.matchAll(/\/([^/]+)\/([^,)]+(?:\[[^\]]*\])?)/g)];
      expect(refs.length, t.name).toBeGreaterThan(0);
      for (const [, template, key] of refs) {
        expect(template).toBe('Hive swarm node');
        expect(keys, `${t.name}: ${key}`).toContain(key);
      }
      // {ITEM.LASTVALUE1} is the first item of the expression
      if (t.name.includes('{ITEM.LASTVALUE1}') && t.name.startsWith('DRBD')) expect(refs[0]![2]).toMatch(/^hive\.drbd\./);
    }
  });

  it('the lost-peer pattern takes the probe\'s connected and resync states, not the disconnected ones', async () => {
    const t = rule.trigger_prototypes!.find((x) => x.expression.includes('hive.drbd.connection'))!;
    const re = new RegExp(t.expression.match(/"regexp","([^"]+)"/)![1]!);
    const linked = (await probe('DRBD_LINKED')) as string[];
    expect(linked).toContain('Connected');
    for (const s of [...linked, '']) expect(re.test(s), s).toBe(true);
    // 8.4's cs: and DRBD 9's connection-state without a link to the peer
    for (const s of ['StandAlone', 'WFConnection', 'WFReportParams', 'Connecting', 'Unconnected', 'Timeout', 'BrokenPipe', 'NetworkFailure',
      'ProtocolError', 'TearDown', 'Disconnecting']) {
      expect(re.test(s), s).toBe(false);
      expect(linked, s).not.toContain(s);
    }
    const d = rule.trigger_prototypes!.find((x) => x.expression.includes('hive.drbd.peer_disk'))!;
    const dre = new RegExp(d.expression.match(/"regexp","([^"]+)"/)![1]!);
    for (const s of ['UpToDate', 'Diskless', 'DUnknown', '']) expect(dre.test(s), s).toBe(true);
    for (const s of ['Inconsistent', 'Outdated', 'Consistent', 'Failed']) expect(dre.test(s), s).toBe(false);
  });

  it('uuids are 32 hex digits and unique across the file', () => {
    const uuids: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (k === 'uuid' ? uuids.push(String(x)) : walk(x));
    };
    walk(doc);
    expect(uuids.length).toBeGreaterThan(20);
    for (const u of uuids) expect(u).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(uuids).size).toBe(uuids.length);
  });
});
