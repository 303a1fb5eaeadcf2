// The Python that hive ships to hosts (role modules in roles/*/library, scripts in
// roles/*/files): flake8-clean, so a syntax error or an undefined name fails here and not on a
// site. E402 is Ansible's module layout (DOCUMENTATION before the imports).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// Ansible's own interpreter (Debian's python3 with the ansible package)
const python = '/usr/bin/python3';
const hasFlake8 = (await execa(python, ['-m', 'flake8', '--version'], { reject: false })).exitCode === 0;

/** Python files of the roles: *.py, and extension-less scripts whose first line names python. */
function pythonFiles(): string[] {
  const out: string[] = [];
  for (const root of ['roles', 'image_roles']) {
    const base = join(repo, root);
    if (!existsSync(base)) continue;
    for (const role of readdirSync(base)) {
      for (const sub of ['library', 'files']) {
        const dir = join(base, role, sub);
        if (!existsSync(dir)) continue;
        for (const f of readdirSync(dir)) {
          const path = join(dir, f);
          if (f.endsWith('.py') || (!f.includes('.') && readFileSync(path, 'utf8').startsWith('#!/usr/bin/python3'))) out.push(path);
        }
      }
    }
  }
  return out.sort();
}

describe('Python shipped in the roles', () => {
  it('finds the modules and scripts (the check below looks at something)', () => {
    const files = pythonFiles().map((f) => f.slice(repo.length + 1));
    expect(files).toContain('roles/services/library/hive_swarm_services.py');
    expect(files).toContain('roles/zabbix_agent/files/hive-zabbix-probe');
  });

  it.skipIf(!hasFlake8)('is flake8-clean', async () => {
    const r = await execa(python, ['-m', 'flake8', '--max-line-length', '150', '--extend-ignore', 'E402', ...pythonFiles()], { reject: false });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
