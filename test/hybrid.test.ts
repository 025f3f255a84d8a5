// The hybrid model (src/hybrid/, native/src/head.cpp): the HeadTrainer binding's checks, its
// gradients against a float64 reference, the fused scorer against an independent float64
// computation, the artifact round trip, and the train() pipeline with kind 'hybrid' on synthetic
// data: deterministic across thread counts, no labels gives exactly the AE-only model, a missing
// or bad Class column is an error (never a silent AE-only fallback).
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { createHead, headInputCount, headProbabilities } from '../src/hybrid/head.js';
import { selectLabelled, selectValidationLabels } from '../src/hybrid/labels.js';
import { mergeHeads } from '../src/hybrid/train-head.js';
import { loadTable, writeTable } from '../src/data/load.js';
import { splitTable } from '../src/data/split.js';
import { evaluateScores } from '../src/eval/metrics.js';
import { mulberry32 } from '../src/data/random.js';
import { createModel, loadModel, type Model, saveModel } from '../src/model.js';
import { addon } from '../src/native.js';
import { buildOnnx } from '../src/onnx/index.js';
import { scoreFile } from '../src/score-file.js';
import { Scorer } from '../src/scorer.js';
import { createServer } from '../src/server/server.js';
import { train } from '../src/train/train.js';
import { maxRelErr, randomRows, realDataPath, testSeed } from './helpers.js';

const HeadTrainer = addon.HeadTrainer;

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
}

function randomInputs(n: number, k: number, seed: number): Float32Array {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n * k }, () => 1.5 * g());
}

/** Float64 weighted loss of the head on these rows (head.h's definition), weights overridden. */
function lossF64(model: Model, x: Float32Array, y: Uint8Array, posWeight: number, gamma: number): number {
  const p = headProbabilities(model.head!.layers, x);
  let num = 0;
  let den = 0;
  for (let r = 0; r < y.length; r++) {
    const w = y[r] ? posWeight : 1;
    const pt = y[r] ? p[r]! : 1 - p[r]!;
    num += w * -((1 - pt) ** gamma) * Math.log(pt);
    den += w;
  }
  return num / den;
}

