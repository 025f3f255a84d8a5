// The model artifact: a directory with model.json (everything but the weights) and
// weights.safetensors (fp32 tensors layers.<i>.weight [out, in] and layers.<i>.bias [out], plus the
// int8 tensors of a quantized model). model.json pins the weights file by sha256.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ModelError } from './errors.js';
import { describeJson, fileInModelDir, MAX_MODEL_JSON_BYTES, MAX_WEIGHTS_BYTES, readModelFile } from './model-files.js';
import { mulberry32 } from './data/random.js';
import type { AddonModelSpec } from './native.js';
import { decodeSafetensors, encodeSafetensors, type Tensor, tensor } from './safetensors.js';
import { headFromTensors, headLayerSizes, headTensors, type HybridHead } from './hybrid/head.js';
import { validateModel } from './model-validate.js';
import { VERSION } from './version.js';

export { validateModel };

export const MODEL_FORMAT_VERSION = 1;

export type FeatureTransform = 'none' | 'log1p';

export interface Preprocessing {
  /** Per feature, applied to the raw value before standardization. */
  transform: FeatureTransform[];
  /** Per feature mean of the transformed value (fitted on the training split's normal rows). */
  mean: number[];
  /** Per feature standard deviation (> 0). */
  std: number[];
}

/** y = W x + b with W [out][in] row-major (the PyTorch Linear layout). */
export interface DenseLayer {
  in: number;
  out: number;
  weight: Float32Array;
  bias: Float32Array;
}

export interface Threshold {
  /** Scores strictly above this are flagged as fraud. */
  value: number;
  /** How it was chosen, e.g. 'max-f1' on the validation split. */
  strategy: string;
  params?: Record<string, unknown>;
}

/** Int8 form of the weights (see quantize()). */
export interface Quantization {
  scheme: 'int8-symmetric-per-channel';
  activations: 'static' | 'dynamic';
  /** Per layer: int8 weights [out][in]. */
  weights: Int8Array[];
  /** Per layer: one scale per output channel. */
  weightScales: Float32Array[];
  /** Per layer input scale (static activations); empty when dynamic. */
  inputScales: number[];
  /**
   * Static activations: what a row whose activations leave the calibrated range gets (any layer
   * input |x| / scale >= 127.5). 'fp32': that row is scored by the fp32 weights instead, so the
   * scales can be tight for the bulk of rows while the rare rows beyond them (the fraud signal)
   * lose nothing. 'clamp': its values clamp to +-127 (the form of artifacts made before this
   * field existed, which read as 'clamp'). Absent with dynamic activations.
   */
  outOfRange?: 'fp32' | 'clamp';
  calibration?: Record<string, unknown>;
  pruning?: Record<string, unknown>;
}

export interface Provenance {
  library: string;
  libraryVersion: string;
  createdAt: string;
  gitCommit?: string;
  /** sha256 of the training data file. */
  dataFingerprint?: string;
  seed?: number;
  [key: string]: unknown;
}

export interface Model {
  formatVersion: number;
  name: string;
  version: string;
  /**
   * 'autoencoder' (also when absent, as in artifacts made before hybrids existed): scores are
   * reconstruction errors. 'hybrid': `head` turns them into fraud probabilities (src/hybrid/).
   */
  kind?: 'autoencoder' | 'hybrid';
  /** The supervised head of a hybrid model. */
  head?: HybridHead;
  /** Feature names, in the order rows are laid out. */
  features: string[];
  preprocessing: Preprocessing;
  /** Hidden layers use ReLU, the last one is linear and outputs features.length values. */
  layers: DenseLayer[];
  /** Dropout used in training (informational; inference has none). */
  dropout?: number;
  threshold: Threshold | null;
  provenance: Provenance;
  metrics?: Record<string, unknown>;
  training?: Record<string, unknown>;
  quantization?: Quantization;
  /** Free-form extras kept in model.json (reference sample file name, ONNX exports, ...). */
  extra?: Record<string, unknown>;
}

/** Layer sizes, input first: [29, 32, 16, 32, 29]. */
export function layerSizes(model: Pick<Model, 'layers'>): number[] {
  return model.layers.length === 0 ? [] : [model.layers[0]!.in, ...model.layers.map((l) => l.out)];
}

