// Experiment configuration: YAML files in configs/ merged over built-in defaults, then dotted
// command-line overrides (`training.lr=0.005`), all validated against one schema. An unknown key or a
// value of the wrong type is a ConfigError naming the dotted key and where it came from, so a typo
// never silently falls back to a default (the original project's overrides were ignored).
import { readFile } from 'node:fs/promises';

import YAML from 'yaml';

import { DEFAULT_FEATURES } from '../data/table.js';

export interface DataConfig {
  /** Transactions file (CSV, .csv.gz, Arrow, Parquet), relative to the working directory. */
  path: string;
  /** Feature columns, in model order. @default V1..V28, Amount */
  features: string[];
  /** Features to log1p before standardizing. @default ['Amount'] */
  log1p: string[];
  split: {
    /** @default 'stratified' */
    strategy: 'stratified' | 'time';
    /** Train, validation, test fractions (sum 1). @default [0.6, 0.2, 0.2] */
    ratios: [number, number, number];
    /** @default 42 */
    seed: number;
  };
  /**
   * Weight of each normal row in precision-type metrics: 9.742 turns the real sample's figures
   * into full-data estimates (../shared/data/README.md); 1 for complete data. @default 1
   */
  normal_weight: number;
}

export interface ModelConfig {
  /**
   * 'autoencoder': unsupervised, scores are reconstruction errors. 'hybrid': the same autoencoder,
   * then a supervised head trained on the training split's labelled rows (src/hybrid/): scores are
   * fraud probabilities. @default 'autoencoder'
   */
  kind: 'autoencoder' | 'hybrid';
  /** Hidden layer sizes (ReLU). @default [64, 16, 64] (chosen by configs/sweep.yaml) */
  hidden: number[];
  /** Dropout after the first hidden layer, in training. @default 0 */
  dropout: number;
  /** The hybrid model's head (ignored for 'autoencoder'). */
  head: HeadConfig;
}

/** The supervised head of a hybrid model (native/include/fraudscore/head.h). */
export interface HeadConfig {
  /** Hidden layer sizes (ReLU); one sigmoid output follows. @default [32, 16] */
  hidden: number[];
  /** 'bce': class-weighted cross-entropy; 'focal': focal loss with focal_gamma. @default 'bce' */
  loss: 'bce' | 'focal';
  /** @default 2 */
  focal_gamma: number;
  /** Loss weight of a fraud row; null = labelled normal rows / labelled frauds. @default null */
  pos_weight: number | null;
  /** @default 200 */
  epochs: number;
  /** Epochs without a validation-AUPRC improvement before stopping; 0 disables. @default 20 */
  patience: number;
  /** @default 0.001 */
  lr: number;
  /** @default 0.0001 */
  weight_decay: number;
  /** @default 256 */
  batch_size: number;
  /**
   * Heads trained from seeds seed, seed + 1, ... and averaged by logit into one (wider) head: less
   * variance from 2-300 labelled frauds. @default 1
   */
  ensemble: number;
}

export interface TrainingConfig {
  /** Maximum epochs (early stopping usually ends sooner). @default 200 */
  epochs: number;
  /** @default 1024 */
  batch_size: number;
  /** Adam learning rate. @default 0.003 */
  lr: number;
  /** L2 added to the gradient (torch.optim.Adam weight_decay). @default 1e-5 */
  weight_decay: number;
  /** Epochs without a validation-loss improvement before stopping; 0 disables. @default 10 */
  patience: number;
  /** Weight initialization, shuffles and dropout. @default 42 */
  seed: number;
  /** Training threads; 0 = every core. Weights do not depend on it. @default 0 */
  threads: number;
  /**
   * Where the minibatch steps run: 'cuda' takes each forward, backward and Adam step on CUDA device
   * 0 (epochs, shuffles, validation and scoring stay on the host); an error when no device answers.
   * @default 'cpu'
   */
  backend: 'cpu' | 'cuda';
  /**
   * Hybrid models: the fraction of the training split's rows whose label the head may use (a
   * seeded random choice); 0 trains no head (the result is the autoencoder alone). @default 1
   */
  label_fraction: number;
  /** Hybrid models: at most this many labelled frauds reach the head (seeded); null = no cap. @default null */
  max_labelled_frauds: number | null;
}

