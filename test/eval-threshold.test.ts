// Threshold strategies on small cases where the right answer is known by hand.
import { describe, expect, it } from 'vitest';

import { evaluateScores } from '../src/eval/metrics.js';
import { chooseThreshold } from '../src/eval/threshold.js';

// Normals 1..10, frauds at 8.5, 9.5, 9.7, 11, 12. Ranked: 12F 11F 10N 9.7F 9.5F 9N 8.5F 8N 7N ... 1N.
const scores = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 8.5, 9.5, 9.7, 11, 12]);
const labels = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
const flagged = (t: number) => Array.from(scores).filter((s) => s > t).length;

describe('chooseThreshold', () => {
  it('max-f1 picks the best cut and sits between two distinct scores', () => {
    // Cuts: below 11: F1 4/7; below 9.5: P .8 R .8 F1 .8; below 8.5: P 5/7 R 1 F1 5/6 (best).
    const t = chooseThreshold(scores, labels, { name: 'max-f1' });
    expect(t.strategy).toBe('max-f1');
    expect(t.value).toBe(8.25);
    expect(flagged(t.value)).toBe(7);
    expect(t.params.achieved.f1).toBeCloseTo(5 / 6, 12);
    expect(t.params.achieved.recall).toBe(1);
    // With normal rows weighing 10x, precision dominates: the clean cut above 10 wins.
    const w = chooseThreshold(scores, labels, { name: 'max-f1' }, { normalWeight: 10 });
    expect(w.value).toBe(10.5);
    expect(w.params.achieved.precision).toBe(1);
    expect(w.params.achieved.recall).toBe(0.4);
    expect(w.params.normalWeight).toBe(10);
  });

  it('percentile is the interpolated percentile of normal scores only', () => {
    const t = chooseThreshold(scores, labels, { name: 'percentile', value: 95 });
    // numpy.percentile([1..10], 95) = 9.55
    expect(t.value).toBe(Math.fround(9.55));
    expect(t.params.target).toBe(95);
    expect(t.params.achieved.fpr).toBeCloseTo(0.1, 12);
  });

  it('target-recall takes the highest threshold reaching the recall', () => {
    const t = chooseThreshold(scores, labels, { name: 'target-recall', value: 0.6 });
    expect(t.value).toBeGreaterThan(9.5);
    expect(t.value).toBeLessThan(Math.fround(9.7));
    expect(t.params.achieved.recall).toBe(0.6);
    expect(flagged(t.value)).toBe(4); // 12, 11, 10, 9.7
    const all = chooseThreshold(scores, labels, { name: 'target-recall', value: 1 });
    expect(all.value).toBe(8.25);
  });

  it('target-precision takes the lowest threshold keeping the precision', () => {
    // Below 9.5: 4/5 = 0.8; lower cuts: 4/6, 5/7 -> 9.25.
    const t = chooseThreshold(scores, labels, { name: 'target-precision', value: 0.8 });
    expect(t.value).toBe(9.25);
    expect(t.params.achieved.precision).toBeCloseTo(0.8, 12);
    expect(t.params.achieved.recall).toBe(0.8);
    const noisy = Float32Array.from([1, 2, 3]);
    expect(() => chooseThreshold(noisy, Uint8Array.from([0, 1, 0]), { name: 'target-precision', value: 0.9 })).toThrow(
      /cannot reach precision 0.9 on these scores \(best: 0.5000\)/,
    );
  });

  it('target-fpr takes the lowest threshold within the false-positive rate', () => {
    // Two false positives allowed (10 and 9): flag down to 8.5.
    const t = chooseThreshold(scores, labels, { name: 'target-fpr', value: 0.2 });
    expect(t.value).toBe(8.25);
    expect(t.params.achieved.fpr).toBeCloseTo(0.2, 12);
    const zero = chooseThreshold(scores, labels, { name: 'target-fpr', value: 0 });
    expect(zero.value).toBe(10.5);
    expect(zero.params.achieved.fpr).toBe(0);
  });

  it('agrees with evaluateScores at the chosen threshold', () => {
    for (const s of [
      { name: 'max-f1' },
      { name: 'target-recall', value: 0.5 },
      { name: 'target-fpr', value: 0.1 },
    ] as const) {
      const t = chooseThreshold(scores, labels, s, { normalWeight: 3 });
      const m = evaluateScores(scores, labels, { threshold: t.value, normalWeight: 3 });
      expect(m.precision).toBe(t.params.achieved.precision);
      expect(m.recall).toBe(t.params.achieved.recall);
    }
  });

  it('rejects unknown strategies and out-of-range values with the strategy named', () => {
    // @ts-expect-error: an unknown name from an untyped config
    expect(() => chooseThreshold(scores, labels, { name: 'best' })).toThrow(/Unknown threshold strategy "best"/);
    expect(() => chooseThreshold(scores, labels, { name: 'percentile' })).toThrow(
      /'percentile' needs `value` in \(0, 100\], got undefined/,
    );
    expect(() => chooseThreshold(scores, labels, { name: 'target-recall', value: 1.5 })).toThrow(
      /'target-recall' needs `value`/,
    );
    expect(() => chooseThreshold(scores, new Uint8Array(15), { name: 'max-f1' })).toThrow(/needs fraud rows/);
  });
});
