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
  /** Per class: cumulative component weights. */
  cumWeights: Float64Array[];
  /** Per class: index of its first component in flatMeans / flatChol. */
  offset: number[];
  flatMeans: Float64Array[];
  flatChol: Float64Array[];
}

function prepare(stats: SynthStats): Sampler {
  const d = stats.features.length;
  const cumWeights: Float64Array[] = [];
  const offset: number[] = [];
  const flatMeans: Float64Array[] = [];
  const flatChol: Float64Array[] = [];
  for (const cls of [stats.normal, stats.fraud]) {
    const total = cls.components.reduce((a, c) => a + c.weight, 0);
    let acc = 0;
    cumWeights.push(Float64Array.from(cls.components, (c) => (acc += c.weight / total)));
    offset.push(flatMeans.length);
    for (const c of cls.components) {
      flatMeans.push(Float64Array.from(c.mean));
      flatChol.push(cholesky(c.cov, d));
    }
  }
  if (flatMeans.length > 255) throw new Error('Synthetic-data statistics have more than 255 mixture components');
  return { d, cumWeights, offset, flatMeans, flatChol };
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
  const comp = new Uint8Array(chunkRows);
  const order = new Int32Array(chunkRows);
  const nComp = s.flatMeans.length;
  // Amount is modelled as log1p(Amount): back-transform, clip to the real range, round to cents.
  const toAmount = (v: number) => Math.round(Math.min(amountMax, Math.max(amountMin, Math.expm1(v))) * 100) / 100;

  for (let start = 0; start < rows; start += chunkRows) {
    const m = Math.min(chunkRows, rows - start);
    const out = new Float32Array(m * d);
    const labels = new Uint8Array(m);
    const time = new Float64Array(m);
    const zc = m === chunkRows ? z : z.subarray(0, m * d);
    rngZ.fillNormal(zc);
    // Per-row choices first (class, time, mixture component), in row order from their own stream.
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
      comp[r] = s.offset[cls] + k;
    }
    // Then x = mean + L z, rows grouped by component so that four rows share each load of L: the
    // product dominates the cost, and this roughly halves it. Each row's sum runs in the same order
    // as a plain loop would, so the result does not depend on the grouping.
    const counts = new Int32Array(nComp + 1);
    for (let r = 0; r < m; r++) counts[comp[r] + 1]++;
    for (let c = 0; c < nComp; c++) counts[c + 1] += counts[c];
    const starts = counts.slice();
    for (let r = 0; r < m; r++) order[starts[comp[r]]++] = r;
    for (let c = 0; c < nComp; c++) {
      const mu = s.flatMeans[c];
      const l = s.flatChol[c];
      const end = counts[c + 1];
      let g = counts[c];
      for (; g + 4 <= end; g += 4) {
        const z0 = order[g] * d;
        const z1 = order[g + 1] * d;
        const z2 = order[g + 2] * d;
        const z3 = order[g + 3] * d;
        for (let i = 0; i < d; i++) {
          let a0 = mu[i];
          let a1 = a0;
          let a2 = a0;
          let a3 = a0;
          const li = i * d;
          for (let j = 0; j <= i; j++) {
            const lij = l[li + j];
            a0 += lij * zc[z0 + j];
            a1 += lij * zc[z1 + j];
            a2 += lij * zc[z2 + j];
            a3 += lij * zc[z3 + j];
          }
          if (i < amountCol) {
            out[z0 + i] = a0;
            out[z1 + i] = a1;
            out[z2 + i] = a2;
            out[z3 + i] = a3;
          } else {
            out[z0 + i] = toAmount(a0);
            out[z1 + i] = toAmount(a1);
            out[z2 + i] = toAmount(a2);
            out[z3 + i] = toAmount(a3);
          }
        }
      }
      for (; g < end; g++) {
        const zo = order[g] * d;
        for (let i = 0; i < d; i++) {
          let acc = mu[i];
          const li = i * d;
          for (let j = 0; j <= i; j++) acc += l[li + j] * zc[zo + j];
          out[zo + i] = i < amountCol ? acc : toAmount(acc);
        }
      }
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
