// quantize() and prune(): the int8 contract's weight and scale rules (quant.h), calibration
// options, exact error messages, and the artifact round trip of a quantized model.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { createModel, loadModel, type Model, prune, quantize, saveModel, Scorer } from '../src/index.js';
import { randomRows, testSeed } from './helpers.js';

const seed = testSeed();

function model29(s = seed): Model {
  const features = [...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount'];
  const m = createModel({ features, hidden: [32, 16, 32], seed: s });
  m.preprocessing.transform[28] = 'log1p';
  m.preprocessing.mean = features.map((_, j) => (j === 28 ? 3 : 0.1 * j));
  m.preprocessing.std = features.map((_, j) => 0.5 + (j % 5) * 0.3);
  return m;
}

/** A 2-feature model with hand-picked weights, so scales can be checked by hand. */
function tiny(): Model {
  const m = createModel({ features: 2, hidden: [2], seed: 1 });
  // Scales of exactly 1 (max |w| = 127), so the halves below are exact halves.
  m.layers[0]!.weight = Float32Array.from([0.5, -127, 0, 0]); // row 1 all zero
  m.layers[0]!.bias = Float32Array.from([0.5, -1]);
  m.layers[1]!.weight = Float32Array.from([0.25, 127, -63.5, 127]);
  m.layers[1]!.bias = Float32Array.from([0, 0]);
  return m;
}

describe('quantize', () => {
  it('quantizes weights per output channel: sw = max|w| / 127, w_q = round(w / sw) in [-127, 127]', () => {
    const m = model29();
    const q = quantize(m, { calibration: randomRows(256, 29, seed, [28]) }).quantization!;
    expect(q.scheme).toBe('int8-symmetric-per-channel');
    m.layers.forEach((l, i) => {
      const w = q.weights[i]!;
      const s = q.weightScales[i]!;
      expect(w).toBeInstanceOf(Int8Array);
      expect(w).toHaveLength(l.in * l.out);
      expect(s).toHaveLength(l.out);
      for (let o = 0; o < l.out; o++) {
        let mx = 0;
        let qmax = 0;
        for (let k = 0; k < l.in; k++) {
          mx = Math.max(mx, Math.abs(l.weight[o * l.in + k]!));
          qmax = Math.max(qmax, Math.abs(w[o * l.in + k]!));
          // A weight is within half a step of its int8 value, give or take the fp32 rounding of
          // w / sw (|w / sw| <= 127, so half an ulp is at most 2^-18 of a step), which can carry a
          // value just under a half step up to it (1 run in 25 here met 3.3e-6 of a step over).
          // The bound allows a whole ulp, 2^-17.
          expect(Math.abs(l.weight[o * l.in + k]! - w[o * l.in + k]! * s[o]!)).toBeLessThanOrEqual(
            s[o]! * (0.5 + 2 ** -17),
          );
        }
        expect(s[o]).toBe(Math.fround(mx / 127));
        expect(qmax).toBe(127); // the largest weight of each row uses the whole range
      }
    });
  });

  it('rounds half away from zero and gives an all-zero row the scale 1', () => {
    const q = quantize(tiny(), { calibration: Float32Array.from([1, 1]) }).quantization!;
    expect(Array.from(q.weights[0]!)).toEqual([1, -127, 0, 0]); // 0.5 -> 1
    expect(Array.from(q.weightScales[0]!)).toEqual([1, 1]);
    // -63.5 -> -64 (Math.round would give -63)
    expect(Array.from(q.weights[1]!)).toEqual([0, 127, -64, 127]);
  });

  it('sets static scales from the calibration rows: max |layer input| / 127 (percentile 100)', () => {
    const m = tiny();
    // Row (1, 1): hidden = relu([0.5 - 127 + 0.5, -1]) = (0, 0); row (-3, 2): hidden =
    // relu([-1.5 - 254 + 0.5, -1]) = (0, 0): layer 1's input is all zero -> sx = 1.
    const q = quantize(m, { calibration: Float32Array.from([1, 1, -3, 2]), percentile: 100 }).quantization!;
    expect(q.activations).toBe('static');
    expect(q.outOfRange).toBe('fp32');
    expect(q.inputScales).toEqual([Math.fround(3 / 127), 1]);
    // Row (4, 0): hidden = relu(2 + 0.5) = 2.5. outOfRange 'clamp' defaults to the maximum.
    const q2 = quantize(m, { calibration: Float32Array.from([1, 1, 4, 0]), outOfRange: 'clamp' }).quantization!;
    expect(q2.outOfRange).toBe('clamp');
    expect(q2.inputScales).toEqual([Math.fround(4 / 127), Math.fround(2.5 / 127)]);
    expect(q2.calibration).toMatchObject({ method: 'max', rows: 2, skippedRows: 0 });
  });

  it('applies the model preprocessing (log1p, mean, std) before calibrating', () => {
    const m = tiny();
    m.preprocessing = { transform: ['log1p', 'none'], mean: [0, 10], std: [1, 2] };
    const q = quantize(m, { calibration: Float32Array.from([Math.E - 1, 10]) }).quantization!;
    // z = (log1p(e - 1), 0) = (1, 0)
    expect(q.inputScales[0]).toBeCloseTo(1 / 127, 7);
  });

  it('skips rows with non-finite values, and refuses a calibration with none finite', () => {
    const m = tiny();
    const q = quantize(m, { calibration: Float32Array.from([Number.NaN, 100, 2, 0, 1, Infinity]) }).quantization!;
    expect(q.inputScales[0]).toBe(Math.fround(2 / 127));
    expect(q.calibration).toMatchObject({ rows: 1, skippedRows: 2 });
    expect(() => quantize(m, { calibration: Float32Array.from([Number.NaN, 1]) })).toThrow(
      'Expected `calibration` to hold at least one finite row, got 1 rows with non-finite values',
    );
  });

  it('clips at a percentile when asked: scales shrink, and 100 is the maximum', () => {
    const m = model29();
    const rows = randomRows(2000, 29, seed + 5, [28]);
    const full = quantize(m, { calibration: rows, outOfRange: 'clamp' }).quantization!;
    const p100 = quantize(m, { calibration: rows, percentile: 100 }).quantization!;
    const p99 = quantize(m, { calibration: rows, percentile: 99 }).quantization!;
    expect(p100.inputScales).toEqual(full.inputScales);
    // The fp32 fallback's default is the 99.95th percentile: between the two.
    const dflt = quantize(m, { calibration: rows }).quantization!;
    expect(dflt.calibration).toMatchObject({ method: 'percentile', percentile: 99.95 });
    expect(dflt.outOfRange).toBe('fp32');
    dflt.inputScales.forEach((s, l) => {
      expect(s).toBeLessThan(full.inputScales[l]!);
      expect(s).toBeGreaterThanOrEqual(p99.inputScales[l]!);
    });
    p99.inputScales.forEach((s, l) => {
      expect(s).toBeLessThan(full.inputScales[l]!);
    });
    expect(p99.calibration).toMatchObject({ method: 'percentile', percentile: 99 });
  });

  it('dynamic activations need no calibration and store no static scales', () => {
    const q = quantize(model29(), { activations: 'dynamic' }).quantization!;
    expect(q.activations).toBe('dynamic');
    expect(q.inputScales).toEqual([]);
  });

  it('names the option that is wrong', () => {
    const m = model29();
    expect(() => quantize(m)).toThrow(
      'Expected `calibration` to be a Float32Array of raw rows for static activations, got undefined',
    );
    expect(() => quantize(m, { calibration: [1, 2] as unknown as Float32Array })).toThrow(
      'Expected `calibration` to be a Float32Array of raw rows for static activations, got Array',
    );
    expect(() => quantize(m, { calibration: new Float32Array(30) })).toThrow(
      'Expected `calibration` to be a Float32Array of n*29 values (n >= 1), got 30 values',
    );
    expect(() => quantize(m, { calibration: new Float32Array(29), percentile: 0 })).toThrow(
      'Expected `percentile` to be a number in (0, 100], got 0',
    );
    expect(() => quantize(m, { activations: 'weekly' as 'static' })).toThrow(
      "Expected `activations` to be 'static' or 'dynamic', got 'weekly'",
    );
    expect(() => quantize(m, { activations: 'dynamic', percentile: 99 })).toThrow(/no `percentile` with dynamic/);
    expect(() => quantize(m, { calibration: new Float32Array(29), outOfRange: 'wrap' as 'fp32' })).toThrow(
      "Expected `outOfRange` to be 'fp32' or 'clamp', got 'wrap'",
    );
    expect(() => quantize(m, { activations: 'dynamic', outOfRange: 'fp32' })).toThrow(/no `outOfRange` with dynamic/);
  });

  it('leaves the input model unchanged', () => {
    const m = model29();
    const q = quantize(m, { calibration: randomRows(64, 29, seed, [28]) });
    expect(m.quantization).toBeUndefined();
    expect(q).not.toBe(m);
    expect(q.layers).toEqual(m.layers);
  });
});

describe('prune', () => {
  it('zeroes the smallest |w| of each layer, keeps biases, and leaves the input alone', () => {
    const m = model29();
    const before = m.layers.map((l) => Float32Array.from(l.weight));
    const p = prune(m, { amount: 0.5 });
    p.layers.forEach((l, i) => {
      const orig = before[i]!;
      expect(m.layers[i]!.weight).toEqual(orig);
      expect(l.bias).toEqual(m.layers[i]!.bias);
      const k = Math.floor(0.5 * orig.length);
      const zeros = l.weight.filter((v) => v === 0).length;
      expect(zeros).toBe(Math.max(k, orig.filter((v) => v === 0).length));
      // every kept weight is at least as large as every pruned one
      let maxPruned = 0;
      let minKept = Infinity;
      for (let t = 0; t < orig.length; t++) {
        if (l.weight[t] === 0) maxPruned = Math.max(maxPruned, Math.abs(orig[t]!));
        else {
          minKept = Math.min(minKept, Math.abs(orig[t]!));
          expect(l.weight[t]).toBe(orig[t]);
        }
      }
      expect(maxPruned).toBeLessThanOrEqual(minKept);
    });
    expect(p.extra?.pruning).toMatchObject({ method: 'magnitude-per-layer', amount: 0.5 });
  });

  it('amount 0 changes nothing; quantize() records the pruning', () => {
    const m = model29();
    expect(prune(m, { amount: 0 }).layers).toEqual(m.layers);
    const q = quantize(prune(m, { amount: 0.3 }), { calibration: randomRows(64, 29, seed, [28]) });
    expect(q.quantization!.pruning).toMatchObject({ amount: 0.3 });
  });

  it('names the option that is wrong, and refuses a quantized model', () => {
    const m = model29();
    expect(() => prune(m, { amount: 1 })).toThrow('Expected `amount` to be a number in [0, 1), got 1');
    expect(() => prune(m, { amount: -0.1 })).toThrow('Expected `amount` to be a number in [0, 1), got -0.1');
    expect(() => prune(m, {} as { amount: number })).toThrow('got undefined');
    const q = quantize(m, { activations: 'dynamic' });
    expect(() => prune(q, { amount: 0.1 })).toThrow(
      'Expected a model without `quantization`: prune first, then quantize()',
    );
  });
});

describe('quantized artifact', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('saveModel/loadModel keep the int8 tensors, scales and how they were made; scores are identical', async () => {
    const m = quantize(prune(model29(), { amount: 0.2 }), {
      calibration: randomRows(512, 29, seed + 2, [28]),
      percentile: 99.99,
    });
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-q-'));
    dirs.push(dir);
    await saveModel(m, dir);
    const back = await loadModel(dir);
    const q = m.quantization!;
    const bq = back.quantization!;
    expect(bq.scheme).toBe(q.scheme);
    expect(bq.activations).toBe('static');
    expect(bq.outOfRange).toBe('fp32');
    expect(bq.inputScales).toEqual(q.inputScales);
    expect(bq.calibration).toEqual(q.calibration);
    expect(bq.pruning).toEqual(q.pruning);
    bq.weights.forEach((w, i) => {
      expect(w).toBeInstanceOf(Int8Array);
      expect(w).toEqual(q.weights[i]);
      expect(bq.weightScales[i]).toEqual(q.weightScales[i]);
    });
    const rows = randomRows(1000, 29, seed + 3, [28]);
    const a = new Scorer(m, { backend: 'cpu', precision: 'int8' });
    const b = new Scorer(back, { backend: 'cpu', precision: 'int8' });
    expect(b.score(rows)).toEqual(a.score(rows));
    expect(b.fp32FallbackRows).toBe(a.fp32FallbackRows);
    a.dispose();
    b.dispose();
    // An artifact written before outOfRange existed reads as 'clamp'; a wrong value is named.
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    delete json.quantization.outOfRange;
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    const old = await loadModel(dir);
    expect(old.quantization!.outOfRange).toBeUndefined();
    const c = new Scorer(old, { backend: 'cpu', precision: 'int8' });
    c.score(rows);
    expect(c.fp32FallbackRows).toBe(0);
    c.dispose();
    json.quantization.outOfRange = 'wrap';
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await expect(loadModel(dir)).rejects.toThrow(/quantization.outOfRange must be 'fp32' or 'clamp', got "wrap"/);
  });

  it('round-trips a dynamic quantization (no static scales stored)', async () => {
    const m = quantize(model29(), { activations: 'dynamic' });
    const dir = await mkdtemp(join(tmpdir(), 'fraudscore-q-'));
    dirs.push(dir);
    await saveModel(m, dir);
    const back = await loadModel(dir);
    expect(back.quantization!.activations).toBe('dynamic');
    expect(back.quantization!.inputScales).toEqual([]);
    const rows = randomRows(300, 29, seed + 4, [28]);
    const a = new Scorer(m, { backend: 'cpu', precision: 'int8' });
    const b = new Scorer(back, { backend: 'cpu', precision: 'int8' });
    expect(b.score(rows)).toEqual(a.score(rows));
    a.dispose();
    b.dispose();
  });
});
