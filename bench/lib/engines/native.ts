// fraudscore's own engines through the public Scorer (what a user calls, argument checks
// included): CPU fp32, CPU int8 (when quantize() can quantize the model) and CUDA (when a device answers). Outputs go to buffers allocated up front
// through `out`, so the timed call is the engine, not the allocator.
import type { Model } from '../../../src/model.js';
import { addon } from '../../../src/native.js';
import { quantize } from '../../../src/quantize.js';
import { backendInfo, Scorer, type ScorerOptions } from '../../../src/scorer.js';
import { type BenchData, makeTable } from '../data.js';
import { at, batchViews, type Engine, type EngineContext, type EngineSetup } from './types.js';

const quantized = new WeakMap<BenchData, Promise<Model | { skip: string }>>();
const quantizedClamp = new WeakMap<BenchData, Promise<Model | { skip: string }>>();

/**
 * [async] The bench model quantized once per data set, or why not. `clamp`: static scales at the
 * maximum that clamp, the form the CUDA int8 kernel implements (it has no fp32 fallback).
 */
export function quantizedModel(data: BenchData, clamp = false): Promise<Model | { skip: string }> {
  const cache = clamp ? quantizedClamp : quantized;
  let p = cache.get(data);
  if (!p) {
    p = (async () => {
      // Calibrate on 16k fresh rows of the same source (not the rows scored): what a user would
      // pass, and quick. quantize()'s defaults: static 99.95th-percentile scales, rows beyond them
      // rescored in fp32.
      const calibration = (await makeTable(16_384, data.seed + 1)).table.rows;
      try {
        return quantize(data.model, clamp ? { calibration, outOfRange: 'clamp' } : { calibration });
      } catch (e) {
        return { skip: `quantize() failed: ${(e as Error).message}` };
      }
    })();
    cache.set(data, p);
  }
  return p;
}

// fraudscore's rows and outputs live on a SharedArrayBuffer here, as a service that cares for
// speed keeps them: scoreAsync then reads and writes them in place. On a plain ArrayBuffer it
// copies them in on the event loop and the scores back when it settles (N-API cannot pin such a
// buffer against a transfer), which `node --import tsx bench/async-copy.ts` measures on its own.
// The sync call never copies; the peers get the same values in their own arrays.
function sharedCopy(rows: Float32Array, values: number): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(values * 4));
  out.set(rows.subarray(0, values));
  return out;
}

function scorerEngine(ctx: EngineContext, model: Model, options: ScorerOptions): EngineSetup {
  const d = model.features.length;
  const largest = Math.min(Math.max(...ctx.batches), ctx.data.rows.length / d);
  const views = batchViews(sharedCopy(ctx.data.rows, largest * d), d, ctx.batches);
  const outs = new Map(ctx.batches.map((b) => [b, new Float32Array(new SharedArrayBuffer(b * 4))]));
  const scorer = new Scorer(model, options);
  return {
    sync: (n) => scorer.score(at(views, n), { out: at(outs, n) }),
    async: async (n) => (await scorer.scoreAsync(at(views, n), { out: at(outs, n) })).scores,
    dispose: () => scorer.dispose(),
    detail: { engine: scorer.engine, threads: addon.cpuInfo().threads, arrays: 'SharedArrayBuffer' },
  };
}

export const nativeFp32: Engine = {
  id: 'native-fp32',
  label: 'fraudscore fp32',
  precision: 'fp32',
  syncUpTo: 4096,
  asyncFrom: 256,
  async create(ctx) {
    return scorerEngine(ctx, ctx.data.model, { backend: 'cpu', precision: 'fp32' });
  },
};

export const nativeInt8: Engine = {
  id: 'native-int8',
  label: 'fraudscore int8',
  precision: 'int8',
  syncUpTo: 4096,
  asyncFrom: 256,
  async create(ctx) {
    if (typeof addon.CpuInt8Scorer !== 'function') return { skip: 'this addon build has no CpuInt8Scorer' };
    const m = await quantizedModel(ctx.data);
    if ('skip' in m) return m;
    const e = scorerEngine(ctx, m, { backend: 'cpu', precision: 'int8' });
    if (!('skip' in e)) {
      e.detail.activations = m.quantization?.activations;
      e.detail.outOfRange = m.quantization?.outOfRange;
      // The share of the scored rows (the largest batch) the fp32 fallback takes: its cost.
      const n = Math.min(Math.max(...ctx.batches), ctx.data.n);
      const probe = new Scorer(m, { backend: 'cpu', precision: 'int8' });
      probe.score(ctx.data.rows.subarray(0, n * m.features.length));
      e.detail.fp32FallbackShare = probe.fp32FallbackRows / n;
      probe.dispose();
    }
    return e;
  },
};

function cudaEngine(precision: 'fp32' | 'int8'): Engine['create'] {
  return async (ctx) => {
    const info = backendInfo().cuda;
    if (!info.available) return { skip: `no CUDA device: ${String(info.reason ?? 'not available')}` };
    let model = ctx.data.model;
    if (precision === 'int8') {
      const m = await quantizedModel(ctx.data, true);
      if ('skip' in m) return m;
      model = m;
    }
    const e = scorerEngine(ctx, model, { backend: 'cuda', precision });
    if (!('skip' in e)) e.detail.device = info.name ?? null;
    return e;
  };
}

export const cudaFp32: Engine = {
  id: 'cuda-fp32',
  label: 'fraudscore CUDA fp32',
  precision: 'fp32',
  syncUpTo: 256,
  asyncFrom: 16,
  create: cudaEngine('fp32'),
};

export const cudaInt8: Engine = {
  id: 'cuda-int8',
  label: 'fraudscore CUDA int8',
  precision: 'int8',
  syncUpTo: 256,
  asyncFrom: 16,
  create: cudaEngine('int8'),
};
