// Experiment configuration: YAML files in configs/ merged over built-in defaults, then dotted
// command-line overrides (`training.lr=0.005`), all validated against one schema. An unknown key or a
// value of the wrong type is a ConfigError naming the dotted key and where it came from, so a typo
// never silently falls back to a default (the original project's overrides were ignored).
import { readFile } from 'node:fs/promises';

import YAML from 'yaml';

import { DEFAULT_FEATURES } from '../data/table.js';
import { ConfigError } from './config-error.js';
import {
  configSchema,
  describeLeaf,
  isSection,
  leafAt,
  type SchemaNode,
  show,
  validateConfigDoc,
} from './config-schema.js';

export { ConfigError };

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

// ---- schema: configs/fraudscore.schema.json, checked by src/train/config-schema.ts ----------

/**
 * Merges a partial config document into `base` (a deep copy is returned), checking every key and
 * value against the schema.
 * @param where the line of a dotted key in the source, for messages (YAML files).
 * @throws {ConfigError} naming the dotted key and `source`.
 */
export function mergeConfig(
  base: TrainConfig,
  doc: unknown,
  source: string,
  where?: (key: string) => number | undefined,
): TrainConfig {
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  if (doc === null || doc === undefined) return out as unknown as TrainConfig;
  validateConfigDoc(doc, source, where);
  const merge = (node: SchemaNode, value: Record<string, unknown>, target: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(value)) {
      const sub = node.properties![k]!;
      if (isSection(sub)) merge(sub, v as Record<string, unknown>, target[k] as Record<string, unknown>);
      else target[k] = structuredClone(v);
    }
  };
  merge(configSchema().schema, doc as Record<string, unknown>, out);
  return out as unknown as TrainConfig;
}

/** Parses a command-line value for a key with the schema's type: numbers, lists as `[a, b]` or `a,b`. */
function parseValue(leaf: SchemaNode, key: string, raw: string): unknown {
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
  if (Array.isArray(leaf.type)) return raw === 'null' || raw === '~' ? null : num(raw);
  switch (leaf.type) {
    case 'number':
    case 'integer':
      return num(raw);
    case 'array': {
      const t = leaf.items?.type;
      return t === 'number' || t === 'integer' ? list().map(num) : list();
    }
    default:
      return raw;
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

/** [sync] Parses YAML text (a partial config) over the defaults. @throws {ConfigError} naming file, line and key */
export function parseConfig(text: string, source: string, base: TrainConfig = DEFAULT_CONFIG): TrainConfig {
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${source} is not valid YAML: ${doc.errors[0]!.message}`, '', source);
  }
  // The line of a dotted key: of the key itself when it is in the file, else of its nearest parent.
  const where = (key: string): number | undefined => {
    const parts = key === '' ? [] : key.split('.');
    for (let n = parts.length; n >= 0; n--) {
      if (n === 0) {
        const range = (doc.contents as YAML.Node | null)?.range;
        return range ? lines.linePos(range[0]).line : undefined;
      }
      const parent = n === 1 ? doc.contents : doc.getIn(parts.slice(0, n - 1), true);
      if (YAML.isMap(parent)) {
        const pair = parent.items.find((p) => YAML.isScalar(p.key) && p.key.value === parts[n - 1]);
        const node = pair?.key as YAML.Scalar | undefined;
        if (node?.range) return lines.linePos(node.range[0]).line;
      }
    }
    return undefined;
  };
  const cfg = mergeConfig(base, doc.toJS(), source, where);
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
