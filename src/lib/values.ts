// Shape tests for values read from YAML. A leaf: imports nothing of hive.

/** A mapping (not an array, not null). */
export const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
