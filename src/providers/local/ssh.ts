// SSH access to the local hosts: wait for sshd and read the hosts' keys through docker (so
// nothing is trusted on first use); ../ssh-config.ts writes the stage's ssh_config from them,
// which Ansible and `hive ssh` use exactly as they do for cloud hosts.
import { connect } from 'node:net';
import { ProviderError } from '../errors.js';
import { execIn } from './docker.js';

export const ADMIN_USER = 'admin';

function banner(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\n')) done(data.startsWith('SSH-'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(data.startsWith('SSH-')));
  });
}

/** Waits until sshd on ip:22 greets; the machine routes to the site network directly. */
export async function waitForSshd(host: string, ip: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await banner(ip, 22)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new ProviderError(
    `sshd of ${host} does not answer at ${ip}:22 after ${timeoutMs / 1000}s ` +
      `(see "docker logs ${host}" and "docker exec ${host} systemctl status ssh")`,
  );
}

/** known_hosts lines (`name,ip type key`) from the host's own key files. */
export async function hostKeyLines(container: string, name: string, ip: string): Promise<string[]> {
  const out = await execIn(container, 'cat /etc/ssh/ssh_host_*_key.pub');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 2 && (f[0].startsWith('ssh-') || f[0].startsWith('ecdsa-')))
    .map(([type, key]) => `${name},${ip} ${type} ${key}`)
    .sort();
}
