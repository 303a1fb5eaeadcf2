// `hive status`: to be written (see issue 11).
import type { HiveContext } from '../context.js';
import type { Site } from '../model/site.js';

export async function siteStatus(_ctx: HiveContext, _site: Site, _opts: { json: boolean }): Promise<number> {
  throw new Error('hive status is not written yet');
}
