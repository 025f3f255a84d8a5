// CUDA backend, TS and binding tiers. On a machine without a GPU (CI, this dev box) it checks that
// the addon loads, reports CUDA as unavailable with a reason, that 'auto' falls back to the CPU and
// that asking for 'cuda' fails with a clear error; argument errors are checked everywhere (they are
// raised before any device is touched). The GPU tests run behind describe.skipIf(no device).
import { describe, expect, it } from 'vitest';

import { backendInfo, type Model, Scorer } from '../src/index.js';
import { toAddonSpec } from '../src/model.js';
import { addon } from '../src/native.js';
import { maxRelErr, model29 as model29Of, randomRows, testSeed } from './helpers.js';

const seed = testSeed();
const info = addon.cudaInfo?.() ?? { available: false, reason: 'this build has no CUDA binding' };
const gpu = info.available === true;

const model29 = (s = seed): Model => model29Of(s);

/** The quant.h contract in TS: int8 weights per output channel, static input scales. */
function quantize(model: Model, calibration: Float32Array) {
  const spec = toAddonSpec(model);
  const d = spec.features;
  const weights: Int8Array[] = [];
  const weightScales: Float32Array[] = [];
  for (const L of spec.layers) {
    const q = new Int8Array(L.in * L.out);
    const s = new Float32Array(L.out);
    for (let o = 0; o < L.out; o++) {
      let mx = 0;
      for (let i = 0; i < L.in; i++) mx = Math.max(mx, Math.abs(L.weight[o * L.in + i]!));
      s[o] = mx > 0 ? Math.fround(mx / 127) : 1;
      for (let i = 0; i < L.in; i++)
        q[o * L.in + i] = Math.max(-127, Math.min(127, Math.round(L.weight[o * L.in + i]! / s[o]!)));
    }
    weights.push(q);
    weightScales.push(s);
  }
  // Max-abs calibration of every layer's input over the calibration rows.
  const maxAbs = new Float64Array(spec.layers.length);
  const n = calibration.length / d;
  for (let r = 0; r < n; r++) {
    let a: number[] = [];
    for (let j = 0; j < d; j++) {
      let x = calibration[r * d + j]!;
      if (spec.transform[j] === 1) x = Math.log1p(x);
      a.push((x - spec.mean[j]!) / spec.scale[j]!);
    }
    spec.layers.forEach((L, l) => {
      for (const v of a) maxAbs[l] = Math.max(maxAbs[l]!, Math.abs(v));
      const b: number[] = [];
      for (let o = 0; o < L.out; o++) {
        let s = L.bias[o]!;
        for (let i = 0; i < L.in; i++) s += L.weight[o * L.in + i]! * a[i]!;
        b.push(l + 1 < spec.layers.length && s < 0 ? 0 : s);
      }
      a = b;
    });
  }
  const inputScales = Float32Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1));
  return { weights, weightScales, inputScales };
}

