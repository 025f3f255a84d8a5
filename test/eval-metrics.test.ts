// Metrics against values computed by hand on small cases, ties and weights included, and against a
// brute-force pairwise definition on random inputs.
import { describe, expect, it } from 'vitest';

import { Rng } from '../src/data/random.js';
import { computeCurves, evaluateScores } from '../src/eval/metrics.js';
import { nextDownF32, thresholdBetween } from '../src/eval/ranking.js';

const f32 = (a: number[]) => Float32Array.from(a);
const u8 = (a: number[]) => Uint8Array.from(a);

describe('evaluateScores', () => {
  // Frauds at 0.9 and 0.7, normals at 0.8, 0.6, 0.5.
  const scores = f32([0.9, 0.8, 0.7, 0.6, 0.5]);
  const labels = u8([1, 0, 1, 0, 0]);

  it('computes ROC-AUC, AUPRC and decision metrics by hand', () => {
    const m = evaluateScores(scores, labels, { threshold: 0.65 });
    // Pairs fraud > normal: 0.9 beats 3, 0.7 beats 2 -> 5 of 6.
    expect(m.rocAuc).toBeCloseTo(5 / 6, 12);
    // Recall 1/2 at precision 1, then recall 2/2 at precision 2/3.
    expect(m.auprc).toBeCloseTo(0.5 * 1 + 0.5 * (2 / 3), 12);
    // Flagged: 0.9, 0.8, 0.7 -> tp 2, fp 1, tn 2, fn 0.
    expect(m.confusion).toEqual({ tp: 2, fp: 1, tn: 2, fn: 0 });
    expect(m.precision).toBeCloseTo(2 / 3, 12);
    expect(m.recall).toBe(1);
    expect(m.f1).toBeCloseTo(0.8, 12);
    expect(m.fpr).toBeCloseTo(1 / 3, 12);
    expect(m.n).toBe(5);
    expect(m.positives).toBe(2);
    expect(m.negatives).toBe(3);
  });

  it('weights normal rows in precision-type metrics only', () => {
    const m = evaluateScores(scores, labels, { threshold: 0.65, normalWeight: 2 });
    expect(m.rocAuc).toBeCloseTo(5 / 6, 12);
    expect(m.auprc).toBeCloseTo(0.5 * 1 + 0.5 * (2 / (2 + 2)), 12);
    expect(m.precision).toBeCloseTo(0.5, 12);
    expect(m.recall).toBe(1);
    expect(m.f1).toBeCloseTo(2 / 3, 12);
    expect(m.fpr).toBeCloseTo(1 / 3, 12);
    expect(m.confusion).toEqual({ tp: 2, fp: 1, tn: 2, fn: 0 });
    expect(m.confusionWeighted).toEqual({ tp: 2, fp: 2, tn: 4, fn: 0 });
  });

  it('groups tied scores', () => {
    // A fraud and a normal row tie at 0.5.
    const m = evaluateScores(f32([0.9, 0.5, 0.5, 0.1]), u8([1, 1, 0, 0]), { threshold: 0.5 });
    // 0.9 beats both normals (2), 0.5 ties one (0.5) and beats one (1): 3.5 of 4.
    expect(m.rocAuc).toBeCloseTo(0.875, 12);
    // The tie group enters at once: recall 1/2 at precision 1, then 1 at precision 2/3.
    expect(m.auprc).toBeCloseTo(0.5 + 0.5 * (2 / 3), 12);
    // Strictly above 0.5: only 0.9.
    expect(m.confusion).toEqual({ tp: 1, fp: 0, tn: 2, fn: 1 });
    // All-tied scores carry no ranking information: AUC 1/2, AP = prevalence.
    const flat = evaluateScores(f32([1, 1, 1, 1]), u8([1, 0, 0, 0]), { threshold: 0 });
    expect(flat.rocAuc).toBe(0.5);
    expect(flat.auprc).toBeCloseTo(0.25, 12);
  });

  it('computes recall at 1% FPR on the cut points', () => {
    // 200 normals with scores 0..199, 10 frauds: 5 above every normal, 5 between normals 196 and 197.
    const s: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < 200; i++) {
      s.push(i);
      l.push(0);
    }
    for (let i = 0; i < 5; i++) {
      s.push(1000 + i, 196.5);
      l.push(1, 1);
    }
    const m = evaluateScores(f32(s), u8(l), { threshold: 500 });
    // FPR <= 1% allows 2 false positives (197, 198 or 198, 199): the 196.5 frauds need 3 -> recall 0.5.
    expect(m.recallAtFpr1).toBe(0.5);
    expect(m.recall).toBe(0.5);
    expect(m.precision).toBe(1);
  });

  it('matches the pairwise definition of ROC-AUC on random scores with ties', () => {
    const rng = new Rng(3);
    const n = 400;
    const s = new Float32Array(n);
    const l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      l[i] = rng.next() < 0.2 ? 1 : 0;
      s[i] = rng.int(40) + l[i] * 8; // many ties
    }
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      if (l[i] !== 1) continue;
      for (let j = 0; j < n; j++) {
        if (l[j] !== 0) continue;
        pairs++;
        wins += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      }
    }
    expect(evaluateScores(s, l, { threshold: 0 }).rocAuc).toBeCloseTo(wins / pairs, 12);
  });

  it('gives NaN for class-dependent metrics when a class is absent, and rejects bad input', () => {
    const m = evaluateScores(f32([1, 2]), u8([0, 0]), { threshold: 1.5 });
    expect(m.rocAuc).toBeNaN();
    expect(m.auprc).toBeNaN();
    expect(m.recall).toBeNaN();
    expect(m.fpr).toBe(0.5);
    expect(() => evaluateScores(f32([1, 2]), u8([0]), { threshold: 0 })).toThrow(/one value per score \(2\), got 1/);
    expect(() => evaluateScores(f32([1, Number.NaN]), u8([0, 1]), { threshold: 0 })).toThrow(
      /finite scores, got NaN at index 1/,
    );
    expect(() => evaluateScores(f32([1, 2]), u8([0, 2]), { threshold: 0 })).toThrow(
      /labels of 0 or 1, got 2 at index 1/,
    );
    expect(() => evaluateScores(f32([1]), u8([0]), { threshold: 0, normalWeight: 0 })).toThrow(/normalWeight/);
  });
});

