// The decision rule, in one place: a transaction is flagged when its reconstruction error is above
// the model's threshold (strictly: eval/threshold.ts places thresholds between distinct scores so
// that `>` flags exactly the rows it meant). scoreFile, the HTTP server and the stream worker all
// decide through these functions, so they can never disagree on a borderline score.

/** [sync] Whether a score is flagged as fraud under `threshold` (NaN is never flagged). */
export function isFraud(score: number, threshold: number): boolean {
  return score > threshold;
}

/**
 * The web page's and the API's risk bands: > threshold moderate; very high above 2x threshold for
 * a reconstruction error, or past the midpoint between the threshold and 1 for a hybrid model's
 * probability (2x a threshold of 0.6 could never be reached).
 */
export type RiskLevel = 'very_high' | 'moderate' | 'low';

/** [sync] The risk band of a score (the original front end's rule; `probability` for hybrid models). */
export function riskLevel(score: number, threshold: number, probability = false): RiskLevel {
  const high = probability ? (1 + threshold) / 2 : 2 * threshold;
  return score > high ? 'very_high' : isFraud(score, threshold) ? 'moderate' : 'low';
}

/**
 * [sync] Flags a batch of scores into `out` (1 flagged, 0 not).
 * @returns how many were flagged
 */
export function flagScores(scores: Float32Array, threshold: number, out: Uint8Array): number {
  let flagged = 0;
  for (let i = 0; i < scores.length; i++) {
    const f = isFraud(scores[i]!, threshold) ? 1 : 0;
    out[i] = f;
    flagged += f;
  }
  return flagged;
}
