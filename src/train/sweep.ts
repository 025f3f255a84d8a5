// Hyper-parameter search: a grid or a seeded random sample over config keys, each point trained and
// evaluated by train(), ranked by VALIDATION AUPRC (the test split only reports; choosing on it would
// overstate the winner). Writes results.json and a Markdown table into the sweep's directory.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import YAML from 'yaml';

import { applyOverrides, ConfigError, configToYaml, type TrainConfig } from './config.js';
import { runTimestamp } from './run-dir.js';
import { train } from './train.js';
import { mulberry32 } from '../data/random.js';

export interface SweepSpec {
  /** 'grid': every combination; 'random': `samples` distinct combinations drawn with `seed`. */
  mode: 'grid' | 'random';
  /** Dotted config key -> candidate values, as command-line override text ('0.001', '[32,16,32]'). */
  params: Record<string, string[]>;
  /** Points for 'random' (at most the grid size). @default 10 */
  samples?: number;
  /** @default 0 */
  seed?: number;
}

export interface SweepRow {
  /** 1 = best validation AUPRC. */
  rank: number;
  overrides: string[];
  valAuprc: number;
  valRocAuc: number;
  testAuprc: number;
  testRocAuc: number;
  testRecallAtFpr1: number;
  bestEpoch: number;
  epochsRun: number;
  seconds: number;
  /** Set when the point failed (bad combination, non-finite loss, ...); it ranks last. */
  error?: string;
}

export interface SweepResult {
  rows: SweepRow[];
  /** The sweep's directory (results.json, results.md, base-config.yaml). */
  dir: string;
  markdown: string;
}

export interface SweepOptions {
  signal?: AbortSignal;
  /** Called after each point, in run order. */
  onPoint?: (row: SweepRow, index: number, total: number) => void;
  /** @default <runs_dir>/<timestamp>-sweep-<output.name> */
  dir?: string;
}

