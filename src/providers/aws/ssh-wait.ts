// Wait until an SSH server answers: connect and read the `SSH-` banner (a port that accepts but
// never speaks, e.g. a booting instance behind a NAT, does not count).
import { connect } from 'node:net';

function probe(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('data', (b) => finish(b.toString('latin1').startsWith('SSH-')));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

export async function waitForSshBanner(
  address: string,
  port: number,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const intervalMs = opts.intervalMs ?? 5_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe(address, port, Math.min(10_000, Math.max(1_000, deadline - Date.now())))) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`no SSH banner within ${Math.round(timeoutMs / 1000)}s`);
}