export interface ThresholdConfig {
  /** @default 'max-f1' */
  strategy: 'max-f1' | 'percentile' | 'target-recall' | 'target-precision' | 'target-fpr';
  /** The strategy's target (percentile in (0, 100), others in (0, 1]); null for max-f1. */
  value: number | null;
}

export interface OutputConfig {
  /** Run directories go here: <runs_dir>/<timestamp>-<name>/. @default 'runs' */
  runs_dir: string;
  /** @default 'default' */
  name: string;
}

export interface TrainConfig {
  data: DataConfig;
  model: ModelConfig;
  training: TrainingConfig;
  threshold: ThresholdConfig;
  output: OutputConfig;
}

/** The built-in defaults; configs/default.yaml spells the same values out. */
export const DEFAULT_CONFIG: TrainConfig = Object.freeze({
  data: {
    path: '../shared/data/creditcard-sample.csv.gz',
    features: [...DEFAULT_FEATURES],
    log1p: ['Amount'],
    split: { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 42 },
    normal_weight: 1,
  },
  model: {
    kind: 'autoencoder',
    hidden: [64, 16, 64],
    dropout: 0,
    head: {
      hidden: [32, 16],
      loss: 'bce',
      focal_gamma: 2,
      pos_weight: null,
      epochs: 200,
      patience: 20,
      lr: 0.001,
      weight_decay: 0.0001,
      batch_size: 256,
      ensemble: 1,
    },
  },
  training: {
    epochs: 200,
    batch_size: 1024,
    lr: 0.003,
    weight_decay: 1e-5,
    patience: 10,
    seed: 42,
    threads: 0,
    backend: 'cpu',
    label_fraction: 1,
    max_labelled_frauds: null,
  },
  threshold: { strategy: 'max-f1', value: null },
  output: { runs_dir: 'runs', name: 'default' },
}) as TrainConfig;

/** A config problem: `key` is the dotted key ('' for the whole document), `source` the file or 'command line'. */
export class ConfigError extends Error {
  readonly code = 'ERR_FRAUDSCORE_CONFIG';
  readonly key: string;
  readonly source: string;
  constructor(message: string, key: string, source: string) {
    super(message);
    this.name = 'ConfigError';
    this.key = key;
    this.source = source;
  }
}

// ---- schema ----------------------------------------------------------------------------------

type Leaf =
  | { kind: 'number'; min?: number; max?: number; minOpen?: boolean; maxOpen?: boolean; nullable?: boolean }
  | { kind: 'integer'; min: number; max: number; nullable?: boolean }
  | { kind: 'string'; nonEmpty?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'numberList'; length?: number; min?: number; max?: number }
  | { kind: 'integerList'; min: number; max: number; nonEmpty?: boolean }
  | { kind: 'stringList'; nonEmpty?: boolean };

type Schema = { [key: string]: Schema | Leaf };

const SEED_MAX = 2 ** 32 - 1;

const SCHEMA: Schema = {
  data: {
    path: { kind: 'string', nonEmpty: true },
    features: { kind: 'stringList', nonEmpty: true },
    log1p: { kind: 'stringList' },
    split: {
      strategy: { kind: 'enum', values: ['stratified', 'time'] },
      ratios: { kind: 'numberList', length: 3, min: 0, max: 1 },
      seed: { kind: 'integer', min: 0, max: SEED_MAX },
    },
    normal_weight: { kind: 'number', min: 0, minOpen: true, max: 1e6 },
  },
  model: {
    kind: { kind: 'enum', values: ['autoencoder', 'hybrid'] },
    hidden: { kind: 'integerList', min: 1, max: 4096, nonEmpty: true },
    dropout: { kind: 'number', min: 0, max: 1, maxOpen: true },
    head: {
      hidden: { kind: 'integerList', min: 1, max: 4096 },
      loss: { kind: 'enum', values: ['bce', 'focal'] },
      focal_gamma: { kind: 'number', min: 0, max: 10 },
      pos_weight: { kind: 'number', min: 0, minOpen: true, max: 1e6, nullable: true },
      epochs: { kind: 'integer', min: 1, max: 100000 },
      patience: { kind: 'integer', min: 0, max: 100000 },
      lr: { kind: 'number', min: 0, minOpen: true, max: 1000 },
      weight_decay: { kind: 'number', min: 0, max: 1000 },
      batch_size: { kind: 'integer', min: 1, max: 1 << 24 },
      ensemble: { kind: 'integer', min: 1, max: 64 },
    },
  },
  training: {
    epochs: { kind: 'integer', min: 1, max: 100000 },
    batch_size: { kind: 'integer', min: 1, max: 1 << 24 },
    lr: { kind: 'number', min: 0, minOpen: true, max: 1000 },
    weight_decay: { kind: 'number', min: 0, max: 1000 },
    patience: { kind: 'integer', min: 0, max: 100000 },
    seed: { kind: 'integer', min: 0, max: SEED_MAX },
    threads: { kind: 'integer', min: 0, max: 1024 },
    backend: { kind: 'enum', values: ['cpu', 'cuda'] },
    label_fraction: { kind: 'number', min: 0, max: 1 },
    max_labelled_frauds: { kind: 'integer', min: 0, max: 1e9, nullable: true },
  },
  threshold: {
    strategy: { kind: 'enum', values: ['max-f1', 'percentile', 'target-recall', 'target-precision', 'target-fpr'] },
    value: { kind: 'number', nullable: true, min: 0, minOpen: true, max: 100, maxOpen: true },
  },
  output: {
    runs_dir: { kind: 'string', nonEmpty: true },
    name: { kind: 'string', nonEmpty: true },
  },
};

