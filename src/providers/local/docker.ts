// The machine's docker engine, driven through the docker CLI (the same commands a user would
// type to look at the site), so nothing here depends on the engine's API version.
import { execa } from 'execa';
import { ProviderError } from '../errors.js';

export interface DockerResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs `docker <args>`; fails with the engine's own message unless `reject: false`. */
export async function docker(args: string[], opts: { input?: string; reject?: boolean } = {}): Promise<DockerResult> {
  const r = await execa('docker', args, { reject: false, input: opts.input });
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new ProviderError('the docker command is not installed: install it with "apt-get install docker.io" (as root)');
  }
  const result = { stdout: String(r.stdout ?? '').trim(), stderr: String(r.stderr ?? '').trim(), exitCode: r.exitCode ?? 1 };
  if (result.exitCode !== 0 && opts.reject !== false) {
    throw new ProviderError(`docker ${args.slice(0, 2).join(' ')} failed: ${result.stderr || result.stdout}`);
  }
  return result;
}

/** Fails with what to do when no engine answers (the local provider cannot work without one). */
export async function requireEngine(): Promise<string> {
  const r = await docker(['version', '--format', '{{.Server.Version}}'], { reject: false });
  if (r.exitCode !== 0 || !r.stdout) {
    const where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    const detail = (r.stderr.split('\n').find((l) => l.trim()) ?? '').trim();
    throw new ProviderError(
      `no docker engine answers at ${where}${detail ? ` (${detail})` : ''}. ` +
        'Start one as root with "dockerd &" (or "systemctl start docker"); ' +
        'if docker is not installed: "apt-get install docker.io".',
    );
  }
  return r.stdout;
}

export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  status: string;
  image: string;
  labels: Record<string, string>;
  ip?: string;
  hostname: string;
}

const labelFilters = (labels: Record<string, string>) => Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);

/** Containers carrying all these labels, running or not. */
export async function findContainers(labels: Record<string, string>): Promise<ContainerInfo[]> {
  const ids = (await docker(['ps', '-aq', '--no-trunc', ...labelFilters(labels)])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const raw = JSON.parse((await docker(['inspect', ...ids])).stdout) as {
    Id: string;
    Name: string;
    State: { Running: boolean; Status: string };
    Config: { Image: string; Labels: Record<string, string> | null; Hostname: string };
    NetworkSettings: { Networks: Record<string, { IPAddress?: string; IPAMConfig?: { IPv4Address?: string } | null }> };
  }[];
  return raw.map((c) => {
    const nets = Object.values(c.NetworkSettings.Networks ?? {});
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      running: c.State.Running,
      status: c.State.Status,
      image: c.Config.Image,
      labels: c.Config.Labels ?? {},
      ip: nets.map((n) => n.IPAMConfig?.IPv4Address || n.IPAddress).find(Boolean),
      hostname: c.Config.Hostname,
    };
  });
}

export interface NetworkInfo {
  name: string;
  subnet?: string;
  gateway?: string;
  labels: Record<string, string>;
}

export async function inspectNetwork(name: string): Promise<NetworkInfo | undefined> {
  const r = await docker(['network', 'inspect', name], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const [n] = JSON.parse(r.stdout) as { Name: string; Labels: Record<string, string> | null; IPAM: { Config: { Subnet?: string; Gateway?: string }[] | null } }[];
  const cfg = n.IPAM.Config?.[0] ?? {};
  return { name: n.Name, subnet: cfg.Subnet, gateway: cfg.Gateway, labels: n.Labels ?? {} };
}

export async function findNetworks(labels: Record<string, string>): Promise<string[]> {
  return (await docker(['network', 'ls', '-q', '--format', '{{.Name}}', ...labelFilters(labels)])).stdout.split('\n').filter(Boolean);
}

export async function findVolumes(labels: Record<string, string>): Promise<string[]> {
  return (await docker(['volume', 'ls', '-q', ...labelFilters(labels)])).stdout.split('\n').filter(Boolean);
}

/** Runs a shell script as root inside a container; the script's stdout is returned. */
export async function execIn(container: string, script: string, args: string[] = []): Promise<string> {
  return (await docker(['exec', container, 'sh', '-c', script, 'sh', ...args])).stdout;
}
