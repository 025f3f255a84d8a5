// Train / validation / test splits. Stratified (default) keeps the fraud rate equal across parts,
// which matters with ~0.2% frauds: an unlucky random split can leave validation with a handful of
// frauds and a meaningless threshold. Time-ordered trains on the past and tests on the future, the
// honest setting for a deployed model. Both are deterministic for a given seed.
import { Rng } from './random.js';
import { assertTable, type Table, takeRows } from './table.js';

export type SplitStrategy = 'stratified' | 'time';

export interface SplitOptions {
  /** @default 'stratified' */
  strategy?: SplitStrategy;
  /** Fractions of rows for train, validation and test (sum 1). @default [0.6, 0.2, 0.2] */
  ratios?: readonly [number, number, number];
  /** Seed for the stratified shuffle (unused by 'time'). @default 42 */
  seed?: number;
}

export interface Splits {
  train: Table;
  validation: Table;
  test: Table;
}

export const DEFAULT_SPLIT_RATIOS: readonly [number, number, number] = [0.6, 0.2, 0.2];

function checkRatios(ratios: readonly number[]): void {
  if (!Array.isArray(ratios) || ratios.length !== 3) {
    throw new TypeError('Expected `ratios` to be [train, validation, test]');
  }
  const names = ['train', 'validation', 'test'];
  for (const [i, r] of ratios.entries()) {
    if (typeof r !== 'number' || !(r >= 0 && r <= 1)) {
      throw new RangeError(`Expected \`ratios[${i}]\` (${names[i]}) to be a number in [0, 1], got ${r}`);
    }
  }
  const sum = ratios[0] + ratios[1] + ratios[2];
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`Expected \`ratios\` to sum to 1, got ${+sum.toPrecision(12)}`);
  if (ratios[0] === 0) throw new RangeError('Expected `ratios[0]` (train) to be > 0');
}

/** Part sizes for m rows: rounded, with the rounding remainder going to the test part. */
function partSizes(m: number, ratios: readonly number[]): [number, number, number] {
  const a = Math.round(m * ratios[0]);
  const b = Math.min(m - a, Math.round(m * ratios[1]));
  return [a, b, m - a - b];
}

/**
 * Splits a table into train, validation and test parts.
 *
 * - 'stratified': rows of each class are shuffled (seeded) and cut by the ratios separately, so each
 *   part has the same fraud rate; within a part rows keep their file order.
 * - 'time': rows sorted by Time (stable) and cut in order: train is the earliest.
 * @throws {RangeError | TypeError} for bad ratios, a bad seed, or 'time' on a table without Time.
 */
export function splitTable(t: Table, opts: SplitOptions = {}): Splits {
  assertTable(t);
  const strategy = opts.strategy ?? 'stratified';
  const ratios = opts.ratios ?? DEFAULT_SPLIT_RATIOS;
  const seed = opts.seed ?? 42;
  checkRatios(ratios);
  const parts: number[][] = [[], [], []];
  if (strategy === 'stratified') {
    const rng = new Rng(seed);
    const classes: number[][] = [[], []];
    for (let i = 0; i < t.n; i++) classes[t.labels ? t.labels[i] : 0].push(i);
    for (const idx of classes) {
      const shuffled = rng.shuffle(Int32Array.from(idx));
      const [a, b] = partSizes(shuffled.length, ratios);
      for (let k = 0; k < shuffled.length; k++) parts[k < a ? 0 : k < a + b ? 1 : 2].push(shuffled[k]);
    }
    for (const p of parts) p.sort((x, y) => x - y);
  } else if (strategy === 'time') {
    const time = t.time;
    if (!time) throw new TypeError("The 'time' split needs a Time column, and this table has none");
    const order = Array.from({ length: t.n }, (_, i) => i);
    order.sort((x, y) => time[x] - time[y] || x - y);
    const [a, b] = partSizes(t.n, ratios);
    parts[0] = order.slice(0, a);
    parts[1] = order.slice(a, a + b);
    parts[2] = order.slice(a + b);
  } else {
    throw new TypeError(`Expected \`strategy\` to be 'stratified' or 'time', got ${JSON.stringify(strategy)}`);
  }
  return { train: takeRows(t, parts[0]), validation: takeRows(t, parts[1]), test: takeRows(t, parts[2]) };
}
