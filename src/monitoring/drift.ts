// Data drift of current rows against a reference sample, per feature and for the whole data set,
// with Evidently's defaults (DataDriftPreset) so operators moving from the original project read
// the same verdicts:
// - reference of <= 1000 rows: two-sample Kolmogorov-Smirnov test, drift when p < 0.05;
// - larger reference: Wasserstein distance normalized by the reference std, drift when >= 0.1;
// - the data set drifts when the share of drifted features is >= 0.5;
// PSI is reported for every feature as a second opinion (> 0.1 is the usual "shifted" mark).
// Columns are matched by name, never by position (the original compared columns shifted by one).
import { ksPValue, ksStatistic, normalizedWasserstein, psi, sortedFinite } from './stats.js';

export type DriftMethod = 'ks' | 'wasserstein';

export interface DriftOptions {
  /** Reference size up to which the KS test is used (Evidently: 1000). @default 1000 */
  ksMaxRows?: number;
  /** KS: drift when p-value < this. @default 0.05 */
  ksPValueThreshold?: number;
  /** Wasserstein: drift when the normalized distance >= this. @default 0.1 */
  wassersteinThreshold?: number;
  /** Data set drift when the share of drifted features >= this. @default 0.5 */
  driftShare?: number;
  /** PSI above which a feature is marked as shifted in the report. @default 0.1 */
  psiThreshold?: number;
}

/** A sample of named columns: n rows of features.length values, row-major. */
export interface DriftSample {
  features: readonly string[];
  rows: Float32Array | Float64Array;
  /** Optional reconstruction error per row: its drift is reported too. */
  scores?: ArrayLike<number>;
}

export interface ColumnDrift {
  feature: string;
  method: DriftMethod;
  /** KS statistic D, or the normalized Wasserstein distance. */
  statistic: number;
  /** KS only. */
  pValue: number | null;
  threshold: number;
  drifted: boolean;
  psi: number;
  psiShifted: boolean;
  reference: { n: number; mean: number; std: number };
  current: { n: number; mean: number; std: number };
}

export interface DriftReport {
  generatedAt: string;
  referenceRows: number;
  currentRows: number;
  options: Required<DriftOptions>;
  dataset: {
    drifted: boolean;
    driftedFeatures: number;
    features: number;
    share: number;
  };
  features: ColumnDrift[];
  /** Drift of the reconstruction error itself, when both samples carry scores. */
  score: ColumnDrift | null;
}

const DEFAULTS: Required<DriftOptions> = {
  ksMaxRows: 1000,
  ksPValueThreshold: 0.05,
  wassersteinThreshold: 0.1,
  driftShare: 0.5,
  psiThreshold: 0.1,
};

function checkOptions(o: DriftOptions): Required<DriftOptions> {
  const opts = { ...DEFAULTS, ...o };
  const inUnit = (k: keyof DriftOptions) => {
    const v = opts[k];
    if (typeof v !== 'number' || !(v > 0 && v <= 1))
      throw new RangeError(`Expected \`${k}\` to be a number in (0, 1], got ${v}`);
  };
  inUnit('ksPValueThreshold');
  inUnit('driftShare');
  for (const k of ['wassersteinThreshold', 'psiThreshold'] as const) {
    if (typeof opts[k] !== 'number' || !(opts[k] > 0))
      throw new RangeError(`Expected \`${k}\` to be a positive number, got ${opts[k]}`);
  }
  if (!Number.isInteger(opts.ksMaxRows) || opts.ksMaxRows < 0) {
    throw new RangeError(`Expected \`ksMaxRows\` to be a non-negative integer, got ${opts.ksMaxRows}`);
  }
  return opts;
}

function summary(s: Float64Array): { n: number; mean: number; std: number } {
  let mean = 0;
  for (const v of s) mean += v;
  mean /= s.length;
  let ss = 0;
  for (const v of s) ss += (v - mean) ** 2;
  return { n: s.length, mean, std: Math.sqrt(ss / s.length) };
}