/** FLOPs of one row's forward pass (2 per multiply-add). */
export function flopsPerRow(model: Pick<Model, 'layers'>): number {
  return model.layers.reduce((s, l) => s + 2 * l.in * l.out, 0);
}

// ---- creation --------------------------------------------------------------------------------

export interface CreateModelOptions {
  /** Feature names, or a count (names f0, f1, ...). */
  features: string[] | number;
  /** Hidden layer sizes. @default [32, 16, 32] */
  hidden?: number[];
  /** Seed of the weight initialization. @default 0 */
  seed?: number;
  /** @default identity: no transform, mean 0, std 1 */
  preprocessing?: Preprocessing;
  /** @default 'model' */
  name?: string;
  threshold?: Threshold | null;
  /** @default 0.1 */
  dropout?: number;
}

/** Dense layers of these sizes with torch.nn.Linear's Kaiming-uniform start, drawn from `rand`. */
export function kaimingLayers(sizes: readonly number[], rand: () => number): DenseLayer[] {
  const layers: DenseLayer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l]!;
    const out = sizes[l + 1]!;
    const bound = 1 / Math.sqrt(fanIn);
    const weight = new Float32Array(out * fanIn);
    for (let k = 0; k < weight.length; k++) weight[k] = (rand() * 2 - 1) * bound * Math.sqrt(3);
    const bias = new Float32Array(out);
    for (let k = 0; k < out; k++) bias[k] = (rand() * 2 - 1) * bound;
    layers.push({ in: fanIn, out, weight, bias });
  }
  return layers;
}

/**
 * [sync] A model with random weights (Kaiming-uniform as torch.nn.Linear), for tests and as the
 * starting point of training.
 */
export function createModel(options: CreateModelOptions): Model {
  const features =
    typeof options.features === 'number'
      ? Array.from({ length: options.features }, (_, i) => `f${i}`)
      : [...options.features];
  const d = features.length;
  if (d < 1) throw new RangeError('Expected `features` to name at least one feature, got 0');
  if (new Set(features).size !== d) throw new RangeError('Expected `features` to be distinct names');
  const hidden = options.hidden ?? [32, 16, 32];
  for (const [i, h] of hidden.entries()) {
    if (!Number.isInteger(h) || h < 1) {
      throw new RangeError(`Expected \`hidden[${i}]\` to be a positive integer, got ${h}`);
    }
  }
  const layers = kaimingLayers([d, ...hidden, d], mulberry32(options.seed ?? 0));
  const preprocessing = options.preprocessing ?? {
    transform: features.map(() => 'none' as const),
    mean: features.map(() => 0),
    std: features.map(() => 1),
  };
  const model: Model = {
    formatVersion: MODEL_FORMAT_VERSION,
    name: options.name ?? 'model',
    version: '1',
    kind: 'autoencoder',
    features,
    preprocessing,
    layers,
    dropout: options.dropout ?? 0.1,
    threshold: options.threshold ?? null,
    provenance: {
      library: 'fraudscore',
      libraryVersion: VERSION,
      createdAt: new Date().toISOString(),
      seed: options.seed ?? 0,
    },
  };
  validateModel(model);
  return model;
}

/** The addon's form of a model (TypedArrays, numeric transforms). */
export function toAddonSpec(model: Model): AddonModelSpec {
  return {
    features: model.features.length,
    transform: Uint8Array.from(model.preprocessing.transform, (t) => (t === 'log1p' ? 1 : 0)),
    mean: Float32Array.from(model.preprocessing.mean),
    scale: Float32Array.from(model.preprocessing.std),
    layers: model.layers.map((l) => ({ in: l.in, out: l.out, weight: l.weight, bias: l.bias })),
  };
}

// ---- save / load -----------------------------------------------------------------------------

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.safetensors';

function weightTensors(model: Model): Record<string, Tensor> {
  const t: Record<string, Tensor> = {};
  model.layers.forEach((l, i) => {
    t[`layers.${i}.weight`] = tensor(l.weight, [l.out, l.in]);
    t[`layers.${i}.bias`] = tensor(l.bias, [l.out]);
  });
  const q = model.quantization;
  if (q) {
    q.weights.forEach((w, i) => {
      const l = model.layers[i]!;
      t[`layers.${i}.weight_int8`] = tensor(w, [l.out, l.in]);
      t[`layers.${i}.weight_scale`] = tensor(q.weightScales[i]!, [l.out]);
    });
    if (q.inputScales.length > 0) t.input_scales = tensor(Float32Array.from(q.inputScales), [q.inputScales.length]);
  }
  if (model.head) Object.assign(t, headTensors(model.head));
  return t;
}