describe('native HeadTrainer binding', () => {
  const d = 4;
  const k = headInputCount(d);
  const head = createHead(d, [6, 3], 1);

  it('checks its arguments with messages naming them', async () => {
    expect(() => new HeadTrainer(head.layers, k, { posWeight: -1 })).toThrow(
      'Expected `options.posWeight` to be a number in (0, 1000000], got -1',
    );
    expect(() => new HeadTrainer(head.layers, k + 2)).toThrow(
      /Expected `head` and `options` to be valid, but .*head\[0\]\.in is 9, expected 11/,
    );
    expect(() => new HeadTrainer([] as never, k)).toThrow(/head has no layers/);
    const t = new HeadTrainer(head.layers, k, { seed: 2 });
    await expect(async () => t.trainEpoch(new Float32Array(k * 2 + 1), new Uint8Array(2))).rejects.toThrow(
      `Expected \`inputs\` to be a Float32Array of n*${k} values (n >= 1), got ${k * 2 + 1} values`,
    );
    await expect(async () => t.trainEpoch(new Float32Array(k * 2), new Uint8Array(3))).rejects.toThrow(
      'Expected `labels` to hold 2 values (one per row), got 3',
    );
    await expect(async () => t.trainEpoch(new Float32Array(k * 2), [0, 1] as never)).rejects.toThrow(
      'Expected `labels` to be a Uint8Array, got Array',
    );
    const x = new Float32Array(k * 5);
    await expect(t.trainEpoch(x, Uint8Array.from([0, 1, 0, 2, 0]))).rejects.toMatchObject({
      code: 'ERR_FRAUDSCORE_NON_FINITE',
      row: 3,
      message: 'Expected `labels` to hold 0 or 1, got another value at row 3',
    });
    x[2 * k + 1] = Number.NaN;
    await expect(t.trainEpoch(x, new Uint8Array(5))).rejects.toMatchObject({ row: 2, column: 1 });
    expect(t.steps).toBe(0);
    t.dispose();
    t.dispose();
    expect(() => t.getWeights()).toThrow('Expected `trainer` to be usable, got a disposed trainer');
  });

  it('computes gradients that match central differences of a float64 loss (BCE and focal)', () => {
    const seed = testSeed();
    const d2 = 5;
    const k2 = headInputCount(d2);
    const n = 70;
    const x = randomInputs(n, k2, seed);
    const rand = mulberry32(seed + 1);
    const y = Uint8Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
    const base = createModel({ features: d2, hidden: [4], seed });
    for (const gamma of [0, 2]) {
      const h = createHead(d2, [8, 4], seed + gamma);
      const t = new HeadTrainer(h.layers, k2, { posWeight: 3, focalGamma: gamma });
      const { loss, grads } = t.batchGradients(x, y);
      t.dispose();
      const model: Model = { ...base, kind: 'hybrid', head: h };
      expect(Math.abs(loss - lossF64(model, x, y, 3, gamma))).toBeLessThan(1e-5);
      let worst = 0;
      let skipped = 0;
      for (const [l, layer] of h.layers.entries()) {
        for (let probe = 0; probe < 8; probe++) {
          const i = Math.floor(rand() * layer.weight.length);
          const w0 = layer.weight[i]!;
          const step = 1e-4;
          const mid = lossF64(model, x, y, 3, gamma);
          layer.weight[i] = w0 + step;
          const hUp = Math.fround(w0 + step) - w0;
          const up = lossF64(model, x, y, 3, gamma);
          layer.weight[i] = w0 - step;
          const hDown = w0 - Math.fround(w0 - step);
          const down = lossF64(model, x, y, 3, gamma);
          layer.weight[i] = w0;
          // One-sided slopes that disagree: the step crossed a ReLU kink, where no difference holds.
          const right = (up - mid) / hUp;
          const left = (mid - down) / hDown;
          if (Math.abs(right - left) > 1e-3 * Math.max(Math.abs(right), 1e-2)) {
            skipped++;
            continue;
          }
          const fd = (up - down) / (hUp + hDown);
          const got = grads[l]!.weight[i]!;
          worst = Math.max(worst, Math.abs(got - fd) / Math.max(Math.abs(fd), 1e-3));
        }
      }
      // fp32 gradients against float64 central differences.
      expect(worst).toBeLessThan(1e-3);
      expect(skipped).toBeLessThan(8);
    }
  });
});

