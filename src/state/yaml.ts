// The one way hive reads and writes the YAML files it keeps below `.hive/` (settings.yml,
// allocations.yml, progress.yml, images.yml). Written with the `yaml` package; read like the
// inventory, with the fast parser when the text is clean, else the `yaml` package, whose error
// names the position. Both load lazily: a command that finds no state file pays for neither.
import type { DocumentOptions, ParseOptions, SchemaOptions, ToStringOptions } from 'yaml';
import { fastLoad, yamlTags } from '../lib/yaml-dialect.js';
import { yamlLib } from '../lib/yaml-lib.js';

/**
 * The data of a state file; throws the `yaml` package's error when the text is not YAML.
 * `strings`: every scalar as its text (for files other tools write too, see services/images.ts).
 */
export function readStateYaml(text: string, { strings = false } = {}): unknown {
  if (strings) return yamlLib().parse(text, { schema: 'failsafe' });
  const fast = fastLoad(text);
  return fast ? fast.data : yamlLib().parse(text, { version: '1.1', customTags: yamlTags });
}

/** The YAML text of `data`; `options` as the `yaml` package's stringify takes them. */
export function stateYamlText(data: unknown, options?: DocumentOptions & SchemaOptions & ParseOptions & ToStringOptions): string {
  return yamlLib().stringify(data, options);
}
