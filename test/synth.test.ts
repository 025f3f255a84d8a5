// Synthetic generator: deterministic per seed (whatever the chunk size), exact fraud count, Time in
// order, faithful to the committed statistics, and fraud rows that a model of normal rows separates.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadTable } from '../src/data/load.js';
import { rowsWithLabel } from '../src/data/table.js';
import { evaluateScores } from '../src/eval/metrics.js';
import { loadSynthStats } from '../src/synth/stats.js';
import { synthesize, writeSynth } from '../src/synth/synth.js';

const tmp = mkdtempSync(join(tmpdir(), 'fraudscore-synth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const stats = loadSynthStats();

/** Element-wise equality; reports the first difference (vitest's deep diff of big arrays is slow). */
function expectSame(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined, what: string): void {
  expect(a?.length, `${what} length`).toBe(b?.length);
  for (let i = 0; i < (a?.length ?? 0); i++) {
    if (!Object.is(a?.[i], b?.[i])) throw new Error(`${what}[${i}]: ${a?.[i]} != ${b?.[i]}`);
  }
}
const d = stats.features.length;

/** Symmetric eigen-decomposition by cyclic Jacobi rotations: returns eigenvectors as columns of v. */
function jacobiEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]), vectors: v };
}

describe('synthesize', () => {
  it('is deterministic per seed, independent of chunk size, with exactly the asked fraud count', () => {
    const a = synthesize({ rows: 5000, fraudRate: 0.02, seed: 9 });
    const b = synthesize({ rows: 5000, fraudRate: 0.02, seed: 9, chunkRows: 777 });
    const c = synthesize({ rows: 5000, fraudRate: 0.02, seed: 10 });
    expect(a.features).toEqual(stats.features);
    expect(a.n).toBe(5000);
    expectSame(b.rows, a.rows, 'rows');
    expectSame(b.labels, a.labels, 'labels');
    expectSame(b.time, a.time, 'time');
    expect(c.rows[0]).not.toBe(a.rows[0]);
    expect(Array.from(a.labels ?? []).reduce((x, y) => x + y, 0)).toBe(100);
    const time = a.time as Float64Array;
    for (let i = 1; i < a.n; i++) if (time[i] < time[i - 1]) throw new Error(`time decreases at row ${i}`);
    expect(time[0]).toBeGreaterThanOrEqual(0);
    expect(time[a.n - 1]).toBeLessThan(stats.time.span);
    for (let i = 0; i < a.n; i++) {
      const amount = a.rows[i * d + d - 1];
      if (
        !(amount >= stats.amount.min && amount <= stats.amount.max) ||
        Math.fround(Math.round(amount * 100) / 100) !== amount
      ) {
        throw new Error(`row ${i}: Amount ${amount} out of range or not in cents`);
      }
    }
  });

  it('reproduces the mixture mean and covariance of V1..V28 for normal rows', () => {
    const t = synthesize({ rows: 100000, fraudRate: 0, seed: 1 });
    const k = d - 1; // V1..V28 (Amount is clipped and rounded, so not exactly the mixture)
    const comps = stats.normal.components;
    const wsum = comps.reduce((a, c) => a + c.weight, 0);
    const mean = new Float64Array(k);
    const second = new Float64Array(k * k);
    for (const c of comps) {
      const w = c.weight / wsum;
      for (let i = 0; i < k; i++) {
        mean[i] += w * c.mean[i];
        for (let j = 0; j < k; j++) second[i * k + j] += w * (c.cov[i * d + j] + c.mean[i] * c.mean[j]);
      }
    }
    const m = new Float64Array(k);
    const s2 = new Float64Array(k * k);
    for (let r = 0; r < t.n; r++) {
      for (let i = 0; i < k; i++) {
        const xi = t.rows[r * d + i];
        m[i] += xi / t.n;
        for (let j = 0; j <= i; j++) s2[i * k + j] += (xi * t.rows[r * d + j]) / t.n;
      }
    }
    for (let i = 0; i < k; i++) {
      const sd = Math.sqrt(second[i * k + i] - mean[i] ** 2);
      expect(Math.abs(m[i] - mean[i]) / sd, `mean of ${stats.features[i]}`).toBeLessThan(0.03);
      for (let j = 0; j <= i; j++) {
        const cov = second[i * k + j] - mean[i] * mean[j];
        const got = s2[i * k + j] - m[i] * m[j];
        const sdj = Math.sqrt(second[j * k + j] - mean[j] ** 2);
        expect(Math.abs(got - cov) / (sd * sdj), `cov ${stats.features[i]},${stats.features[j]}`).toBeLessThan(0.05);
      }
    }
  });

  it('has fraud rows that a linear autoencoder (PCA) fitted on normal rows separates', () => {
    const t = synthesize({ rows: 40000, fraudRate: 0.05, seed: 3 });
    const normal = rowsWithLabel(t, 0);
    // Standardize (log1p Amount, as the model does), fit PCA on normal rows, keep 12 of 29 components.
    const x = (tbl: typeof t, r: number, j: number) =>
      j === d - 1 ? Math.log1p(tbl.rows[r * d + j]) : tbl.rows[r * d + j];
    const mean = new Float64Array(d);
    const sd = new Float64Array(d);
    for (let r = 0; r < normal.n; r++) for (let j = 0; j < d; j++) mean[j] += x(normal, r, j) / normal.n;
    for (let r = 0; r < normal.n; r++) for (let j = 0; j < d; j++) sd[j] += (x(normal, r, j) - mean[j]) ** 2 / normal.n;
    for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]);
    const cov = new Float64Array(d * d);
    const z = new Float64Array(d);
    for (let r = 0; r < normal.n; r++) {
      for (let j = 0; j < d; j++) z[j] = (x(normal, r, j) - mean[j]) / sd[j];
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] += (z[i] * z[j]) / normal.n;
    }
    const { values, vectors } = jacobiEigen(cov, d);
    const order = Array.from(values.keys())
      .sort((a, b) => values[b] - values[a])
      .slice(0, 12);
    const scores = new Float32Array(t.n);
    for (let r = 0; r < t.n; r++) {
      for (let j = 0; j < d; j++) z[j] = (x(t, r, j) - mean[j]) / sd[j];
      // Reconstruction error = energy outside the kept components.
      let kept = 0;
      let total = 0;
      for (let j = 0; j < d; j++) total += z[j] * z[j];
      for (const c of order) {
        let p = 0;
        for (let j = 0; j < d; j++) p += z[j] * vectors[j * d + c];
        kept += p * p;
      }
      scores[r] = (total - kept) / d;
    }
    const m = evaluateScores(scores, t.labels as Uint8Array, { threshold: 1 });
    expect(m.rocAuc).toBeGreaterThan(0.9);
    expect(m.auprc).toBeGreaterThan(0.5);
  });
});

describe('writeSynth', () => {
  it.each(['s.arrow', 's.csv.gz', 's.parquet'])('writes %s that loads back as the same rows', async (name) => {
    const p = join(tmp, name);
    const r = await writeSynth(p, { rows: 3000, fraudRate: 0.1, seed: 4, chunkRows: 1000 });
    expect(r).toEqual({ rows: 3000, frauds: 300 });
    const back = await loadTable(p);
    const want = synthesize({ rows: 3000, fraudRate: 0.1, seed: 4 });
    expectSame(back.rows, want.rows, 'rows');
    expectSame(back.labels, want.labels, 'labels');
    expectSame(back.time, want.time, 'time');
    expect(readdirSync(tmp).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('rejects bad options, naming them', async () => {
    expect(() => synthesize({ rows: 0 })).toThrow(/`rows` to be a positive integer, got 0/);
    expect(() => synthesize({ rows: 10, fraudRate: 2 })).toThrow(/`fraudRate` to be a number in \[0, 1\], got 2/);
    await expect(writeSynth(join(tmp, 'x.txt'), { rows: 10 })).rejects.toThrow(/Cannot tell the format/);
  });
});
