// A hybrid model in int8 (native/src/head.cpp's int8 HybridEngine): the autoencoder on the int8 CPU
// engine, the head in fp32 after it, one native call. Checked as the AE's int8 is (int8-accuracy):
// - its AE scores and feature errors are the int8 autoencoder's, bit for bit (the head reads them);
// - against the fp32 hybrid's probabilities, on fresh random rows: bounded absolute error (they
//   are probabilities in [0, 1]) and the ranking kept;
// - on the real sample's test split with models/hybrid (skipped without ../shared/data): AUPRC and
//   ROC-AUC within 0.005 of fp32, decisions at the threshold agree on >= 99.9% of rows, for
//   quantize()'s default (static p99.95, fp32 fallback, calibrated on training normal rows) and
//   dynamic scales. Every figure is printed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadTable } from '../src/data/load.js';
import { splitTable } from '../src/data/split.js';
import { rowsWithLabel } from '../src/data/table.js';
import { evaluateScores } from '../src/eval/metrics.js';
import { createHead } from '../src/hybrid/head.js';
import { createModel, loadModel, type Model } from '../src/model.js';
import { quantize } from '../src/quantize.js';
import { scoreFile } from '../src/score-file.js';
import { Scorer } from '../src/scorer.js';
import { createServer } from '../src/server/server.js';
import { randomRows, realDataPath, testSeed } from './helpers.js';

const seed = testSeed();
const hybridDir = join(import.meta.dirname, '../models/hybrid');

function quantile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Absolute errors of int8 against fp32 probabilities: median, p99, max; and pairs ordered alike. */
function compare(fp32: Float32Array, int8: Float32Array) {
  const abs = new Float64Array(fp32.length);
  for (let i = 0; i < fp32.length; i++) abs[i] = Math.abs(int8[i]! - fp32[i]!);
  abs.sort();
  // Concordance on random pairs (a Kendall-tau estimate that needs no O(n^2) pass).
  let agree = 0;
  let pairs = 0;
  for (let k = 0; k < 20_000; k++) {
    const i = (k * 7919) % fp32.length;
    const j = (k * 104_729 + 13) % fp32.length;
    const a = fp32[i]! - fp32[j]!;
    if (Math.abs(a) < 1e-3) continue; // too close to call in either precision
    pairs++;
    if (Math.sign(a) === Math.sign(int8[i]! - int8[j]!)) agree++;
  }
  return { median: quantile(abs, 0.5), p99: quantile(abs, 0.99), max: abs[abs.length - 1]!, concordant: agree / pairs };
}

describe('a hybrid model in int8 (random model, random rows)', () => {
  const d = 29;
  const ae = createModel({ features: d, hidden: [32, 16, 32], seed });
  ae.preprocessing.transform[28] = 'log1p';
  ae.preprocessing.mean[28] = 3;
  const model: Model = { ...ae, kind: 'hybrid', head: createHead(d, [32, 16], seed + 3) };
  const calibration = randomRows(4096, d, seed + 1, [28]);
  const rows = randomRows(20_000, d, seed + 2, [28]);

  it('runs the int8 autoencoder and the fp32 head in one call, close to the fp32 hybrid', async () => {
    const fp32 = new Scorer(model, { backend: 'cpu' });
    const ref = fp32.score(rows);
    fp32.dispose();
    for (const options of [{ calibration }, { activations: 'dynamic' as const }]) {
      const what = 'calibration' in options ? 'static p99.95, fp32 fallback' : 'dynamic';
      const q = quantize(model, options);
      expect(q.kind).toBe('hybrid');
      const s = new Scorer(q, { backend: 'auto', precision: 'int8' });
      expect(s.backend).toBe('cpu');
      expect(s.engine).toMatch(/^cpu-.+-int8$/);
      const got = await s.scoreAsync(rows, { explain: true, threads: 3 });
      // The AE part is the int8 autoencoder's own engine, bit for bit.
      const { head: _h, ...aeOnly } = q;
      const plain = new Scorer({ ...aeOnly, kind: 'autoencoder' }, { backend: 'cpu', precision: 'int8' });
      const want = plain.explain(rows, { threads: 1 });
      plain.dispose();
      expect(got.aeScores).toEqual(want.scores);
      expect(got.featureErrors).toEqual(want.featureErrors);
      // Same probabilities on one thread and synchronously.
      expect(s.score(rows, { threads: 1 })).toEqual(got.scores);
      if (what !== 'dynamic') expect(s.fp32FallbackRows).toBeGreaterThan(0);
      const c = compare(ref, got.scores);
      console.log(
        `random hybrid, int8 ${what}: |p - p_fp32| median ${c.median.toExponential(2)} p99 ${c.p99.toExponential(2)} max ${c.max.toExponential(2)}; pairs ordered as fp32 ${(100 * c.concordant).toFixed(2)}%; rescored in fp32 ${s.fp32FallbackRows}`,
      );
      expect(c.median).toBeLessThan(3e-3);
      expect(c.p99).toBeLessThan(1.5e-2);
      expect(c.concordant).toBeGreaterThan(0.97);
      s.dispose();
    }
  });

  it('checks the quantization and names the bad field; scoreFile writes int8 probabilities', async () => {
    const q = quantize(model, { calibration });
    const bad = { ...q, quantization: { ...q.quantization!, inputScales: q.quantization!.inputScales.slice(1) } };
    expect(() => new Scorer(bad, { backend: 'cpu', precision: 'int8' })).toThrow(/xscale|inputScales|quant/);
    expect(() => new Scorer(model, { backend: 'cpu', precision: 'int8' })).toThrow(/Expected a quantized model/);
    expect(() => new Scorer(q, { backend: 'cuda', precision: 'int8' })).toThrow(/does not run hybrid models/);
    const s = new Scorer(q, { backend: 'cpu', precision: 'int8' });
    const want = s.explain(rows.subarray(0, 100 * d));
    s.dispose();
    const out: string[] = [];
    const sink = new (await import('node:stream')).Writable({
      write(chunk, _enc, cb) {
        out.push(String(chunk));
        cb();
      },
    });
    const items = Array.from({ length: 100 }, (_, i) => rows.subarray(i * d, (i + 1) * d));
    await scoreFile({ model: q, input: items, output: sink, precision: 'int8' });
    const lines = out.join('').trim().split('\n');
    expect(lines[0]).toBe('fraud_probability,reconstruction_error');
    expect(lines.slice(1).map((l) => Math.fround(Number(l.split(',')[0])))).toEqual(Array.from(want.scores));
    expect(lines.slice(1).map((l) => Math.fround(Number(l.split(',')[1])))).toEqual(Array.from(want.aeScores!));
  });
});