describe('curves and threshold placement', () => {
  it('runs ROC from (0,0) to (1,1) and thins long curves', () => {
    const rng = new Rng(5);
    const n = 20000;
    const s = new Float32Array(n);
    const l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      l[i] = rng.next() < 0.05 ? 1 : 0;
      s[i] = rng.normal() + 2 * l[i];
    }
    const c = computeCurves(s, l, { maxPoints: 200 });
    expect(c.roc.fpr[0]).toBe(0);
    expect(c.roc.tpr[0]).toBe(0);
    expect(c.roc.fpr.at(-1)).toBe(1);
    expect(c.roc.tpr.at(-1)).toBe(1);
    expect(c.roc.fpr.length).toBeLessThan(1000);
    for (let k = 1; k < c.roc.fpr.length; k++) expect(c.roc.fpr[k]).toBeGreaterThanOrEqual(c.roc.fpr[k - 1]);
    // Trapezoids over the thinned curve stay close to the exact AUC.
    let area = 0;
    for (let k = 1; k < c.roc.fpr.length; k++)
      area += ((c.roc.fpr[k] - c.roc.fpr[k - 1]) * (c.roc.tpr[k] + c.roc.tpr[k - 1])) / 2;
    expect(area).toBeCloseTo(evaluateScores(s, l, { threshold: 0 }).rocAuc, 2);
  });

  it('places thresholds strictly between two float32 scores', () => {
    const a = Math.fround(0.3);
    const b = nextDownF32(a);
    expect(b).toBeLessThan(a);
    expect(Math.fround(b)).toBe(b);
    const t = thresholdBetween(a, b); // adjacent floats: no midpoint exists
    expect(a > t && !(b > t)).toBe(true);
    const u = thresholdBetween(2, 1);
    expect(u).toBe(1.5);
    expect(thresholdBetween(1, -Infinity)).toBeLessThan(1);
    expect(nextDownF32(0)).toBeLessThan(0);
    expect(nextDownF32(-1)).toBeLessThan(-1);
  });
});
