// Training throughput (rows/s) of one shuffled epoch at batch 256 with Adam on the same network
// ([29, 32, 16, 32, 29], ReLU, dropout 0.1 after the first hidden layer): the native Trainer
// (src/train) against TensorFlow.js. Both see the bench's normal rows; the native trainer takes raw
// rows and standardizes inside its pass, tfjs gets them standardized beforehand (that work is not
// timed, in tfjs's favour). A warm-up epoch first, then the median of the timed epochs.
import { addon } from '../../src/native.js';
import { toAddonSpec } from '../../src/model.js';
import type { BenchData } from './data.js';
import { type TfBackend, tfDetail, useTf } from './tf.js';
import { median } from './timing.js';

export const TRAIN_BATCH = 256;

/** Trainer ids, in the order they run. */
export const TRAINERS: readonly string[] = ['native', 'tfjs-cpu', 'tfjs-wasm'];

/** Not measured here: the figure the issue quotes for the original PyTorch code on 2 threads. */
export const PYTORCH_BASELINE = {
  label: 'PyTorch (original project), 2 threads',
  rowsPerSecond: 230_000,
  batch: 256,
  source: 'figure quoted in the issue text; not measured by this harness',
};

export interface TrainingReport {
  id: string;
  label: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  rows: number;
  epochs: number;
  /** Median rows/s over the timed epochs. */
  rowsPerSecond?: number;
  epochRowsPerSecond?: number[];
  detail: Record<string, unknown>;
}

export interface TrainingOptions {
  data: BenchData;
  /** Rows per epoch for the native trainer and for tfjs (tfjs is ~100x slower: it gets fewer). */
  nativeRows: number;
  tfjsRows: number;
  /** Timed epochs (after one warm-up epoch). */
  epochs: number;
  threads: number;
  /** Which trainers: 'native', 'tfjs-cpu', 'tfjs-wasm'. */
  trainers: readonly string[];
  log?: (line: string) => void;
}

/** The normal rows of the bench data, repeated if needed to reach n rows. */
function normalRows(data: BenchData, n: number): Float32Array {
  const d = data.model.features.length;
  const idx: number[] = [];
  for (let i = 0; i < data.n; i++) if (data.labels[i] === 0) idx.push(i);
  if (idx.length === 0) throw new RangeError('The bench data has no normal rows to train on');
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++)
    out.set(data.rows.subarray(idx[r % idx.length]! * d, idx[r % idx.length]! * d + d), r * d);
  return out;
}

async function trainNative(o: TrainingOptions): Promise<TrainingReport> {
  const report: TrainingReport = {
    id: 'native',
    label: 'fraudscore Trainer',
    status: 'ok',
    rows: o.nativeRows,
    epochs: o.epochs,
    detail: {},
  };
  const rows = normalRows(o.data, o.nativeRows);
  const trainer = new addon.Trainer(toAddonSpec(o.data.model), {
    lr: 1e-3,
    weightDecay: 1e-5,
    dropout: 0.1,
    seed: 42,
    threads: o.threads,
    batchSize: TRAIN_BATCH,
  });
  try {
    await trainer.trainEpoch(rows);
    const rates: number[] = [];
    for (let e = 0; e < o.epochs; e++) {
      const t0 = performance.now();
      const r = await trainer.trainEpoch(rows);
      const s = (performance.now() - t0) / 1000;
      if (!Number.isFinite(r.loss)) throw new Error(`native training diverged: epoch loss ${r.loss}`);
      rates.push(r.rows / s);
    }
    report.epochRowsPerSecond = rates;
    report.rowsPerSecond = median(rates);
    report.detail = {
      threads: o.threads,
      batch: TRAIN_BATCH,
      optimizer: 'Adam lr 1e-3, weight decay 1e-5',
      dropout: 0.1,
    };
  } finally {
    trainer.dispose();
  }
  return report;
}

async function trainTfjs(o: TrainingOptions, backend: TfBackend): Promise<TrainingReport> {
  const report: TrainingReport = {
    id: `tfjs-${backend}`,
    label: backend === 'cpu' ? 'tfjs cpu (pure JS)' : 'tfjs wasm',
    status: 'ok',
    rows: o.tfjsRows,
    epochs: o.epochs,
    detail: {},
  };
  const tf = await useTf(backend);
  const m = o.data.model;
  const d = m.features.length;
  const p = m.preprocessing;
  const raw = normalRows(o.data, o.tfjsRows);
  const z = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const j = i % d;
    const v = p.transform[j] === 'log1p' ? Math.log1p(raw[i]!) : raw[i]!;
    z[i] = (v - p.mean[j]!) / p.std[j]!;
  }
  const sizes = [d, ...m.layers.map((l) => l.out)];
  const net = tf.sequential();
  for (let l = 1; l < sizes.length; l++) {
    const last = l === sizes.length - 1;
    net.add(
      tf.layers.dense({
        units: sizes[l]!,
        activation: last ? 'linear' : 'relu',
        ...(l === 1 ? { inputShape: [d] } : {}),
      }),
    );
    if (l === 1) net.add(tf.layers.dropout({ rate: 0.1 }));
  }
  net.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const x = tf.tensor2d(z, [o.tfjsRows, d]);
  try {
    const runEpoch = async (t: typeof x) => {
      const h = await net.fit(t, t, { batchSize: TRAIN_BATCH, epochs: 1, shuffle: true, verbose: 0 });
      const loss = h.history.loss?.[0];
      if (typeof loss !== 'number' || !Number.isFinite(loss)) throw new Error(`tfjs training diverged: loss ${loss}`);
    };
    await runEpoch(x);
    const rates: number[] = [];
    for (let e = 0; e < o.epochs; e++) {
      const t0 = performance.now();
      await runEpoch(x);
      rates.push(o.tfjsRows / ((performance.now() - t0) / 1000));
    }
    report.epochRowsPerSecond = rates;
    report.rowsPerSecond = median(rates);
    report.detail = {
      ...tfDetail(tf, backend),
      batch: TRAIN_BATCH,
      optimizer: 'Adam lr 1e-3 (no weight decay)',
      dropout: 0.1,
    };
  } finally {
    x.dispose();
    net.dispose();
  }
  return report;
}

/** [async] Runs the chosen trainers; one that cannot run here is reported with why. */
export async function runTraining(o: TrainingOptions): Promise<TrainingReport[]> {
  const unknown = o.trainers.filter((t) => !TRAINERS.includes(t));
  if (unknown.length > 0) {
    throw new RangeError(`Unknown trainer '${unknown[0]}' (expected ${TRAINERS.join(', ')})`);
  }
  const out: TrainingReport[] = [];
  for (const id of o.trainers) {
    o.log?.(`training: ${id}`);
    try {
      if (id === 'native') out.push(await trainNative(o));
      else out.push(await trainTfjs(o, id === 'tfjs-cpu' ? 'cpu' : 'wasm'));
    } catch (e) {
      out.push({ id, label: id, status: 'failed', reason: (e as Error).message, rows: 0, epochs: 0, detail: {} });
    }
    const last = out.at(-1)!;
    o.log?.(
      `  ${last.status === 'ok' ? `${Math.round(last.rowsPerSecond!).toLocaleString('en-US')} rows/s` : `${last.status}: ${last.reason}`}`,
    );
  }
  return out;
}
