// Accuracy of the int8 engine against fp32 where it matters: the fraud decision and the ranking.
// - On the real sample's test split (skipped when ../shared/data is absent): a model trained now
//   with the default config at the benchmark shape, and models/default when it exists. Static
//   calibration uses normal rows of the training split only. Targets (issue 4), asserted for
//   quantize()'s default (static scales at the 99.95th percentile, out-of-range rows rescored in
//   fp32) and for dynamic scales: int8 AUPRC and ROC-AUC within 0.005 of fp32, decisions at the
//   model's threshold agree on >= 99.9% of rows; per-row relative score error reported (median,
//   p99), and the share of rows rescored in fp32; plain clamping static scales are reported beside
//   them.
// - Everywhere: a random model calibrated on random rows (median relative error < 1%, ranks kept).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadTable } from '../src/data/load.js';
import { splitTable } from '../src/data/split.js';
import { rowsWithLabel, type Table } from '../src/data/table.js';
import { evaluateScores } from '../src/eval/metrics.js';
import { createModel, loadModel, type Model, quantize, Scorer } from '../src/index.js';
import { applyOverrides, loadConfig, type TrainConfig } from '../src/train/config.js';
import { train } from '../src/train/train.js';
import { randomRows, realDataPath, testSeed } from './helpers.js';

const seed = testSeed();
const defaultModelDir = join(import.meta.dirname, '../models/default');