describe('selectLabelled', () => {
  it('keeps a seeded fraction and nests the fraud caps', () => {
    const labels = Uint8Array.from({ length: 5000 }, (_, i) => (i % 50 === 0 ? 1 : 0));
    const all = selectLabelled(labels, { seed: 1 });
    expect(all).toMatchObject({ frauds: 100, normals: 4900, available: { frauds: 100, normals: 4900 } });
    const half = selectLabelled(labels, { fraction: 0.5, seed: 1 });
    expect(half.indices.length).toBeGreaterThan(2300);
    expect(half.indices.length).toBeLessThan(2700);
    const ten = selectLabelled(labels, { maxFrauds: 10, seed: 3 });
    const thirty = selectLabelled(labels, { maxFrauds: 30, seed: 3 });
    expect([ten.frauds, thirty.frauds, ten.normals]).toEqual([10, 30, 4900]);
    const inThirty = new Set(thirty.indices);
    expect([...ten.indices].every((i) => inThirty.has(i))).toBe(true);
    expect(selectLabelled(labels, { fraction: 0, seed: 1 }).indices.length).toBe(0);
    expect(() => selectLabelled(labels, { fraction: 2, seed: 1 })).toThrow(
      'Expected `label_fraction` to be a number in [0, 1], got 2',
    );
  });

  it("gives the validation split the training split's share of labelled frauds, nested and seeded", () => {
    const train = Uint8Array.from({ length: 5000 }, (_, i) => (i % 50 === 0 ? 1 : 0)); // 100 frauds
    const val = Uint8Array.from({ length: 2000 }, (_, i) => (i % 50 === 7 ? 1 : 0)); // 40 frauds
    const fraudsIn = (v: { indices: Uint32Array }) => [...v.indices].filter((i) => val[i] === 1);
    const everything = selectValidationLabels(val, selectLabelled(train, { seed: 1 }), { seed: 1 });
    expect(everything.indices.length).toBe(2000);
    expect(everything).toMatchObject({ frauds: 40, normals: 1960, available: { frauds: 40, normals: 1960 } });
    const ten = selectValidationLabels(val, selectLabelled(train, { maxFrauds: 10, seed: 3 }), { seed: 3 });
    const thirty = selectValidationLabels(val, selectLabelled(train, { maxFrauds: 30, seed: 3 }), { seed: 3 });
    // 10 of 100 training frauds -> 4 of 40; 30 -> 12; normal rows all kept (no label_fraction).
    expect([ten.frauds, thirty.frauds, ten.normals]).toEqual([4, 12, 1960]);
    expect(fraudsIn(ten)).toHaveLength(4);
    const inThirty = new Set(thirty.indices);
    expect(fraudsIn(ten).every((i) => inThirty.has(i))).toBe(true);
    // Same seed, same rows; another seed, other rows.
    const again = selectValidationLabels(val, selectLabelled(train, { maxFrauds: 10, seed: 3 }), { seed: 3 });
    expect([...again.indices]).toEqual([...ten.indices]);
    const other = selectValidationLabels(val, selectLabelled(train, { maxFrauds: 10, seed: 4 }), { seed: 4 });
    expect(fraudsIn(other)).not.toEqual(fraudsIn(ten));
    // label_fraction: the training split's fraud share for frauds, the fraction for normal rows.
    const trainHalf = selectLabelled(train, { fraction: 0.5, seed: 2 });
    const half = selectValidationLabels(val, trainHalf, { fraction: 0.5, seed: 2 });
    expect(half.frauds).toBe(Math.round((40 * trainHalf.frauds) / 100));
    expect(fraudsIn(half)).toHaveLength(half.frauds);
    expect(half.normals).toBeGreaterThan(1960 * 0.4);
    expect(half.normals).toBeLessThan(1960 * 0.6);
    // One labelled training fraud still leaves one validation fraud to stop on.
    expect(selectValidationLabels(val, selectLabelled(train, { maxFrauds: 1, seed: 1 }), { seed: 1 }).frauds).toBe(1);
  });
});

