// The commander action around every command's work.
import type { Command } from 'commander';
import { answerVaultPrompts, needsPrompt, type VaultFlags } from './vault-prompt.js';

/** A command's work, given commander's action arguments; resolves to the exit code (nothing: 0). */
export type CommandWork = (...args: any[]) => Promise<number | void>;

/** Turns a command's work into its commander action. */
export type Action = (work: CommandWork) => (...args: any[]) => Promise<void>;

/** Actions that answer vault prompts first and hand the work's exit code to setCode. */
export function makeAction(setCode: (code: number) => void): Action {
  return (work) =>
    async (...args) => {
      // vault prompts are answered once here, for every Ansible process the command starts
      const cmd = args[args.length - 1] as Command;
      const flags = cmd.opts() as VaultFlags;
      const asked = await answerVaultPrompts(flags);
      try {
        if (needsPrompt(flags)) for (const [key, value] of Object.entries(asked.flags)) cmd.setOptionValue(key, value);
        setCode((await work(...args)) ?? 0);
      } finally {
        asked.cleanup();
      }
    };
}
