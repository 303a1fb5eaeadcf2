// Gathers the facts of `hive status` over ssh with the stage's ssh_config: every host at once, one
// ssh call each, then one call to a manager for the swarm's view. Nothing waits long: ssh gives
// up connecting after a few seconds, every remote docker command is cut at 10 s and every call
// is killed after CALL_TIMEOUT_MS, so a dead host or a swarm without quorum is reported, not
// waited for.
import { spawn } from 'node:child_process';
import type { Site } from '../model/site.js';
import { parseDrbdStatus, type HostFacts, type ManagerFacts, type StatusFacts, type SwarmInfo } from './facts.js';

export const CONNECT_TIMEOUT_S = 5;
export const CALL_TIMEOUT_MS = 15_000;
/** Each remote docker command: a manager without quorum answers "context deadline exceeded" or not at all. */
const COMMAND_TIMEOUT_S = 10;

interface CallResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a shell script on a host (on ssh's stdin, so nothing needs quoting for ssh). */
export function sshScript(sshConfig: string, host: string, script: string, timeoutMs = CALL_TIMEOUT_MS): Promise<CallResult> {
  const args = ['-F', sshConfig, '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${CONNECT_TIMEOUT_S}`, host, 'sh -s'];
  return new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + err.message, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => {}); // a host that drops the connection early
    child.stdin.end(script);
  });
}

const SAFE_WORD = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const quote = (w: string) => (SAFE_WORD.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/** A script section: a marker line, the command's output (stderr too), its exit code; `stop`: end the script when it failed. */
const section = (name: string, command: string, stop = false) =>
  `echo '@@section ${name}'\n${command} 2>&1\nrc=$?; echo "@@rc $rc"\n${stop ? '[ "$rc" -eq 0 ] || exit 0\n' : ''}`;
const docker = (args: string) => `sudo -n timeout ${COMMAND_TIMEOUT_S} docker ${args}`;

/** Sections of a script's output: name → {text, rc}; a section cut off (timeout) has rc null. */
export function parseSections(stdout: string): Map<string, { text: string; rc: number | null }> {
  const out = new Map<string, { text: string; rc: number | null }>();
  let current: { name: string; lines: string[] } | null = null;
  for (const line of stdout.split('\n')) {
    const start = /^@@section (.+)$/.exec(line);
    const rc = /^@@rc (\d+)$/.exec(line);
    if (start) {
      current = { name: start[1], lines: [] };
      out.set(current.name, { text: '', rc: null });
    } else if (rc && current) {
      out.set(current.name, { text: current.lines.join('\n'), rc: Number(rc[1]) });
      current = null;
    } else if (current) {
      current.lines.push(line);
      out.set(current.name, { text: current.lines.join('\n'), rc: null });
    }
  }
  return out;
}

/** The JSON objects of `--format '{{json .}}'` output (other lines, e.g. warnings, skipped). */
export function jsonLines<T>(text: string): T[] {
  return text.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as T];
    } catch {
      return [];
    }
  });
}

const why = (r: CallResult) =>
  r.timedOut ? `no answer within ${CALL_TIMEOUT_MS / 1000} s` : r.stderr.trim().split('\n').pop() || `ssh exited ${r.code}`;

async function hostFacts(sshConfig: string, h: HostFacts, volumes: StatusFacts['volumes']): Promise<HostFacts> {
  const drbdVolumes = volumes.filter((v) => v.kind === 'drbd').map((v) => v.name);
  let script = section('info', docker(`info --format '{{json .Swarm}}'`));
  if (h.role === 'hive') {
    script += section('volumes', docker(`volume ls --format '{{json .}}'`));
    // DRBD only where drbdadm is installed and the resource exists (else a plain volume)
    for (const v of drbdVolumes) script += `if command -v drbdadm >/dev/null 2>&1; then\n${section(`drbd ${v}`, `sudo -n timeout ${COMMAND_TIMEOUT_S} drbdadm status ${quote(v)}`)}fi\n`;
  }
  const r = await sshScript(sshConfig, h.name, script);
  const sections = parseSections(r.stdout);
  // a host is up when ssh reached it and the script ran (its first section began)
  if (!sections.has('info')) return { ...h, up: false, error: why(r) };
  const facts: HostFacts = { ...h, up: true };
  const info = sections.get('info')!;
  const swarm = info.rc === 0 ? jsonLines<SwarmInfo>(info.text)[0] : undefined;
  if (swarm) facts.swarm = swarm;
  else facts.error = info.rc === 124 || info.rc === null ? `docker info did not answer within ${COMMAND_TIMEOUT_S} s` : `docker info: ${info.text.trim() || `exit ${info.rc}`}`;
  const vols = sections.get('volumes');
  if (vols?.rc === 0) facts.volumes = Object.fromEntries(jsonLines<{ Name: string; Driver: string }>(vols.text).map((v) => [v.Name, v.Driver]));
  for (const v of drbdVolumes) {
    const d = sections.get(`drbd ${v}`);
    const state = d?.rc === 0 ? parseDrbdStatus(d.text) : null;
    if (state) (facts.drbd ??= {})[v] = state;
  }
  return facts;
}

