// The one file that loads and types the raw native addon (bindings/): every export of the addon is
// typed here, and nothing else loads it. The package never re-exports it: the public API wraps it
// (Scorer, train(), backendInfo, ...); bench/ and test/ import `addon` to reach the engines directly.
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

/** cudaInfo(device?): whether a CUDA device answers, and what it is (bindings/cuda.cpp). */
export interface AddonCudaInfo {
  available: boolean;
  /** Whether this build has the CUDA backend. */
  built: boolean;
  /** Why not, when `available` is false. */
  reason?: string;
  deviceCount: number;
  /** The device asked about, and what it is (when there is one). */
  device?: number;
  name?: string;
  computeCapability?: string;
  multiprocessors?: number;
  totalMemory?: number;
  freeMemory?: number;
  /** e.g. '13.0'; '' when unknown. */
  driverVersion: string;
  runtimeVersion: string;
}

/** The CUDA scorer: the shared contract plus what it runs on. */
export interface AddonCudaScorer extends AddonScorer {
  readonly features: number;
  readonly precision: 'fp32' | 'int8';
  readonly kernel: string;
  readonly device: number;
  readonly deviceBytes: number;
}

/** A CPU scorer (fp32): the shared contract plus its SIMD path. */
export interface AddonCpuScorer extends AddonScorer {
  readonly simd: string;
  readonly features: number;
}

