// `hive init`: writes a new project from templates/init/<provider>/ (inventory, sample
// services and the roles they use, .gitignore, README). Placeholders __NAME__ and __CIDR__ are
// replaced; Ansible's own {{ }} expressions in the templates are left alone.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { installDir } from '../lib/context.js';
import { HiveError } from '../lib/errors.js';

export interface InitOptions {
  provider: 'local';
  name: string;
  force?: boolean;
  /** A sample site of inventories/<sample>/ instead of the plain local project. */
  sample?: string;
}

export interface SampleInfo {
  name: string;
  /** The first line of the sample's README.md, without its "# name:" start. */
  summary: string;
}

const samplesDir = () => join(installDir, 'inventories');

/** The samples `hive init --sample` knows, with one line each. */
export function listSamples(): SampleInfo[] {
  if (!existsSync(samplesDir())) return [];
  return readdirSync(samplesDir())
    .filter((n) => existsSync(join(samplesDir(), n, 'inventory')))
    .sort()
    .map((name) => {
      const readme = join(samplesDir(), name, 'README.md');
      const first = existsSync(readme) ? readFileSync(readme, 'utf8').split('\n')[0]! : '';
      return { name, summary: first.replace(/^#\s*/, '').replace(new RegExp(`^${name}:\\s*`), '') };
    });
}

/** Bad arguments or files in the way: nothing was written (exit code 2). */
export class InitError extends HiveError {
  constructor(message: string) {
    super(message, 2);
  }
}

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** The site name for a new project in `dir`: the folder's name when it is a valid one, else demo. */
export function defaultSiteName(dir: string): string {
  const base = basename(resolve(dir)).toLowerCase();
  return NAME.test(base) && base.length <= 50 ? base : 'demo';
}

/** Template file names that npm would drop or rename when hive is packed. */
const RENAMED: Record<string, string> = { gitignore: '.gitignore' };

function templateFiles(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? templateFiles(p, base) : [relative(base, p)];
    });
}

interface Prefix {
  net: number;
  bits: number;
}

const toInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);

function parsePrefix(cidr: string): Prefix | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(cidr.trim());
  if (!m) return undefined;
  const bits = m[2] === undefined ? 32 : Number(m[2]);
  const size = 2 ** (32 - bits);
  return { net: Math.floor(toInt(m[1]) / size) * size, bits };
}

const overlaps = (a: Prefix, b: Prefix) => {
  const size = 2 ** (32 - Math.min(a.bits, b.bits));
  return Math.floor(a.net / size) === Math.floor(b.net / size);
};

/** Address ranges in use on this machine: its routes and the docker networks' subnets. */
function usedPrefixes(): Prefix[] {
  const out: string[] = [];
  const run = (cmd: string, args: string[]) => {
    try {
      out.push(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }));
    } catch {
      // no such tool or no engine: nothing to avoid from there
    }
  };
  run('ip', ['-4', 'route', 'show', 'table', 'all']);
  run('sh', ['-c', 'docker network ls -q | xargs -r docker network inspect --format "{{range .IPAM.Config}}{{.Subnet}} {{end}}"']);
  return out
    .join('\n')
    .split(/\s+/)
    .filter((w) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(w))
    .map((w) => parsePrefix(w)!)
    .filter((p) => p.bits > 0);
}

/**
 * A /24 for the local stage: 172.30.<n>.0/24 with n derived from the site name (so two sites
 * rarely pick the same), moving on past ranges this machine already routes.
 */
export function pickCidr(name: string, used: Prefix[] = usedPrefixes()): string {
  const start = createHash('sha256').update(name).digest().readUInt16BE(0) % 200 + 20;
  for (const second of [30, 29, 28, 27]) {
    for (let i = 0; i < 256; i++) {
      const third = (start + i) % 256;
      const cidr = `172.${second}.${third}.0/24`;
      if (!used.some((u) => overlaps(u, parsePrefix(cidr)!))) return cidr;
    }
  }
  return `172.30.${start}.0/24`;
}

/** Writes the project into `dir`; returns the paths written. Nothing is written when a file is in the way. */
export async function initProject(dir: string, opts: InitOptions): Promise<string[]> {
  if (opts.provider !== 'local') throw new InitError(`hive init: provider "${opts.provider}" has no template (available: local)`);
  const name = opts.name;
  if (!NAME.test(name)) {
    throw new InitError(`hive init: name "${name}" is not a valid site name: lower-case letters, digits and "-", dot-separated labels (e.g. demo or demo.example.com)`);
  }
  if (name.length + 'hive'.length >= 55) throw new InitError(`hive init: name "${name}" is too long (at most 50 characters)`);

  const root = resolve(dir);
  let templates = join(installDir, 'templates', 'init', opts.provider);
  if (opts.sample !== undefined) {
    const known = listSamples().map((s) => s.name);
    if (!known.includes(opts.sample)) {
      throw new InitError(`hive init: no sample "${opts.sample}" (samples: ${known.join(', ') || 'none'}; hive init --list-samples describes them)`);
    }
    templates = join(samplesDir(), opts.sample);
  }
  const cidr = pickCidr(name);
  const files = templateFiles(templates).map((rel) => {
    const parts = rel.split('/');
    parts[parts.length - 1] = RENAMED[parts[parts.length - 1]] ?? parts[parts.length - 1];
    const content = readFileSync(join(templates, rel), 'utf8').replaceAll('__NAME__', name).replaceAll('__CIDR__', cidr);
    return { path: join(root, ...parts), content };
  });

  const inTheWay = files.filter((f) => existsSync(f.path)).map((f) => relative(root, f.path));
  if (inTheWay.length && !opts.force) {
    throw new InitError(`hive init: ${inTheWay.join(', ')} already exist${inTheWay.length === 1 ? 's' : ''} in ${root}; nothing written (use --force to overwrite)`);
  }
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
  }
  return files.map((f) => f.path);
}
