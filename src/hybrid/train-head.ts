// Training the hybrid model's head, after the autoencoder is fixed: the training split's labelled
// rows (labels.ts) go through the frozen autoencoder once to give the head's inputs (head.h), then
// the native HeadTrainer runs epochs with early stopping on the validation split's weighted AUPRC.
// Early stopping reads the validation split's labels only as far as the training split's: under
// training.label_fraction / max_labelled_frauds the same share of its frauds (labels.ts:
// selectValidationLabels), and train() chooses the threshold on the same rows. The test split is
// never read here.
import { takeRows } from '../data/table.js';
import type { Splits } from '../data/split.js';
import { averagePrecisionOf } from '../eval/metrics.js';
import { rank } from '../eval/ranking.js';
import { type DenseLayer, type Model, toAddonSpec } from '../model.js';
import { type AddonHeadTrainer, addon } from '../native.js';
import type { TrainConfig } from '../train/config.js';
import { createHead, HEAD_INPUTS, headProbabilities, type HybridHead } from './head.js';
import { selectLabelled, selectValidationLabels } from './labels.js';

/** One head epoch's record. */
export interface HeadEpochRecord {
  /** Ensemble member (0 with model.head.ensemble 1). */
  member: number;
  epoch: number;
  trainLoss: number;
  /** Weighted AUPRC of the validation split with this epoch's head. */
  valAuprc: number;
  best: boolean;
}

/** What model.json's training.hybrid records (the model card prints it). */
export interface HybridTrainingInfo {
  /** Labelled rows of the training split the head saw. */
  labelledFrauds: number;
  labelledNormals: number;
  available: { frauds: number; normals: number };
  /**
   * Validation rows whose labels early stopping and the threshold used (the same share of frauds
   * as the training split's; every row with every label kept). Absent when no head was trained.
   */
  validation?: { frauds: number; normals: number; available: { frauds: number; normals: number } };
  labelFraction: number;
  maxLabelledFrauds: number | null;
  /** Why no head was trained (no labelled frauds): the model is then the autoencoder alone. */
  skipped?: string;
  loss?: 'bce' | 'focal';
  focalGamma?: number;
  posWeight?: number;
  /** Heads averaged (by logit) into the one head the model holds. */
  ensemble?: number;
  /** Per member when ensemble > 1. */
  bestEpoch?: number | number[];
  epochsRun?: number | number[];
  bestValAuprc?: number;
  /** The autoencoder alone on the same validation split (what the head had to beat). */
  aeValAuprc?: number;
  seconds?: number;
}

export interface HeadTrainResult {
  /** The autoencoder with its head (kind 'hybrid'), or the autoencoder unchanged when skipped. */
  model: Model;
  info: HybridTrainingInfo;
  history: HeadEpochRecord[];
  /** Indices into the validation split of the rows whose labels the head used (null when skipped). */
  validationIndices: Uint32Array | null;
}

function weightedAuprc(scores: ArrayLike<number>, labels: Uint8Array, w: number): number {
  return averagePrecisionOf(rank(scores, labels), w);
}

/**
 * [async] Trains the head of a hybrid model on top of `ae` (trained, weights fixed).
 * @throws {RangeError} when a split has no labels (no Class column) or no labelled normal rows.
 */
