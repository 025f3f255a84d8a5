// Scorer: the public face of the native scoring engines. It validates arguments in TS (the addon
// checks again, cheaply), picks a backend, and turns a native "first bad value" into a RangeError
// that names the row, the column and the feature.
import { describeValue, NonFiniteError, withCallerStack } from './errors.js';
import { type AddonBadValue, type AddonCpuInt8Scorer, type AddonCudaInfo, type AddonScorer, addon } from './native.js';
import { type Model, toAddonSpec } from './model.js';

export type Backend = 'auto' | 'cpu' | 'cuda';
export type Precision = 'fp32' | 'int8';
export type NonFinitePolicy = 'error' | 'nan';

export interface ScorerOptions {
  /** Where to score. 'auto' picks CUDA when a device answers, else the CPU. @default 'auto' */
  backend?: Backend;
  /** 'int8' needs a quantized model (see quantize()). @default 'fp32' */
  precision?: Precision;
  /** Threads per call on the CPU; 0 = the pool's size (the machine's cores). @default 0 */
  threads?: number;
  /** A row holding NaN/Inf: 'error' throws a RangeError naming it, 'nan' gives it a NaN score. @default 'error' */
  nonFinite?: NonFinitePolicy;
  /** CPU instruction set; 'auto' picks the best this CPU runs. @default 'auto' */
  simd?: 'auto' | 'avx512' | 'avx2' | 'sse2';
}

export interface ScoreOptions {
  /** Write scores here (length >= rows) instead of allocating. */
  out?: Float32Array;
  /** Also compute each feature's squared error (n * features values). @default false */
  explain?: boolean;
  /** Write feature errors here instead of allocating (implies explain). */
  featureErrors?: Float32Array;
  /**
   * Hybrid models: also return the autoencoder's score per row (`aeScores`), without computing
   * feature errors for the caller (explain gives it too). Ignored for an autoencoder model, whose
   * `scores` are that score. @default false
   */
  aeScores?: boolean;
  /** Overrides the scorer's policy for this call. */
  nonFinite?: NonFinitePolicy;
  /** Threads for this call on the CPU (0 = the pool's size). @default the scorer's `threads` */
  threads?: number;
}

export interface AsyncScoreOptions extends ScoreOptions {
  /**
   * Aborts the call: an already-aborted signal rejects at once (nothing is scored), and one aborted
   * while the native call runs rejects when it returns (the batch itself is not interrupted: it takes
   * milliseconds; `out` may then hold its scores). Rejects with `signal.reason` (an AbortError by
   * default), as fetch() does.
   */
  signal?: AbortSignal;
}

export interface ScoreResult {
  /**
   * Mean squared reconstruction error per row, in standardized space; for a hybrid model
   * (`model.kind: 'hybrid'`) the fraud probability in [0, 1].
   */
  scores: Float32Array;
  /** Hybrid models with `explain`: the autoencoder's reconstruction error per row. */
  aeScores?: Float32Array;
  /** Per row and feature squared error (row-major), when asked for. */
  featureErrors?: Float32Array;
}