/**
 * [async] Writes model.json and weights.safetensors into `dir` (created if needed). Files are
 * written to temporary names and renamed, so a crash never leaves a half-written model.
 * @returns the sha256 of the weights file
 */
export async function saveModel(model: Model, dir: string): Promise<string> {
  validateModel(model);
  await mkdir(dir, { recursive: true });
  const weights = encodeSafetensors(weightTensors(model), { format: 'pt', library: 'fraudscore' });
  const sha256 = createHash('sha256').update(weights).digest('hex');
  const { layers, quantization, head, ...rest } = model;
  const json = {
    ...rest,
    layerSizes: layerSizes(model),
    ...(head ? { head: { inputs: head.inputs, layerSizes: headLayerSizes(head) } } : {}),
    weights: { file: WEIGHTS_FILE, sha256, bytes: weights.length },
    quantization: quantization
      ? {
          scheme: quantization.scheme,
          activations: quantization.activations,
          inputScales: quantization.inputScales,
          ...(quantization.outOfRange ? { outOfRange: quantization.outOfRange } : {}),
          calibration: quantization.calibration,
          pruning: quantization.pruning,
        }
      : undefined,
  };
  const wTmp = join(dir, `.${WEIGHTS_FILE}.tmp`);
  const jTmp = join(dir, `.${MODEL_JSON}.tmp`);
  await writeFile(wTmp, weights);
  await writeFile(jTmp, `${JSON.stringify(json, null, 2)}\n`);
  await rename(wTmp, join(dir, WEIGHTS_FILE));
  await rename(jTmp, join(dir, MODEL_JSON));
  return sha256;
}

interface ModelJson extends Omit<Model, 'layers' | 'quantization' | 'head'> {
  head?: { inputs: HybridHead['inputs']; layerSizes: unknown };
  layerSizes: number[];
  weights: { file: string; sha256: string; bytes: number };
  quantization?: Omit<Quantization, 'weights' | 'weightScales'>;
}

/**
 * The model shipped in the package (`models/default`: trained on the real ULB sample, see its
 * MODEL_CARD.md), as an absolute path that works from an installed package:
 * `loadModel(defaultModelPath)`, `fraudscore serve --model <path>`.
 */
export const defaultModelPath: string = fileURLToPath(new URL('../models/default', import.meta.url));

/**
 * [sync] The directory a model argument names: `'default'` is the shipped model
 * ({@link defaultModelPath}); anything else is a path (a directory called default is `./default`).
 */
export function modelDirectory(dir: string): string {
  return dir === 'default' ? defaultModelPath : dir;
}

/**
 * [async] Reads a model directory (`'default'` reads the shipped model, {@link defaultModelPath}):
 * regular files only, sizes checked before reading, the weights file inside the directory.
 * @throws ModelError naming the file and the field.
 */
