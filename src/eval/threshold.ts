// Threshold strategies, run on the validation split (never the test split: a threshold chosen on the
// data it is evaluated on overstates every metric). Each returns a float32 threshold that sits between
// two distinct scores, so `score > threshold` flags exactly the intended rows.
import { checkWeight, f1Of, precisionOf } from './metrics.js';
import { rank, thresholdBetween } from './ranking.js';

export type ThresholdStrategyName = 'max-f1' | 'percentile' | 'target-recall' | 'target-precision' | 'target-fpr';

export interface ThresholdStrategy {
  name: ThresholdStrategyName;
  /**
   * percentile: of the normal rows' scores, in (0, 100) (95 flags ~5% of normal rows);
   * target-recall / target-precision / target-fpr: the target, in (0, 1]. Unused by max-f1.
   */
  value?: number;
}

export interface ChosenThreshold {
  /** Flag scores strictly above this. */
  value: number;
  strategy: ThresholdStrategyName;
  /** The target asked for and what the threshold achieves on the scores it was chosen on. */
  params: {
    target?: number;
    normalWeight: number;
    achieved: { precision: number; recall: number; fpr: number; f1: number; flagged: number };
  };
}

/** Linear-interpolation quantile (numpy's default) of sorted values, q in [0, 1]. */
function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Chooses a decision threshold from scores and labels.
 * - max-f1: maximizes the (weighted) F1.
 * - percentile: the given percentile of the normal rows' scores.
 * - target-recall: the highest threshold whose recall is >= value (fewest false positives).
 * - target-precision: the lowest threshold whose weighted precision is >= value (most recall).
 * - target-fpr: the lowest threshold whose false-positive rate is <= value.
 * @throws {RangeError} for an unknown strategy, a missing or out-of-range value, a class missing
 * that the strategy needs, or a target precision no threshold reaches.
 */
export function chooseThreshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  strategy: ThresholdStrategy,
  opts: { normalWeight?: number } = {},
): ChosenThreshold {
  const w = checkWeight(opts.normalWeight);
  const r = rank(scores, labels);
  const K = r.scores.length;
  const name = strategy?.name;
  const v = strategy?.value;
  const needValue = (lo: number, hi: number, loOpen: boolean): number => {
    if (typeof v !== 'number' || !(loOpen ? v > lo : v >= lo) || !(v <= hi)) {
      throw new RangeError(
        `Threshold strategy '${name}' needs \`value\` in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${v}`,
      );
    }
    return v;
  };
  const needClass = (positives: boolean): void => {
    if (positives ? r.positives === 0 : r.negatives === 0) {
      throw new RangeError(
        `Threshold strategy '${name}' needs ${positives ? 'fraud' : 'normal'} rows, and there are none`,
      );
    }
  };
  // Cut after the first k tie groups (k = 0: flag nothing) -> threshold between groups k-1 and k.
  const cut = (k: number): number =>
    k === 0 ? Math.fround(r.scores[0]) : thresholdBetween(r.scores[k - 1], k < K ? r.scores[k] : -Infinity);
  const tpAt = (k: number) => (k === 0 ? 0 : r.tp[k - 1]);
  const fpAt = (k: number) => (k === 0 ? 0 : r.fp[k - 1]);

  let value: number;
  let target: number | undefined;
  switch (name) {
    case 'max-f1': {
      needClass(true);
      let best = 0;
      let bestF1 = -1;
      for (let k = 1; k <= K; k++) {
        const f1 = f1Of(precisionOf(tpAt(k), fpAt(k), w), tpAt(k) / r.positives);
        if (f1 > bestF1) {
          bestF1 = f1;
          best = k;
        }
      }
      value = cut(best);
      break;
    }
    case 'percentile': {
      target = needValue(0, 100, true);
      needClass(false);
      const neg = new Float64Array(r.negatives);
      for (let i = 0, j = 0; i < scores.length; i++) if (labels[i] === 0) neg[j++] = scores[i];
      neg.sort();
      // float32 like every other threshold: scores are float32, and the stored value is the one used.
      value = Math.fround(quantileSorted(neg, target / 100));
      break;
    }
    case 'target-recall': {
      target = needValue(0, 1, true);
      needClass(true);
      let k = 1;
      while (k < K && tpAt(k) / r.positives < target) k++;
      value = cut(k);
      break;
    }
    case 'target-precision': {
      target = needValue(0, 1, true);
      needClass(true);
      let best = -1;
      let bestPrecision = 0;
      for (let k = 1; k <= K; k++) {
        const p = precisionOf(tpAt(k), fpAt(k), w);
        bestPrecision = Math.max(bestPrecision, p);
        if (p >= target) best = k;
      }
      if (best < 0) {
        throw new RangeError(
          `Threshold strategy 'target-precision' cannot reach precision ${target} on these scores (best: ${bestPrecision.toFixed(4)})`,
        );
      }
      value = cut(best);
      break;
    }
    case 'target-fpr': {
      target = needValue(0, 1, false);
      needClass(false);
      let k = 0;
      while (k < K && fpAt(k + 1) / r.negatives <= target) k++;
      value = cut(k);
      break;
    }
    default:
      throw new RangeError(
        `Unknown threshold strategy ${JSON.stringify(name)}: use max-f1, percentile, target-recall, target-precision or target-fpr`,
      );
  }
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] > value) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  const precision = precisionOf(tp, fp, w);
  const recall = r.positives === 0 ? Number.NaN : tp / r.positives;
  const achieved = {
    precision,
    recall,
    fpr: r.negatives === 0 ? Number.NaN : fp / r.negatives,
    f1: f1Of(precision, recall),
    flagged: tp + fp,
  };
  return { value, strategy: name, params: { ...(target === undefined ? {} : { target }), normalWeight: w, achieved } };
}