describe('serving a quantized hybrid model', () => {
  it('/predict_optimized answers int8 fraud_probability and reconstruction_error', async () => {
    const d = 7;
    const ae = createModel({ features: d, hidden: [8, 3, 8], seed });
    const hybrid: Model = {
      ...ae,
      kind: 'hybrid',
      head: createHead(d, [6, 4], seed + 1),
      threshold: { value: 0.5, strategy: 'fixed' },
    };
    const model = quantize(hybrid, { calibration: randomRows(500, d, seed + 2) });
    const rows = randomRows(3, d, seed + 3);
    const s = new Scorer(model, { backend: 'cpu', precision: 'int8' });
    const want = s.explain(rows);
    s.dispose();
    const app = createServer({ model, backend: 'cpu', log: false });
    try {
      await app.fraudscore.loaded;
      const res = await app.inject({
        method: 'POST',
        url: '/predict_optimized',
        payload: { instances: [0, 1, 2].map((i) => Array.from(rows.subarray(i * d, (i + 1) * d))) },
      });
      expect(res.statusCode).toBe(200);
      const preds = res.json().predictions as {
        fraud_probability: number;
        reconstruction_error: number;
        engine: string;
      }[];
      for (const [i, p] of preds.entries()) {
        expect(p.engine).toMatch(/int8$/);
        expect(p.fraud_probability).toBeCloseTo(want.scores[i]!, 6);
        expect(p.reconstruction_error).toBeCloseTo(want.aeScores![i]!, 5);
      }
    } finally {
      await app.close();
    }
  });
});

describe.skipIf(!realDataPath() || !existsSync(join(hybridDir, 'model.json')))(
  'models/hybrid in int8 on the real sample',
  () => {
    it('keeps AUPRC, ROC-AUC and the decisions of fp32 on the test split', async () => {
      const model = await loadModel(hybridDir);
      const cfg = model.training!.config as {
        data: { split: { ratios: [number, number, number]; seed: number }; normal_weight: number };
      };
      const normalWeight = cfg.data.normal_weight;
      const table = await loadTable(realDataPath()!, { features: model.features });
      const splits = splitTable(table, { strategy: 'stratified', ...cfg.data.split });
      const threshold = model.threshold!.value;
      const { rows, labels, n } = splits.test;
      const fp32 = new Scorer(model, { backend: 'cpu' });
      const ref = (await fp32.scoreAsync(rows)).scores;
      fp32.dispose();
      const base = evaluateScores(ref, labels!, { threshold, normalWeight });
      const lines = [
        `models/hybrid fp32: test AUPRC ${base.auprc.toFixed(4)} ROC-AUC ${base.rocAuc.toFixed(4)} (${n} rows)`,
      ];
      const calibration = rowsWithLabel(splits.train, 0).rows;
      for (const [what, options] of [
        ['default (static p99.95, fp32 fallback)', { calibration }],
        ['dynamic', { activations: 'dynamic' as const }],
      ] as const) {
        const s = new Scorer(quantize(model, options), { backend: 'cpu', precision: 'int8' });
        const got = (await s.scoreAsync(rows)).scores;
        const fell = s.fp32FallbackRows;
        s.dispose();
        const m = evaluateScores(got, labels!, { threshold, normalWeight });
        let same = 0;
        for (let i = 0; i < n; i++) if (got[i]! > threshold === ref[i]! > threshold) same++;
        const c = compare(ref, got);
        lines.push(
          `  int8 ${what}: AUPRC ${m.auprc.toFixed(4)} (${(m.auprc - base.auprc).toFixed(4)}), ROC-AUC ${m.rocAuc.toFixed(4)} (${(m.rocAuc - base.rocAuc).toFixed(4)}), decisions agree ${((100 * same) / n).toFixed(3)}%, |p - p_fp32| median ${c.median.toExponential(2)} p99 ${c.p99.toExponential(2)} max ${c.max.toExponential(2)}, rescored in fp32 ${((100 * fell) / n).toFixed(2)}%`,
        );
        expect(Math.abs(m.auprc - base.auprc), `${what}: AUPRC`).toBeLessThanOrEqual(0.005);
        expect(Math.abs(m.rocAuc - base.rocAuc), `${what}: ROC-AUC`).toBeLessThanOrEqual(0.005);
        expect(same / n, `${what}: decisions`).toBeGreaterThanOrEqual(0.999);
        expect(c.p99, `${what}: p99 |p - p_fp32|`).toBeLessThan(5e-3);
      }
      console.log(lines.join('\n'));
    }, 120_000);
  },
);
