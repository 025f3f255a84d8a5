// The addon's HeadTrainer (bindings/hybrid.cpp), typed in src/native.ts like every other export.
import { type AddonHeadTrainer, type AddonHeadTrainerOptions, type AddonLayer, addon } from '../native.js';

export type { AddonHeadTrainer, AddonHeadTrainerOptions };
export type AddonHeadLayer = AddonLayer;

export type AddonHeadTrainerClass = new (
  head: AddonHeadLayer[],
  inputs: number,
  options?: AddonHeadTrainerOptions,
) => AddonHeadTrainer;

/** The addon's HeadTrainer class. */
export function nativeHeadTrainerClass(): AddonHeadTrainerClass {
  return addon.HeadTrainer;
}