describe('CUDA availability (every machine)', () => {
  it('cudaInfo reports availability, and a reason when unavailable', () => {
    expect(typeof info.available).toBe('boolean');
    if (!gpu) {
      expect(typeof info.reason).toBe('string');
      expect((info.reason as string).length).toBeGreaterThan(5);
    } else {
      expect(info.name).toBeTypeOf('string');
      expect(info.totalMemory as number).toBeGreaterThan(info.freeMemory as number);
      expect(info.computeCapability).toMatch(/^\d+\.\d$/);
    }
  });

  it("backendInfo agrees, and 'auto' picks CUDA only when a device answers", () => {
    const b = backendInfo();
    expect(b.cuda.available).toBe(gpu);
    expect(b.auto).toBe(gpu ? 'cuda' : 'cpu');
    const scorer = new Scorer(model29());
    expect(scorer.backend).toBe(gpu ? 'cuda' : 'cpu');
    scorer.dispose();
  });

  it.skipIf(gpu)("backend 'cuda' without a device is a clear error, and the raw binding throws with a code", () => {
    expect(() => new Scorer(model29(), { backend: 'cuda' })).toThrow(/^backend 'cuda' is not available: .{5,}/);
    if (!addon.CudaScorer) return;
    let err: (Error & { code?: string }) | undefined;
    try {
      new addon.CudaScorer(toAddonSpec(model29()));
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('ERR_FRAUDSCORE_CUDA_UNAVAILABLE');
    expect(err!.message).toMatch(/^CudaEngine: /);
  });

  it('the native Trainer steps on CUDA only when a device answers, and checks cudaDevice', () => {
    const Trainer = addon.Trainer;
    const spec = toAddonSpec(model29());
    expect(() => new Trainer(spec, { cudaDevice: -2 })).toThrow(
      new RangeError('Expected `options.cudaDevice` to be an integer in [-1, 1024], got -2'),
    );
    expect(() => new Trainer(spec, { cudaDevice: 0.5 })).toThrow(/`options.cudaDevice` to be an integer/);
    if (gpu) return;
    let err: (Error & { code?: string }) | undefined;
    try {
      new Trainer(spec, { cudaDevice: 0 });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('ERR_FRAUDSCORE_CUDA_UNAVAILABLE');
    expect(err!.message).toMatch(/^CudaTrainer: .{5,}/);
  });

  it('checks its arguments before touching a device', () => {
    const spec = toAddonSpec(model29());
    const Cuda = addon.CudaScorer;
    expect(() => new Cuda(spec, { precision: 'int4' as 'int8' })).toThrow(
      new RangeError("Expected `options.precision` to be 'fp32' or 'int8', got 'int4'"),
    );
    expect(() => new Cuda(spec, { precision: 'int8' })).toThrow(
      new TypeError("Expected `options.quant` for precision 'int8' (run quantize(model) first), got undefined"),
    );
    const bad = { ...spec, layers: spec.layers.map((L, i) => (i === 1 ? { ...L, bias: new Float32Array(3) } : L)) };
    expect(() => new Cuda(bad)).toThrow(
      new RangeError('Expected `model` to be valid, but layers[1].bias has 3 values, expected 16'),
    );
    const q = quantize(model29(), randomRows(64, 29, seed, [28]));
    expect(() => new Cuda(spec, { precision: 'int8', quant: { ...q, inputScales: new Float32Array(2) } })).toThrow(
      new RangeError('Expected `options.quant` to be valid, but xscale has 2 values, expected 4'),
    );
    expect(() => new Cuda(spec, { precision: 'int8', quant: { ...q, dynamic: true } })).toThrow(
      /static \(calibrated\)/,
    );
  });
});

describe.skipIf(!gpu)('CUDA scoring and training (GPU)', () => {
  const model = model29();
  const spec = toAddonSpec(model);

  it('fp32 matches the float64 reference at odd batch sizes, with explanations', async () => {
    const scorer = new Scorer(model, { backend: 'cuda' });
    expect(scorer.backend).toBe('cuda');
    for (const n of [1, 7, 4099, 100_003]) {
      const rows = randomRows(n, 29, seed + n, [28]);
      const ref = addon.referenceScore(spec, rows);
      const { scores, featureErrors } = scorer.explain(rows);
      expect(maxRelErr(scores, ref.scores), `n=${n}`).toBeLessThan(1e-5);
      let worst = 0;
      for (let i = 0; i < n * 29; i++) {
        worst = Math.max(
          worst,
          Math.abs(featureErrors[i]! - ref.featureErrors[i]!) / Math.max(ref.scores[Math.floor(i / 29)]! * 29, 1e-3),
        );
      }
      expect(worst).toBeLessThan(1e-5);
      const res = await scorer.scoreAsync(rows);
      expect(res.scores).toEqual(scores);
    }
    scorer.dispose();
  });

  it('keeps the event loop ticking during a large scoreAsync', async () => {
    const scorer = new Scorer(model, { backend: 'cuda' });
    const rows = randomRows(1 << 21, 29, seed + 5, [28]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await scorer.scoreAsync(rows);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    scorer.dispose();
  });

  it('reports the first non-finite value like the CPU engine', () => {
    const Cuda = addon.CudaScorer;
    const s = new Cuda(spec);
    const rows = randomRows(50_000, 29, seed + 6, [28]);
    rows[30_000 * 29 + 2] = Number.NaN;
    rows[1234 * 29 + 28] = -2; // log1p of a value <= -1
    const scores = new Float32Array(50_000);
    expect(s.score(rows, scores, null, 0, 0)).toEqual([1234, 28]);
    expect(s.score(rows, scores, null, 1, 0)).toBeNull();
    expect(scores[1234]).toBeNaN();
    expect(scores[30_000]).toBeNaN();
    expect(Number.isFinite(scores[0])).toBe(true);
    s.dispose();
    expect(() => s.score(rows, scores, null, 0, 0)).toThrow('Expected `scorer` to be usable, got a disposed scorer');
  });

  it('int8 (dp4a) stays close to fp32', () => {
    const rows = randomRows(20_000, 29, seed + 7, [28]);
    const q = quantize(model, rows.subarray(0, 2048 * 29));
    const s = new addon.CudaScorer(spec, { precision: 'int8', quant: q });
    const scores = new Float32Array(20_000);
    expect(s.score(rows, scores, null, 0, 0)).toBeNull();
    const ref = addon.referenceScore(spec, rows).scores;
    const rel = Array.from(scores, (v, i) => Math.abs(v - ref[i]!) / Math.max(ref[i]!, 1e-3)).sort((a, b) => a - b);
    expect(rel[10_000]).toBeLessThan(0.02);
    s.dispose();
  });

  it('trains on the device (the Trainer with cudaDevice 0): the loss of repeated epochs goes down', async () => {
    const t = new addon.Trainer(spec, { lr: 1e-3, weightDecay: 1e-5, dropout: 0.1, seed: 42, cudaDevice: 0 });
    const rows = randomRows(4096, 29, seed + 8, [28]);
    const first = (await t.trainEpoch(rows)).loss;
    let last = first;
    for (let i = 0; i < 20; i++) last = (await t.trainEpoch(rows)).loss;
    expect(last).toBeLessThan(first);
    t.dispose();
  });
});
