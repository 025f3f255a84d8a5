// Types of the addon's Trainer class (bindings/trainer.cpp). src/native.ts is the one file that
// loads the addon; this file only narrows its untyped `Trainer` export to these types, so the
// trainer's binding can evolve with the training code that uses it.
import { type AddonModelSpec, addon } from '../native.js';

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
   * ERR_FRAUDSCORE_NONFINITE, `row`, `column`) before training when a value is not finite after
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

export type AddonTrainerClass = new (model: AddonModelSpec, options?: AddonTrainerOptions) => AddonTrainer;

/** The addon's Trainer class. */
export function nativeTrainerClass(): AddonTrainerClass {
  const cls = addon.Trainer;
  if (typeof cls !== 'function') {
    throw new Error('fraudscore: this build of the native addon has no Trainer (rebuild with `npm run build:native`)');
  }
  // The one cast: BindingModule leaves Trainer untyped ([key: string]: unknown); its shape is
  // defined by bindings/trainer.cpp and written down above.
  return cls as AddonTrainerClass;
}
