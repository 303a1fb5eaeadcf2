// `hive status [--stage S] [--json]`: the site as it is now. Exit 0 all well, 1 degraded,
// 3 no leader answers; 2 (UsageError) when build-infra has not made the stage's ssh_config yet.
import { existsSync } from 'node:fs';
import type { HiveContext } from '../lib/context.js';
import type { Site } from '../model/site.js';
import { StageDir } from '../state/stage-dir.js';
import { UsageError } from '../lib/errors.js';
import { collectFacts } from './collect.js';
import { evaluate } from './evaluate.js';
import { formatJson, formatText } from './format.js';

export { evaluate, type StatusReport } from './evaluate.js';

export async function siteStatus(ctx: HiveContext, site: Site, opts: { json: boolean }): Promise<number> {
  const config = new StageDir(ctx.stageDir).sshConfig;
  if (!existsSync(config)) {
    throw new UsageError(`${config} does not exist: build-infra has not run for stage ${ctx.stage} ("hive run --phase build-infra --stage ${ctx.stage}")`);
  }
  const facts = await collectFacts(site, ctx.stage, config);
  const { report, exitCode } = evaluate(facts);
  process.stdout.write(opts.json ? formatJson(report) : formatText(report, { color: !!process.stdout.isTTY && !process.env.NO_COLOR }));
  return exitCode;
}