export async function trainHead(
  ae: Model,
  splits: Splits,
  config: TrainConfig,
  threads: number,
  options: { signal?: AbortSignal; onEpoch?: (r: HeadEpochRecord) => void } = {},
): Promise<HeadTrainResult> {
  const hc = config.model.head;
  const tc = config.training;
  for (const part of ['train', 'validation'] as const) {
    if (!splits[part].labels) {
      throw new RangeError(
        `model.kind 'hybrid' needs the Class column: the ${part} split has no labels (the data file has no Class column)`,
      );
    }
  }
  const trainLabels = splits.train.labels as Uint8Array;
  const sel = selectLabelled(trainLabels, {
    fraction: tc.label_fraction,
    maxFrauds: tc.max_labelled_frauds,
    seed: tc.seed,
  });
  const info: HybridTrainingInfo = {
    labelledFrauds: sel.frauds,
    labelledNormals: sel.normals,
    available: sel.available,
    labelFraction: tc.label_fraction,
    maxLabelledFrauds: tc.max_labelled_frauds,
  };
  if (sel.frauds === 0) {
    // Nothing to learn from: the result is the autoencoder itself, and model.json says why.
    info.skipped =
      sel.available.frauds === 0
        ? 'the training split has no frauds'
        : `no labelled frauds (training.label_fraction ${tc.label_fraction}, training.max_labelled_frauds ${tc.max_labelled_frauds})`;
    return { model: ae, info, history: [], validationIndices: null };
  }
  if (sel.normals === 0) {
    throw new RangeError(
      `model.kind 'hybrid' needs labelled normal rows as well as frauds: training.label_fraction ${tc.label_fraction} left none`,
    );
  }
  const valSel = selectValidationLabels(splits.validation.labels as Uint8Array, sel, {
    fraction: tc.label_fraction,
    seed: tc.seed,
  });
  info.validation = { frauds: valSel.frauds, normals: valSel.normals, available: valSel.available };
  const validation = takeRows(splits.validation, valSel.indices);
  const valLabels = validation.labels as Uint8Array;
  if (!addon.HybridScorer) throw new Error('this build of the native addon has no HybridScorer');
  const d = ae.features.length;
  const start: HybridHead = createHead(d, hc.hidden, tc.seed);
  // The head's inputs do not depend on its weights: compute them once with the starting head.
  const engine = new addon.HybridScorer(toAddonSpec(ae), start.layers);
  let trainX: Float32Array;
  let valX: Float32Array;
  const labelled = takeRows(splits.train, sel.indices);
  try {
    trainX = engine.headInputs(labelled.rows, threads);
    valX = engine.headInputs(validation.rows, threads);
  } finally {
    engine.dispose();
  }
  const trainY = labelled.labels as Uint8Array;
  const posWeight = hc.pos_weight ?? sel.normals / sel.frauds;
  const focalGamma = hc.loss === 'focal' ? hc.focal_gamma : 0;
  const w = config.data.normal_weight;

  // The zero-label point: the autoencoder's own score ranks validation this well.
  const aeScores = new Float32Array(validation.n);
  for (let r = 0; r < aeScores.length; r++) aeScores[r] = valX[r * (2 * d + 1) + 2 * d]!;
  info.aeValAuprc = weightedAuprc(aeScores, valLabels, w);

  const history: HeadEpochRecord[] = [];
  const members: DenseLayer[][] = [];
  const bestEpochs: number[] = [];
  const epochsRun: number[] = [];
  const t0 = performance.now();
  for (let m = 0; m < hc.ensemble; m++) {
    // Member m: its own starting weights, shuffles and early stopping (seed + m).
    const init = m === 0 ? start : createHead(d, hc.hidden, tc.seed + m);
    const trainer: AddonHeadTrainer = new addon.HeadTrainer(init.layers, 2 * d + 1, {
      lr: hc.lr,
      weightDecay: hc.weight_decay,
      posWeight,
      focalGamma,
      seed: tc.seed + m,
      threads,
      batchSize: hc.batch_size,
    });
    const onAbort = () => trainer.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let best = Number.NEGATIVE_INFINITY;
    let bestEpoch = 0;
    let bestLayers: DenseLayer[] = init.layers;
    let sinceBest = 0;
    let ran = 0;
    try {
      for (let epoch = 1; epoch <= hc.epochs; epoch++) {
        options.signal?.throwIfAborted();
        const r = await trainer.trainEpoch(trainX, trainY);
        options.signal?.throwIfAborted();
        ran = epoch;
        const layers = trainer.getWeights();
        const valAuprc = weightedAuprc(headProbabilities(layers, valX), valLabels, w);
        const improved = valAuprc > best;
        if (improved) {
          best = valAuprc;
          bestEpoch = epoch;
          bestLayers = layers;
          sinceBest = 0;
        } else {
          sinceBest++;
        }
        const record = { member: m, epoch, trainLoss: r.loss, valAuprc, best: improved };
        history.push(record);
        options.onEpoch?.(record);
        if (hc.patience > 0 && sinceBest >= hc.patience) break;
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      trainer.dispose();
    }
    members.push(bestLayers);
    bestEpochs.push(bestEpoch);
    epochsRun.push(ran);
  }
  const layers = members.length === 1 ? members[0]! : mergeHeads(members);
  Object.assign(info, {
    loss: hc.loss,
    focalGamma,
    posWeight,
    ensemble: hc.ensemble,
    bestEpoch: bestEpochs.length === 1 ? bestEpochs[0] : bestEpochs,
    epochsRun: epochsRun.length === 1 ? epochsRun[0] : epochsRun,
    bestValAuprc: weightedAuprc(headProbabilities(layers, valX), valLabels, w),
    seconds: (performance.now() - t0) / 1000,
  });
  return {
    model: { ...ae, kind: 'hybrid', head: { inputs: HEAD_INPUTS, layers } },
    info,
    history,
    validationIndices: valSel.indices,
  };
}

/**
 * [sync] One head whose logit is the mean of the members' logits (same shapes each): hidden layers
 * side by side (block-diagonal weights), the output layer's weights and bias divided by the count.
 * The fused engine then runs an ensemble as one MLP, in one pass.
 */
export function mergeHeads(members: readonly DenseLayer[][]): DenseLayer[] {
  const K = members.length;
  const first = members[0]!;
  const out: DenseLayer[] = [];
  for (let l = 0; l < first.length; l++) {
    const L = first[l]!;
    const last = l + 1 === first.length;
    const inn = l === 0 ? L.in : L.in * K;
    const o = last ? 1 : L.out * K;
    const weight = new Float32Array(o * inn);
    const bias = new Float32Array(o);
    for (let m = 0; m < K; m++) {
      const M = members[m]![l]!;
      for (let r = 0; r < M.out; r++) {
        const row = last ? 0 : m * M.out + r;
        const col0 = l === 0 ? 0 : m * M.in;
        for (let i = 0; i < M.in; i++) {
          weight[row * inn + col0 + i] = last ? M.weight[r * M.in + i]! / K : M.weight[r * M.in + i]!;
        }
        bias[row] = last ? bias[row]! + M.bias[r]! / K : M.bias[r]!;
      }
    }
    out.push({ in: inn, out: o, weight, bias });
  }
  return out;
}