function isLeaf(s: Schema | Leaf): s is Leaf {
  return typeof (s as Leaf).kind === 'string';
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function describeLeaf(leaf: Leaf): string {
  const range = (min?: number, max?: number, minOpen?: boolean, maxOpen?: boolean) =>
    min === undefined && max === undefined
      ? ''
      : ` in ${minOpen ? '(' : '['}${min ?? '-inf'}, ${max ?? 'inf'}${maxOpen ? ')' : ']'}`;
  switch (leaf.kind) {
    case 'number':
      return `a number${range(leaf.min, leaf.max, leaf.minOpen, leaf.maxOpen)}${leaf.nullable ? ' or null' : ''}`;
    case 'integer':
      return `an integer${range(leaf.min, leaf.max)}${leaf.nullable ? ' or null' : ''}`;
    case 'string':
      return leaf.nonEmpty ? 'a non-empty string' : 'a string';
    case 'enum':
      return `one of ${leaf.values.map((v) => `'${v}'`).join(', ')}`;
    case 'numberList':
      return `a list of ${leaf.length ?? 'any number of'} numbers${range(leaf.min, leaf.max)}`;
    case 'integerList':
      return `a ${leaf.nonEmpty ? 'non-empty ' : ''}list of integers${range(leaf.min, leaf.max)}`;
    case 'stringList':
      return `a ${leaf.nonEmpty ? 'non-empty ' : ''}list of strings`;
  }
}

function inRange(x: number, min?: number, max?: number, minOpen?: boolean, maxOpen?: boolean): boolean {
  if (!Number.isFinite(x)) return false;
  if (min !== undefined && (minOpen ? !(x > min) : !(x >= min))) return false;
  if (max !== undefined && (maxOpen ? !(x < max) : !(x <= max))) return false;
  return true;
}

function leafOk(leaf: Leaf, v: unknown): boolean {
  switch (leaf.kind) {
    case 'number':
      if (v === null) return leaf.nullable === true;
      return typeof v === 'number' && inRange(v, leaf.min, leaf.max, leaf.minOpen, leaf.maxOpen);
    case 'integer':
      if (v === null) return leaf.nullable === true;
      return typeof v === 'number' && Number.isInteger(v) && inRange(v, leaf.min, leaf.max);
    case 'string':
      return typeof v === 'string' && (!leaf.nonEmpty || v.length > 0);
    case 'enum':
      return typeof v === 'string' && leaf.values.includes(v);
    case 'numberList':
      return (
        Array.isArray(v) &&
        (leaf.length === undefined || v.length === leaf.length) &&
        v.every((x) => typeof x === 'number' && inRange(x, leaf.min, leaf.max))
      );
    case 'integerList':
      return (
        Array.isArray(v) &&
        (!leaf.nonEmpty || v.length > 0) &&
        v.every((x) => typeof x === 'number' && Number.isInteger(x) && inRange(x, leaf.min, leaf.max))
      );
    case 'stringList':
      return (
        Array.isArray(v) && (!leaf.nonEmpty || v.length > 0) && v.every((x) => typeof x === 'string' && x.length > 0)
      );
  }
}

function leafAt(key: string, source: string): Leaf {
  let s: Schema | Leaf = SCHEMA;
  const parts = key.split('.');
  for (const [i, p] of parts.entries()) {
    if (isLeaf(s) || !Object.hasOwn(s, p)) {
      throw new ConfigError(`Unknown config key "${key}" (from ${source})`, key, source);
    }
    s = s[p]!;
    if (i < parts.length - 1 && isLeaf(s)) {
      throw new ConfigError(
        `Unknown config key "${key}" (from ${source}): "${parts.slice(0, i + 1).join('.')}" is a value`,
        key,
        source,
      );
    }
  }
  if (!isLeaf(s)) {
    throw new ConfigError(
      `Config key "${key}" (from ${source}) is a section; set one of its keys: ${Object.keys(s)
        .map((k) => `${key}.${k}`)
        .join(', ')}`,
      key,
      source,
    );
  }
  return s;
}

/**
 * Merges a partial config document into `base` (a deep copy is returned), checking every key and
 * value against the schema.
 * @throws {ConfigError} naming the dotted key and `source`.
 */
export function mergeConfig(base: TrainConfig, doc: unknown, source: string): TrainConfig {
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  if (doc === null || doc === undefined) return out as unknown as TrainConfig;
  const walk = (schema: Schema, value: unknown, target: Record<string, unknown>, prefix: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(
        `Config ${prefix ? `key "${prefix}"` : 'document'} (from ${source}) must be a mapping, got ${show(value)}`,
        prefix,
        source,
      );
    }
    for (const [k, v] of Object.entries(value)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (!Object.hasOwn(schema, k)) {
        const known = Object.keys(schema).map((x) => (prefix ? `${prefix}.${x}` : x));
        throw new ConfigError(
          `Unknown config key "${key}" (from ${source}); known keys here: ${known.join(', ')}`,
          key,
          source,
        );
      }
      const sub = schema[k]!;
      if (isLeaf(sub)) {
        if (!leafOk(sub, v)) {
          throw new ConfigError(
            `Config key "${key}" (from ${source}) must be ${describeLeaf(sub)}, got ${show(v)}`,
            key,
            source,
          );
        }
        target[k] = structuredClone(v);
      } else {
        walk(sub, v, target[k] as Record<string, unknown>, key);
      }
    }
  };
  walk(SCHEMA, doc, out, '');
  return out as unknown as TrainConfig;
}

