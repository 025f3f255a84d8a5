// Types of the addon's HeadTrainer class (bindings/hybrid.cpp). As native-trainer.ts does for the
// autoencoder's Trainer, this only narrows the untyped export of src/native.ts, the one file that
// loads the addon.
import { addon } from '../native.js';

export interface AddonHeadLayer {
  in: number;
  out: number;
  weight: Float32Array;
  bias: Float32Array;
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
   * RangeError (code ERR_FRAUDSCORE_NONFINITE, `row`, `column`) before training on a bad value.
   */
  trainEpoch(
    inputs: Float32Array,
    labels: Uint8Array,
  ): Promise<{ loss: number; rows: number; batches: number; cancelled: boolean }>;
  /** [sync] Weighted mean loss with the current weights. */
  evalLoss(inputs: Float32Array, labels: Uint8Array): number;
  /** [sync] Loss and gradient of one minibatch of these rows (no update). */
  batchGradients(inputs: Float32Array, labels: Uint8Array): { loss: number; grads: AddonHeadLayer[] };
  getWeights(): AddonHeadLayer[];
  setWeights(layers: AddonHeadLayer[]): void;
  cancel(): void;
  dispose(): void;
  readonly steps: number;
}

export type AddonHeadTrainerClass = new (
  head: AddonHeadLayer[],
  inputs: number,
  options?: AddonHeadTrainerOptions,
) => AddonHeadTrainer;

/** The addon's HeadTrainer class. */
export function nativeHeadTrainerClass(): AddonHeadTrainerClass {
  const cls = addon.HeadTrainer;
  if (typeof cls !== 'function') {
    throw new Error(
      'fraudscore: this build of the native addon has no HeadTrainer (rebuild with `npm run build:native`)',
    );
  }
  // Shape defined by bindings/hybrid.cpp and written down above.
  return cls as AddonHeadTrainerClass;
}
