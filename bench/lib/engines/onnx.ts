// onnxruntime-node on the model's ONNX export (src/onnx: the graph includes the preprocessing, so
// it computes the same scores from the same raw rows): fp32, and int8 as ORT's dynamic
// quantization form (DynamicQuantizeLinear + MatMulInteger; the "ORT int8" target) and the
// static form of a quantized model (QuantizeLinear + MatMulInteger with fraudscore's int8 scales,
// when src/quantize.ts exists). intraOpNumThreads = the cores, one
// graph at a time (sequential), full graph optimization: ORT at its best on this machine. Feeds
// are built once per batch size; the timed call is session.run(), ORT's public API (its work runs
// synchronously inside a setImmediate, so each call also pays one event-loop hop).
import { join } from 'node:path';

import type * as Ort from 'onnxruntime-node';

import type { Model } from '../../../src/model.js';
import { exportOnnx } from '../../../src/onnx/index.js';
import { quantizedModel } from './native.js';
import { at, batchViews, type Engine, type EngineContext, type EngineSetup } from './types.js';

type OnnxPrecision = 'fp32' | 'int8' | 'int8-dynamic';

async function exportTo(model: Model, file: string, precision: OnnxPrecision): Promise<string | { skip: string }> {
  try {
    await exportOnnx(model, file, precision === 'fp32' ? undefined : { precision });
  } catch (e) {
    return { skip: `exportOnnx(${precision}) failed: ${(e as Error).message}` };
  }
  return file;
}

/**
 * The model with its log1p features marked 'none', and the rows with log1p already applied: the same
 * scores from a graph without the log1p step. At batch 65,536 the export's elementwise Log + Where
 * over all 29 columns took ~40% of ORT's time (ORT profiling, 2026-11-26), so this engine shows what
 * ORT does on the network itself.
 */
function withoutLog1p(ctx: EngineContext): { model: Model; rows: Float32Array } {
  const m = ctx.data.model;
  const d = m.features.length;
  const logCols = m.preprocessing.transform.flatMap((t, j) => (t === 'log1p' ? [j] : []));
  const rows = Float32Array.from(ctx.data.rows);
  for (let i = 0; i < ctx.data.n; i++) for (const j of logCols) rows[i * d + j] = Math.log1p(rows[i * d + j]!);
  const model: Model = {
    ...m,
    preprocessing: { ...m.preprocessing, transform: m.preprocessing.transform.map(() => 'none') },
  };
  return { model, rows };
}

async function ortEngine(ctx: EngineContext, precision: OnnxPrecision, log1pOutside = false): Promise<EngineSetup> {
  let model = ctx.data.model;
  let rows = ctx.data.rows;
  if (log1pOutside) ({ model, rows } = withoutLog1p(ctx));
  if (precision === 'int8') {
    // The static form runs fraudscore's own int8 arithmetic (the quantized model's scales).
    const q = await quantizedModel(ctx.data);
    if ('skip' in q) return q;
    model = q;
  }
  const file = await exportTo(model, join(ctx.tmpDir, `bench.${precision}.onnx`), precision);
  if (typeof file !== 'string') return file;
  const ort: typeof Ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: ctx.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const input = session.inputNames[0];
  const output = session.outputNames.includes('score') ? 'score' : session.outputNames[0];
  if (input === undefined || output === undefined) {
    await session.release();
    return { skip: `${file}: the graph has no input or no output` };
  }
  const d = ctx.data.model.features.length;
  const views = batchViews(rows, d, ctx.batches);
  const feeds = new Map([...views].map(([b, v]) => [b, { [input]: new ort.Tensor('float32', v, [b, d]) }]));
  return {
    async: async (n) => {
      const r = await session.run(at(feeds, n), [output]);
      const t = r[output];
      if (!t || t.data.length !== n)
        throw new Error(`ONNX output '${output}' has ${t?.data.length} values, expected ${n}`);
      return t.data as Float32Array;
    },
    dispose: () => session.release(),
    detail: {
      file: 'exportOnnx()',
      graph: precision,
      log1p: log1pOutside ? 'applied to the rows before the timed calls' : 'in the graph',
      ortVersion: ort.env.versions.node,
      intraOpNumThreads: ctx.threads,
      input,
      output,
    },
  };
}

export const ortFp32: Engine = {
  id: 'ort-fp32',
  label: 'onnxruntime fp32',
  precision: 'fp32',
  asyncFrom: 1,
  create: (ctx) => ortEngine(ctx, 'fp32'),
};

export const ortFp32NoLog1p: Engine = {
  id: 'ort-fp32-nolog1p',
  label: 'onnxruntime fp32, log1p outside',
  precision: 'fp32',
  asyncFrom: 1,
  create: (ctx) => ortEngine(ctx, 'fp32', true),
};

export const ortInt8: Engine = {
  id: 'ort-int8',
  label: 'onnxruntime int8 (dyn.)',
  precision: 'int8',
  asyncFrom: 1,
  create: (ctx) => ortEngine(ctx, 'int8-dynamic'),
};

export const ortInt8Static: Engine = {
  id: 'ort-int8-static',
  label: 'onnxruntime int8 (static)',
  precision: 'int8',
  asyncFrom: 1,
  create: (ctx) => ortEngine(ctx, 'int8'),
};