function quantile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Spearman rank correlation (average ranks for ties). */
function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const rank = (v: ArrayLike<number>) => {
    const idx = Array.from({ length: v.length }, (_, i) => i).sort((x, y) => v[x]! - v[y]!);
    const r = new Float64Array(v.length);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]!] === v[idx[i]!]) j++;
      for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = ra.length;
  const mean = (n - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i]! - mean) * (rb[i]! - mean);
    da += (ra[i]! - mean) ** 2;
    db += (rb[i]! - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

interface Agreement {
  median: number;
  p99: number;
  spearman: number;
}

function agreement(fp32: Float32Array, int8: Float32Array): Agreement {
  const rel = new Float64Array(fp32.length);
  for (let i = 0; i < fp32.length; i++) rel[i] = Math.abs(int8[i]! - fp32[i]!) / Math.max(Math.abs(fp32[i]!), 1e-6);
  rel.sort();
  return { median: quantile(rel, 0.5), p99: quantile(rel, 0.99), spearman: spearman(fp32, int8) };
}

/**
 * Scores the test split with fp32 and with int8 models made from `model`, logs every figure, and
 * checks the targets on quantize()'s default and on dynamic scales. Clamping static scales are
 * reported, not asserted: on this heavy-tailed data (max |z| ~ 50 standard deviations on normal
 * rows) one scale per layer set by the maximum leaves the bulk of rows a few quantization steps,
 * and clamping at a percentile instead flattens the outliers that carry the fraud signal. The fp32
 * fallback takes the percentile's fine steps for the bulk and exact fp32 scores for the outliers.
 */
/**
 * The fp32-fallback percentiles on the validation split, printed only: the default (99.95) was
 * picked among percentiles that all keep the bounds there, for its share of rows rescored in fp32
 * (speed), not for its test figures.
 */
function reportValidation(
  label: string,
  model: Model,
  splits: { train: Table; validation: Table },
  normalWeight: number,
) {
  const threshold = model.threshold!.value;
  const calibration = rowsWithLabel(splits.train, 0).rows;
  const { rows, labels, n } = splits.validation;
  const fp32 = new Scorer(model, { backend: 'cpu' });
  const ref = fp32.score(rows);
  fp32.dispose();
  const base = evaluateScores(ref, labels!, { threshold, normalWeight });
  const lines = [`${label}: validation split (${n} rows), static scales with the fp32 fallback, against fp32:`];
  for (const percentile of [99.9, 99.95, 99.97, 99.99]) {
    const s = new Scorer(quantize(model, { calibration, percentile }), { backend: 'cpu', precision: 'int8' });
    const got = s.score(rows);
    const m = evaluateScores(got, labels!, { threshold, normalWeight });
    let same = 0;
    for (let i = 0; i < n; i++) if (got[i]! > threshold === ref[i]! > threshold) same++;
    lines.push(
      `  p${percentile}: AUPRC ${(m.auprc - base.auprc).toFixed(4)}, ROC-AUC ${(m.rocAuc - base.rocAuc).toFixed(4)}, decisions agree ${((100 * same) / n).toFixed(3)}%, rescored in fp32 ${((100 * s.fp32FallbackRows) / n).toFixed(2)}%`,
    );
    s.dispose();
  }
  console.log(lines.join('\n'));
}

function checkOnTestSplit(
  label: string,
  model: Model,
  splits: { train: Table; validation: Table; test: Table },
  normalWeight: number,
) {
  reportValidation(label, model, splits, normalWeight);
  expect(model.threshold, `${label}: the model has a threshold`).not.toBeNull();
  const threshold = model.threshold!.value;
  const calibRows = rowsWithLabel(splits.train, 0).rows;
  const labels = splits.test.labels!;
  const fp32 = new Scorer(model, { backend: 'cpu' });
  const ref = fp32.score(splits.test.rows);
  fp32.dispose();
  const base = evaluateScores(ref, labels, { threshold, normalWeight });
  const lines = [
    `${label}: fp32 AUPRC ${base.auprc.toFixed(4)} ROC-AUC ${base.rocAuc.toFixed(4)} (${splits.test.n} test rows)`,
  ];
  const results = new Map<string, { auprc: number; rocAuc: number; agree: number; a: Agreement }>();
  const variants: [string, Parameters<typeof quantize>[1]][] = [
    ['default (static p99.95, fp32 fallback)', { calibration: calibRows }],
    ['static p99.99, fp32 fallback', { calibration: calibRows, percentile: 99.99 }],
    ['static p99.9, fp32 fallback', { calibration: calibRows, percentile: 99.9 }],
    ['dynamic', { activations: 'dynamic' }],
    ['static max, clamp', { calibration: calibRows, outOfRange: 'clamp' }],
    ['static p99.9, clamp', { calibration: calibRows, outOfRange: 'clamp', percentile: 99.9 }],
  ];
  for (const [name, options] of variants) {
    const s = new Scorer(quantize(model, options), { backend: 'cpu', precision: 'int8' });
    const got = s.score(splits.test.rows);
    const fell = s.fp32FallbackRows;
    s.dispose();
    const m = evaluateScores(got, labels, { threshold, normalWeight });
    let same = 0;
    for (let i = 0; i < got.length; i++) if (got[i]! > threshold === ref[i]! > threshold) same++;
    const a = agreement(ref, got);
    results.set(name, { auprc: m.auprc, rocAuc: m.rocAuc, agree: same / got.length, a });
    lines.push(
      `  int8 ${name}: AUPRC ${m.auprc.toFixed(4)} (${(m.auprc - base.auprc).toFixed(4)}), ROC-AUC ${m.rocAuc.toFixed(4)} (${(m.rocAuc - base.rocAuc).toFixed(4)}), decisions agree ${((100 * same) / got.length).toFixed(3)}%, per-row relative error median ${a.median.toExponential(2)} p99 ${a.p99.toExponential(2)}, rescored in fp32 ${((100 * fell) / got.length).toFixed(2)}%`,
    );
  }
  console.log(lines.join('\n'));
  for (const name of ['default (static p99.95, fp32 fallback)', 'dynamic']) {
    const r = results.get(name)!;
    expect(Math.abs(r.auprc - base.auprc), `${label}, ${name}: AUPRC`).toBeLessThanOrEqual(0.005);
    expect(Math.abs(r.rocAuc - base.rocAuc), `${label}, ${name}: ROC-AUC`).toBeLessThanOrEqual(0.005);
    expect(r.agree, `${label}, ${name}: decisions`).toBeGreaterThanOrEqual(0.999);
  }
  // Clamping at the maximum still keeps the decisions and the top of the ranking (AUPRC).
  const st = results.get('static max, clamp')!;
  expect(st.agree, `${label}: static decisions`).toBeGreaterThanOrEqual(0.999);
  expect(Math.abs(st.auprc - base.auprc), `${label}: static AUPRC`).toBeLessThanOrEqual(0.005);
}

async function realSplits(path: string, config: Pick<TrainConfig, 'data'>) {
  const table = await loadTable(path, { features: config.data.features });
  return splitTable(table, {
    strategy: config.data.split.strategy,
    ratios: config.data.split.ratios,
    seed: config.data.split.seed,
  });
}

describe.skipIf(!realDataPath())('int8 vs fp32 on the real sample', () => {
  it('a model trained with the default config at [29, 32, 16, 32, 29] meets the targets', async () => {
    const cfg = applyOverrides(await loadConfig(join(import.meta.dirname, '../configs/default.yaml')), [
      `data.path=${realDataPath()}`,
      'model.hidden=[32,16,32]',
      'training.epochs=40',
    ]);
    const { model } = await train(cfg, { noRunDir: true });
    checkOnTestSplit('trained [32,16,32]', model, await realSplits(realDataPath()!, cfg), cfg.data.normal_weight);
  }, 300_000);

  it.skipIf(!existsSync(join(defaultModelDir, 'model.json')))(
    'models/default meets the targets',
    async () => {
      const model = await loadModel(defaultModelDir);
      const config =
        (model.training?.config as TrainConfig | undefined) ??
        (await loadConfig(join(import.meta.dirname, '../configs/default.yaml')));
      const weight = config.data.normal_weight ?? 9.742;
      checkOnTestSplit('models/default', model, await realSplits(realDataPath()!, config), weight);
    },
    120_000,
  );
});

describe('int8 vs fp32 on a random model', () => {
  it('keeps per-row scores within 1% (median) and their ranking', () => {
    const model = createModel({ features: 29, hidden: [32, 16, 32], seed });
    model.preprocessing.transform[28] = 'log1p';
    model.preprocessing.mean[28] = 3;
    const calibration = randomRows(4096, 29, seed + 1, [28]);
    const rows = randomRows(20_000, 29, seed + 2, [28]);
    const fp32 = new Scorer(model, { backend: 'cpu' });
    const ref = fp32.score(rows);
    for (const activations of ['static', 'dynamic'] as const) {
      const q = quantize(model, activations === 'static' ? { calibration } : { activations });
      const s = new Scorer(q, { backend: 'cpu', precision: 'int8' });
      const a = agreement(ref, s.score(rows));
      console.log(
        `random model, ${activations}: rel err median ${a.median.toExponential(2)}, p99 ${a.p99.toExponential(2)}, Spearman ${a.spearman.toFixed(5)}`,
      );
      expect(a.median).toBeLessThan(0.01);
      expect(a.spearman).toBeGreaterThan(0.99);
      s.dispose();
    }
    fp32.dispose();
  });
});
