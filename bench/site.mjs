#!/usr/bin/env node
// Wall time of a local site's phases: build-infra, setup-hosts and their no-change re-runs.
// Builds a fresh site from `hive init --provider local` in a temporary folder and removes it at
// the end (--keep leaves it). A phase that fails is reported and the rest still runs where it can.
//
//   node bench/site.mjs [--keep] [--phases build-infra,setup-hosts]
//
// Needs `npm run build` first (it runs bin/hive.js), a docker engine, and root the first time
// (the host image is built once with debootstrap and cached).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const hiveBin = join(repo, 'bin', 'hive.js');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const phasesArg = args.indexOf('--phases');
const phases = phasesArg >= 0 ? args[phasesArg + 1].split(',') : ['build-infra', 'setup-hosts'];

function hive(dir, argv) {
  const started = process.hrtime.bigint();
  return new Promise((done) => {
    execFile(process.execPath, [hiveBin, ...argv], { cwd: dir, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      });
      const end = events.find((e) => e.event === 'phase_end');
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, seconds, events, end, stderr });
    });
  });
}

const sum = (stats, key) => Object.values(stats ?? {}).reduce((n, s) => n + (s[key] ?? 0), 0);
const rows = [];
function report(label, r, note = '') {
  const changed = r.end ? sum(r.end.stats, 'changed') : '-';
  const status = r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`;
  rows.push({ label, seconds: r.seconds.toFixed(1), changed: String(changed), status, note });
  process.stderr.write(`${label}: ${r.seconds.toFixed(1)}s, changed=${changed}, ${status}${note ? ` (${note})` : ''}\n`);
  if (r.code !== 0) {
    for (const f of r.end?.failed ?? []) process.stderr.write(`  ${f.host} / ${f.task}: ${f.msg ?? ''}\n`);
    if (!r.end) process.stderr.write(r.stderr.split('\n').slice(-10).join('\n') + '\n');
  }
}

const name = `bench-${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), `hive-${name}-`));
process.stderr.write(`site ${name} in ${dir}\n`);
try {
  const init = await hive(dir, ['init', '--provider', 'local', '--name', name]);
  if (init.code !== 0) throw new Error(`hive init failed: ${init.stderr}`);
  const run = (phase, extra = []) => hive(dir, ['run', '--phase', phase, '--stage', 'private', '--json', ...extra]);

  let ok = true;
  for (const phase of phases) {
    if (!ok) {
      rows.push({ label: phase, seconds: '-', changed: '-', status: 'skipped', note: 'an earlier phase failed' });
      continue;
    }
    const first = await run(phase);
    const image = first.events.find((e) => e.event === 'host_result' && /host image/.test(e.task ?? ''));
    report(phase, first, image ? (image.status === 'changed' ? 'host image built' : 'host image cached') : '');
    ok = first.code === 0;
    if (!ok) continue;
    report(`${phase} (no-change re-run)`, await run(phase));
  }
  if (!keep) report('build-infra -D', await run('build-infra', ['-D', '--yes']));
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

const widths = ['label', 'seconds', 'changed', 'status'].map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
const line = (cells) => cells.map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(line(['phase', 'seconds', 'changed', 'status']));
for (const r of rows) console.log(line([r.label, r.seconds, r.changed, r.status]) + (r.note ? `  ${r.note}` : ''));
if (keep) console.log(`site kept in ${dir} (remove: cd ${dir} && node ${hiveBin} run --phase build-infra -D)`);