/** Parses a command-line value for a key with the schema's type: numbers, lists as `[a, b]` or `a,b`. */
function parseValue(leaf: Leaf, key: string, raw: string): unknown {
  const fail = (): never => {
    throw new ConfigError(
      `Config key "${key}" (from command line) must be ${describeLeaf(leaf)}, got ${JSON.stringify(raw)}`,
      key,
      'command line',
    );
  };
  const list = (): string[] => {
    const t = raw.trim();
    const inner = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
    return inner.trim() === '' ? [] : inner.split(',').map((s) => s.trim());
  };
  const num = (s: string): number => {
    if (s.trim() === '') return fail();
    const x = Number(s);
    return Number.isNaN(x) ? fail() : x;
  };
  switch (leaf.kind) {
    case 'number':
      if (leaf.nullable && (raw === 'null' || raw === '~')) return null;
      return num(raw);
    case 'integer':
      if (leaf.nullable && (raw === 'null' || raw === '~')) return null;
      return num(raw);
    case 'string':
    case 'enum':
      return raw;
    case 'numberList':
    case 'integerList':
      return list().map(num);
    case 'stringList':
      return list();
  }
}

/**
 * Applies `key.path=value` overrides in order.
 * @throws {ConfigError} for a malformed override, an unknown key or a bad value.
 */
export function applyOverrides(base: TrainConfig, overrides: readonly string[]): TrainConfig {
  let cfg = base;
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) {
      throw new ConfigError(
        `Expected an override like training.lr=0.005, got ${JSON.stringify(o)}`,
        '',
        'command line',
      );
    }
    const key = o.slice(0, eq).trim();
    const leaf = leafAt(key, 'command line');
    const value = parseValue(leaf, key, o.slice(eq + 1));
    // Build the nested partial document and merge it through the same checks as a file.
    const doc: Record<string, unknown> = {};
    const parts = key.split('.');
    let at = doc;
    for (const p of parts.slice(0, -1)) {
      at[p] = {};
      at = at[p] as Record<string, unknown>;
    }
    at[parts[parts.length - 1]!] = value;
    cfg = mergeConfig(cfg, doc, 'command line');
  }
  checkConfig(cfg, overrides.length > 0 ? 'command line' : 'config');
  return cfg;
}

