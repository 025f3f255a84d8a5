// TensorFlow.js scoring: the same computation as the native kernel, written as a tfjs user who
// cares about speed would (fused matMul + bias + ReLU, everything inside one tidy): raw rows ->
// log1p where the model says -> standardize -> 4 dense layers -> mean squared error per row.
// Its scores are checked against the float64 reference like every engine's.
import type { Model } from '../../../src/model.js';
import { type TfBackend, tfDetail, useTf } from '../tf.js';
import { at, batchViews, type Engine, type EngineContext, type EngineSetup } from './types.js';

async function tfjsEngine(ctx: EngineContext, backend: TfBackend): Promise<EngineSetup> {
  const tf = await useTf(backend);
  const model: Model = ctx.data.model;
  const d = model.features.length;
  const p = model.preprocessing;
  const logMask = p.transform.map((t) => t === 'log1p');
  const hasLog = logMask.some(Boolean);
  const mask = tf.tensor1d(logMask, 'bool');
  const mean = tf.tensor1d(p.mean);
  const invStd = tf.tensor1d(p.std.map((s) => 1 / s));
  // Weights transposed once to [in, out]: tfjs-wasm 4.22's fused matMul adds the bias by row instead
  // of by column when transposeB is set (the bench's accuracy check caught it: 0.3 relative error).
  const layers = model.layers.map((l) => ({
    w: tf.tidy(() => tf.transpose(tf.tensor2d(l.weight, [l.out, l.in]))),
    b: tf.tensor1d(l.bias),
  }));
  const views = batchViews(ctx.data.rows, d, ctx.batches);
  const last = layers.length - 1;
  const sync = (n: number): Float32Array => {
    const err = tf.tidy(() => {
      const x = tf.tensor2d(at(views, n), [n, d]);
      const t = hasLog ? tf.where(mask, tf.log1p(x), x) : x;
      const z = tf.mul(tf.sub(t, mean), invStd);
      let h: typeof z = z;
      layers.forEach((l, i) => {
        h = tf.fused.matMul({ a: h, b: l.w, bias: l.b, activation: i === last ? 'linear' : 'relu' });
      });
      return tf.mean(tf.squaredDifference(h, z), 1);
    });
    try {
      return err.dataSync() as Float32Array;
    } finally {
      err.dispose();
    }
  };
  return {
    // tfjs has one active backend: the cpu and wasm engines take turns, each on its own tensors.
    activate: async () => {
      await useTf(backend);
    },
    sync,
    dispose: () => {
      tf.dispose([mask, mean, invStd, ...layers.flatMap((l) => [l.w, l.b])]);
    },
    detail: tfDetail(tf, backend),
  };
}

export const tfjsCpu: Engine = {
  id: 'tfjs-cpu',
  label: 'tfjs cpu (pure JS)',
  precision: 'fp32',
  syncUpTo: Number.POSITIVE_INFINITY,
  create: (ctx) => tfjsEngine(ctx, 'cpu'),
};

export const tfjsWasm: Engine = {
  id: 'tfjs-wasm',
  label: 'tfjs wasm',
  precision: 'fp32',
  syncUpTo: Number.POSITIVE_INFINITY,
  create: (ctx) => tfjsEngine(ctx, 'wasm'),
};
