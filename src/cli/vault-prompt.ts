// --ask-vault-pass and --vault-id LABEL@prompt: hive asks for each password once per command,
// not every Ansible process it starts (hive's own group_vars reader, then ansible-playbook once per
// phase of `hive all`). The answers go to password files in a private temporary folder (0700,
// files 0600) that Ansible reads with --vault-password-file / --vault-id LABEL@FILE; the folder is
// removed when the command ends, also on Ctrl-C. A password is never echoed, logged or recorded.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { UsageError } from '../lib/errors.js';

export interface VaultFlags {
  vaultId?: string[];
  vaultPasswordFile?: string[];
  askVaultPass?: boolean;
}

export interface PromptIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stderr: NodeJS.WritableStream;
}

const isPrompt = (id: string) => {
  const at = id.indexOf('@');
  return (at >= 0 ? id.slice(at + 1) : id) === 'prompt';
};

/** Whether the flags make Ansible prompt (and so hive asks first). */
export const needsPrompt = (f: VaultFlags): boolean => !!f.askVaultPass || (f.vaultId ?? []).some(isPrompt);

/**
 * Asks every password the flags call for and returns flags that name files instead, plus the
 * cleanup that removes them. On a terminal the input is not echoed; without one, each password is
 * one line of standard input (`printf '%s\n' "$PW" | hive all --ask-vault-pass`).
 */
export async function answerVaultPrompts(
  flags: VaultFlags,
  io: PromptIO = { stdin: process.stdin, stderr: process.stderr },
): Promise<{ flags: VaultFlags; cleanup: () => void }> {
  if (!needsPrompt(flags)) return { flags, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'hive-askpass-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  // also on an exit that skips the caller's cleanup (a phase stopped by Ctrl-C ends orderly)
  const onExit = () => cleanup();
  process.once('exit', onExit);
  const ask = lineAsker(io);
  let n = 0;
  const store = async (label: string | undefined) => {
    const password = await ask(label ? `Vault password (${label}): ` : 'Vault password: ');
    if (password === undefined) throw new UsageError(`no vault password given${label ? ` for vault id ${label}` : ''} (standard input ended)`);
    const file = join(dir, `password-${++n}`);
    writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
    return file;
  };
  try {
    const out: VaultFlags = { vaultPasswordFile: [...(flags.vaultPasswordFile ?? [])], vaultId: [] };
    for (const id of flags.vaultId ?? []) {
      if (!isPrompt(id)) {
        out.vaultId!.push(id);
        continue;
      }
      const at = id.indexOf('@');
      const label = at >= 0 ? id.slice(0, at) : undefined;
      const file = await store(label || 'default');
      out.vaultId!.push(label ? `${label}@${file}` : file);
    }
    if (flags.askVaultPass) out.vaultPasswordFile!.push(await store(undefined));
    ask.close();
    return {
      flags: { ...out, askVaultPass: false },
      cleanup: () => {
        process.removeListener('exit', onExit);
        cleanup();
      },
    };
  } catch (err) {
    ask.close();
    process.removeListener('exit', onExit);
    cleanup();
    throw err;
  }
}

/** One question at a time on stderr, the answer read from stdin without echo on a terminal. */
function lineAsker(io: PromptIO): ((question: string) => Promise<string | undefined>) & { close: () => void } {
  const tty = !!io.stdin.isTTY;
  const silent = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: io.stdin, output: tty ? silent : undefined, terminal: tty });
  const lines: string[] = [];
  const waiting: ((line: string | undefined) => void)[] = [];
  let ended = false;
  rl.on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  rl.on('close', () => {
    ended = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  const ask = (question: string) => {
    io.stderr.write(question);
    const done = (line: string | undefined) => {
      if (tty) io.stderr.write('\n');
      return line;
    };
    if (lines.length) return Promise.resolve(done(lines.shift()));
    if (ended) return Promise.resolve(done(undefined));
    return new Promise<string | undefined>((resolve) => waiting.push((l) => resolve(done(l))));
  };
  return Object.assign(ask, { close: () => rl.close() });
}