describe('Scorer on a hybrid model', () => {
  const d = 7;
  const ae = createModel({
    features: d,
    hidden: [8, 3, 8],
    seed: 4,
    preprocessing: {
      transform: ['none', 'none', 'none', 'none', 'none', 'none', 'log1p'],
      mean: [0.1, -0.2, 0.3, 0, 0.5, -1, 2],
      std: [1, 2, 0.5, 1.5, 1, 3, 1.2],
    },
  });
  const model: Model = { ...ae, kind: 'hybrid', head: createHead(d, [6, 4], 9) };

  it('returns probabilities that match an independent float64 computation, and explains with the AE score', async () => {
    const n = 700;
    const rows = randomRows(n, d, testSeed(), [6]);
    const plain = new Scorer(ae, { backend: 'cpu' });
    const ref = plain.explain(rows);
    plain.dispose();
    // Head inputs from the AE's own outputs (head.h), then the head in float64.
    const k = headInputCount(d);
    const x = new Float32Array(n * k);
    const p = model.preprocessing;
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < d; j++) {
        const v = p.transform[j] === 'log1p' ? Math.log1p(rows[r * d + j]!) : rows[r * d + j]!;
        x[r * k + j] = (v - p.mean[j]!) / p.std[j]!;
        x[r * k + d + j] = Math.log1p(ref.featureErrors[r * d + j]!);
      }
      x[r * k + 2 * d] = Math.log1p(ref.scores[r]!);
    }
    const want = headProbabilities(model.head!.layers, x);
    const s = new Scorer(model, { backend: 'auto' });
    expect(s.kind).toBe('hybrid');
    expect(s.backend).toBe('cpu');
    const probs = s.score(rows);
    let worst = 0;
    for (let r = 0; r < n; r++) worst = Math.max(worst, Math.abs(probs[r]! - want[r]!));
    expect(worst).toBeLessThan(1e-4);
    expect(probs.every((v) => v >= 0 && v <= 1)).toBe(true);
    const ex = await s.scoreAsync(rows, { explain: true, threads: 2 });
    expect(ex.scores).toEqual(probs);
    expect(ex.aeScores).toEqual(ref.scores);
    expect(ex.featureErrors).toEqual(ref.featureErrors);
    expect((await s.scoreAsync(rows)).aeScores).toBeUndefined();
    const sync = s.explain(rows);
    expect(sync.aeScores).toEqual(ref.scores);
    // A bad value is named as for any scorer.
    const bad = rows.slice();
    bad[3 * d + 2] = Number.NaN;
    expect(() => s.score(bad)).toThrow('row 3, column 2 (f2) is NaN');
    s.dispose();
  });

  it("scoreFile names its columns fraud_probability and reconstruction_error, with the scorer's values", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-hybrid-file-'));
    const n = 300;
    const rows = randomRows(n, d, testSeed() + 1, [6]);
    const input = join(dir, 'in.arrow');
    await writeTable(input, { features: model.features, rows, n });
    const s = new Scorer(model, { backend: 'cpu' });
    const want = s.explain(rows);
    // Without explain, aeScores alone: the same AE scores, no feature errors.
    const lean = await s.scoreAsync(rows, { aeScores: true });
    expect(lean.aeScores).toEqual(want.aeScores);
    expect(lean.featureErrors).toBeUndefined();
    s.dispose();
    const threshold = Float32Array.from(want.scores).sort()[Math.floor(n * 0.9)]!;
    const withThreshold: Model = { ...model, threshold: { value: threshold, strategy: 'percentile', params: {} } };
    for (const [m, ext, columns] of [
      [withThreshold, 'csv', ['fraud_probability', 'reconstruction_error', 'is_fraud']],
      [model, 'arrow', ['fraud_probability', 'reconstruction_error']],
    ] as const) {
      const output = join(dir, `out.${ext}`);
      const res = await scoreFile({ model: m, input, output, batchRows: 128 });
      expect(res.rows).toBe(n);
      if (ext === 'csv') expect((await readFile(output, 'utf8')).split('\n')[0]).toBe(columns.join(','));
      const back = await loadTable(output, { features: [...columns] });
      const k = columns.length;
      let flagged = 0;
      for (let i = 0; i < n; i++) {
        expect(back.rows[i * k]).toBe(want.scores[i]);
        expect(back.rows[i * k + 1]).toBe(want.aeScores![i]);
        if (k === 3) {
          expect(back.rows[i * k + 2]).toBe(want.scores[i]! > threshold ? 1 : 0);
          flagged += back.rows[i * k + 2]!;
        }
      }
      if (k === 3) expect(flagged).toBe(res.flagged);
    }
  });

  it('refuses what it cannot do yet, naming why (CUDA; int8 is test/hybrid-int8.test.ts)', () => {
    expect(() => new Scorer(model, { backend: 'cuda' })).toThrow(/does not run hybrid models/);
    expect(() => new Scorer(model, { precision: 'int8' })).toThrow(/Expected a quantized model/);
  });

  it('saves and loads: model.json says the kind, the head comes back bit for bit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-hybrid-'));
    await saveModel(model, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    expect(json.kind).toBe('hybrid');
    expect(json.head.layerSizes).toEqual([15, 6, 4, 1]);
    const back = await loadModel(dir);
    expect(back.kind).toBe('hybrid');
    expect(back.head!.layers.map((l) => [...l.weight])).toEqual(model.head!.layers.map((l) => [...l.weight]));
    // A hybrid without its head, or a head on an autoencoder, is refused.
    await expect(saveModel({ ...model, head: undefined }, dir)).rejects.toThrow("kind is 'hybrid' but head is missing");
    await expect(saveModel({ ...ae, head: model.head }, dir)).rejects.toThrow("head is set but kind is not 'hybrid'");
  });
});