export async function loadModel(dir: string): Promise<Model> {
  dir = modelDirectory(dir);
  const jsonPath = resolve(dir, MODEL_JSON);
  let text: string;
  try {
    text = (await readModelFile(jsonPath, MAX_MODEL_JSON_BYTES)).toString('utf8');
  } catch (e) {
    if (e instanceof ModelError && e.message.endsWith(': not found')) {
      throw new ModelError(`${jsonPath} not found: is ${dir} a fraudscore model directory?`, jsonPath);
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${jsonPath} is not valid JSON (truncated or corrupted?): ${(e as Error).message}`, jsonPath);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelError(`${jsonPath} must hold a JSON object, got ${describeJson(parsed)}`, jsonPath);
  }
  const meta = parsed as ModelJson;
  if (meta.formatVersion !== MODEL_FORMAT_VERSION) {
    throw new ModelError(
      typeof meta.formatVersion === 'number'
        ? `${jsonPath}: format version ${meta.formatVersion} is not supported (this fraudscore reads version ${MODEL_FORMAT_VERSION})`
        : `${jsonPath}: formatVersion must be the number ${MODEL_FORMAT_VERSION}, got ${describeJson(meta.formatVersion)}`,
      jsonPath,
    );
  }
  if (
    typeof meta.weights !== 'object' ||
    meta.weights === null ||
    typeof meta.weights.sha256 !== 'string' ||
    !Array.isArray(meta.layerSizes)
  ) {
    throw new ModelError(`${jsonPath}: weights.file, weights.sha256 and layerSizes are required`, jsonPath);
  }
  const sizes = meta.layerSizes;
  if (sizes.length < 2 || !sizes.every((x) => Number.isInteger(x) && x >= 1 && x <= 1 << 20)) {
    throw new ModelError(
      `${jsonPath}: layerSizes must be at least 2 integers in [1, 1048576], got ${describeJson(sizes)}`,
      jsonPath,
    );
  }
  const wPath = fileInModelDir(dir, meta.weights.file, jsonPath, 'weights.file');
  const declared = meta.weights.bytes;
  if (declared !== undefined && !(Number.isInteger(declared) && declared >= 0)) {
    throw new ModelError(
      `${jsonPath}: weights.bytes must be a non-negative integer, got ${describeJson(declared)}`,
      jsonPath,
    );
  }
  const buf = await readModelFile(wPath, MAX_WEIGHTS_BYTES);
  if (typeof meta.weights.bytes === 'number' && buf.length !== meta.weights.bytes) {
    throw new ModelError(
      `${wPath} is truncated or was replaced: ${buf.length} bytes, model.json expects ${meta.weights.bytes}`,
      wPath,
    );
  }
  const sha = createHash('sha256').update(buf).digest('hex');
  if (sha !== meta.weights.sha256) {
    throw new ModelError(`${wPath} is corrupted: sha256 ${sha}, model.json expects ${meta.weights.sha256}`, wPath);
  }
  const { tensors } = decodeSafetensors(buf, wPath);
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const w = tensors[`layers.${i}.weight`];
    const b = tensors[`layers.${i}.bias`];
    if (!w || !b) throw new ModelError(`${wPath}: tensors layers.${i}.weight/bias are missing`, wPath);
    const [inn, out] = [sizes[i]!, sizes[i + 1]!];
    if (w.dtype !== 'F32' || w.shape.join() !== `${out},${inn}`) {
      throw new ModelError(
        `${wPath}: layers.${i}.weight has shape [${w.shape}] ${w.dtype}, expected [${out},${inn}] F32`,
        wPath,
      );
    }
    if (b.dtype !== 'F32' || b.shape.join() !== `${out}`) {
      throw new ModelError(
        `${wPath}: layers.${i}.bias has shape [${b.shape}] ${b.dtype}, expected [${out}] F32`,
        wPath,
      );
    }
    layers.push({ in: inn, out, weight: w.data as Float32Array, bias: b.data as Float32Array });
  }
  const { layerSizes: _sizes, weights: _w, quantization: qmeta, head: hmeta, ...rest } = meta;
  const model: Model = { ...rest, layers };
  if (hmeta !== undefined) {
    if (typeof hmeta !== 'object' || hmeta === null) {
      throw new ModelError(`${jsonPath}: head must be an object, got ${describeJson(hmeta)}`, jsonPath);
    }
    const headLayers = headFromTensors(tensors, hmeta.layerSizes);
    if (typeof headLayers === 'string') throw new ModelError(`${wPath}: ${headLayers}`, wPath);
    model.head = { inputs: hmeta.inputs, layers: headLayers };
  }
  if (qmeta) {
    const weights: Int8Array[] = [];
    const weightScales: Float32Array[] = [];
    layers.forEach((l, i) => {
      const wq = tensors[`layers.${i}.weight_int8`];
      const ws = tensors[`layers.${i}.weight_scale`];
      if (!wq || !ws || wq.dtype !== 'I8' || wq.data.length !== l.in * l.out || ws.data.length !== l.out) {
        throw new ModelError(`${wPath}: int8 tensors of layer ${i} are missing or mis-shaped`, wPath);
      }
      weights.push(wq.data as Int8Array);
      weightScales.push(ws.data as Float32Array);
    });
    model.quantization = { ...qmeta, weights, weightScales };
  }
  validateModel(model, jsonPath);
  return model;
}
