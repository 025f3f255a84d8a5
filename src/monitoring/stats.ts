// Two-sample statistics for drift detection, following Evidently's definitions so reports read the
// same as the original project's: the Kolmogorov-Smirnov test, the Wasserstein-1 distance normalized
// by the reference's standard deviation, and the population stability index on Sturges bins.
// Everything works on sorted Float64Array copies: O((n + m) log(n + m)) per feature.

/** A sorted float64 copy of the finite values (NaN/Inf are not a distribution's support). */
export function sortedFinite(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) out[k++] = v;
  }
  return out.subarray(0, k).sort();
}

function requireSorted(a: Float64Array, name: string): void {
  if (a.length === 0) throw new RangeError(`Expected \`${name}\` to hold at least one finite value, got none`);
}

/**
 * The two-sample Kolmogorov-Smirnov statistic D = sup |F_a(x) - F_b(x)| of two sorted samples.
 * Ties are handled by stepping past every copy of a value before comparing.
 */
export function ksStatistic(a: Float64Array, b: Float64Array): number {
  requireSorted(a, 'reference');
  requireSorted(b, 'current');
  const n = a.length;
  const m = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(a[i]!, b[j]!);
    while (i < n && a[i] === x) i++;
    while (j < m && b[j] === x) j++;
    const diff = Math.abs(i / n - j / m);
    if (diff > d) d = diff;
  }
  return d;
}

/**
 * Survival function of the Kolmogorov distribution, Q(t) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 t^2).
 * The series converges fast for t > ~0.3; below that Q is 1 to double precision.
 */
export function kolmogorovQ(t: number): number {
  if (t < 0.2) return 1;
  let sum = 0;
  let sign = 1;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * t * t);
    sum += sign * term;
    if (term < 1e-16 * Math.abs(sum)) break;
    sign = -sign;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** Above this sample size, p-values come from the asymptotic distribution (scipy's MAX_AUTO_N). */
export const KS_EXACT_MAX_N = 10000;

/**
 * The two-sided p-value P(D >= d) of a two-sample KS statistic, as scipy.stats.ks_2samp's default
 * ('auto') computes it, which is what Evidently calls: exact when both samples have at most 10000
 * values, else asymptotic.
 */
export function ksPValue(d: number, n: number, m: number): number {
  if (!(n > 0 && m > 0)) throw new RangeError(`Expected both sample sizes to be positive, got ${n} and ${m}`);
  if (Math.max(n, m) <= KS_EXACT_MAX_N) {
    const p = ksPValueExact(d, n, m);
    // 1 - P(D < d) loses all precision below ~1e-12; the asymptotic form is accurate out there.
    return p > 1e-10 ? p : ksPValueAsymptotic(d, n, m);
  }
  return ksPValueAsymptotic(d, n, m);
}

/**
 * Exact P(D >= d) by counting the lattice paths from (0, 0) to (n, m) that stay strictly inside
 * the band |i/n - j/m| < d (Hodges 1957; the recursion of R's psmirnov, scaled by the binomial
 * coefficient as it goes so nothing overflows). O(n m) time, O(m) memory.
 */
export function ksPValueExact(d: number, n: number, m: number): number {
  if (n > m) [n, m] = [m, n];
  // D takes values k / (n m); step half a unit below d so that D >= d falls outside the band.
  const q = (0.5 + Math.floor(d * n * m - 1e-7)) / (n * m);
  const u = new Float64Array(m + 1);
  for (let j = 0; j <= m; j++) u[j] = j / m > q ? 0 : 1;
  for (let i = 1; i <= n; i++) {
    const w = i / (i + m);
    u[0] = i / n > q ? 0 : w * u[0]!;
    for (let j = 1; j <= m; j++) u[j] = Math.abs(i / n - j / m) > q ? 0 : w * u[j]! + u[j - 1]!;
  }
  return Math.min(1, Math.max(0, 1 - u[m]!));
}

/**
 * The asymptotic p-value with Stephens' small-sample correction (Numerical Recipes' `kstwo`):
 * Q((sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) d), ne = n m / (n + m).
 */
export function ksPValueAsymptotic(d: number, n: number, m: number): number {
  const ne = (n * m) / (n + m);
  const s = Math.sqrt(ne);
  return kolmogorovQ((s + 0.12 + 0.11 / s) * d);
}

/** Population standard deviation (numpy's np.std, ddof 0), two-pass for accuracy. */
export function stdOf(a: ArrayLike<number>): number {
  const n = a.length;
  if (n === 0) return Number.NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i]! - mean) ** 2;
  return Math.sqrt(ss / n);
}

/**
 * The Wasserstein-1 (earth mover's) distance between two sorted samples: the area between their
 * empirical CDFs, as scipy.stats.wasserstein_distance computes it.
 */
export function wasserstein1(a: Float64Array, b: Float64Array): number {
  requireSorted(a, 'reference');
  requireSorted(b, 'current');
  const n = a.length;
  const m = b.length;
  let i = 0;
  let j = 0;
  let area = 0;
  let prev = Math.min(a[0]!, b[0]!);
  while (i < n || j < m) {
    const x = j >= m || (i < n && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    // CDFs are constant on [prev, x): their gap times the width is this piece of the area.
    area += Math.abs(i / n - j / m) * (x - prev);
    while (i < n && a[i] === x) i++;
    while (j < m && b[j] === x) j++;
    prev = x;
  }
  return area;
}

/**
 * Evidently's normalized Wasserstein distance: W1 / std(reference), the std floored at 0.001 so a
 * constant reference column does not divide by zero.
 */
export function normalizedWasserstein(a: Float64Array, b: Float64Array): number {
  return wasserstein1(a, b) / Math.max(stdOf(a), 0.001);
}

/**
 * Population stability index on numpy's 'sturges' bins over both samples (Evidently's binning):
 * sum (r - c) ln(r / c) over bins of the reference (r) and current (c) shares, empty shares set to
 * 0.0001 so the logarithm is defined.
 */
export function psi(a: Float64Array, b: Float64Array): number {
  requireSorted(a, 'reference');
  requireSorted(b, 'current');
  const lo = Math.min(a[0]!, b[0]!);
  const hi = Math.max(a[a.length - 1]!, b[b.length - 1]!);
  const bins = Math.ceil(Math.log2(a.length + b.length) + 1);
  const width = hi > lo ? (hi - lo) / bins : 1;
  const count = (s: Float64Array) => {
    const h = new Float64Array(bins);
    for (const v of s) {
      // numpy's last bin is closed on the right, so hi falls into it.
      const k = hi > lo ? Math.min(bins - 1, Math.floor((v - lo) / width)) : 0;
      h[k]!++;
    }
    return h.map((c) => Math.max(c / s.length, 0.0001));
  };
  const r = count(a);
  const c = count(b);
  let sum = 0;
  for (let k = 0; k < bins; k++) sum += (r[k]! - c[k]!) * Math.log(r[k]! / c[k]!);
  return sum;
}