/** Rows near a rank-3 subspace (what an AE learns), frauds off it in a few directions. */
async function writeData(path: string, n: number, d: number, seed: number, classCell?: (i: number) => string) {
  const rand = mulberry32(seed);
  const g = gaussian(rand);
  const A = Array.from({ length: d * 3 }, g);
  const lines = [[...Array.from({ length: d }, (_, j) => `f${j}`), 'Class'].join(',')];
  for (let i = 0; i < n; i++) {
    const fraud = rand() < 0.05;
    const z = [g(), g(), g()];
    const cells: string[] = [];
    for (let j = 0; j < d; j++) {
      const clean = A[j * 3]! * z[0]! + A[j * 3 + 1]! * z[1]! + A[j * 3 + 2]! * z[2]!;
      // Frauds: a shift along f0 and f1 that the AE half-reconstructs, plus noise.
      const shift = fraud && j < 2 ? 2.5 : 0;
      cells.push(String(5 + 2 * clean + shift + (fraud ? 0.8 : 0.1) * g()));
    }
    cells.push(classCell ? classCell(i) : fraud ? '1' : '0');
    lines.push(cells.join(','));
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

describe('train() with model.kind hybrid', () => {
  const d = 6;
  const features = Array.from({ length: d }, (_, j) => `f${j}`);
  const config = (path: string, extra: Record<string, unknown> = {}) => ({
    data: { path, features, log1p: [] },
    model: {
      kind: 'hybrid' as const,
      hidden: [8, 3, 8],
      head: { hidden: [8, 4], epochs: 6, patience: 0, batch_size: 64, lr: 0.003 },
    },
    training: { epochs: 4, batch_size: 128, patience: 0, seed: 7, threads: 1, ...extra },
  });

  it('trains a head that beats the AE alone, deterministically across thread counts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-hybrid-train-'));
    const path = join(dir, 'data.csv');
    await writeData(path, 4000, d, 5);
    const one = await train(config(path), { noRunDir: true });
    const three = await train(config(path, { threads: 3 }), { noRunDir: true });
    expect(one.model.kind).toBe('hybrid');
    expect(one.hybrid).toMatchObject({ epochsRun: 6, labelFraction: 1, maxLabelledFrauds: null });
    expect(one.hybrid!.labelledFrauds).toBeGreaterThan(50);
    expect(one.model.training?.hybrid).toEqual(one.hybrid);
    for (const [l, layer] of one.model.head!.layers.entries()) {
      expect(three.model.head!.layers[l]!.weight).toEqual(layer.weight);
      expect(three.model.head!.layers[l]!.bias).toEqual(layer.bias);
    }
    expect(three.test.auprc).toBe(one.test.auprc);
    // The threshold is on probabilities now.
    expect(one.model.threshold!.value).toBeGreaterThan(0);
    expect(one.model.threshold!.value).toBeLessThan(1);
    expect(one.hybrid!.bestValAuprc!).toBeGreaterThan(one.hybrid!.aeValAuprc!);
  });

  it('under max_labelled_frauds stops early and chooses the threshold on the same share of validation frauds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-hybrid-few-'));
    const path = join(dir, 'data.csv');
    await writeData(path, 4000, d, 5);
    const all = await train(config(path), { noRunDir: true });
    const few = await train(config(path, { max_labelled_frauds: 10 }), { noRunDir: true });
    const h = few.hybrid!;
    expect(h.labelledFrauds).toBe(10);
    const avail = h.validation!.available.frauds;
    expect(avail).toBeGreaterThan(20);
    expect(h.validation!.frauds).toBe(Math.max(1, Math.round((avail * 10) / h.available.frauds)));
    expect(h.validation!.frauds).toBeLessThan(avail);
    expect(h.validation!.normals).toBe(h.validation!.available.normals);
    expect(few.model.training?.hybrid).toEqual(h);
    expect(few.model.threshold!.strategy).toBe(
      `max-f1 on the validation split's ${h.validation!.frauds} labelled frauds and ${h.validation!.normals} labelled normal rows`,
    );
    // Every label kept: the whole validation split, as before.
    expect(all.hybrid!.validation).toEqual({
      frauds: avail,
      normals: h.validation!.normals,
      available: h.validation!.available,
    });
    expect(all.model.threshold!.strategy).toBe('max-f1 on the validation split');
    // The head's stopping AUPRC is the subset's: recompute it from the model on those rows.
    const table = await loadTable(path, { features });
    const { validation } = splitTable(table, { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 42 });
    const sel = selectValidationLabels(
      validation.labels!,
      selectLabelled(splitTable(table, { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 42 }).train.labels!, {
        maxFrauds: 10,
        seed: 7,
      }),
      { seed: 7 },
    );
    expect(sel.frauds).toBe(h.validation!.frauds);
    const s = new Scorer(few.model, { backend: 'cpu' });
    const rowsOf = Float32Array.from(
      [...sel.indices].flatMap((i) => [...validation.rows.subarray(i * d, (i + 1) * d)]),
    );
    const labelsOf = Uint8Array.from(sel.indices, (i) => validation.labels![i]!);
    const m = evaluateScores(s.score(rowsOf), labelsOf, { threshold: 0.5, normalWeight: 1 });
    s.dispose();
    expect(m.auprc).toBeCloseTo(h.bestValAuprc!, 5);
  });

  it('with no labelled frauds gives exactly the AE-only model, and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-hybrid-none-'));
    const path = join(dir, 'data.csv');
    await writeData(path, 2000, d, 6);
    const cfg = config(path, { max_labelled_frauds: 0 });
    const none = await train(cfg, { noRunDir: true });
    const aeOnly = await train({ ...cfg, model: { ...cfg.model, kind: 'autoencoder' } }, { noRunDir: true });
    expect(none.model.kind).toBe('autoencoder');
    expect(none.model.head).toBeUndefined();
    expect(none.hybrid).toMatchObject({ labelledFrauds: 0, skipped: expect.stringMatching(/no labelled frauds/) });
    expect(none.model.layers.map((l) => [...l.weight])).toEqual(aeOnly.model.layers.map((l) => [...l.weight]));
    expect(none.model.threshold).toEqual(aeOnly.model.threshold);
    expect(none.test).toEqual(aeOnly.test);
    const zero = await train(config(path, { label_fraction: 0 }), { noRunDir: true });
    expect(zero.model.layers[0]!.weight).toEqual(aeOnly.model.layers[0]!.weight);
    expect(zero.hybrid!.labelledFrauds).toBe(0);
  });

  it('refuses data without a usable Class column', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-hybrid-bad-'));
    const noClass = join(dir, 'noclass.csv');
    await writeData(join(dir, 'tmp.csv'), 300, d, 7);
    const text = await readFile(join(dir, 'tmp.csv'), 'utf8');
    await writeFile(noClass, text.replace(/,[^,\n]*$/gm, ''));
    await expect(train(config(noClass), { noRunDir: true })).rejects.toThrow(
      /has no Class column: model.kind 'hybrid' trains its head on the labels/,
    );
    const nanClass = join(dir, 'nan.csv');
    await writeData(nanClass, 300, d, 7, (i) => (i === 41 ? 'NaN' : '0'));
    await expect(train(config(nanClass), { noRunDir: true })).rejects.toThrow(
      /nan\.csv:43 column "Class": non-finite value "NaN"/,
    );
  });
});