/** Whether CUDA answers, and why not when it does not (backendInfo(), errors, train()). @internal */
export function cudaStatus(): { available: boolean; reason?: string } {
  try {
    const info = addon.cudaInfo();
    return info.available
      ? { available: true }
      : { available: false, reason: info.reason ?? 'no CUDA device answered' };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** The error for `backend: 'cuda'` without a device, with the addon's code for it. @internal */
export function cudaUnavailable(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_FRAUDSCORE_CUDA_UNAVAILABLE' });
}

const disposeSymbol: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

/**
 * Scores raw transactions with a model: rows in, reconstruction errors out.
 *
 * Zero-copy: `rows` is read in place and outputs are written into arrays allocated up front (or
 * given by the caller). `score()` runs on the calling thread (use it for small batches);
 * `scoreAsync()` runs on the libuv pool and never blocks the event loop.
 */
export class Scorer {
  readonly model: Model;
  readonly backend: 'cpu' | 'cuda';
  readonly precision: Precision;
  readonly #d: number;
  readonly #threads: number;
  readonly #nonFinite: NonFinitePolicy;
  #native: AddonScorer | null;
  /** The same engine as #native when it runs int8 on the CPU (for fp32FallbackRows). */
  #int8: Pick<AddonCpuInt8Scorer, 'fallbackRows'> | null = null;
  #simd: string;

  constructor(model: Model, options: ScorerOptions = {}) {
    const { backend = 'auto', precision = 'fp32', threads = 0, nonFinite = 'error', simd = 'auto' } = options;
    if (!['auto', 'cpu', 'cuda'].includes(backend)) {
      throw new RangeError(`Expected \`backend\` to be 'auto', 'cpu' or 'cuda', got '${backend}'`);
    }
    if (precision !== 'fp32' && precision !== 'int8') {
      throw new RangeError(`Expected \`precision\` to be 'fp32' or 'int8', got '${precision}'`);
    }
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
      throw new RangeError(`Expected \`threads\` to be an integer in [0, 1024], got ${threads}`);
    }
    if (nonFinite !== 'error' && nonFinite !== 'nan') {
      throw new RangeError(`Expected \`nonFinite\` to be 'error' or 'nan', got '${nonFinite}'`);
    }
    const hybrid = model.kind === 'hybrid';
    if (hybrid && backend === 'cuda') {
      throw new RangeError(
        "backend 'cuda' does not run hybrid models (model.kind 'hybrid') yet; use 'cpu' or 'auto' (which picks the CPU for them, fp32 or int8)",
      );
    }
    if (precision === 'int8' && !model.quantization) {
      throw new RangeError(
        'Expected a quantized model for `precision: "int8"`: run quantize(model, { calibration }) first',
      );
    }
    this.model = model;
    this.precision = precision;
    this.#d = model.features.length;
    this.#threads = threads;
    this.#nonFinite = nonFinite;
    const spec = toAddonSpec(model);
    const quant = model.quantization
      ? {
          weights: model.quantization.weights,
          weightScales: model.quantization.weightScales,
          inputScales: Float32Array.from(model.quantization.inputScales),
          dynamic: model.quantization.activations === 'dynamic',
          fallback: model.quantization.outOfRange === 'fp32',
        }
      : undefined;

    const cuda = backend === 'cpu' || hybrid ? { available: false } : cudaStatus();
    if (backend === 'cuda' && !cuda.available) {
      throw cudaUnavailable(`backend 'cuda' is not available: ${cuda.reason}`);
    }
    // The CUDA int8 kernel implements static activation scales that clamp: 'auto' falls back to the
    // CPU for dynamic scales and for the fp32 fallback of out-of-range rows; asking for 'cuda'
    // explicitly is an error naming why.
    const cpuOnlyInt8 = precision === 'int8' && (quant?.dynamic === true || quant?.fallback === true);
    if (backend === 'cuda' && cpuOnlyInt8) {
      throw new RangeError(
        quant?.dynamic
          ? "backend 'cuda' runs int8 with static activation scales only; this model's are dynamic"
          : "backend 'cuda' runs int8 with clamped static scales only; this model rescores out-of-range rows in fp32 (quantization.outOfRange 'fp32')",
      );
    }
    if (hybrid) {
      // The autoencoder in fp32 or int8 (the int8 CPU engine, its fallback included), the head in
      // fp32 after it, in one native pass.
      this.backend = 'cpu';
      const n = new addon.HybridScorer(
        spec,
        model.head!.layers,
        simd === 'auto' ? undefined : simd,
        precision === 'int8' ? quant : undefined,
      );
      this.#native = n;
      if (precision === 'int8') this.#int8 = n;
      this.#simd = n.amx ? `${n.simd}-amx` : n.simd;
    } else if (cuda.available && !cpuOnlyInt8) {
      this.backend = 'cuda';
      this.#native = new addon.CudaScorer(spec, { precision, quant });
      this.#simd = 'cuda';
    } else if (precision === 'int8') {
      this.backend = 'cpu';
      const n = new addon.CpuInt8Scorer(spec, quant!, simd === 'auto' ? undefined : simd);
      this.#native = n;
      this.#int8 = n;
      // 'avx512-amx' when the products run on AMX tiles (FRAUDSCORE_INT8_AMX=1).
      this.#simd = n.amx ? `${n.simd}-amx` : n.simd;
    } else {
      this.backend = 'cpu';
      const n = new addon.CpuScorer(spec, simd === 'auto' ? undefined : simd);
      this.#native = n;
      this.#simd = n.simd;
    }
  }

  /** Feature names, in the order `rows` must be laid out. */
  get features(): readonly string[] {
    return this.model.features;
  }

  /** 'hybrid' when scores are fraud probabilities, 'autoencoder' when reconstruction errors. */
  get kind(): 'autoencoder' | 'hybrid' {
    return this.model.kind ?? 'autoencoder';
  }

  /** The decision threshold stored in the model (null when the model has none). */
  get threshold(): number | null {
    return this.model.threshold?.value ?? null;
  }

  /** The engine in use, e.g. 'cpu-avx512-fp32' or 'cuda-int8'. */
  get engine(): string {
    return this.backend === 'cuda' ? `cuda-${this.precision}` : `cpu-${this.#simd}-${this.precision}`;
  }

  get disposed(): boolean {
    return this.#native === null;
  }

  /**
   * Int8 with `quantization.outOfRange: 'fp32'`: rows this scorer has rescored with the fp32
   * weights because their activations left the calibrated range (0 for every other engine). A share
   * that grows over time says the traffic has drifted from the calibration rows.
   */
  get fp32FallbackRows(): number {
    return this.#native !== null && this.#int8 !== null ? this.#int8.fallbackRows : 0;
  }

  /**
   * [sync] Scores `rows` (n * features raw values, row-major) on the calling thread.
   * @returns the scores (`options.out` when given)
   * @throws TypeError/RangeError naming the bad argument or the first non-finite value
   */
  score(rows: Float32Array, options: Omit<ScoreOptions, 'explain' | 'featureErrors' | 'aeScores'> = {}): Float32Array {
    const call = this.#prepare(rows, options);
    const bad = call.native.score(rows, call.scores, null, call.mode, call.threads);
    this.#check(bad, rows);
    return call.scores;
  }

  /**
   * [sync] Scores and returns each feature's squared error as well (and, for a hybrid model, the
   * autoencoder's score per row as `aeScores`).
   */
  explain(
    rows: Float32Array,
    options: ScoreOptions = {},
  ): Required<Omit<ScoreResult, 'aeScores'>> & Pick<ScoreResult, 'aeScores'> {
    const call = this.#prepare(rows, { ...options, explain: true });
    const bad = call.native.score(rows, call.scores, call.featureErrors, call.mode, call.threads, call.aeScores);
    this.#check(bad, rows);
    return call.aeScores
      ? { scores: call.scores, featureErrors: call.featureErrors!, aeScores: call.aeScores }
      : { scores: call.scores, featureErrors: call.featureErrors! };
  }

  /**
   * [async] Scores off the event loop. `rows` and the outputs must not be written to until the
   * promise settles. Unless they view a SharedArrayBuffer, the rows are copied when the call starts
   * and the outputs copied back when it settles (N-API cannot pin a buffer against a transfer or a
   * resize), so detaching or shrinking one meanwhile is safe: a detached `rows` still scores, a
   * detached `out` rejects with code ERR_FRAUDSCORE_DETACHED.
   */
  async scoreAsync(rows: Float32Array, options: AsyncScoreOptions = {}): Promise<ScoreResult> {
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${typeof signal}`);
    }
    signal?.throwIfAborted();
    const call = this.#prepare(rows, options);
    // Captured before the await: a rejection from the libuv pool has no JS frames of its own.
    const caller = new Error();
    let bad: AddonBadValue;
    try {
      bad = await call.native.scoreAsync(rows, call.scores, call.featureErrors, call.mode, call.threads, call.aeScores);
    } catch (e) {
      // The addon names its own argument (`scores`); the caller passed it as `out`.
      const err = e as Error & { code?: string; argument?: string };
      if (err.code === 'ERR_FRAUDSCORE_DETACHED') {
        const name = err.argument === 'scores' ? 'out' : err.argument;
        err.message = `Scorer.scoreAsync: \`${name}\` was detached or shrunk before the call settled; nothing was written`;
        err.argument = name;
      }
      throw withCallerStack(err, caller);
    }
    signal?.throwIfAborted();
    try {
      this.#check(bad, rows);
    } catch (e) {
      throw withCallerStack(e, caller);
    }
    const result: ScoreResult = { scores: call.scores };
    if (call.featureErrors) result.featureErrors = call.featureErrors;
    if (call.aeScores) result.aeScores = call.aeScores;
    return result;
  }

  /** [sync] Frees the native engine. Safe to call twice; any later call throws. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
    this.#int8 = null;
  }

  [disposeSymbol](): void {
    this.dispose();
  }

  #prepare(rows: Float32Array, options: ScoreOptions) {
    const native = this.#native;
    if (native === null) throw new TypeError('Expected `scorer` to be usable, got a disposed scorer');
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
    }
    const threads = options.threads ?? this.#threads;
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
      throw new RangeError(`Expected \`threads\` to be an integer in [0, 1024], got ${threads}`);
    }
    const d = this.#d;
    if (!(rows instanceof Float32Array)) {
      throw new TypeError(`Expected \`rows\` to be a Float32Array, got ${describeValue(rows)}`);
    }
    if (rows.length === 0) throw new RangeError('Expected `rows` to hold at least one row, got 0 values');
    if (rows.length % d !== 0) {
      throw new RangeError(`Expected \`rows\` to be a Float32Array of n*${d} values, got ${rows.length} values`);
    }
    const n = rows.length / d;
    let scores = options.out;
    if (scores === undefined) scores = new Float32Array(n);
    else if (!(scores instanceof Float32Array)) {
      throw new TypeError(`Expected \`out\` to be a Float32Array, got ${describeValue(scores)}`);
    } else if (scores.length < n) {
      throw new RangeError(`Expected \`out\` to hold at least ${n} values, got ${scores.length}`);
    }
    let featureErrors: Float32Array | null = null;
    if (options.featureErrors !== undefined) {
      if (!(options.featureErrors instanceof Float32Array)) {
        throw new TypeError(
          `Expected \`featureErrors\` to be a Float32Array, got ${describeValue(options.featureErrors)}`,
        );
      }
      if (options.featureErrors.length < n * d) {
        throw new RangeError(
          `Expected \`featureErrors\` to hold at least ${n * d} values, got ${options.featureErrors.length}`,
        );
      }
      featureErrors = options.featureErrors;
    } else if (options.explain) {
      featureErrors = new Float32Array(n * d);
    }
    const policy = options.nonFinite ?? this.#nonFinite;
    if (policy !== 'error' && policy !== 'nan') {
      throw new RangeError(`Expected \`nonFinite\` to be 'error' or 'nan', got '${policy}'`);
    }
    const mode: 0 | 1 = policy === 'nan' ? 1 : 0;
    // A view of exactly n scores, so callers can pass a larger reusable buffer.
    if (scores.length !== n) scores = scores.subarray(0, n);
    // Hybrid models explain with the autoencoder's own score too.
    const aeScores =
      (featureErrors !== null || options.aeScores === true) && this.model.kind === 'hybrid'
        ? new Float32Array(n)
        : null;
    return { native, scores, featureErrors, mode, threads, aeScores };
  }

  #check(bad: AddonBadValue, rows: Float32Array): void {
    if (bad === null) return;
    const [row, col] = bad;
    const value = rows[row * this.#d + col];
    const name = this.model.features[col];
    // A finite value can still break the row: outside log1p's domain, or so large that it overflows
    // float32 once standardized (3e38 - mean, / std).
    const overflow = Number.isFinite(value) && !(this.model.preprocessing.transform[col] === 'log1p' && !(value > -1));
    const why = !Number.isFinite(value)
      ? String(value)
      : this.model.preprocessing.transform[col] === 'log1p' && !(value > -1)
        ? `${value}, outside log1p's domain (> -1)`
        : `${value}, which overflows float32 once preprocessed`;
    throw new NonFiniteError(
      `Expected \`rows\` to hold ${overflow ? 'values the model can score' : 'finite values'}: row ${row}, column ${col} (${name}) is ${why}`,
      { row, column: col, feature: name, value: value!, problem: why },
    );
  }
}

/** What the native addon can run on this machine. */
export function backendInfo() {
  const cpu = addon.cpuInfo();
  const cudaDetail = safeCudaInfo();
  return {
    cpu,
    cuda: cudaDetail,
    /** What `backend: 'auto'` picks. */
    auto: cudaDetail.available ? ('cuda' as const) : ('cpu' as const),
  };
}

function safeCudaInfo(): Partial<AddonCudaInfo> & Pick<AddonCudaInfo, 'available'> {
  try {
    return addon.cudaInfo();
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** [sync] Sets the size of the native CPU thread pool (default: the machine's cores). */
export function setThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new RangeError(`Expected \`threads\` to be an integer in [1, 1024], got ${threads}`);
  }
  addon.setThreads(threads);
}
