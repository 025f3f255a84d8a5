// The baseline a Node developer would write without an addon: the same math in plain TypeScript
// over typed arrays (Float32Array weights as stored, Float64Array activations because JS numbers
// are doubles anyway), no allocation per call.
import type { Model } from '../../../src/model.js';
import { at, batchOutputs, type Engine, type EngineContext, type EngineSetup } from './types.js';

/** A scorer in plain TypeScript: raw rows in, mean squared reconstruction error per row out. */
export function makeTsScorer(model: Model): (rows: Float32Array, n: number, out: Float32Array) => Float32Array {
  const d = model.features.length;
  const isLog = Uint8Array.from(model.preprocessing.transform, (t) => (t === 'log1p' ? 1 : 0));
  const mean = Float64Array.from(model.preprocessing.mean);
  const invStd = Float64Array.from(model.preprocessing.std, (s) => 1 / s);
  const layers = model.layers.map((l) => ({ in: l.in, out: l.out, w: l.weight, b: l.bias }));
  const width = Math.max(d, ...layers.map((l) => l.out));
  const z = new Float64Array(d);
  let a = new Float64Array(width);
  let b = new Float64Array(width);
  const last = layers.length - 1;
  return (rows, n, out) => {
    for (let r = 0; r < n; r++) {
      const o = r * d;
      for (let j = 0; j < d; j++) {
        const x = rows[o + j]!;
        z[j] = ((isLog[j] ? Math.log1p(x) : x) - mean[j]!) * invStd[j]!;
      }
      let src: Float64Array = z;
      for (let li = 0; li <= last; li++) {
        const L = layers[li]!;
        for (let k = 0; k < L.out; k++) {
          let acc = L.b[k]!;
          const wo = k * L.in;
          for (let i = 0; i < L.in; i++) acc += L.w[wo + i]! * src[i]!;
          a[k] = li < last && acc < 0 ? 0 : acc;
        }
        src = a;
        [a, b] = [b, a];
      }
      let s = 0;
      for (let j = 0; j < d; j++) {
        const e = src[j]! - z[j]!;
        s += e * e;
      }
      out[r] = s / d;
    }
    return out;
  };
}

export const tsLoop: Engine = {
  id: 'ts-loop',
  label: 'plain TypeScript loop',
  precision: 'fp64',
  syncUpTo: Number.POSITIVE_INFINITY,
  async create(ctx: EngineContext): Promise<EngineSetup> {
    const score = makeTsScorer(ctx.data.model);
    const outs = batchOutputs(ctx.batches);
    const rows = ctx.data.rows;
    return {
      sync: (n) => score(rows, n, at(outs, n)),
      dispose: () => {},
      detail: { arithmetic: 'float64 activations, float32 weights', threads: 1 },
    };
  },
};