describe('mergeHeads', () => {
  it('gives one head whose logit is the mean of the members’ logits', () => {
    const d = 3;
    const members = [1, 2, 3].map((s) => createHead(d, [5, 2], s).layers);
    const merged = mergeHeads(members);
    expect(merged.map((l) => [l.in, l.out])).toEqual([
      [7, 15],
      [15, 6],
      [6, 1],
    ]);
    const x = randomInputs(50, headInputCount(d), testSeed());
    const logit = (p: number) => Math.log(p / (1 - p));
    const each = members.map((m) => headProbabilities(m, x));
    const got = headProbabilities(merged, x);
    for (let r = 0; r < 50; r++) {
      const mean = (logit(each[0]![r]!) + logit(each[1]![r]!) + logit(each[2]![r]!)) / 3;
      expect(logit(got[r]!)).toBeCloseTo(mean, 5);
    }
  });
});

describe('models/hybrid', () => {
  const dir = join(import.meta.dirname, '../models/hybrid');

  it('loads as a hybrid whose card states the labels it saw', async () => {
    const model = await loadModel(dir);
    expect(model.kind).toBe('hybrid');
    expect(model.threshold!.value).toBeGreaterThan(0);
    expect(model.threshold!.value).toBeLessThan(1);
    const info = model.training?.hybrid as { labelledFrauds: number };
    const card = await readFile(join(dir, 'MODEL_CARD.md'), 'utf8');
    expect(card).toContain(`${info.labelledFrauds} labelled frauds`);
  });

  it.skipIf(!realDataPath())('reproduces its test AUPRC on the real sample, above the autoencoder alone', async () => {
    const model = await loadModel(dir);
    const cfg = model.training!.config as { data: { split: { ratios: [number, number, number]; seed: number } } };
    const table = await loadTable(realDataPath()!, { features: model.features });
    const { test } = splitTable(table, { strategy: 'stratified', ...cfg.data.split });
    const s = new Scorer(model, { backend: 'cpu' });
    const probs = (await s.scoreAsync(test.rows)).scores;
    s.dispose();
    const m = evaluateScores(probs, test.labels!, { threshold: model.threshold!.value, normalWeight: 9.742 });
    const stored = (model.metrics as { test: { auprc: number } }).test.auprc;
    expect(m.auprc).toBeCloseTo(stored, 6);
    const curve = model.extra!.labelCurve as { labelledFrauds: number; testAuprc: number }[];
    expect(curve[0]!.labelledFrauds).toBe(0);
    expect(m.auprc).toBeGreaterThan(curve[0]!.testAuprc);
  });
});

