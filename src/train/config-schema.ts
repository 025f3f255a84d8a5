// The config schema: configs/fraudscore.schema.json (JSON Schema draft-07, shipped so editors can
// complete and check configs/*.yaml), validated with ajv. This file turns ajv's first error into
// the ConfigError the CLI has always printed: the dotted key, where it came from, and what the key
// takes, in words derived from the schema. Adding a key is adding it to the JSON file.
import { readFileSync } from 'node:fs';

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

import { ConfigError } from './config-error.js';

/** The subset of JSON Schema the config schema uses. */
export interface SchemaNode {
  description?: string;
  type?: 'object' | 'array' | 'number' | 'integer' | 'string' | ['number', 'null'];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean;
  items?: SchemaNode;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
}

/** Where the shipped schema is, from src/train/ or dist/train/ alike. */
export const CONFIG_SCHEMA_URL = new URL('../../configs/fraudscore.schema.json', import.meta.url);

let compiled: { schema: SchemaNode; validate: ValidateFunction } | null = null;

/** [sync] The schema and its validator, compiled on first use. */
export function configSchema(): { schema: SchemaNode; validate: ValidateFunction } {
  if (compiled === null) {
    const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_URL, 'utf8')) as SchemaNode;
    // strictNumbers: NaN and Infinity (YAML .nan / .inf) are not numbers here.
    const ajv = new Ajv({ allErrors: false, strict: true, strictNumbers: true, allowUnionTypes: true });
    compiled = { schema, validate: ajv.compile(schema) };
  }
  return compiled;
}

/** Whether a node is a section (a mapping of keys) rather than a value. */
export function isSection(node: SchemaNode): boolean {
  return node.properties !== undefined;
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function range(n: SchemaNode): string {
  const lo = n.exclusiveMinimum ?? n.minimum;
  const hi = n.exclusiveMaximum ?? n.maximum;
  if (lo === undefined && hi === undefined) return '';
  return ` in ${n.exclusiveMinimum !== undefined ? '(' : '['}${lo ?? '-inf'}, ${hi ?? 'inf'}${n.exclusiveMaximum !== undefined ? ')' : ']'}`;
}

/** What a value key takes, in words: "a number in (0, 1000]", "a list of 3 numbers in [0, 1]", ... */
export function describeLeaf(n: SchemaNode): string {
  if (n.enum) return `one of ${n.enum.map((v) => `'${v}'`).join(', ')}`;
  if (Array.isArray(n.type)) return `a number${range(n)} or null`;
  switch (n.type) {
    case 'number':
      return `a number${range(n)}`;
    case 'integer':
      return `an integer${range(n)}`;
    case 'string':
      return n.minLength ? 'a non-empty string' : 'a string';
    case 'array': {
      const it = n.items ?? {};
      const kind = it.type === 'integer' ? 'integers' : it.type === 'number' ? 'numbers' : 'strings';
      if (n.minItems !== undefined && n.minItems === n.maxItems) return `a list of ${n.minItems} ${kind}${range(it)}`;
      return `a ${n.minItems ? 'non-empty ' : ''}list of ${kind}${range(it)}`;
    }
    default:
      return 'a value';
  }
}

/** [sync] The schema node of a dotted key. @throws {ConfigError} for an unknown key or a section. */
export function leafAt(key: string, source: string): SchemaNode {
  let node = configSchema().schema;
  const parts = key.split('.');
  for (const [i, p] of parts.entries()) {
    const next = node.properties && Object.hasOwn(node.properties, p) ? node.properties[p] : undefined;
    if (!next) {
      const hint = isSection(node) ? '' : `: "${parts.slice(0, i).join('.')}" is a value`;
      throw new ConfigError(`Unknown config key "${key}" (from ${source})${hint}`, key, source);
    }
    node = next;
  }
  if (isSection(node)) {
    throw new ConfigError(
      `Config key "${key}" (from ${source}) is a section; set one of its keys: ${Object.keys(node.properties!)
        .map((k) => `${key}.${k}`)
        .join(', ')}`,
      key,
      source,
    );
  }
  return node;
}

/**
 * [sync] Checks a (partial) config document against the schema.
 * @param where the line of a dotted key in the source file, when known (YAML files).
 * @throws {ConfigError} for the first problem, naming the dotted key, the source (and line).
 */
export function validateConfigDoc(doc: unknown, source: string, where?: (key: string) => number | undefined): void {
  const { schema, validate } = configSchema();
  if (validate(doc)) return;
  const err = validate.errors![0]!;
  throw toConfigError(schema, doc, err, source, where);
}

function toConfigError(
  schema: SchemaNode,
  doc: unknown,
  err: ErrorObject,
  source: string,
  where?: (key: string) => number | undefined,
): ConfigError {
  // Walk the error's path down the schema; it may go into a list (model.hidden/1): stop at the value key.
  const segments = err.instancePath.split('/').slice(1);
  let node = schema;
  let value = doc;
  const keyParts: string[] = [];
  for (const seg of segments) {
    if (!isSection(node)) break;
    node = node.properties![seg]!;
    value = (value as Record<string, unknown>)[seg];
    keyParts.push(seg);
  }
  const at = (key: string) => {
    const line = where?.(key);
    return line === undefined ? source : `${source}:${line}`;
  };
  if (err.keyword === 'additionalProperties' && isSection(node)) {
    const extra = (err.params as { additionalProperty: string }).additionalProperty;
    const key = [...keyParts, extra].join('.');
    const known = Object.keys(node.properties!).map((x) => [...keyParts, x].join('.'));
    return new ConfigError(
      `Unknown config key "${key}" (from ${at(key)}); known keys here: ${known.join(', ')}`,
      key,
      source,
    );
  }
  const key = keyParts.join('.');
  if (isSection(node)) {
    return new ConfigError(
      `Config ${key ? `key "${key}"` : 'document'} (from ${at(key)}) must be a mapping, got ${show(value)}`,
      key,
      source,
    );
  }
  return new ConfigError(
    `Config key "${key}" (from ${at(key)}) must be ${describeLeaf(node)}, got ${show(value)}`,
    key,
    source,
  );
}
