// Binding + TS tier of the int8 engine: Scorer({ precision: 'int8' }) on every int8 SIMD path
// against a float64 TS implementation of the int8 contract, sync/async/explain agreement, the
// non-finite contract, exact error messages of CpuInt8Scorer, lifecycle.
import { describe, expect, it } from 'vitest';

import { type Model, quantize, Scorer } from '../src/index.js';
import { toAddonSpec } from '../src/model.js';
import { addon } from '../src/native.js';
import { model29 as model29Of, randomRows, testSeed } from './helpers.js';

const seed = testSeed();

const model29 = (s = seed): Model => model29Of(s);

function roundAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** The fp32 model in float64 on one standardized row: the mean squared reconstruction error. */
function referenceFp32(m: Model, z: Float64Array): number {
  let a: Float64Array = z;
  m.layers.forEach((L, l) => {
    const y = new Float64Array(L.out);
    for (let o = 0; o < L.out; o++) {
      let v = L.bias[o]!;
      for (let i = 0; i < L.in; i++) v += L.weight[o * L.in + i]! * a[i]!;
      y[o] = l + 1 < m.layers.length && v < 0 ? 0 : v;
    }
    a = y;
  });
  let s = 0;
  for (let j = 0; j < z.length; j++) s += (a[j]! - z[j]!) ** 2;
  return s / z.length;
}

/**
 * The int8 contract (quant.h) in float64 for static scales, with each row's smallest distance (in
 * steps) between a rounded value and a rounding boundary: an engine computing in fp32 may round a
 * value within ~1e-5 steps of a boundary the other way (see native/tests/test_int8_engine.cpp).
 * With outOfRange 'fp32', a row with any |x| / sx >= 127.5 gets the fp32 model's score (`fell`).
 */
function referenceInt8(
  m: Model,
  rows: Float32Array,
): { scores: Float64Array; boundary: Float64Array; fell: Uint8Array } {
  const q = m.quantization!;
  const d = m.features.length;
  const n = rows.length / d;
  const scores = new Float64Array(n);
  const boundary = new Float64Array(n).fill(Infinity);
  const fell = new Uint8Array(n);
  const fallback = q.outOfRange === 'fp32';
  for (let r = 0; r < n; r++) {
    const z = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      let x = rows[r * d + j]!;
      if (m.preprocessing.transform[j] === 'log1p') x = Math.fround(Math.log1p(x));
      z[j] = Math.fround(
        Math.fround(x - Math.fround(m.preprocessing.mean[j]!)) * Math.fround(1 / m.preprocessing.std[j]!),
      );
    }
    let a: Float64Array = z;
    m.layers.forEach((L, l) => {
      const sx = q.inputScales[l]!;
      const qa = new Float64Array(L.in);
      for (let i = 0; i < L.in; i++) {
        const t = a[i]! / sx;
        const at = Math.abs(t);
        if (at < 127.6) boundary[r] = Math.min(boundary[r]!, Math.abs(at - Math.floor(at) - 0.5));
        if (fallback && at >= 127.5) fell[r] = 1;
        qa[i] = Math.min(127, Math.max(-127, roundAway(t)));
      }
      const y = new Float64Array(L.out);
      for (let o = 0; o < L.out; o++) {
        let acc = 0;
        for (let i = 0; i < L.in; i++) acc += qa[i]! * q.weights[l]![o * L.in + i]!;
        const v = acc * (sx * q.weightScales[l]![o]!) + L.bias[o]!;
        y[o] = l + 1 < m.layers.length && v < 0 ? 0 : v;
      }
      a = y;
    });
    let s = 0;
    for (let j = 0; j < d; j++) s += (a[j]! - z[j]!) ** 2;
    scores[r] = fell[r] ? referenceFp32(m, z) : s / d;
  }
  return { scores, boundary, fell };
}