/** The int8 CPU scorer. */
export interface AddonCpuInt8Scorer extends AddonCpuScorer {
  /** Activation scales computed per block of rows (no calibration). */
  readonly dynamic: boolean;
  /** Rows rescored with the fp32 weights because they left the calibrated range. */
  readonly fallbackRows: number;
  /** Whether the products run on AMX tiles. */
  readonly amx: boolean;
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

/** Options of the native trainer; every field is checked again in C++. */
export interface AddonTrainerOptions {
  /** Adam learning rate, in (0, 1000]. */
  lr?: number;
  /** L2 coefficient added to the gradient (torch.optim.Adam weight_decay). */
  weightDecay?: number;
  /** Dropout probability after the first hidden layer, in [0, 1). */
  dropout?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Integer in [0, 2^53): shuffles and dropout masks. */
  seed?: number;
  /** Threads per epoch, in [1, 1024]. Weights do not depend on it. */
  threads?: number;
  /** Rows per minibatch. */
  batchSize?: number;
  /**
   * -1 (default): steps on the CPU. A device index: each minibatch's forward, backward and Adam
   * step run on that CUDA device; checks, shuffles and batches stay the same (dropout masks are the
   * device's own). The constructor throws (code ERR_FRAUDSCORE_CUDA_UNAVAILABLE) when no device
   * answers; setWeights() is then refused.
   */
  cudaDevice?: number;
}

export interface AddonEpochResult {
  /** Mean training loss (with dropout) over the rows seen. */
  loss: number;
  rows: number;
  batches: number;
  /** True when cancel() stopped the epoch early. */
  cancelled: boolean;
}

export interface AddonLayer {
  in: number;
  out: number;
  weight: Float32Array;
  bias: Float32Array;
}

export interface AddonTrainer {
  /**
   * [async] One shuffled epoch over raw rows (n * features). Rejects with a RangeError (code
   * ERR_FRAUDSCORE_NON_FINITE, `row`, `column`) before training when a value is not finite after
   * preprocessing.
   */
  trainEpoch(rows: Float32Array): Promise<AddonEpochResult>;
  /** [async] Mean squared reconstruction error without dropout (the mean score). */
  evalLoss(rows: Float32Array, threads?: number): Promise<number>;
  /** [sync] Copies of the current weights, [out][in] row-major. */
  getWeights(): AddonLayer[];
  /** [sync] Replaces the weights (same shapes); Adam's state is kept. */
  setWeights(layers: AddonLayer[]): void;
  /** [sync] Stops the epoch in flight after its current minibatch. */
  cancel(): void;
  /** [sync] Frees the native trainer; safe to call twice. */
  dispose(): void;
  readonly steps: number;
  readonly features: number;
}

/** A hybrid model's scorer: score() writes fraud probabilities to `scores`, AE scores to `aeScores`. */
export interface AddonHybridScorer extends AddonScorer {
  readonly simd: string;
  readonly features: number;
  /** The autoencoder runs in int8 (constructed with `quant`); the head is fp32 either way. */
  readonly int8: boolean;
  /** int8 only: activation scales per block of rows; products on AMX tiles; rows rescored in fp32. */
  readonly dynamic: boolean;
  readonly amx: boolean;
  readonly fallbackRows: number;
  /** [sync] The head's inputs of raw rows (n * (2 * features + 1)), for training it. */
  headInputs(rows: Float32Array, threads: number): Float32Array;
}

/** Options of the native head trainer; every field is checked again in C++. */
export interface AddonHeadTrainerOptions {
  lr?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Loss weight of a fraud row (> 0). */
  posWeight?: number;
  /** 0: weighted cross-entropy; > 0: focal loss with this gamma. */
  focalGamma?: number;
  seed?: number;
  /** Threads per minibatch; weights do not depend on it. */
  threads?: number;
  batchSize?: number;
}

export interface AddonHeadTrainer {
  /**
   * [async] One shuffled epoch over head inputs (n * inputs) and their 0/1 labels. Rejects with a
   * RangeError (code ERR_FRAUDSCORE_NON_FINITE, `row`, `column`) before training on a bad value.
   */
  trainEpoch(inputs: Float32Array, labels: Uint8Array): Promise<AddonEpochResult>;
  /** [sync] Weighted mean loss with the current weights. */
  evalLoss(inputs: Float32Array, labels: Uint8Array): number;
  /** [sync] Loss and gradient of one minibatch of these rows (no update). */
  batchGradients(inputs: Float32Array, labels: Uint8Array): { loss: number; grads: AddonLayer[] };
  getWeights(): AddonLayer[];
  setWeights(layers: AddonLayer[]): void;
  cancel(): void;
  dispose(): void;
  readonly steps: number;
}

/** Every export of the addon (bindings/addon.cpp registers them). */
export interface BindingModule {
  CpuScorer: new (model: AddonModelSpec, simd?: string) => AddonCpuScorer;
  CpuInt8Scorer: new (model: AddonModelSpec, quant: AddonQuantSpec, simd?: string) => AddonCpuInt8Scorer;
  /** Present in every build; its constructor throws ERR_FRAUDSCORE_CUDA_UNAVAILABLE without a device. */
  CudaScorer: new (
    model: AddonModelSpec,
    options?: { precision?: 'fp32' | 'int8'; quant?: AddonQuantSpec; device?: number },
  ) => AddonCudaScorer;
  Trainer: new (model: AddonModelSpec, options?: AddonTrainerOptions) => AddonTrainer;
  cudaInfo(device?: number): AddonCudaInfo;
  /**
   * The fused autoencoder + head engine of a hybrid model (bindings/hybrid.cpp); with `quant` the
   * autoencoder in int8 (`simd` then an int8 path), the head in fp32 after it, in the same pass.
   */
  HybridScorer: new (
    model: AddonModelSpec,
    head: AddonLayer[],
    simd?: string,
    quant?: AddonQuantSpec,
  ) => AddonHybridScorer;
  /** The hybrid model's supervised head trainer (bindings/hybrid.cpp). */
  HeadTrainer: new (
    head: AddonLayer[],
    inputs: number,
    options?: AddonHeadTrainerOptions,
  ) => AddonHeadTrainer;
  cpuInfo(): AddonCpuInfo;
  setThreads(threads: number): void;
  referenceScore(model: AddonModelSpec, rows: Float32Array): { scores: Float64Array; featureErrors: Float64Array };
  measurePeakGflops(threads: number, seconds?: number): number;
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