/** Checks between keys that the per-key schema cannot express. @throws {ConfigError} */
export function checkConfig(cfg: TrainConfig, source: string): void {
  const r = cfg.data.split.ratios;
  const sum = r[0] + r[1] + r[2];
  if (Math.abs(sum - 1) > 1e-9) {
    throw new ConfigError(
      `Config key "data.split.ratios" (from ${source}) must sum to 1, got ${show(r)} (sum ${+sum.toPrecision(12)})`,
      'data.split.ratios',
      source,
    );
  }
  if (!(r[0] > 0) || !(r[1] > 0) || !(r[2] > 0)) {
    throw new ConfigError(
      `Config key "data.split.ratios" (from ${source}) needs every part > 0 (validation picks the threshold, test reports metrics), got ${show(r)}`,
      'data.split.ratios',
      source,
    );
  }
  const missingLog = cfg.data.log1p.filter((f) => !cfg.data.features.includes(f));
  if (missingLog.length > 0) {
    throw new ConfigError(
      `Config key "data.log1p" (from ${source}) names ${show(missingLog)}, which ${missingLog.length > 1 ? 'are' : 'is'} not in data.features`,
      'data.log1p',
      source,
    );
  }
  if (new Set(cfg.data.features).size !== cfg.data.features.length) {
    throw new ConfigError(`Config key "data.features" (from ${source}) lists a feature twice`, 'data.features', source);
  }
  const t = cfg.threshold;
  if (t.strategy === 'max-f1') {
    if (t.value !== null) {
      throw new ConfigError(
        `Config key "threshold.value" (from ${source}) must be null for strategy 'max-f1', got ${t.value}`,
        'threshold.value',
        source,
      );
    }
  } else if (t.value === null) {
    throw new ConfigError(
      `Config key "threshold.value" (from ${source}) is required for strategy '${t.strategy}'`,
      'threshold.value',
      source,
    );
  } else if (t.strategy !== 'percentile' && t.value > 1) {
    throw new ConfigError(
      `Config key "threshold.value" (from ${source}) must be in (0, 1] for strategy '${t.strategy}', got ${t.value}`,
      'threshold.value',
      source,
    );
  }
}

/** A config with any keys left out (they take the defaults). */
export type PartialConfig = { [S in Exclude<keyof TrainConfig, 'model'>]?: Partial<TrainConfig[S]> } & {
  model?: Partial<Omit<ModelConfig, 'head'>> & { head?: Partial<HeadConfig> };
};

/**
 * [sync] A complete, checked config from a partial one (an object built in code rather than read
 * from YAML): missing keys take the defaults, every given key is checked like a file's.
 * @throws {ConfigError} naming the dotted key and `source`.
 */
export function resolveConfig(partial: PartialConfig | TrainConfig, source = 'config object'): TrainConfig {
  const cfg = mergeConfig(DEFAULT_CONFIG, partial, source);
  checkConfig(cfg, source);
  return cfg;
}

/** [sync] Parses YAML text (a partial config) over the defaults. @throws {ConfigError} */
export function parseConfig(text: string, source: string, base: TrainConfig = DEFAULT_CONFIG): TrainConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { uniqueKeys: true });
  } catch (e) {
    throw new ConfigError(`${source} is not valid YAML: ${(e as Error).message}`, '', source);
  }
  const cfg = mergeConfig(base, doc, source);
  checkConfig(cfg, source);
  return cfg;
}

/**
 * [async] The resolved config: defaults, then the YAML file (when given), then the overrides.
 * @throws {ConfigError} naming the file or 'command line' and the dotted key.
 */
export async function loadConfig(file?: string, overrides: readonly string[] = []): Promise<TrainConfig> {
  let cfg = DEFAULT_CONFIG;
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`Cannot read config file ${file}: ${(e as Error).message}`, '', file);
    }
    cfg = parseConfig(text, file);
  }
  return applyOverrides(structuredClone(cfg), overrides);
}

/** The config as YAML (what a run directory keeps as config.yaml). */
export function configToYaml(cfg: TrainConfig): string {
  const doc = new YAML.Document(cfg);
  // Lists of scalars on one line ([V1, V2, ...]), as configs/*.yaml write them.
  YAML.visit(doc, {
    Seq(_key, node) {
      if (node.items.every((it) => YAML.isScalar(it))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
