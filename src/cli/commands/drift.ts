import { writeFile } from 'node:fs/promises';

import { loadTable } from '../../data/load.js';
import { DEFAULT_FEATURES } from '../../data/table.js';
import { loadModel } from '../../model.js';
import { driftReport } from '../../monitoring/drift.js';
import { renderDriftHtml } from '../../monitoring/html.js';
import { Scorer } from '../../scorer.js';
import { type Command, requireString, UsageError } from '../command.js';

export const drift: Command = {
  name: 'drift',
  summary: 'Data drift of one file against a reference file (KS / Wasserstein / PSI, Evidently defaults)',
  help: `Usage: fraudscore drift --reference FILE --current FILE [options]

Compares every feature of --current with --reference (columns matched by name, any format
fraudscore reads: CSV(.gz), Arrow, Parquet). Evidently's defaults: a KS test (drift when p < 0.05)
when the reference has <= 1000 rows, else the Wasserstein distance normalized by the reference's
std (drift when >= 0.1); PSI is reported too; the data set drifts when >= 50% of its features do.
With --model, the features are the model's and the reconstruction error's drift is reported too.

Options:
  --reference FILE   the reference sample (e.g. training normal rows)
  --current FILE     the rows to check
  --model DIR        take the feature list from this model and compare the score distributions
  --features LIST    comma-separated feature names (default V1..V28,Amount, or the model's)
  --json FILE        write the report as JSON ('-' for stdout)
  --html FILE        write the report as an HTML page
  --fail-on-drift    exit with code 3 when data set drift is detected (for CI and cron jobs)

Example:
  fraudscore drift --reference models/default/reference.arrow --current last-week.csv.gz --html drift.html`,
  options: {
    reference: { type: 'string' },
    current: { type: 'string' },
    model: { type: 'string' },
    features: { type: 'string' },
    json: { type: 'string' },
    html: { type: 'string' },
    'fail-on-drift': { type: 'boolean' },
  },
  async run(values) {
    const refPath = requireString(values, 'reference');
    const curPath = requireString(values, 'current');
    const model = values.model ? await loadModel(values.model as string) : null;
    let features: readonly string[] = model?.features ?? DEFAULT_FEATURES;
    if (values.features !== undefined) {
      if (model) throw new UsageError('--features and --model exclude each other (the model names its features)');
      features = (values.features as string).split(',').map((f) => f.trim());
      if (features.some((f) => f === '')) throw new UsageError(`--features has an empty name: '${values.features}'`);
    }
    const [ref, cur] = await Promise.all([loadTable(refPath, { features }), loadTable(curPath, { features })]);
    let refScores: Float32Array | undefined;
    let curScores: Float32Array | undefined;
    if (model) {
      const scorer = new Scorer(model, { backend: 'cpu' });
      try {
        refScores = (await scorer.scoreAsync(ref.rows)).scores;
        curScores = (await scorer.scoreAsync(cur.rows)).scores;
      } finally {
        scorer.dispose();
      }
    }
    const report = driftReport(
      { features, rows: ref.rows, scores: refScores },
      { features, rows: cur.rows, scores: curScores },
    );
    if (values.json === '-') console.log(JSON.stringify(report, null, 2));
    else if (values.json) await writeFile(values.json as string, `${JSON.stringify(report, null, 2)}\n`);
    if (values.html)
      await writeFile(
        values.html as string,
        renderDriftHtml(report, `fraudscore drift: ${curPath} against ${refPath}`),
      );
    if (values.json !== '-') {
      const d = report.dataset;
      const w = Math.max(...report.features.map((c) => c.feature.length), 'reconstruction_error'.length);
      console.log(
        `reference ${refPath}: ${report.referenceRows} rows · current ${curPath}: ${report.currentRows} rows`,
      );
      console.log(`${'feature'.padEnd(w)}  test         value       threshold  psi      verdict`);
      for (const c of report.score ? [...report.features, report.score] : report.features) {
        const value = c.method === 'ks' ? c.pValue! : c.statistic;
        console.log(
          `${c.feature.padEnd(w)}  ${(c.method === 'ks' ? 'ks p-value' : 'wasserstein').padEnd(11)}  ${value.toPrecision(4).padStart(10)}  ${String(c.threshold).padStart(9)}  ${c.psi.toFixed(4).padStart(7)}  ${c.drifted ? 'DRIFT' : 'ok'}`,
        );
      }
      console.log(
        `${d.drifted ? 'DATASET DRIFT' : 'no dataset drift'}: ${d.driftedFeatures} of ${d.features} features drifted (${(d.share * 100).toFixed(1)}%, threshold ${report.options.driftShare * 100}%)`,
      );
    }
    return values['fail-on-drift'] && report.dataset.drifted ? 3 : 0;
  },
};