async function managerFacts(sshConfig: string, host: string, services: string[]): Promise<ManagerFacts & { reached: boolean }> {
  // without the node list (no leader) the rest would fail the same way: stop there
  let script = section('nodes', docker(`node ls --format '{{json .}}'`), true);
  script += section('services', docker(`service ls --format '{{json .}}'`));
  for (const s of services) script += section(`ps ${s}`, docker(`service ps --filter desired-state=running --format '{{json .}}' ${quote(s)}`));
  const r = await sshScript(sshConfig, host, script);
  const sections = parseSections(r.stdout);
  const nodes = sections.get('nodes');
  const facts: ManagerFacts & { reached: boolean } = { host, reached: !!nodes, nodes: [], services: [], tasks: {} };
  if (!nodes || nodes.rc !== 0) {
    facts.error = nodes ? nodes.text.trim() || (nodes.rc === null ? 'docker node ls did not answer' : `docker node ls exited ${nodes.rc}`) : why(r);
    if (nodes?.rc === 124) facts.error = `docker node ls did not answer within ${COMMAND_TIMEOUT_S} s`;
    return facts;
  }
  facts.nodes = jsonLines(nodes.text);
  const ls = sections.get('services');
  if (ls?.rc === 0) facts.services = jsonLines(ls.text);
  else facts.servicesError = ls ? ls.text.trim() || `docker service ls exited ${ls.rc ?? 'without an answer'}` : why(r);
  for (const s of services) {
    const ps = sections.get(`ps ${s}`);
    if (ps?.rc === 0) facts.tasks[s] = jsonLines(ps.text);
  }
  return facts;
}

/** The stage's hosts and what they and one manager say now. */
export async function collectFacts(site: Site, stageName: string, sshConfig: string): Promise<StatusFacts> {
  const stage = site.stages[stageName as keyof Site['stages']]!;
  const inStage = <T extends { stages: string[] }>(x: T) => x.stages.includes(stageName);
  const services = site.services.filter(inStage).map((s) => s.name);
  const volumes = site.volumes.filter(inStage).map((v) => ({
    name: v.source,
    kind: v.kind,
    // what build-volumes asks docker for: DRBD and NFS volumes are local-driver volumes
    driver: v.kind === 'driver' ? String(v.definition.driver ?? 'local') : 'local',
  }));
  const base = stage.hosts.map(
    (h): HostFacts => ({ name: h.name, address: h.privateIp, role: h.isHive ? 'hive' : 'repository', up: false }),
  );
  const hosts = await Promise.all(base.map((h) => hostFacts(sshConfig, h, volumes)));

  // managers that answered, the first hive first (it bootstrapped the swarm); the next one is
  // asked only when one could not be reached at all (no leader is the same answer everywhere)
  const first = stage.hosts.find((h) => h.isFirstHive)?.name;
  // (a hive whose docker info did not answer is asked too, last: without quorum docker info
  // itself may hang, and node ls then says why)
  const isManager = (h: HostFacts) => h.swarm?.LocalNodeState === 'active' && !!h.swarm.ControlAvailable;
  const rank = (h: HostFacts) => (isManager(h) ? 0 : 2) + (h.name === first ? 0 : 1);
  const managers = hosts.filter((h) => h.up && h.role === 'hive' && (isManager(h) || !h.swarm)).sort((a, b) => rank(a) - rank(b));
  let manager: ManagerFacts | null = null;
  for (const h of managers) {
    const { reached, ...facts } = await managerFacts(sshConfig, h.name, services);
    manager = facts;
    if (reached) break;
  }
  return { stage: stageName, site: site.name, hosts, manager, services, volumes };
}
