// The seeded generator: reproducible streams, unbiased integers, and a normal sampler whose moments,
// tails and distribution function match N(0, 1) within sampling error.
import { describe, expect, it } from 'vitest';

import { Rng } from '../src/data/random.js';

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
function phi(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

describe('Rng', () => {
  it('gives the same stream for the same seed and different streams for nearby seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = Array.from({ length: 100 }, () => a.nextU32());
    const xb = Array.from({ length: 100 }, () => b.nextU32());
    const xc = Array.from({ length: 100 }, () => c.nextU32());
    expect(xa).toEqual(xb);
    expect(xa.filter((v, i) => v === xc[i]).length).toBe(0);
    expect(new Rng(2 ** 40).nextU32()).not.toBe(new Rng(0).nextU32()); // high bits count
    expect(() => new Rng(0.5)).toThrow(/`seed` to be a safe integer, got 0.5/);
  });

  it('draws uniform doubles in [0, 1) and unbiased integers', () => {
    const r = new Rng(1);
    const n = 200000;
    let sum = 0;
    const counts = new Array(6).fill(0);
    for (let i = 0; i < n; i++) {
      const u = r.next();
      if (!(u >= 0 && u < 1)) throw new Error(`next() out of range: ${u}`);
      sum += u;
      counts[r.int(6)]++;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005); // sd of the mean ~ 0.00065
    // Chi-square with 5 degrees of freedom: 20.5 is the 0.999 quantile.
    const chi2 = counts.reduce((a, c) => a + (c - n / 6) ** 2 / (n / 6), 0);
    expect(chi2).toBeLessThan(20.5);
    expect(() => r.int(0)).toThrow(/integer in \[1, 2\^32\]/);
  });

  it('draws normals with the moments, tails and CDF of N(0, 1)', () => {
    const r = new Rng(7);
    const n = 400000;
    const z = new Float64Array(n);
    r.fillNormal(z);
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    let beyond3 = 0;
    for (const v of z) {
      m1 += v;
      m2 += v * v;
      m4 += v ** 4;
      if (Math.abs(v) > 3) beyond3++;
    }
    m1 /= n;
    m2 /= n;
    m4 /= n;
    expect(Math.abs(m1)).toBeLessThan(0.008); // 5 standard errors
    expect(Math.abs(m2 - 1)).toBeLessThan(0.012);
    expect(Math.abs(m4 / (m2 * m2) - 3)).toBeLessThan(0.06);
    expect(beyond3 / n).toBeGreaterThan(0.0027 * 0.8); // P(|z| > 3) = 0.0027: the tail is there
    expect(beyond3 / n).toBeLessThan(0.0027 * 1.2);
    // Kolmogorov-Smirnov distance to the normal CDF (critical value at 0.001: 1.95 / sqrt(n)).
    const sorted = Float64Array.from(z).sort();
    let ks = 0;
    for (let i = 0; i < n; i++) {
      const f = phi(sorted[i]);
      ks = Math.max(ks, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
    }
    expect(ks).toBeLessThan(1.95 / Math.sqrt(n));
    // fillNormal and normal() give the same stream.
    const a = new Rng(9);
    const b = new Rng(9);
    const filled = new Float64Array(1000);
    a.fillNormal(filled);
    for (let i = 0; i < 1000; i++) expect(b.normal()).toBe(filled[i]);
  });

  it('shuffles into a permutation', () => {
    const a = new Rng(3).shuffle(Int32Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(a.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
