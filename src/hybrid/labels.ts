// Which of the training split's labels a hybrid head may use. Every fraud team has some labels
// (chargebacks, analyst reviews), rarely all: `training.label_fraction` keeps a seeded random
// fraction of the rows labelled, `training.max_labelled_frauds` caps the labelled frauds. The
// choice is nested: with the same seed, the 10 frauds kept by a cap of 10 are among the 30 kept by
// a cap of 30, so a curve over caps compares label budgets, not different draws.
import { Rng } from '../data/random.js';

export interface LabelSelection {
  /** Indices (into the training split) of the rows whose label the head sees, ascending. */
  indices: Uint32Array;
  /** Labelled frauds and labelled normal rows among them. */
  frauds: number;
  normals: number;
  /** What the training split holds in all. */
  available: { frauds: number; normals: number };
}

export interface LabelOptions {
  /** In [0, 1]. @default 1 */
  fraction?: number;
  /** At most this many labelled frauds; null = no cap. @default null */
  maxFrauds?: number | null;
  seed: number;
}

/** [sync] The labelled subset of rows with these 0/1 labels. */
export function selectLabelled(labels: Uint8Array, options: LabelOptions): LabelSelection {
  const { fraction = 1, maxFrauds = null, seed } = options;
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
    throw new RangeError(`Expected \`label_fraction\` to be a number in [0, 1], got ${fraction}`);
  }
  if (maxFrauds !== null && !(Number.isInteger(maxFrauds) && maxFrauds >= 0)) {
    throw new RangeError(`Expected \`max_labelled_frauds\` to be an integer >= 0 or null, got ${maxFrauds}`);
  }
  // Two streams from the seed: one draws the labelled rows, one orders the frauds for the cap.
  const pick = new Rng(seed * 2 + 1);
  const order = new Rng(seed * 2 + 2);
  const keep = new Uint8Array(labels.length);
  let availFrauds = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) availFrauds++;
    // Draw for every row, so the choice of row i does not depend on fraction's effect on others.
    const u = pick.next();
    keep[i] = fraction === 1 || u < fraction ? 1 : 0;
  }
  const frauds: number[] = [];
  for (let i = 0; i < labels.length; i++) if (keep[i] && labels[i] === 1) frauds.push(i);
  if (maxFrauds !== null && frauds.length > maxFrauds) {
    // A seeded Fisher-Yates order of the labelled frauds; the first maxFrauds stay labelled.
    for (let i = frauds.length - 1; i > 0; i--) {
      const j = order.int(i + 1);
      [frauds[i], frauds[j]] = [frauds[j]!, frauds[i]!];
    }
    for (const i of frauds.slice(maxFrauds)) keep[i] = 0;
  }
  let n = 0;
  let nf = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!keep[i]) continue;
    n++;
    if (labels[i] === 1) nf++;
  }
  const indices = new Uint32Array(n);
  let k = 0;
  for (let i = 0; i < labels.length; i++) if (keep[i]) indices[k++] = i;
  return {
    indices,
    frauds: nf,
    normals: n - nf,
    available: { frauds: availFrauds, normals: labels.length - availFrauds },
  };
}

/** Which validation rows' labels a head may use (validationLabels()). */
export interface ValidationLabelSelection {
  /** Indices (into the validation split) of the rows whose label is used, ascending. */
  indices: Uint32Array;
  frauds: number;
  normals: number;
  available: { frauds: number; normals: number };
}

/**
 * [sync] The validation rows whose labels early stopping and the threshold may use, given what the
 * training split kept (`train`, from selectLabelled): a user with 10% of the labels has 10% of the
 * validation labels too, not all of them. Frauds: the training split's labelled share of its frauds,
 * round(validation frauds * train.frauds / train.available.frauds), at least 1 when the training
 * split kept any (early stopping needs a fraud to rank), drawn by a seeded Fisher-Yates order that
 * nests like the training caps (the 3 of a cap of 10 are among the 10 of a cap of 30). Normals: each
 * kept with probability `fraction` (training.label_fraction), as in the training split. With every
 * label kept (fraction 1, no cap binding) this is the whole validation split.
 */
export function selectValidationLabels(
  labels: Uint8Array,
  train: LabelSelection,
  options: { fraction?: number; seed: number },
): ValidationLabelSelection {
  const { fraction = 1, seed } = options;
  // Streams of their own (the training split's are seed * 2 + 1 and + 2).
  const pick = new Rng(seed * 4 + 3);
  const order = new Rng(seed * 4 + 4);
  const keep = new Uint8Array(labels.length);
  const frauds: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const u = pick.next();
    if (labels[i] === 1) frauds.push(i);
    else keep[i] = fraction === 1 || u < fraction ? 1 : 0;
  }
  const share = train.available.frauds === 0 ? 0 : train.frauds / train.available.frauds;
  const want = train.frauds === 0 ? 0 : Math.min(frauds.length, Math.max(1, Math.round(frauds.length * share)));
  if (want < frauds.length) {
    for (let i = frauds.length - 1; i > 0; i--) {
      const j = order.int(i + 1);
      [frauds[i], frauds[j]] = [frauds[j]!, frauds[i]!];
    }
  }
  for (const i of frauds.slice(0, want)) keep[i] = 1;
  let n = 0;
  for (let i = 0; i < labels.length; i++) n += keep[i]!;
  const indices = new Uint32Array(n);
  let k = 0;
  for (let i = 0; i < labels.length; i++) if (keep[i]) indices[k++] = i;
  return {
    indices,
    frauds: want,
    normals: n - want,
    available: { frauds: frauds.length, normals: labels.length - frauds.length },
  };
}
