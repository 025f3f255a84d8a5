// Evaluation metrics for fraud scores. Frauds are the positive class. The real sample keeps every
// fraud but only ~10% of normal rows, so precision-type figures (precision, F1, AUPRC, weighted false
// positives) take an optional weight per normal row to estimate what they would be on the full data;
// recall, FPR and ROC-AUC are ratios within one class and do not change with it.
import { rank, type Ranking } from './ranking.js';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface Metrics {
  /** Rows evaluated, frauds and normal rows among them (raw counts). */
  n: number;
  positives: number;
  negatives: number;
  /** Weight applied to each normal row. */
  normalWeight: number;
  /** The threshold the decision metrics use: score > threshold is flagged. */
  threshold: number;
  /** Area under the ROC curve (ties count half). NaN when a class is absent. */
  rocAuc: number;
  /** Average precision (area under the PR curve, step-wise, ties grouped), with weighted precision. */
  auprc: number;
  /** Weighted precision at the threshold (0 when nothing is flagged). */
  precision: number;
  /** Recall (true positive rate) at the threshold. */
  recall: number;
  /** Weighted F1 at the threshold. */
  f1: number;
  /** False positive rate at the threshold. */
  fpr: number;
  /** Raw counts at the threshold. */
  confusion: Confusion;
  /** Counts with normal rows weighted (fp and tn times normalWeight). */
  confusionWeighted: Confusion;
  /** Best recall with a false-positive rate of at most 1%. */
  recallAtFpr1: number;
}

export interface EvaluateOptions {
  /** Scores strictly above are flagged as fraud. */
  threshold: number;
  /**
   * Weight of each normal row (9.742 estimates full-data figures from the real sample).
   * @default 1
   */
  normalWeight?: number;
}

export function checkWeight(w: number | undefined): number {
  const weight = w ?? 1;
  if (typeof weight !== 'number' || !(weight > 0) || !Number.isFinite(weight)) {
    throw new RangeError(`Expected \`normalWeight\` to be a positive finite number, got ${w}`);
  }
  return weight;
}

/** Weighted precision; 0 when nothing is flagged (the convention of scikit-learn's zero_division=0). */
export function precisionOf(tp: number, fp: number, w: number): number {
  return tp + fp === 0 ? 0 : tp / (tp + w * fp);
}

export function f1Of(p: number, r: number): number {
  return p + r === 0 ? 0 : (2 * p * r) / (p + r);
}

/** Area under the ROC curve by the trapezoid rule over tie groups (ties contribute half). */
export function rocAucOf(r: Ranking): number {
  if (r.positives === 0 || r.negatives === 0) return Number.NaN;
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < r.scores.length; k++) {
    area += ((r.fp[k] - prevFp) * (r.tp[k] + prevTp)) / 2;
    prevTp = r.tp[k];
    prevFp = r.fp[k];
  }
  return area / (r.positives * r.negatives);
}

/** Average precision: sum over tie groups of (recall increase) * (weighted precision there). */
export function averagePrecisionOf(r: Ranking, w: number): number {
  if (r.positives === 0) return Number.NaN;
  let ap = 0;
  let prevTp = 0;
  for (let k = 0; k < r.scores.length; k++) {
    if (r.tp[k] > prevTp) ap += ((r.tp[k] - prevTp) / r.positives) * precisionOf(r.tp[k], r.fp[k], w);
    prevTp = r.tp[k];
  }
  return ap;
}

/** Highest recall among the tie-group cut points whose false-positive rate is <= maxFpr. */
export function recallAtFprOf(r: Ranking, maxFpr: number): number {
  if (r.positives === 0 || r.negatives === 0) return Number.NaN;
  let best = 0;
  for (let k = 0; k < r.scores.length; k++) {
    if (r.fp[k] / r.negatives > maxFpr) break; // fp only grows down the ranking
    best = r.tp[k] / r.positives;
  }
  return best;
}

/**
 * Computes ranking metrics (ROC-AUC, AUPRC, recall at 1% FPR) and decision metrics at a threshold.
 * @throws {TypeError | RangeError} for mismatched lengths, non-finite scores, labels other than 0/1,
 * a non-finite threshold or a bad weight.
 */
export function evaluateScores(scores: ArrayLike<number>, labels: ArrayLike<number>, opts: EvaluateOptions): Metrics {
  const w = checkWeight(opts.normalWeight);
  const threshold = opts.threshold;
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new TypeError(`Expected \`threshold\` to be a number, got ${threshold}`);
  }
  const r = rank(scores, labels);
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] > threshold) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  const fn = r.positives - tp;
  const tn = r.negatives - fp;
  const precision = precisionOf(tp, fp, w);
  const recall = r.positives === 0 ? Number.NaN : tp / r.positives;
  return {
    n: scores.length,
    positives: r.positives,
    negatives: r.negatives,
    normalWeight: w,
    threshold,
    rocAuc: rocAucOf(r),
    auprc: averagePrecisionOf(r, w),
    precision,
    recall,
    f1: Number.isNaN(recall) ? Number.NaN : f1Of(precision, recall),
    fpr: r.negatives === 0 ? Number.NaN : fp / r.negatives,
    confusion: { tp, fp, tn, fn },
    confusionWeighted: { tp, fp: fp * w, tn: tn * w, fn },
    recallAtFpr1: recallAtFprOf(r, 0.01),
  };
}

export interface Curves {
  /** ROC curve from (0, 0) to (1, 1). */
  roc: { fpr: number[]; tpr: number[] };
  /** Precision-recall curve (weighted precision), from the highest threshold down. */
  pr: { recall: number[]; precision: number[] };
  /** Score of each point (the cut: flagged when score >= it), aligned with roc/pr after the origin. */
  thresholds: number[];
  normalWeight: number;
}

/**
 * ROC and PR curve points for plotting, thinned to at most about `maxPoints` (points are kept where
 * either curve moves by more than 1/maxPoints, so the shape survives on millions of rows).
 */
export function computeCurves(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: { normalWeight?: number; maxPoints?: number } = {},
): Curves {
  const w = checkWeight(opts.normalWeight);
  const maxPoints = opts.maxPoints ?? 1000;
  const r = rank(scores, labels);
  const P = Math.max(r.positives, 1);
  const N = Math.max(r.negatives, 1);
  const out: Curves = {
    roc: { fpr: [0], tpr: [0] },
    pr: { recall: [], precision: [] },
    thresholds: [],
    normalWeight: w,
  };
  const step = 1 / maxPoints;
  let lastF = -1;
  let lastT = -1;
  let lastP = -1;
  const K = r.scores.length;
  for (let k = 0; k < K; k++) {
    const f = r.fp[k] / N;
    const t = r.tp[k] / P;
    const p = precisionOf(r.tp[k], r.fp[k], w);
    if (k === K - 1 || k === 0 || f - lastF >= step || t - lastT >= step || Math.abs(p - lastP) >= step) {
      out.roc.fpr.push(f);
      out.roc.tpr.push(t);
      out.pr.recall.push(t);
      out.pr.precision.push(p);
      out.thresholds.push(r.scores[k]);
      lastF = f;
      lastT = t;
      lastP = p;
    }
  }
  return out;
}
