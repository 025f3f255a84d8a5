// Preprocessing fitted on the training split's normal rows, stored in the model and applied by the
// native kernel: per-feature transform (log1p for heavy-tailed, non-negative columns such as Amount),
// then standardization with the mean and std of the transformed values. Fitted in float64 so that
// 10^7-row sums lose nothing.
import { assertTable, type Table } from './table.js';

export type FeatureTransform = 'none' | 'log1p';

export interface PreprocessingFit {
  transform: FeatureTransform[];
  mean: number[];
  std: number[];
}

export interface FitPreprocessingOptions {
  /** Features to log1p-transform (they must be > -1 everywhere). @default [] */
  log1p?: readonly string[];
}

/** Smallest std kept: a constant feature would otherwise divide by zero in the kernel. */
export const STD_FLOOR = 1e-6;

/**
 * Fits transform, mean and std (population std, floored at STD_FLOOR) per feature on all rows of
 * `t` (pass the training split's normal rows).
 * @throws {Error} for an empty table, an unknown log1p feature, or a log1p feature with a value <= -1.
 */
export function fitPreprocessing(t: Table, opts: FitPreprocessingOptions = {}): PreprocessingFit {
  assertTable(t);
  if (t.n === 0) throw new Error('Cannot fit preprocessing on an empty table');
  const d = t.features.length;
  const log1p = opts.log1p ?? [];
  for (const f of log1p) {
    if (!t.features.includes(f)) {
      throw new Error(`log1p feature "${f}" is not one of the table's features (${t.features.join(', ')})`);
    }
  }
  const transform: FeatureTransform[] = t.features.map((f) => (log1p.includes(f) ? 'log1p' : 'none'));
  const isLog = transform.map((x) => x === 'log1p');
  // Two passes (mean, then squared deviations): exact enough in float64 and immune to the
  // cancellation of the sum-of-squares formula.
  const sum = new Float64Array(d);
  for (let i = 0; i < t.n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      let x = t.rows[o + j];
      if (isLog[j]) {
        if (!(x > -1))
          throw new Error(`log1p feature "${t.features[j]}" has the value ${x} at row ${i} (must be > -1)`);
        x = Math.log1p(x);
      }
      sum[j] += x;
    }
  }
  const mean = Array.from(sum, (s) => s / t.n);
  const sq = new Float64Array(d);
  for (let i = 0; i < t.n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const x = isLog[j] ? Math.log1p(t.rows[o + j]) : t.rows[o + j];
      const dev = x - mean[j];
      sq[j] += dev * dev;
    }
  }
  const std = Array.from(sq, (s) => Math.max(Math.sqrt(s / t.n), STD_FLOOR));
  return { transform, mean, std };
}
