// Shared test helpers: fresh random inputs (seed printed for replay), the one test model factory,
// the real data path, errors.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { mulberry32 } from '../src/data/random.js';
import { createModel, type Model, type Threshold } from '../src/model.js';

/** A seed per run unless FRAUDSCORE_TEST_SEED is set; logged so a failure can be replayed. */
export function testSeed(): number {
  const env = process.env.FRAUDSCORE_TEST_SEED;
  const seed = env ? Number(env) : (Math.random() * 2 ** 31) >>> 0;
  console.log(`FRAUDSCORE_TEST_SEED=${seed}`);
  return seed;
}

/** n*d raw rows: normal(0, 2) values, and exponential ones (> -1) for log1p features. */
export function randomRows(n: number, d: number, seed: number, log1pCols: number[] = []): Float32Array {
  const rand = mulberry32(seed);
  const rows = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      if (log1pCols.includes(j)) rows[i * d + j] = -Math.log(1 - rand()) * 50;
      else {
        const u = rand() || 1e-12;
        rows[i * d + j] = 2 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
      }
    }
  }
  return rows;
}

/** The real sample, or null when absent (tests that need it skip with a message). */
export function realDataPath(): string | null {
  const p = process.env.FRAUDSCORE_DATA ?? resolve(import.meta.dirname, '../../shared/data/creditcard-sample.csv.gz');
  return existsSync(p) ? p : null;
}

/** Max relative error, the denominator floored at 1e-3 (see native/tests/testing.h). */
export function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), 1e-3);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/**
 * The test model of the shape: V1..V28 + Amount (log1p), hidden [32, 16, 32], seeded random
 * weights, and a preprocessing whose means and scales differ per feature (so a kernel that mixes
 * up columns shows).
 */
export function model29(seed: number, options: { name?: string; threshold?: Threshold } = {}): Model {
  const features = [...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount'];
  const m = createModel({ features, hidden: [32, 16, 32], seed, ...(options.name ? { name: options.name } : {}) });
  m.preprocessing.transform[28] = 'log1p';
  m.preprocessing.mean = features.map((_, j) => (j === 28 ? 3 : 0.1 * j));
  m.preprocessing.std = features.map((_, j) => 0.5 + (j % 5) * 0.3);
  if (options.threshold) m.threshold = options.threshold;
  return m;
}
