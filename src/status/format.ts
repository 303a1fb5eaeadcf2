// The report on a terminal (tables per section, colour only on a TTY) and as JSON.
import { Chalk, type ChalkInstance } from 'chalk';
import type { StatusReport } from './evaluate.js';

export const formatJson = (report: StatusReport) => JSON.stringify(report, null, 2) + '\n';

type Cell = { text: string; paint?: (s: string) => string };

/** Aligned columns; colour goes on after padding so escape codes do not shift the columns. */
function table(header: string[], rows: Cell[][], c: ChalkInstance): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].text.length)));
  const line = (cells: Cell[]) =>
    '  ' +
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell.text : cell.text.padEnd(widths[i]);
        return cell.paint ? cell.paint(padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => ({ text: h, paint: c.dim }))), ...rows.map(line)];
}

export function formatText(report: StatusReport, opts: { color: boolean }): string {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const good = (ok: boolean, text: string): Cell => ({ text, paint: ok ? c.green : c.red });
  const plain = (text: string | number | null | undefined): Cell => ({ text: text === null || text === undefined || text === '' ? '-' : String(text) });
  const short = (name: string) => name.split('.')[0];
  const out: string[] = [c.bold(`Site ${report.site}, stage ${report.stage}`), '', c.bold('Hosts')];

  out.push(
    ...table(
      ['HOST', 'ADDRESS', 'ROLE', 'UP', 'SWARM', 'STATUS', 'AVAILABILITY', 'MANAGER'],
      report.hosts.map((h) => [
        plain(h.name),
        plain(h.address),
        plain(h.role),
        good(h.up, h.up ? 'up' : 'down'),
        plain(h.swarm.role),
        h.swarm.status ? good(h.swarm.status === 'Ready', h.swarm.status) : plain(null),
        h.swarm.availability ? good(h.swarm.availability === 'Active', h.swarm.availability) : plain(null),
        h.swarm.leader ? { text: 'Leader', paint: c.bold } : h.swarm.reachability ? good(h.swarm.reachability === 'Reachable', h.swarm.reachability) : plain(null),
      ]),
      c,
    ),
  );

  out.push('', c.bold('Services'));
  if (report.services.length === 0) out.push('  (none in this stage)');
  else
    out.push(
      ...table(
        ['SERVICE', 'MODE', 'TASKS', 'VERSION', 'RUNNING ON'],
        report.services.map((s) => [
          plain(s.name),
          plain(s.mode),
          s.desired === null ? good(false, report.state === 'no-leader' || s.mode ? '?' : 'missing') : good((s.running ?? 0) >= s.desired, `${s.running}/${s.desired}`),
          plain(s.version),
          plain(s.nodes.map(short).join(', ')),
        ]),
        c,
      ),
    );

  out.push('', c.bold('Volumes'));
  if (report.volumes.length === 0) out.push('  (none in this stage)');
  else
    out.push(
      ...table(
        ['VOLUME', 'DRIVER', 'ON', 'DRBD'],
        report.volumes.map((v) => {
          const drbd = v.drbd
            ? Object.entries(v.drbd).map(([h, d]) => `${short(h)} ${d.role ?? '?'}/${d.disk ?? '?'}`).join(', ')
            : v.kind === 'drbd' ? 'no DRBD (plain local volume)' : '-';
          const drbdOk = !v.drbd || Object.values(v.drbd).every((d) => d.disk === 'UpToDate' && Object.values(d.peers).every((p) => p === 'UpToDate'));
          return [plain(v.name), plain(v.driver), good(v.hosts.length > 0, v.hosts.map(short).join(', ') || 'nowhere'), v.drbd ? good(drbdOk, drbd) : plain(drbd)];
        }),
        c,
      ),
    );

  if (report.problems.length) out.push('', c.bold('Problems'), ...report.problems.map((p) => `  ${c.red('✗')} ${p}`));
  const up = report.hosts.filter((h) => h.up).length;
  const summary = `${up}/${report.hosts.length} hosts up, leader ${report.leader ?? 'none'}`;
  const line =
    report.state === 'ok'
      ? c.green(`ok: ${summary}, every service runs all its tasks`)
      : report.state === 'degraded'
        ? c.yellow(`degraded: ${summary}, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`)
        : c.red(`no leader answers (swarm quorum lost?): ${summary}`);
  out.push('', c.bold(line));
  return out.join('\n') + '\n';
}
