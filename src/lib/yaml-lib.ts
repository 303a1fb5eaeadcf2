// The `yaml` package, loaded on first use: it costs ~45 ms to load, and a clean inventory read
// with js-yaml never needs it (only messages with line numbers and writing YAML do).
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

const require = createRequire(import.meta.url);
let lib: typeof Yaml | undefined;

export function yamlLib(): typeof Yaml {
  return (lib ??= require('yaml') as typeof Yaml);
}
