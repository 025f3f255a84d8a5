// The ranking every metric and threshold strategy is computed from: scores sorted high to low with
// tied scores grouped (a group is flagged or not as a whole, since no threshold can separate equal
// scores), and cumulative true/false positive counts per group.

/** Cumulative counts when everything with score >= scores[k] is flagged. */
export interface Ranking {
  /** Distinct scores, descending. */
  scores: Float64Array;
  /** Positives (frauds) with score >= scores[k]. */
  tp: Float64Array;
  /** Negatives (normal rows, unweighted) with score >= scores[k]. */
  fp: Float64Array;
  /** Number of positives and negatives. */
  positives: number;
  negatives: number;
}

/**
 * Checks scores and labels and ranks them.
 * @throws {TypeError} for mismatched lengths, a non-finite score or a label other than 0/1.
 */
export function rank(scores: ArrayLike<number>, labels: ArrayLike<number>): Ranking {
  if (scores.length !== labels.length) {
    throw new TypeError(`Expected \`labels\` to have one value per score (${scores.length}), got ${labels.length}`);
  }
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!Number.isFinite(s)) throw new TypeError(`Expected finite scores, got ${s} at index ${i}`);
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new TypeError(`Expected labels of 0 or 1, got ${l} at index ${i}`);
    positives += l;
  }
  const negatives = scores.length - positives;
  // Sort each class separately with the native typed-array sort, then merge: far faster than an
  // index sort with a comparator on millions of rows.
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  for (let i = 0, a = 0, b = 0; i < scores.length; i++) {
    if (labels[i] === 1) pos[a++] = scores[i];
    else neg[b++] = scores[i];
  }
  pos.sort();
  neg.sort();
  const out = new Float64Array(scores.length);
  const tp = new Float64Array(scores.length);
  const fp = new Float64Array(scores.length);
  let i = positives - 1;
  let j = negatives - 1;
  let k = 0;
  let ctp = 0;
  let cfp = 0;
  while (i >= 0 || j >= 0) {
    const s = Math.max(i >= 0 ? pos[i] : -Infinity, j >= 0 ? neg[j] : -Infinity);
    while (i >= 0 && pos[i] === s) {
      ctp++;
      i--;
    }
    while (j >= 0 && neg[j] === s) {
      cfp++;
      j--;
    }
    out[k] = s;
    tp[k] = ctp;
    fp[k] = cfp;
    k++;
  }
  return { scores: out.slice(0, k), tp: tp.slice(0, k), fp: fp.slice(0, k), positives, negatives };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The largest float32 strictly below x (x a finite float32). */
export function nextDownF32(x: number): number {
  f32[0] = x;
  if (f32[0] === 0) return -1.401298464324817e-45;
  if (f32[0] > 0) u32[0] -= 1;
  else u32[0] += 1;
  return f32[0];
}

/**
 * A float32 threshold t with lo <= t < hi, so that `score > t` flags the scores >= hi and none <= lo
 * (there are no scores strictly between). Half-way when possible, for a margin on unseen data; float32
 * because scores are float32 and a threshold that rounds onto a score would flip its decision.
 */
export function thresholdBetween(hi: number, lo: number): number {
  if (lo === -Infinity) return nextDownF32(hi);
  const m = Math.fround(lo + (hi - lo) / 2);
  return m >= hi || m < lo ? Math.fround(lo) : m;
}
