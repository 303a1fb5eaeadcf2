// Consent before a phase destroys what it built (-D). A slip of the finger (-D in a shell
// history, a CI job copied from the wrong stage) must not remove a site's machines, volumes or
// services: on a terminal the user types the stage name, without one `--yes` is required, and
// the production stage refuses -D unless its inventory entry says `allow_destroy: true`.
import { createInterface } from 'node:readline/promises';
import type { PhaseName } from '../model/phases.js';
import type { Site, StageName } from '../model/site.js';
import { UsageError } from '../lib/errors.js';

export interface DestroyRequest {
  phase: PhaseName;
  stage: StageName;
  destroy?: boolean;
  limit?: string;
  /** -C / --dry-run: nothing is changed, so nothing needs consent. */
  changesNothing?: boolean;
  /** --yes: consent given on the command line. */
  yes?: boolean;
}

export interface ConsentIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** What -D would destroy, or undefined when the run destroys nothing that needs consent. */
export function destroyScope(req: DestroyRequest): string | undefined {
  if (!req.destroy || req.changesNothing) return undefined;
  const limited = (req.limit ?? '').split(',').some((n) => n.trim() !== '');
  switch (req.phase) {
    case 'build-infra':
      // even with -l: a host's disks go with it
      return limited ? `the servers ${req.limit} of stage ${req.stage}` : `every server of stage ${req.stage}`;
    case 'build-volumes':
      return limited ? undefined : `every volume (and its data) of stage ${req.stage}`;
    case 'deploy-services':
      return limited ? undefined : `every service of stage ${req.stage}`;
    default:
      return undefined;
  }
}

/** Throws UsageError (exit 2) unless the destroy may go ahead; returns quietly when no consent is needed. */
export async function confirmDestroy(site: Site, req: DestroyRequest, io: ConsentIO = { stdin: process.stdin, stderr: process.stderr }): Promise<void> {
  const scope = destroyScope(req);
  if (!scope) return;
  const stage = site.stages[req.stage];
  if (req.stage === 'production' && stage?.settings.allow_destroy !== true) {
    const where = stage ? ` (${stage.source.file}:${stage.source.line}: stages.production)` : '';
    throw new UsageError(
      `refusing ${req.phase} -D on stage production: it would destroy ${scope}. ` +
        `Production is protected unless its inventory entry${where} sets allow_destroy: true.`,
    );
  }
  if (req.yes) return;
  if (!io.stdin.isTTY || !io.stderr.isTTY) {
    throw new UsageError(`${req.phase} -D would destroy ${scope}; without a terminal to ask on, add --yes to confirm`);
  }
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await rl.question(`${req.phase} -D destroys ${scope}. Type the stage name (${req.stage}) to go on: `);
    if (answer.trim() !== req.stage) throw new UsageError(`not confirmed ("${answer.trim()}" is not ${req.stage}): nothing was destroyed`);
  } finally {
    rl.close();
  }
}