/** Turns a YAML value into override text that applyOverrides parses back with the key's type. */
function overrideText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(overrideText).join(',')}]`;
  if (v === null) return 'null';
  return String(v);
}

/**
 * [sync] A sweep spec from YAML: `{ mode, samples?, seed?, params: { 'training.lr': [0.001, 0.003] } }`.
 * @throws {ConfigError} naming the field.
 */
export function parseSweepSpec(text: string, source: string): SweepSpec {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${source} is not valid YAML: ${(e as Error).message}`, '', source);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${source} must be a mapping with mode and params`, '', source);
  }
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (!['mode', 'params', 'samples', 'seed'].includes(k)) {
      throw new ConfigError(
        `Unknown sweep key "${k}" (from ${source}); known keys: mode, params, samples, seed`,
        k,
        source,
      );
    }
  }
  const mode = d.mode ?? 'grid';
  if (mode !== 'grid' && mode !== 'random') {
    throw new ConfigError(
      `Sweep key "mode" (from ${source}) must be 'grid' or 'random', got ${JSON.stringify(mode)}`,
      'mode',
      source,
    );
  }
  if (typeof d.params !== 'object' || d.params === null || Array.isArray(d.params)) {
    throw new ConfigError(
      `Sweep key "params" (from ${source}) must map config keys to lists of values`,
      'params',
      source,
    );
  }
  const params: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(d.params)) {
    if (!Array.isArray(v) || v.length === 0) {
      throw new ConfigError(
        `Sweep key "params.${k}" (from ${source}) must be a non-empty list of values`,
        `params.${k}`,
        source,
      );
    }
    params[k] = v.map(overrideText);
  }
  const spec: SweepSpec = { mode, params };
  for (const k of ['samples', 'seed'] as const) {
    const x = d[k];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < (k === 'samples' ? 1 : 0)) {
      throw new ConfigError(
        `Sweep key "${k}" (from ${source}) must be a${k === 'samples' ? ' positive' : ' non-negative'} integer, got ${JSON.stringify(x)}`,
        k,
        source,
      );
    }
    spec[k] = x;
  }
  return spec;
}

/** [async] Reads a sweep spec file. */
export async function loadSweepSpec(file: string): Promise<SweepSpec> {
  return parseSweepSpec(await readFile(file, 'utf8'), file);
}

/** The points of a sweep, as lists of overrides, in run order. */
export function sweepPoints(spec: SweepSpec): string[][] {
  const keys = Object.keys(spec.params);
  if (keys.length === 0) throw new RangeError('Expected `params` to name at least one config key');
  const sizes = keys.map((k) => spec.params[k]!.length);
  const total = sizes.reduce((a, b) => a * b, 1);
  const point = (index: number): string[] => {
    const out: string[] = [];
    let rest = index;
    for (let i = keys.length - 1; i >= 0; i--) {
      out.unshift(`${keys[i]}=${spec.params[keys[i]!]![rest % sizes[i]!]}`);
      rest = Math.floor(rest / sizes[i]!);
    }
    return out;
  };
  if (spec.mode === 'grid') return Array.from({ length: total }, (_, i) => point(i));
  // Random: a seeded partial Fisher-Yates over the grid's indices (distinct points).
  const want = Math.min(spec.samples ?? 10, total);
  const rand = mulberry32(spec.seed ?? 0);
  const idx = Array.from({ length: total }, (_, i) => i);
  for (let i = 0; i < want; i++) {
    const j = i + Math.floor(rand() * (total - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, want).map(point);
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');

/** The ranked rows as a Markdown table. */
export function sweepTable(rows: readonly SweepRow[]): string {
  const lines = [
    '| rank | overrides | val AUPRC | val ROC-AUC | test AUPRC | test ROC-AUC | test recall@1%FPR | best epoch | epochs | seconds |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const o = r.overrides.map((x) => `\`${x}\``).join(' ');
    lines.push(
      r.error
        ? `| ${r.rank} | ${o} | failed: ${r.error.replace(/\|/g, '\\|')} | | | | | | | |`
        : `| ${r.rank} | ${o} | ${fmt(r.valAuprc)} | ${fmt(r.valRocAuc)} | ${fmt(r.testAuprc)} | ${fmt(r.testRocAuc)} | ${fmt(r.testRecallAtFpr1)} | ${r.bestEpoch} | ${r.epochsRun} | ${r.seconds.toFixed(1)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * [async] Runs every point of `spec` over `base` (one after another: each run already uses every
 * core), ranks them by validation AUPRC and writes the results.
 * @throws {ConfigError} before anything runs when a point's overrides are invalid; the signal's
 *   reason when aborted (results so far are written first).
 */
export async function sweep(base: TrainConfig, spec: SweepSpec, options: SweepOptions = {}): Promise<SweepResult> {
  const points = sweepPoints(spec);
  // Validate every point up front so a typo fails in a second, not after hours of training.
  const configs = points.map((p) => applyOverrides(structuredClone(base), p));
  const dir = resolve(options.dir ?? join(base.output.runs_dir, `${runTimestamp()}-sweep-${base.output.name}`));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'base-config.yaml'), configToYaml(base));
  await writeFile(join(dir, 'sweep.yaml'), YAML.stringify(spec));
  const rows: SweepRow[] = [];
  const finish = async (): Promise<SweepResult> => {
    const ranked = [...rows].sort((a, b) => {
      if (!!a.error !== !!b.error) return a.error ? 1 : -1;
      const d = (Number.isFinite(b.valAuprc) ? b.valAuprc : -1) - (Number.isFinite(a.valAuprc) ? a.valAuprc : -1);
      return d !== 0 ? d : b.valRocAuc - a.valRocAuc;
    });
    ranked.forEach((r, i) => {
      r.rank = i + 1;
    });
    const markdown = sweepTable(ranked);
    await writeFile(join(dir, 'results.json'), `${JSON.stringify(ranked, null, 2)}\n`);
    await writeFile(join(dir, 'results.md'), `# Sweep ranked by validation AUPRC\n\n${markdown}`);
    return { rows: ranked, dir, markdown };
  };
  for (const [i, cfg] of configs.entries()) {
    if (options.signal?.aborted) {
      await finish();
      throw options.signal.reason instanceof Error ? options.signal.reason : new Error('Sweep was aborted');
    }
    const t0 = performance.now();
    let row: SweepRow;
    try {
      const r = await train(cfg, { signal: options.signal, noRunDir: true });
      row = {
        rank: 0,
        overrides: points[i]!,
        valAuprc: r.validation.auprc,
        valRocAuc: r.validation.rocAuc,
        testAuprc: r.test.auprc,
        testRocAuc: r.test.rocAuc,
        testRecallAtFpr1: r.test.recallAtFpr1,
        bestEpoch: r.bestEpoch,
        epochsRun: r.history.length,
        seconds: (performance.now() - t0) / 1000,
      };
    } catch (e) {
      if (options.signal?.aborted) {
        await finish();
        throw e;
      }
      row = {
        rank: 0,
        overrides: points[i]!,
        valAuprc: Number.NaN,
        valRocAuc: Number.NaN,
        testAuprc: Number.NaN,
        testRocAuc: Number.NaN,
        testRecallAtFpr1: Number.NaN,
        bestEpoch: 0,
        epochsRun: 0,
        seconds: (performance.now() - t0) / 1000,
        error: (e as Error).message,
      };
    }
    rows.push(row);
    options.onPoint?.(row, i, configs.length);
  }
  return finish();
}
