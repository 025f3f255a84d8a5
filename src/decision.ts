// The decision rule, in one place: a transaction is flagged when its reconstruction error is above
// the model's threshold (strictly: eval/threshold.ts places thresholds between distinct scores so
// that `>` flags exactly the rows it meant). scoreFile, the HTTP server and the stream worker all
// decide through these functions, so they can never disagree on a borderline score.

/** [sync] Whether a score is flagged as fraud under `threshold` (NaN is never flagged). */
export function isFraud(score: number, threshold: number): boolean {
  return score > threshold;
}

/** The web page's and the API's risk bands: > 2x threshold very high, > threshold moderate. */
export type RiskLevel = 'very_high' | 'moderate' | 'low';

/** [sync] The risk band of a score (the original front end's rule). */
export function riskLevel(score: number, threshold: number): RiskLevel {
  return score > 2 * threshold ? 'very_high' : isFraud(score, threshold) ? 'moderate' : 'low';
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
