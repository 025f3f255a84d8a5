// Synthetic transactions drawn from the committed per-class statistics (data/synth-stats.json), so a
// fresh clone can train, evaluate and benchmark at any size with no download. Deterministic for a
// seed whatever the chunk size: rows are generated one after another from one seeded stream.
//
// Speed: a Cholesky factor per mixture component is computed once; each row costs d normal
// deviates and one d x d lower-triangular product. Chunks of rows are produced and written one at a
// time, so memory stays bounded for any row count.
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { openTableWriter, type WriteOptions } from '../data/load.js';
import { Rng } from '../data/random.js';
import { DEFAULT_FEATURES, type Table } from '../data/table.js';
import { cholesky } from './linalg.js';
import { loadSynthStats, type SynthStats } from './stats.js';

export interface SynthOptions {
  /** Number of rows. */
  rows: number;
  /**
   * Share of fraud rows, in [0, 1]; exactly round(rows * fraudRate) rows are frauds.
   * @default FULL_DATA_FRAUD_RATE (492 / 284807, the rate of the full Kaggle file)
   */
  fraudRate?: number;
  /** @default 42 */
  seed?: number;
  /** Statistics to draw from. @default data/synth-stats.json */
  stats?: SynthStats;
  /** Rows per generated chunk (memory bound of writeSynth). @default 65536 */
  chunkRows?: number;
}

/** Fraud share of the full Kaggle file (492 frauds in 284,807 rows); the sample's is ~10x higher. */
export const FULL_DATA_FRAUD_RATE = 492 / 284807;

interface Sampler {
  d: number;
  cumWeights: Float64Array[];
  means: Float64Array[][];
  chol: Float64Array[][];
}

function prepare(stats: SynthStats): Sampler {
  const d = stats.features.length;
  const cumWeights: Float64Array[] = [];
  const means: Float64Array[][] = [];
  const chol: Float64Array[][] = [];
  for (const cls of [stats.normal, stats.fraud]) {
    const total = cls.components.reduce((a, c) => a + c.weight, 0);
    let acc = 0;
    cumWeights.push(Float64Array.from(cls.components, (c) => (acc += c.weight / total)));
    means.push(cls.components.map((c) => Float64Array.from(c.mean)));
    chol.push(cls.components.map((c) => cholesky(c.cov, d)));
  }
  return { d, cumWeights, means, chol };
}

function checkOptions(opts: SynthOptions): { rows: number; fraudRate: number; seed: number; chunkRows: number } {
  const rows = opts.rows;
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw new RangeError(`Expected \`rows\` to be a positive integer, got ${rows}`);
  const fraudRate = opts.fraudRate ?? FULL_DATA_FRAUD_RATE;
  if (typeof fraudRate !== 'number' || !(fraudRate >= 0 && fraudRate <= 1)) {
    throw new RangeError(`Expected \`fraudRate\` to be a number in [0, 1], got ${opts.fraudRate}`);
  }
  const seed = opts.seed ?? 42;
  if (!Number.isSafeInteger(seed)) throw new TypeError(`Expected \`seed\` to be a safe integer, got ${seed}`);
  const chunkRows = opts.chunkRows ?? 65536;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new RangeError(`Expected \`chunkRows\` to be a positive integer, got ${chunkRows}`);
  }
  return { rows, fraudRate, seed, chunkRows };
}

/**
 * Generates the rows in chunks: features V1..V28 and Amount, Class labels, and Time in increasing
 * order over the span of the real data (two days), like the Kaggle file.
 */
