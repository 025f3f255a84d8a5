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
