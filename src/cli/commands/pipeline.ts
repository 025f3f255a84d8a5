import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { loadTable } from '../../data/load.js';
import { splitTable } from '../../data/split.js';
import { computeCurves } from '../../eval/metrics.js';
import { writeReport } from '../../eval/report.js';
import { Scorer } from '../../scorer.js';
import { writeSynth } from '../../synth/synth.js';
import { applyOverrides, loadConfig } from '../../train/config.js';
import { runTimestamp } from '../../train/run-dir.js';
import { type Command, UsageError } from '../command.js';
import { printTrainResult, trainWithProgress } from './train.js';

export const pipeline: Command = {
  name: 'pipeline',
  summary: 'The main job end to end on synthetic data: synth -> train -> evaluate (no download)',
  help: `Usage: fraudscore pipeline [--rows N] [--fraud-rate R] [--seed S] [--config FILE] [key.path=value ...]

Writes synthetic transactions (drawn from statistics fitted on the real data, committed in
data/synth-stats.json), trains the default config on them (normal rows of the training split only;
threshold chosen on the validation split), and evaluates the model on the test split, writing an HTML
report. Everything lands in runs/<timestamp>-pipeline/.

Options:
  --rows N          synthetic rows (default 200000)
  --fraud-rate R    share of frauds (default 0.005)
  --seed S          seed of the synthetic data (default 42)
  --config FILE     training config (default: the built-in defaults); overrides as for train`,
  options: {
    rows: { type: 'string' },
    'fraud-rate': { type: 'string' },
    seed: { type: 'string' },
    config: { type: 'string' },
  },
  positionals: true,
  async run(values, positionals) {
    const rows = Number(values.rows ?? 200_000);
    const fraudRate = Number(values['fraud-rate'] ?? 0.005);
    const seed = Number(values.seed ?? 42);
    if (!(Number.isInteger(rows) && rows >= 1000))
      throw new UsageError(`--rows must be an integer >= 1000, got '${values.rows}'`);
    if (!(fraudRate > 0 && fraudRate < 0.5))
      throw new UsageError(`--fraud-rate must be in (0, 0.5), got '${values['fraud-rate']}'`);
    if (!(Number.isInteger(seed) && seed >= 0))
      throw new UsageError(`--seed must be a non-negative integer, got '${values.seed}'`);

    const base = await loadConfig(values.config as string | undefined, positionals);
    const dir = resolve(base.output.runs_dir, `${runTimestamp()}-pipeline`);
    await mkdir(dir, { recursive: true });
    const data = join(dir, 'synthetic.arrow');
    console.error(`1/3 synth: ${rows} rows, fraud rate ${fraudRate}, seed ${seed} -> ${data}`);
    await writeSynth(data, { rows, fraudRate, seed });

    console.error('2/3 train');
    // Synthetic rows are complete data: no normal-row weighting.
    const config = applyOverrides(base, [
      `data.path=${data}`,
      'data.normal_weight=1',
      `output.runs_dir=${dir}`,
      'output.name=model',
    ]);
    const res = await trainWithProgress(config);
    printTrainResult(res);

    console.error('3/3 evaluate on the test split');
    // train() evaluated the test split; the report needs its scores again for the plots.
    const table = await loadTable(data, { features: res.model.features });
    const { test } = splitTable(table, {
      strategy: config.data.split.strategy,
      ratios: config.data.split.ratios,
      seed: config.data.split.seed,
    });
    const scorer = new Scorer(res.model, { backend: 'cpu' });
    const { scores } = await scorer.scoreAsync(test.rows);
    scorer.dispose();
    const files = await writeReport(join(dir, 'report'), {
      metrics: res.test,
      curves: computeCurves(scores, test.labels!, { normalWeight: 1 }),
      scores,
      labels: test.labels!,
      threshold: res.model.threshold!,
      title: 'fraudscore pipeline: synthetic data, default config',
      details: { rows, fraudRate, seed, model: res.runDir ?? '', split: config.data.split.strategy },
    });
    console.log(`report: ${files.html}`);
  },
};
