// The JSON Schemas are the single source of the structural rules and are published for editors
// (YAML language server): valid draft 2020-12, with $id and descriptions, and the precompiled
// validators hive uses must be generated from exactly these files.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import Ajv2020 from 'ajv/dist/2020.js';
// @ts-expect-error plain JavaScript module without types
import { ajvOptions, generateValidatorsSource, generatedPath, loadSchemas } from '../../src/inventory/schema/generate.mjs';

const schemas = loadSchemas() as { hive: any; services: any };

/** Every `properties` entry in a schema tree, with its path. */
function properties(node: any, path: string, out: [string, any][] = []): [string, any][] {
  if (Array.isArray(node)) node.forEach((n, i) => properties(n, `${path}/${i}`, out));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'properties') for (const [name, sub] of Object.entries(value as object)) out.push([`${path}/properties/${name}`, sub]);
      properties(value, `${path}/${key}`, out);
    }
  }
  return out;
}

describe('inventory JSON Schemas', () => {
  it('are valid draft 2020-12 schemas with an $id', () => {
    const ajv = new Ajv2020.default({ ...ajvOptions });
    for (const schema of [schemas.hive, schemas.services]) {
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema.$id).toMatch(/^https:\/\/.+\.schema\.json$/);
      expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
      expect(() => ajv.compile(schema)).not.toThrow();
    }
  });

  it('describe every key for the editor', () => {
    for (const [name, schema] of [['hive', schemas.hive], ['services', schemas.services]] as const) {
      const missing = properties(schema, name)
        .filter(([path, sub]) => !sub.description && !sub.$ref && !path.endsWith('/plugin'))
        .map(([path]) => path);
      expect(missing).toEqual([]);
    }
  });

  it('are what the precompiled validators were generated from', () => {
    expect(readFileSync(generatedPath, 'utf8')).toBe(generateValidatorsSource());
  });

  it('accept hive-builder\'s example and the keys added by hive', () => {
    const ajv = new Ajv2020.default({ ...ajvOptions });
    const services = ajv.compile(schemas.services);
    expect(
      services({
        plugin: 'hive_services',
        services: {
          web: {
            image: 'nginx',
            update_config: { parallelism: 1, delay: '10s', failure_action: 'rollback', monitor: '30s', max_failure_ratio: 0.2, order: 'start-first' },
            rollback_config: { parallelism: 0, order: 'stop-first' },
            healthcheck: { test: ['CMD', 'true'], interval: '5s', retries: 3 },
          },
        },
      }),
      JSON.stringify(services.errors),
    ).toBe(true);
    const hive = ajv.compile(schemas.hive);
    expect(hive({ plugin: 'hive_inventory', name: 'x', stages: { private: { provider: 'local', cidr: '10.0.0.0/24', memory_size: 1024, cpus: 2 } } })).toBe(true);
  });
});