/** [sync] Drift of one column: `reference` and `current` are the raw values. */
export function columnDrift(
  feature: string,
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  options: DriftOptions = {},
): ColumnDrift {
  const o = checkOptions(options);
  const a = sortedFinite(reference);
  const b = sortedFinite(current);
  if (a.length === 0) throw new RangeError(`Expected reference column "${feature}" to hold finite values, got none`);
  if (b.length === 0) throw new RangeError(`Expected current column "${feature}" to hold finite values, got none`);
  const p = psi(a, b);
  const base = { feature, psi: p, psiShifted: p > o.psiThreshold, reference: summary(a), current: summary(b) };
  if (a.length <= o.ksMaxRows) {
    const d = ksStatistic(a, b);
    const pValue = ksPValue(d, a.length, b.length);
    return {
      ...base,
      method: 'ks',
      statistic: d,
      pValue,
      threshold: o.ksPValueThreshold,
      drifted: pValue < o.ksPValueThreshold,
    };
  }
  const w = normalizedWasserstein(a, b);
  return {
    ...base,
    method: 'wasserstein',
    statistic: w,
    pValue: null,
    threshold: o.wassersteinThreshold,
    drifted: w >= o.wassersteinThreshold,
  };
}

function column(s: DriftSample, j: number): Float64Array {
  const d = s.features.length;
  const n = s.rows.length / d;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = s.rows[i * d + j]!;
  return out;
}

function checkSample(s: DriftSample, name: string): number {
  if (!s || !Array.isArray(s.features) || s.features.length === 0) {
    throw new TypeError(`Expected \`${name}.features\` to be a non-empty array of column names`);
  }
  if (!(s.rows instanceof Float32Array || s.rows instanceof Float64Array) || s.rows.length % s.features.length !== 0) {
    throw new TypeError(
      `Expected \`${name}.rows\` to be a Float32Array or Float64Array of n*${s.features.length} values`,
    );
  }
  const n = s.rows.length / s.features.length;
  if (n === 0) throw new RangeError(`Expected \`${name}\` to hold at least one row, got 0`);
  if (s.scores !== undefined && s.scores.length !== n) {
    throw new RangeError(`Expected \`${name}.scores\` to hold ${n} values (one per row), got ${s.scores.length}`);
  }
  return n;
}

/**
 * [sync] The drift report of `current` against `reference`. Features are matched by name: every
 * reference feature must be in `current` (extra current columns are ignored).
 * @throws RangeError naming missing columns or empty samples
 */
export function driftReport(reference: DriftSample, current: DriftSample, options: DriftOptions = {}): DriftReport {
  const steps = reportSteps(reference, current, options);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * [async] driftReport() that yields to the event loop between columns: an exact KS p-value costs
 * O(n m) (tens of ms for 1000 x 10000 rows), so a server computes one column per turn and keeps
 * answering requests meanwhile.
 */
export async function driftReportAsync(
  reference: DriftSample,
  current: DriftSample,
  options: DriftOptions = {},
): Promise<DriftReport> {
  const steps = reportSteps(reference, current, options);
  let r = steps.next();
  while (!r.done) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    r = steps.next();
  }
  return r.value;
}

/** The report, one column per step. */
function* reportSteps(
  reference: DriftSample,
  current: DriftSample,
  options: DriftOptions,
): Generator<void, DriftReport> {
  const o = checkOptions(options);
  const nRef = checkSample(reference, 'reference');
  const nCur = checkSample(current, 'current');
  const missing = reference.features.filter((f) => !current.features.includes(f));
  if (missing.length > 0) {
    throw new RangeError(`The current sample lacks reference feature(s): ${missing.join(', ')}`);
  }
  const features: ColumnDrift[] = [];
  for (const [j, f] of reference.features.entries()) {
    features.push(columnDrift(f, column(reference, j), column(current, current.features.indexOf(f)), o));
    yield;
  }
  const driftedFeatures = features.filter((c) => c.drifted).length;
  const share = driftedFeatures / features.length;
  const score =
    reference.scores !== undefined && current.scores !== undefined
      ? columnDrift('reconstruction_error', reference.scores, current.scores, o)
      : null;
  return {
    generatedAt: new Date().toISOString(),
    referenceRows: nRef,
    currentRows: nCur,
    options: o,
    dataset: { drifted: share >= o.driftShare, driftedFeatures, features: features.length, share },
    features,
    score,
  };
}
