import { copyFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { readBatches } from '../../data/load.js';
import { rowsWithLabel, type Table } from '../../data/table.js';
import { loadModel, MODEL_JSON, saveModel, WEIGHTS_FILE } from '../../model.js';
import { prune, quantize } from '../../quantize.js';
import { Scorer } from '../../scorer.js';
import { type Command, requireString, UsageError } from '../command.js';

/** [async] Up to `max` normal rows (label 0 where the file has labels) of a data file, raw. */
async function calibrationRows(path: string, features: readonly string[], max: number) {
  const parts: Float32Array[] = [];
  let n = 0;
  let skippedFrauds = 0;
  for await (const batch of readBatches(path, { features, batchRows: 16_384 })) {
    const normal: Table = batch.labels ? rowsWithLabel(batch, 0) : batch;
    skippedFrauds += batch.n - normal.n;
    const take = Math.min(normal.n, max - n);
    parts.push(normal.rows.subarray(0, take * features.length));
    n += take;
    if (n >= max) break;
  }
  const rows = new Float32Array(n * features.length);
  let at = 0;
  for (const p of parts) {
    rows.set(p, at);
    at += p.length;
  }
  return { rows, n, skippedFrauds };
}

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'Quantize a model to int8 (static scales from calibration rows, or dynamic) for --precision int8',
  help: `Usage: fraudscore quantize --model DIR --calibration FILE [--out DIR] [options]

Adds int8 weights (symmetric, per output channel) and activation scales to a model, so that
\`score --precision int8\` and the server's /predict_optimized can use the native int8 engine.
Static scales (the default) come from the calibration rows: the 99.95th percentile of each layer's
|input|; a row whose activations leave that range is scored with the fp32 weights. The fp32 weights
stay in the artifact. Prints the int8 scores' agreement with fp32 on the calibration rows.

Options:
  --model DIR          model directory (model.json + weights.safetensors)
  --calibration FILE   CSV(.gz), Arrow or Parquet rows with the model's feature columns, raw as
                       scored (normal transactions: rows labelled 1 in a Class column are skipped)
  --out DIR            where to write the quantized model (default: --model, in place; the other
                       files of a model directory, e.g. model.onnx, are copied when it differs)
  --max-rows N         calibration rows to use, the first N normal ones (default 16384)
  --activations A      static (default) or dynamic (per 16-row block at scoring time; no
                       --calibration needed)
  --out-of-range O     fp32 (default): rows beyond the calibrated range are scored in fp32;
                       clamp: their activations clamp to +-127
  --percentile P       calibrated range, as a percentile of |activation| (default 99.95 with
                       fp32, 100 with clamp)
  --prune AMOUNT       zero this fraction of each layer's smallest weights first (0 <= AMOUNT < 1;
                       changes the fp32 weights too, so it needs an --out other than --model)

Example:
  fraudscore quantize --model models/mine --calibration data/train.csv.gz --out models/mine-int8`,
  options: {
    model: { type: 'string' },
    calibration: { type: 'string' },
    out: { type: 'string' },
    'max-rows': { type: 'string' },
    activations: { type: 'string' },
    'out-of-range': { type: 'string' },
    percentile: { type: 'string' },
    prune: { type: 'string' },
  },
  async run(values) {
    const dir = requireString(values, 'model');
    const out = (values.out as string | undefined) ?? dir;
    const activations = (values.activations as string | undefined) ?? 'static';
    if (activations !== 'static' && activations !== 'dynamic') {
      throw new UsageError(`--activations must be static or dynamic, got '${activations}'`);
    }
    const outOfRange = values['out-of-range'] as string | undefined;
    if (outOfRange !== undefined && outOfRange !== 'fp32' && outOfRange !== 'clamp') {
      throw new UsageError(`--out-of-range must be fp32 or clamp, got '${outOfRange}'`);
    }
    const num = (flag: string): number | undefined => {
      const v = values[flag] as string | undefined;
      if (v === undefined) return undefined;
      const x = Number(v);
      if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${flag} must be a number, got '${v}'`);
      return x;
    };
    const maxRows = num('max-rows') ?? 16_384;
    if (!(Number.isInteger(maxRows) && maxRows >= 1)) {
      throw new UsageError(`--max-rows must be a positive integer, got '${values['max-rows']}'`);
    }
    const amount = num('prune');
    if (amount !== undefined && resolve(out) === resolve(dir)) {
      throw new UsageError('--prune changes the fp32 weights: write the result to an --out other than --model');
    }
    const calibrationPath = values.calibration as string | undefined;
    if (activations === 'static' && !calibrationPath) {
      throw new UsageError('missing required option --calibration (static scales come from calibration rows)');
    }

    let model = await loadModel(dir);
    if (model.quantization) {
      // Re-quantizing starts from the fp32 weights, which the artifact keeps.
      const { quantization: _q, ...rest } = model;
      model = rest;
    }
    if (amount !== undefined) model = prune(model, { amount });
    let calibration: Float32Array | undefined;
    if (calibrationPath) {
      const c = await calibrationRows(calibrationPath, model.features, maxRows);
      if (c.n === 0) throw new Error(`${calibrationPath}: no normal rows to calibrate on`);
      calibration = c.rows;
      console.error(
        `calibration: ${c.n} rows of ${calibrationPath}${c.skippedFrauds ? ` (${c.skippedFrauds} fraud rows skipped)` : ''}`,
      );
    }
    const q = quantize(
      model,
      activations === 'dynamic'
        ? { activations }
        : {
            calibration,
            outOfRange: outOfRange as 'fp32' | 'clamp' | undefined,
            percentile: num('percentile'),
          },
    );
    const qz = q.quantization!;
    if (qz.activations === 'static') {
      console.error(
        `input scales: ${qz.inputScales.map((s) => s.toPrecision(4)).join(', ')} (out of range: ${qz.outOfRange})`,
      );
    }
    if (calibration) {
      // How int8 tracks fp32 on the calibration rows, and how many of them the fallback takes.
      const fp32 = new Scorer(model, { backend: 'cpu', nonFinite: 'nan' });
      const int8 = new Scorer(q, { backend: 'cpu', precision: 'int8', nonFinite: 'nan' });
      const a = fp32.score(calibration);
      const b = int8.score(calibration);
      const n = a.length;
      const rel = Float64Array.from(a, (x, i) => Math.abs(b[i]! - x) / Math.max(Math.abs(x), 1e-6))
        .filter((x) => !Number.isNaN(x))
        .sort();
      const t = model.threshold?.value;
      let agree = 0;
      if (t !== undefined) for (let i = 0; i < n; i++) if (a[i]! > t === b[i]! > t) agree++;
      console.error(
        `on the calibration rows: relative score error median ${rel[Math.floor(rel.length / 2)]?.toExponential(2)}, ` +
          `p99 ${rel[Math.floor(rel.length * 0.99)]?.toExponential(2)}` +
          (t !== undefined ? `; decisions agree on ${((100 * agree) / n).toFixed(2)}%` : '') +
          `; ${((100 * int8.fp32FallbackRows) / n).toFixed(2)}% rescored in fp32`,
      );
      fp32.dispose();
      int8.dispose();
    }
    await saveModel(q, out);
    if (resolve(out) !== resolve(dir)) {
      for (const name of await readdir(dir)) {
        if (name === MODEL_JSON || name === WEIGHTS_FILE || name.startsWith('.')) continue;
        if ((await stat(join(dir, name))).isFile()) await copyFile(join(dir, name), join(out, name));
      }
    }
    console.error(`wrote ${out}`);
  },
};