/** The int8 SIMD paths this CPU runs (avx512 needs VNNI), found by asking the binding. */
function int8Paths(m: Model): string[] {
  return ['avx512', 'avx2', 'sse2'].filter((simd) => {
    try {
      new Scorer(m, { backend: 'cpu', precision: 'int8', simd: simd as 'avx2' }).dispose();
      return true;
    } catch (e) {
      expect((e as Error).message).toContain('int8 path this CPU supports');
      return false;
    }
  });
}

describe('Scorer (cpu, int8)', () => {
  const calibration = randomRows(2048, 29, seed + 1, [28]);
  // The default: 99.9th-percentile scales, rows beyond them rescored in fp32.
  const model = quantize(model29(), { calibration });
  const clamped = quantize(model29(), { calibration, outOfRange: 'clamp' });

  it('computes the int8 contract on every int8 SIMD path (odd batch sizes included), fp32 fallback or clamp', () => {
    expect(model.quantization!.outOfRange).toBe('fp32');
    expect(clamped.quantization!.outOfRange).toBe('clamp');
    const paths = int8Paths(model);
    expect(paths).toContain('sse2');
    for (const m of [model, clamped]) {
      const fallback = m.quantization!.outOfRange === 'fp32';
      for (const simd of paths) {
        const scorer = new Scorer(m, { backend: 'cpu', precision: 'int8', simd: simd as 'avx2' });
        expect(scorer.engine).toContain('int8');
        let fellRef = 0;
        let edge = 0;
        let boundaryRows = 0;
        let rowsSeen = 0;
        for (const n of [1, 7, 33, 4099]) {
          const rows = randomRows(n, 29, seed + n, [28]);
          const got = scorer.score(rows);
          const { scores, boundary, fell } = referenceInt8(m, rows);
          rowsSeen += n;
          for (let i = 0; i < n; i++) {
            fellRef += fell[i]!;
            const e = Math.abs(got[i]! - scores[i]!) / Math.max(Math.abs(scores[i]!), 2e-3);
            if (boundary[i]! < 1e-4) {
              boundaryRows++;
              // On the range's edge the row may go to fp32 in one and not the other.
              if (fallback) edge++;
              else expect(e, `${simd} n=${n} boundary row ${i}`).toBeLessThan(0.05);
            } else {
              // fp32 rounding only (5e-5: see the C++ test for why not fp32's 1e-5)
              expect(e, `${simd} n=${n} row ${i}`).toBeLessThan(5e-5);
            }
          }
        }
        // ~2% of rows have one of their ~110 rounded values within 1e-4 steps of a boundary: counted
        // over all the sizes, since a small batch can hold a few by chance.
        expect(boundaryRows).toBeLessThanOrEqual(rowsSeen * 0.05);
        if (fallback) {
          // The fallback ran, on the rows the reference sends to fp32 (give or take the edge rows).
          expect(fellRef).toBeGreaterThan(4);
          expect(Math.abs(scorer.fp32FallbackRows - fellRef)).toBeLessThanOrEqual(edge);
        } else {
          expect(fellRef).toBe(0);
          expect(scorer.fp32FallbackRows).toBe(0);
        }
        scorer.dispose();
      }
    }
  });

  it('score, explain and scoreAsync agree, and feature errors sum to the score', async () => {
    const scorer = new Scorer(model, { backend: 'cpu', precision: 'int8' });
    const rows = randomRows(5000, 29, seed + 2, [28]);
    const sync = scorer.score(rows);
    const { scores, featureErrors } = scorer.explain(rows);
    expect(scores).toEqual(sync);
    const res = await scorer.scoreAsync(rows, { explain: true });
    expect(res.scores).toEqual(sync);
    expect(res.featureErrors).toEqual(featureErrors);
    for (let i = 0; i < 5000; i += 97) {
      let s = 0;
      for (let j = 0; j < 29; j++) s += featureErrors[i * 29 + j]!;
      expect(Math.abs(s / 29 - sync[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(sync[i]!, 1e-3));
    }
    scorer.dispose();
  });

  it('gives the same scores whatever the thread count, static and dynamic', () => {
    const rows = randomRows(30_011, 29, seed + 3, [28]);
    for (const m of [model, quantize(model29(), { activations: 'dynamic' })]) {
      const one = new Scorer(m, { backend: 'cpu', precision: 'int8', threads: 1 });
      const all = new Scorer(m, { backend: 'cpu', precision: 'int8', threads: 0 });
      expect(all.score(rows)).toEqual(one.score(rows));
      one.dispose();
      all.dispose();
    }
  });

  // AMX is opt-in (it measured slower than VNNI on Sapphire Rapids): FRAUDSCORE_INT8_AMX=1, read
  // when an engine is built. Its integers are VNNI's, so scores must be bit-identical.
  it.skipIf(!addon.cpuInfo().amx)('runs on AMX tiles when asked, bit for bit as VNNI', () => {
    const rows = randomRows(5_003, 29, seed + 4, [28]);
    for (const m of [model, clamped, quantize(model29(), { activations: 'dynamic' })]) {
      const vnni = new Scorer(m, { backend: 'cpu', precision: 'int8', simd: 'avx512' });
      process.env.FRAUDSCORE_INT8_AMX = '1';
      let amx: Scorer;
      try {
        amx = new Scorer(m, { backend: 'cpu', precision: 'int8', simd: 'avx512' });
      } finally {
        delete process.env.FRAUDSCORE_INT8_AMX;
      }
      expect(vnni.engine).toBe('cpu-avx512-int8');
      expect(amx.engine).toBe('cpu-avx512-amx-int8');
      expect(amx.explain(rows)).toEqual(vnni.explain(rows));
      vnni.dispose();
      amx.dispose();
    }
  });

  it('reports the first non-finite value, or scores it NaN', () => {
    const rows = randomRows(3000, 29, seed + 4, [28]);
    rows[2100 * 29 + 5] = Number.NaN;
    rows[2500 * 29 + 28] = -2; // log1p(-2) is NaN
    const strict = new Scorer(model, { backend: 'cpu', precision: 'int8' });
    expect(() => strict.score(rows)).toThrow(/row 2100.*V6/);
    const lenient = new Scorer(model, { backend: 'cpu', precision: 'int8', nonFinite: 'nan' });
    const s = lenient.score(rows);
    expect(s[2100]).toBeNaN();
    expect(s[2500]).toBeNaN();
    expect(Number.isFinite(s[2099]!) && Number.isFinite(s[2101]!)).toBe(true);
    strict.dispose();
    lenient.dispose();
  });

  it('refuses int8 on a model that was not quantized', () => {
    expect(() => new Scorer(model29(), { backend: 'cpu', precision: 'int8' })).toThrow(
      'Expected a quantized model for `precision: "int8"`: run quantize(model, { calibration }) first',
    );
  });
});

describe('CpuInt8Scorer binding', () => {
  const model = quantize(model29(), { calibration: randomRows(256, 29, seed + 5, [28]) });
  const spec = toAddonSpec(model);
  const q = model.quantization!;
  const quant = () => ({
    weights: q.weights.map((w) => Int8Array.from(w)),
    weightScales: q.weightScales.map((w) => Float32Array.from(w)),
    inputScales: Float32Array.from(q.inputScales),
  });
  const Ctor = addon.CpuInt8Scorer!;

  it('is exported, with CpuScorer’s interface', () => {
    const s = new Ctor(spec, quant());
    expect(typeof s.score).toBe('function');
    expect(typeof s.scoreAsync).toBe('function');
    expect(['avx512', 'avx2', 'sse2']).toContain(s.simd);
    const out = new Float32Array(2);
    expect(s.score(randomRows(2, 29, seed, [28]), out, null, 0, 1)).toBeNull();
    s.dispose();
    s.dispose(); // twice is fine
    expect(() => s.score(new Float32Array(29), out, null, 0, 1)).toThrow(
      'Expected `scorer` to be usable, got a disposed scorer',
    );
  });

  it('names what is wrong in the quantization', () => {
    const bad = (patch: Record<string, unknown>) => () => new Ctor(spec, { ...quant(), ...patch } as never);
    expect(() => new Ctor(spec, undefined as never)).toThrow('Expected `quant` to be an object, got undefined');
    expect(bad({ weights: 5 })).toThrow('Expected `quant.weights` to be an Array, got number');
    expect(bad({ inputScales: [1, 2, 3, 4] })).toThrow('Expected `quant.inputScales` to be a Float32Array, got Array');
    expect(bad({ weights: quant().weights.slice(1) })).toThrow('Expected `quant.weights` to hold 4 layers, got 3');
    const w = quant().weights;
    w[2] = new Float32Array(512) as never;
    expect(bad({ weights: w })).toThrow('Expected `quant.weights[2]` to be an Int8Array, got Float32Array');
    const short = quant().weights;
    short[1] = short[1]!.subarray(1);
    expect(bad({ weights: short })).toThrow('Expected `quant` to be valid, but wq[1] has 511 values, expected 512');
    const neg = quant().weights;
    neg[0]![3] = -128;
    expect(bad({ weights: neg })).toThrow('Expected `quant` to be valid, but wq[0][3] is -128, outside [-127, 127]');
    expect(bad({ inputScales: Float32Array.from([1, 0, 1, 1]) })).toThrow(
      'Expected `quant` to be valid, but xscale[1] must be finite and > 0',
    );
    expect(bad({ inputScales: new Float32Array(0) })).toThrow(
      'Expected `quant` to be valid, but xscale has 0 values, expected 4',
    );
    expect(bad({ dynamic: 'yes' })).toThrow('Expected `quant.dynamic` to be a boolean, got string');
    expect(bad({ fallback: 1 })).toThrow('Expected `quant.fallback` to be a boolean, got number');
    expect(bad({ dynamic: true, fallback: true })).toThrow(
      'Expected `quant.fallback` only with static scales (`quant.dynamic` is true)',
    );
    const fb = new Ctor(spec, { ...quant(), fallback: true });
    expect(fb.fallbackRows).toBe(0);
    fb.dispose();
    expect(() => fb.fallbackRows).toThrow();
    // dynamic scales need no static ones
    expect(() =>
      new Ctor(spec, { ...quant(), inputScales: new Float32Array(0), dynamic: true }).dispose(),
    ).not.toThrow();
    expect(() => new Ctor(spec, quant(), 'neon')).toThrow(
      "Expected `simd` to be 'auto', 'avx512', 'avx2' or 'sse2', got 'neon'",
    );
  });

  it('checks score arguments with CpuScorer’s messages', () => {
    const s = new Ctor(spec, quant());
    expect(() => s.score(new Float32Array(30), new Float32Array(1), null, 0, 0)).toThrow(
      'Expected `rows` to be a Float32Array of n*29 values, got 30 values',
    );
    expect(() => s.score(new Float32Array(58), new Float32Array(1), null, 0, 0)).toThrow(
      'Expected `scores` to hold at least 2 values, got 1',
    );
    expect(() => s.score([] as never, new Float32Array(1), null, 0, 0)).toThrow(
      'Expected `rows` to be a Float32Array, got Array',
    );
    s.dispose();
  });

  it('keeps its own copy of the weights', () => {
    const qq = quant();
    const s = new Ctor(spec, qq);
    const rows = randomRows(64, 29, seed + 6, [28]);
    const a = new Float32Array(64);
    s.score(rows, a, null, 0, 1);
    qq.weights[0]!.fill(0);
    const b = new Float32Array(64);
    s.score(rows, b, null, 0, 1);
    expect(b).toEqual(a);
    s.dispose();
  });
});
