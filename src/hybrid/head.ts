// The hybrid model's supervised head as the TS layer holds it: its shape, its random start, its
// checks, and its tensors in the artifact. What it reads and computes is written down once, in
// native/include/fraudscore/head.h: for a model of d features the head reads 2d + 1 values per row
// (the standardized features, log1p of each feature's squared reconstruction error, log1p of the AE
// score), hidden layers use ReLU and one sigmoid unit gives the fraud probability.
import { mulberry32 } from '../data/random.js';
import { type DenseLayer, kaimingLayers } from '../model.js';
import type { Tensor } from '../safetensors.js';
import { tensor } from '../safetensors.js';

/** The one input layout the head has (head.h); model.json names it so a future one can differ. */
export const HEAD_INPUTS = 'standardized+log1p-feature-errors+log1p-score' as const;

/** What a hybrid model adds to the autoencoder (`model.head`). */
export interface HybridHead {
  inputs: typeof HEAD_INPUTS;
  /** Hidden layers ReLU; the last one has one output, read through a sigmoid. */
  layers: DenseLayer[];
}

/** Head inputs for a model of `features` columns. */
export function headInputCount(features: number): number {
  return 2 * features + 1;
}

/**
 * [sync] A head with Kaiming-uniform weights (as createModel's, seeded), for `features` model
 * features and these hidden sizes.
 */
export function createHead(features: number, hidden: readonly number[], seed: number): HybridHead {
  for (const [i, h] of hidden.entries()) {
    if (!Number.isInteger(h) || h < 1)
      throw new RangeError(`Expected \`head.hidden[${i}]\` to be a positive integer, got ${h}`);
  }
  // A different stream from the autoencoder's initialization with the same seed.
  const rand = mulberry32((seed ^ 0x5eed4ead) >>> 0);
  const layers = kaimingLayers([headInputCount(features), ...hidden, 1], rand);
  return { inputs: HEAD_INPUTS, layers };
}

/** Checks a head against the model's feature count; returns a message naming the field, or null. */
export function headProblem(head: HybridHead | undefined, features: number): string | null {
  if (!head || typeof head !== 'object') return "kind is 'hybrid' but head is missing";
  if (head.inputs !== HEAD_INPUTS) return `head.inputs must be '${HEAD_INPUTS}', got ${JSON.stringify(head.inputs)}`;
  if (!Array.isArray(head.layers) || head.layers.length === 0) return 'head.layers is empty';
  let prev = headInputCount(features);
  for (const [i, l] of head.layers.entries()) {
    if (l.in !== prev) return `head.layers[${i}].in is ${l.in}, expected ${prev}`;
    if (!(l.weight instanceof Float32Array) || l.weight.length !== l.in * l.out) {
      return `head.layers[${i}].weight must be a Float32Array of ${l.in * l.out} values, got ${l.weight?.length}`;
    }
    if (!(l.bias instanceof Float32Array) || l.bias.length !== l.out) {
      return `head.layers[${i}].bias must be a Float32Array of ${l.out} values, got ${l.bias?.length}`;
    }
    for (const [name, arr] of [
      ['weight', l.weight],
      ['bias', l.bias],
    ] as const) {
      for (let k = 0; k < arr.length; k++) {
        if (!Number.isFinite(arr[k]!)) return `head.layers[${i}].${name}[${k}] is not finite (${arr[k]})`;
      }
    }
    prev = l.out;
  }
  if (prev !== 1) return `the head's last layer outputs ${prev} values, expected 1 (the fraud logit)`;
  return null;
}

/** The head's tensors in weights.safetensors: head.<i>.weight [out, in], head.<i>.bias [out]. */
export function headTensors(head: HybridHead): Record<string, Tensor> {
  const t: Record<string, Tensor> = {};
  head.layers.forEach((l, i) => {
    t[`head.${i}.weight`] = tensor(l.weight, [l.out, l.in]);
    t[`head.${i}.bias`] = tensor(l.bias, [l.out]);
  });
  return t;
}

/** Layer sizes of the head, input first (model.json's headLayerSizes). */
export function headLayerSizes(head: HybridHead): number[] {
  return [head.layers[0]!.in, ...head.layers.map((l) => l.out)];
}

/**
 * Reads the head back from decoded tensors; returns the layers or a message naming what is wrong.
 */
export function headFromTensors(
  tensors: Record<string, { dtype: string; shape: number[]; data: ArrayLike<number> }>,
  sizes: unknown,
): DenseLayer[] | string {
  if (!Array.isArray(sizes) || sizes.length < 2 || !sizes.every((x) => Number.isInteger(x) && x >= 1 && x <= 1 << 20)) {
    return `headLayerSizes must be at least 2 integers in [1, 1048576], got ${JSON.stringify(sizes)}`;
  }
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const w = tensors[`head.${i}.weight`];
    const b = tensors[`head.${i}.bias`];
    const [inn, out] = [sizes[i] as number, sizes[i + 1] as number];
    if (!w || !b) return `tensors head.${i}.weight/bias are missing`;
    if (w.dtype !== 'F32' || w.shape.join() !== `${out},${inn}`) {
      return `head.${i}.weight has shape [${w.shape}] ${w.dtype}, expected [${out},${inn}] F32`;
    }
    if (b.dtype !== 'F32' || b.shape.join() !== `${out}`) {
      return `head.${i}.bias has shape [${b.shape}] ${b.dtype}, expected [${out}] F32`;
    }
    layers.push({ in: inn, out, weight: w.data as Float32Array, bias: b.data as Float32Array });
  }
  return layers;
}

/**
 * [sync] The head's probabilities for precomputed head inputs (n * inputs), in float64: early
 * stopping reads these on the validation rows each epoch, where building a native scorer per
 * epoch would cost more than the arithmetic. Scoring always goes through the native engine.
 */
export function headProbabilities(layers: readonly DenseLayer[], inputs: Float32Array): Float64Array {
  const k = layers[0]!.in;
  const n = inputs.length / k;
  const out = new Float64Array(n);
  const width = Math.max(k, ...layers.map((l) => l.out));
  let a = new Float64Array(width);
  let b = new Float64Array(width);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) a[i] = inputs[r * k + i]!;
    for (let l = 0; l < layers.length; l++) {
      const L = layers[l]!;
      const last = l + 1 === layers.length;
      for (let o = 0; o < L.out; o++) {
        let s = L.bias[o]!;
        const w0 = o * L.in;
        for (let i = 0; i < L.in; i++) s += L.weight[w0 + i]! * a[i]!;
        b[o] = last || s > 0 ? s : 0;
      }
      [a, b] = [b, a];
    }
    out[r] = 1 / (1 + Math.exp(-a[0]!));
  }
  return out;
}
