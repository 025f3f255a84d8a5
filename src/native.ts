// The one file that loads and types the raw native addon. Nothing outside src/ imports it and the
// package never re-exports it: the public API wraps it (Scorer, Trainer, backendInfo, ...).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The model as the addon takes it: plain TypedArrays, checked again in C++. */
export interface AddonModelSpec {
  features: number;
  /** Per feature: 0 none, 1 log1p. */
  transform: Uint8Array;
  mean: Float32Array;
  /** Standard deviation per feature (> 0). */
  scale: Float32Array;
  layers: { in: number; out: number; weight: Float32Array; bias: Float32Array }[];
}

/** [row, column] of the first non-finite value, or null when every value was finite. */
export type AddonBadValue = [number, number] | null;

/** The shape every native scorer (CPU fp32, CPU int8, CUDA) shares. */
export interface AddonScorer {
  /**
   * [sync] @throws TypeError/RangeError naming the argument. `aeScores` is read by HybridScorer
   * only (it then writes probabilities to `scores` and the AE's scores there); others ignore it.
   */
  score(
    rows: Float32Array,
    scores: Float32Array,
    featureErrors: Float32Array | null,
    nonFinite: 0 | 1,
    threads: number,
    aeScores?: Float32Array | null,
  ): AddonBadValue;
  /** [async] Runs on the libuv pool; keeps its arrays alive until it settles. */
  scoreAsync(
    rows: Float32Array,
    scores: Float32Array,
    featureErrors: Float32Array | null,
    nonFinite: 0 | 1,
    threads: number,
    aeScores?: Float32Array | null,
  ): Promise<AddonBadValue>;
  dispose(): void;
}

export interface AddonCpuInfo {
  simd: string;
  best: string;
  available: string[];
  /** The int8 kernel's SIMD path (its avx512 path needs AVX512-VNNI). */
  int8: string;
  /** Whether this build, CPU and OS can run int8 on AMX tiles (opt-in: FRAUDSCORE_INT8_AMX=1). */
  amx: boolean;
  threads: number;
  hardwareConcurrency: number;
}

export interface AddonCudaInfo {
  available: boolean;
  reason?: string;
  [key: string]: unknown;
}

/** Int8 weights and scales as the addon takes them (see native/include/fraudscore/quant.h). */
export interface AddonQuantSpec {
  /** Per layer: int8 weights [out][in]. */
  weights: Int8Array[];
  /** Per layer: per-output-channel weight scales. */
  weightScales: Float32Array[];
  /** Per layer: the input activation scale (static); empty for dynamic per-batch scales. */
  inputScales: Float32Array;
  dynamic?: boolean;
  /** Static scales: rows beyond the calibrated range are rescored with the fp32 weights. */
  fallback?: boolean;
}

export interface BindingModule {
  CpuScorer: new (
    model: AddonModelSpec,
    simd?: string,
  ) => AddonScorer & { readonly simd: string; readonly features: number };
  CpuInt8Scorer?: new (
    model: AddonModelSpec,
    quant: AddonQuantSpec,
    simd?: string,
  ) => AddonScorer & { readonly simd: string; readonly fallbackRows: number; readonly amx: boolean };
  CudaScorer?: new (
    model: AddonModelSpec,
    options?: { precision?: 'fp32' | 'int8'; quant?: AddonQuantSpec; device?: number },
  ) => AddonScorer;
  cudaInfo?: () => AddonCudaInfo;
  /** The fused autoencoder + head engine of a hybrid model (bindings/hybrid.cpp). */
  HybridScorer?: new (
    model: AddonModelSpec,
    head: AddonModelSpec['layers'],
    simd?: string,
  ) => AddonScorer & {
    readonly simd: string;
    readonly features: number;
    /** [sync] The head's inputs of raw rows (n * (2 * features + 1)), for training it. */
    headInputs(rows: Float32Array, threads: number): Float32Array;
  };
  cpuInfo(): AddonCpuInfo;
  setThreads(threads: number): void;
  referenceScore(model: AddonModelSpec, rows: Float32Array): { scores: Float64Array; featureErrors: Float64Array };
  measurePeakGflops(threads: number, seconds?: number): number;
  [key: string]: unknown;
}

/** The package root: one level above src/ (tests, tsx) or dist/ (the published build). */
export const packageRoot = fileURLToPath(new URL('..', import.meta.url));

function load(): BindingModule {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as BindingModule;
  } catch (err) {
    const e = new Error(
      `fraudscore: the native addon could not be loaded from ${packageRoot} ` +
        `(run \`npm run build:native\`): ${(err as Error).message}`,
    );
    (e as Error & { code: string }).code = 'ERR_FRAUDSCORE_ADDON';
    throw e;
  }
}

/** The raw addon, loaded once. Internal: wrap it, never export it from src/index.ts. */
export const addon: BindingModule = load();
