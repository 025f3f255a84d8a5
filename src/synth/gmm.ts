// Gaussian mixture fit (EM, full covariances) for the synthetic generator's per-class statistics.
// Real transactions are not one Gaussian per class (the PCA components are skewed and multi-modal),
// and a few components capture much of that at the cost of a few kB of committed statistics.
import { Rng } from '../data/random.js';
import { cholesky, forwardSolveNorm2, logDetFromCholesky } from './linalg.js';

export interface GaussianComponent {
  weight: number;
  mean: number[];
  /** Row-major d x d covariance. */
  cov: number[];
}

export interface GmmFitOptions {
  components: number;
  seed: number;
  /** Added to every covariance diagonal: keeps small components well-conditioned. @default 1e-4 */
  regularization?: number;
  /** @default 200 */
  maxIterations?: number;
  /** Stop when the mean log-likelihood improves by less than this. @default 1e-6 */
  tolerance?: number;
}

export interface GmmFit {
  components: GaussianComponent[];
  /** Mean log-likelihood per row at the end. */
  logLikelihood: number;
  iterations: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * Fits a Gaussian mixture to n rows of d values (row-major, float64) by EM from a k-means++ start.
 * @throws {Error} when there are fewer rows than components.
 */
export function fitGmm(x: Float64Array, n: number, d: number, opts: GmmFitOptions): GmmFit {
  const K = opts.components;
  const reg = opts.regularization ?? 1e-4;
  const maxIt = opts.maxIterations ?? 200;
  const tol = opts.tolerance ?? 1e-6;
  if (!(Number.isInteger(K) && K >= 1)) throw new RangeError(`components must be a positive integer, got ${K}`);
  if (n < K * 2) throw new Error(`fitGmm: ${n} rows are too few for ${K} components`);
  const rng = new Rng(opts.seed);

  // k-means++ seeding: spread initial means over the data.
  const means = new Float64Array(K * d);
  const dist = new Float64Array(n).fill(Infinity);
  let pick = rng.int(n);
  for (let k = 0; k < K; k++) {
    means.set(x.subarray(pick * d, pick * d + d), k * d);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = x[i * d + j] - means[k * d + j];
        s += t * t;
      }
      if (s < dist[i]) dist[i] = s;
      total += dist[i];
    }
    let u = rng.next() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      u -= dist[i];
      if (u <= 0) {
        pick = i;
        break;
      }
    }
  }
  // Responsibilities start as hard k-means assignments.
  const resp = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = x[i * d + j] - means[k * d + j];
        s += t * t;
      }
      if (s < bestD) {
        bestD = s;
        best = k;
      }
    }
    resp[i * K + best] = 1;
  }

  const weights = new Float64Array(K);
  const covs = Array.from({ length: K }, () => new Float64Array(d * d));
  const tmp = new Float64Array(d);
  let prevLl = -Infinity;
  let ll = -Infinity;
  let it = 0;
  for (; it < maxIt; it++) {
    // M-step.
    for (let k = 0; k < K; k++) {
      let nk = 0;
      const mk = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        const r = resp[i * K + k];
        if (r === 0) continue;
        nk += r;
        for (let j = 0; j < d; j++) mk[j] += r * x[i * d + j];
      }
      nk = Math.max(nk, 1e-12);
      for (let j = 0; j < d; j++) mk[j] /= nk;
      const c = covs[k];
      c.fill(0);
      for (let i = 0; i < n; i++) {
        const r = resp[i * K + k];
        if (r === 0) continue;
        for (let j = 0; j < d; j++) tmp[j] = x[i * d + j] - mk[j];
        for (let a = 0; a < d; a++) {
          const ra = r * tmp[a];
          for (let b = 0; b <= a; b++) c[a * d + b] += ra * tmp[b];
        }
      }
      for (let a = 0; a < d; a++) {
        for (let b = 0; b <= a; b++) {
          const v = c[a * d + b] / nk + (a === b ? reg : 0);
          c[a * d + b] = v;
          c[b * d + a] = v;
        }
      }
      weights[k] = nk / n;
      means.set(mk, k * d);
    }
    // E-step.
    const chol = covs.map((c) => cholesky(c, d));
    const logNorm = chol.map((l, k) => Math.log(weights[k]) - 0.5 * (d * LOG_2PI + logDetFromCholesky(l, d)));
    ll = 0;
    const lp = new Float64Array(K);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < d; j++) tmp[j] = x[i * d + j] - means[k * d + j];
        lp[k] = logNorm[k] - 0.5 * forwardSolveNorm2(chol[k], d, tmp);
        if (lp[k] > max) max = lp[k];
      }
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.exp(lp[k] - max);
      const lse = max + Math.log(s);
      ll += lse;
      for (let k = 0; k < K; k++) resp[i * K + k] = Math.exp(lp[k] - lse);
    }
    ll /= n;
    if (ll - prevLl < tol) break;
    prevLl = ll;
  }
  const components: GaussianComponent[] = [];
  for (let k = 0; k < K; k++) {
    components.push({
      weight: weights[k],
      mean: Array.from(means.subarray(k * d, k * d + d)),
      cov: Array.from(covs[k]),
    });
  }
  return { components, logLikelihood: ll, iterations: it + 1 };
}