export function* synthesizeChunks(opts: SynthOptions): Generator<Table> {
  const stats = opts.stats ?? loadSynthStats();
  const { rows, fraudRate, seed, chunkRows } = checkOptions(opts);
  const features = [...stats.features];
  if (features.join() !== DEFAULT_FEATURES.join()) {
    // The Amount handling below relies on the layout; a stats file for other columns is a different tool.
    throw new Error(`Synthetic-data statistics must model ${DEFAULT_FEATURES.join(', ')}; got ${features.join(', ')}`);
  }
  const s = prepare(stats);
  const d = s.d;
  const amountCol = d - 1;
  const { min: amountMin, max: amountMax } = stats.amount;
  const span = stats.time.span;
  // Two streams: normals are drawn a chunk at a time, per-row choices one row at a time; separate
  // generators keep both sequences the same whatever the chunk size.
  const rng = new Rng(seed);
  const rngZ = new Rng(rng.nextU32() + 0x100000000 * (rng.nextU32() & 0x1fffff));
  let fraudsLeft = Math.round(rows * fraudRate);
  let timeU = 0; // running ascending uniform order statistic
  const z = new Float64Array(chunkRows * d);
  const y = new Float64Array(d);

  for (let start = 0; start < rows; start += chunkRows) {
    const m = Math.min(chunkRows, rows - start);
    const out = new Float32Array(m * d);
    const labels = new Uint8Array(m);
    const time = new Float64Array(m);
    const zc = m === chunkRows ? z : z.subarray(0, m * d);
    rngZ.fillNormal(zc);
    for (let r = 0; r < m; r++) {
      const left = rows - start - r;
      // Selection sampling: exactly round(rows * fraudRate) frauds, spread uniformly.
      const cls = rng.next() * left < fraudsLeft ? 1 : 0;
      fraudsLeft -= cls;
      labels[r] = cls;
      // Ascending uniform order statistics: U(k+1) = U(k) + (1 - U(k)) * (1 - V^(1 / (n - k))).
      timeU += (1 - timeU) * (1 - rng.next() ** (1 / left));
      time[r] = Math.floor(timeU * span);
      const cw = s.cumWeights[cls];
      const u = rng.next();
      let k = 0;
      while (k < cw.length - 1 && u >= cw[k]) k++;
      const mu = s.means[cls][k];
      const l = s.chol[cls][k];
      const zo = r * d;
      for (let i = 0; i < d; i++) {
        let acc = mu[i];
        const li = i * d;
        for (let j = 0; j <= i; j++) acc += l[li + j] * zc[zo + j];
        y[i] = acc;
      }
      const o = r * d;
      for (let i = 0; i < amountCol; i++) out[o + i] = y[i];
      // Amount is modelled as log1p(Amount): back-transform, clip to the real range, round to cents.
      const amount = Math.min(amountMax, Math.max(amountMin, Math.expm1(y[amountCol])));
      out[o + amountCol] = Math.round(amount * 100) / 100;
    }
    yield { features, rows: out, n: m, labels, time };
  }
}

/** Generates a whole synthetic table in memory (see synthesizeChunks; use writeSynth for big files). */
export function synthesize(opts: SynthOptions): Table {
  const parts = [...synthesizeChunks(opts)];
  if (parts.length === 1) return parts[0];
  const d = parts[0].features.length;
  const t: Table = {
    features: parts[0].features,
    rows: new Float32Array(opts.rows * d),
    n: opts.rows,
    labels: new Uint8Array(opts.rows),
    time: new Float64Array(opts.rows),
  };
  let at = 0;
  for (const p of parts) {
    t.rows.set(p.rows, at * d);
    t.labels?.set(p.labels as Uint8Array, at);
    t.time?.set(p.time as Float64Array, at);
    at += p.n;
  }
  return t;
}

/**
 * [async] Writes synthetic rows to a file (CSV, CSV.gz, Arrow or Parquet by extension), chunk by
 * chunk. The file appears under its name only when complete.
 */
export async function writeSynth(
  path: string,
  opts: SynthOptions & WriteOptions,
): Promise<{ rows: number; frauds: number }> {
  // Same extension as the target, so the format (and .gz / .arrows) is recognized from the name.
  const tmp = join(dirname(path), `.partial-${process.pid}-${basename(path)}`);
  const stats = opts.stats ?? loadSynthStats();
  const writer = openTableWriter(tmp, { features: stats.features, labels: true, time: true }, { format: opts.format });
  let frauds = 0;
  try {
    for (const chunk of synthesizeChunks({ ...opts, stats })) {
      for (let i = 0; i < chunk.n; i++) frauds += (chunk.labels as Uint8Array)[i];
      await writer.write(chunk);
    }
    await writer.close();
    await rename(tmp, path);
  } catch (err) {
    writer.abort();
    await rm(tmp, { force: true });
    throw err;
  }
  return { rows: opts.rows, frauds };
}
