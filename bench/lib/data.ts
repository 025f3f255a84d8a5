// The one data set and model every measurement uses: rows drawn from the synthetic generator
// (statistics fitted on the real sample, so values, tails and the Amount column look like real
// transactions) and a model of the shape [29, 32, 16, 32, 29] whose preprocessing
// (log1p on Amount, mean, std) is fitted on those rows' normal class, as training would. The
// weights are seeded random: speed does not depend on them, and a trained model would make the
// bench depend on a training run.
import { fitPreprocessing } from '../../src/data/preprocess.js';
import { rowsWithLabel, type Table } from '../../src/data/table.js';
import { createModel, type Model } from '../../src/model.js';
import { synthesize } from '../../src/synth/synth.js';

export const BENCH_HIDDEN = [32, 16, 32] as const;

export interface BenchData {
  model: Model;
  /** n * 29 raw rows, row-major. */
  rows: Float32Array;
  /** Class per row (synthetic labels). */
  labels: Uint8Array;
  n: number;
  /** The seed the rows were made with (other rows of the same source: another seed). */
  seed: number;
  /** Where the rows came from, for the report. */
  source: string;
}

/** [async] Rows from the synthetic generator (src/synth). */
export async function makeTable(n: number, seed: number): Promise<{ table: Table; source: string }> {
  return { table: synthesize({ rows: n, seed }), source: `synthetic (src/synth, seed ${seed})` };
}

/** [async] The bench's rows and model. */
export async function benchData(n: number, seed: number): Promise<BenchData> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Expected \`n\` to be a positive integer, got ${n}`);
  const { table, source } = await makeTable(n, seed);
  const normal = table.labels ? rowsWithLabel(table, 0) : table;
  const preprocessing = fitPreprocessing(normal.n > 0 ? normal : table, { log1p: ['Amount'] });
  const model = createModel({
    features: table.features,
    hidden: [...BENCH_HIDDEN],
    seed,
    preprocessing,
    name: 'bench',
  });
  return { model, rows: table.rows, labels: table.labels ?? new Uint8Array(n), n, seed, source };
}
