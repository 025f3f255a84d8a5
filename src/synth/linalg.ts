// The little dense linear algebra the synthetic generator needs, in float64: Cholesky factors of
// covariance matrices (row-major, n x n), and triangular solves for Gaussian log-densities.

/**
 * Lower-triangular L with L Lᵀ = a (row-major n x n). Adds `jitter` to the diagonal if needed, up to
 * a few times, so that a covariance that is positive semi-definite only by rounding still factors.
 * @throws {Error} when the matrix is not positive definite even with jitter.
 */
export function cholesky(a: ArrayLike<number>, n: number): Float64Array {
  let jitter = 0;
  for (let attempt = 0; attempt < 6; attempt++) {
    const l = new Float64Array(n * n);
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      for (let j = 0; j <= i; j++) {
        let s = a[i * n + j] + (i === j ? jitter : 0);
        for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
        if (i === j) {
          if (!(s > 0)) {
            ok = false;
            break;
          }
          l[i * n + i] = Math.sqrt(s);
        } else {
          l[i * n + j] = s / l[j * n + j];
        }
      }
    }
    if (ok) return l;
    let trace = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i];
    jitter = jitter === 0 ? 1e-10 * (trace / n || 1) : jitter * 100;
  }
  throw new Error('cholesky: the matrix is not positive definite');
}

/** Solves L y = b in place (L lower-triangular from cholesky); returns ||y||². */
export function forwardSolveNorm2(l: Float64Array, n: number, b: Float64Array): number {
  let norm2 = 0;
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * b[k];
    s /= l[i * n + i];
    b[i] = s;
    norm2 += s * s;
  }
  return norm2;
}

/** log det(L Lᵀ) = 2 Σ log L_ii. */
export function logDetFromCholesky(l: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(l[i * n + i]);
  return 2 * s;
}
