// A small seeded generator, so that splits, shuffles and synthetic data are reproducible from a seed
// on any platform and Node version (Math.random cannot be seeded). xoshiro128** (Blackman & Vigna):
// 32-bit state words fit JS integer arithmetic exactly via Math.imul, period 2^128 - 1, and it passes
// BigCrush; its state is seeded through splitmix32 so that nearby seeds give unrelated streams.

const TWO_POW_32 = 4294967296;

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit counter. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Seeded pseudo-random generator (xoshiro128**). Not for cryptography. */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  /** Second value of the last Box-Muller pair, returned by the next normal() call. */
  #spare = Number.NaN;

  /**
   * @param seed any safe integer (negative and > 2^32 values are fine); the same seed gives the same
   * stream everywhere.
   * @throws {TypeError} when seed is not a safe integer.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new TypeError(`Expected \`seed\` to be a safe integer, got ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.#s0 = splitmix32(lo);
    this.#s1 = splitmix32(this.#s0 ^ hi);
    this.#s2 = splitmix32(this.#s1 + 0x632be5ab);
    this.#s3 = splitmix32(this.#s2 ^ 0x5bd1e995);
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1; // all-zero state is a fixed point
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const s2 = this.#s2;
    const s3 = this.#s3;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.#s1 = s1 ^ n2;
    this.#s0 = s0 ^ n3;
    this.#s2 = n2 ^ t;
    this.#s3 = rotl(n3, 11);
    return r;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n > 0 && n <= TWO_POW_32 && Number.isInteger(n))) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    // Rejection sampling on the top of the range keeps every residue equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Standard normal deviate (Box-Muller; pairs are cached). */
  normal(): number {
    const spare = this.#spare;
    if (!Number.isNaN(spare)) {
      this.#spare = Number.NaN;
      return spare;
    }
    // u1 in (0, 1]: never 0, so log() is finite. 32 bits suffice: the deepest tail is |z| < 6.7.
    const u1 = (this.nextU32() + 1) / TWO_POW_32;
    const u2 = this.nextU32() / TWO_POW_32;
    const r = Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    this.#spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  /** Fills `out` with standard normal deviates (faster than calling normal() per value). */
  fillNormal(out: Float64Array): void {
    const n = out.length;
    let i = 0;
    if (i < n && !Number.isNaN(this.#spare)) out[i++] = this.normal();
    for (; i + 1 < n; i += 2) {
      const u1 = (this.nextU32() + 1) / TWO_POW_32;
      const u2 = this.nextU32() / TWO_POW_32;
      const r = Math.sqrt(-2 * Math.log(u1));
      const a = 2 * Math.PI * u2;
      out[i] = r * Math.cos(a);
      out[i + 1] = r * Math.sin(a);
    }
    if (i < n) out[i] = this.normal();
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