describe('serving a hybrid model', () => {
  it('/predict answers fraud_probability and reconstruction_error (JSON), fraud_probability (Arrow)', async () => {
    const dir = join(import.meta.dirname, '../models/hybrid');
    const model = await loadModel(dir);
    const app = createServer({ model: dir, backend: 'cpu', log: false });
    try {
      await app.fraudscore.loaded;
      const rows = randomRows(3, model.features.length, testSeed(), [model.features.length - 1]);
      const s = new Scorer(model, { backend: 'cpu' });
      const want = s.explain(rows);
      s.dispose();
      const d = model.features.length;
      const res = await app.inject({
        method: 'POST',
        url: '/predict',
        payload: { instances: [0, 1, 2].map((i) => Array.from(rows.subarray(i * d, (i + 1) * d))) },
      });
      expect(res.statusCode).toBe(200);
      const preds = res.json().predictions as {
        fraud_probability: number;
        reconstruction_error: number;
        is_fraud: boolean;
      }[];
      for (const [i, p] of preds.entries()) {
        expect(p.fraud_probability).toBeCloseTo(want.scores[i]!, 6);
        expect(p.reconstruction_error).toBeCloseTo(want.aeScores![i]!, 5);
        expect(p.is_fraud).toBe(want.scores[i]! > model.threshold!.value);
      }
      const cols = Object.fromEntries(
        model.features.map((f, j) => [f, Float32Array.from([0, 1, 2], (i) => rows[i * d + j]!)]),
      );
      const arrow = await app.inject({
        method: 'POST',
        url: '/predict',
        payload: Buffer.from(tableToIPC(tableFromArrays(cols), 'stream')),
        headers: { 'content-type': 'application/vnd.apache.arrow.stream' },
      });
      expect(arrow.statusCode).toBe(200);
      const out = tableFromIPC(arrow.rawPayload);
      expect(out.schema.fields.map((f) => f.name)).toEqual(['fraud_probability', 'is_fraud']);
      expect(out.getChild('fraud_probability')!.get(1)).toBeCloseTo(want.scores[1]!, 6);
    } finally {
      await app.close();
    }
  });
});

describe('ONNX export of a hybrid model', () => {
  it('puts the head in the same graph; onnxruntime gives the native probabilities', async () => {
    const model = await loadModel(join(import.meta.dirname, '../models/hybrid'));
    const d = model.features.length;
    const n = 400;
    const rows = randomRows(n, d, testSeed(), [d - 1]);
    const s = new Scorer(model, { backend: 'cpu' });
    const want = s.explain(rows);
    s.dispose();
    const session = await ort.InferenceSession.create(buildOnnx(model), { intraOpNumThreads: 1 });
    const out = await session.run({ input: new ort.Tensor('float32', rows, [n, d]) });
    const p = out.fraud_probability!.data as Float32Array;
    const ae = out.score!.data as Float32Array;
    let worstP = 0;
    for (let r = 0; r < n; r++) worstP = Math.max(worstP, Math.abs(p[r]! - want.scores[r]!));
    // Probabilities: an absolute bound (fp32 arithmetic in another summation order on both sides).
    expect(worstP).toBeLessThan(1e-5);
    expect(maxRelErr(ae, want.aeScores!)).toBeLessThan(1e-5);
    expect(() => buildOnnx(model, { precision: 'int8' })).toThrow(/'fp32' for a hybrid model/);
  });
});
