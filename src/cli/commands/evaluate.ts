import { stat } from 'node:fs/promises';

import { formatFromPath, readBatches } from '../../data/load.js';
import { concatTables, type Table } from '../../data/table.js';
import { computeCurves, evaluateScores } from '../../eval/metrics.js';
import { writeReport } from '../../eval/report.js';
import { loadModel } from '../../model.js';
import { Scorer } from '../../scorer.js';
import { type Command, requireString, UsageError } from '../command.js';
import { createProgress } from '../progress.js';

export const evaluate: Command = {
  name: 'evaluate',
  summary: 'Score a labelled file with a model and report ROC-AUC, AUPRC, precision/recall/F1 at its threshold',
  help: `Usage: fraudscore evaluate --model DIR --data FILE [options]

Scores every row of a labelled file (a Class column: 1 = fraud) and reports ROC-AUC, AUPRC (average
precision), precision, recall, F1 and the confusion matrix at the model's threshold, and recall at a
1% false-positive rate. With --output, writes report.json, report.html (PR and ROC curves, error
histograms with the threshold) and report.md there.

Options:
  --model DIR           model directory
  --data FILE           labelled transactions (.csv, .csv.gz, .arrow, .arrows, .parquet)
  --output DIR          write the report files here
  --normal-weight W     weight of each normal row for precision-type figures (default 1; 9.742 turns
                        the real sample's figures into full-data estimates, see its README)
  --threshold T         evaluate at T instead of the model's threshold
  --precision P         fp32 (default) or int8
  --min-roc-auc X       exit with status 1 when ROC-AUC < X (for CI)
  --min-auprc X         exit with status 1 when AUPRC < X (for CI)
  --json                print the metrics as JSON
  --quiet               no progress output`,
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    output: { type: 'string' },
    'normal-weight': { type: 'string' },
    threshold: { type: 'string' },
    precision: { type: 'string' },
    'min-roc-auc': { type: 'string' },
    'min-auprc': { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
  async run(values) {
    const num = (name: string): number | undefined => {
      const raw = values[name];
      if (raw === undefined) return undefined;
      const v = Number(raw);
      if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got '${raw}'`);
      return v;
    };
    const modelDir = requireString(values, 'model');
    const dataPath = requireString(values, 'data');
    const model = await loadModel(modelDir);
    const precision = (values.precision as string | undefined) ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'int8')
      throw new UsageError(`--precision must be fp32 or int8, got '${precision}'`);
    const threshold = num('threshold') ?? model.threshold?.value;
    if (threshold === undefined) throw new UsageError('the model has no threshold: pass --threshold');
    const bar = createProgress('evaluate', { quiet: values.quiet === true });
    // Progress against the file size for CSV (bytes read), by rows read otherwise.
    let csv: boolean;
    try {
      csv = formatFromPath(dataPath).format === 'csv';
    } catch (e) {
      // evaluate has no format flag: the extension is all there is.
      throw new UsageError((e as Error).message.replace(/, or pass .*$/, ''));
    }
    const total = csv
      ? await stat(dataPath).then(
          (st) => st.size,
          () => 0,
        )
      : 0;
    let bytes = 0;
    const parts: Table[] = [];
    let rows = 0;
    try {
      for await (const part of readBatches(dataPath, {
        features: model.features,
        batchRows: 65_536,
        onBytes: (b) => {
          bytes = b;
        },
      })) {
        parts.push(part);
        rows += part.n;
        bar.update(csv ? bytes : rows, total, `reading ${dataPath}: ${rows.toLocaleString('en-US')} rows`);
      }
    } finally {
      bar.stop();
    }
    const table = parts.length === 1 ? parts[0]! : concatTables(parts);
    if (!table.labels) throw new UsageError(`${dataPath} has no Class column: evaluation needs labels`);
    const scorer = new Scorer(model, { backend: 'cpu', precision });
    const { scores } = await scorer.scoreAsync(table.rows);
    scorer.dispose();
    const normalWeight = num('normal-weight') ?? 1;
    const metrics = evaluateScores(scores, table.labels, { threshold, normalWeight });
    if (values.output) {
      const curves = computeCurves(scores, table.labels, { normalWeight });
      const files = await writeReport(values.output as string, {
        metrics,
        curves,
        scores,
        labels: table.labels,
        threshold: model.threshold && threshold === model.threshold.value ? model.threshold : threshold,
        title: `${model.name} on ${dataPath}`,
        details: { model: modelDir, data: dataPath, rows: table.n, engine: `cpu-${precision}` },
      });
      console.error(`report: ${files.html}`);
    }
    if (values.json) console.log(JSON.stringify(metrics, null, 2));
    else {
      const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));
      console.log(`rows ${metrics.n} (${metrics.positives} fraud), normal weight ${metrics.normalWeight}`);
      console.log(`ROC-AUC ${f(metrics.rocAuc)}  AUPRC ${f(metrics.auprc)}  recall@1%FPR ${f(metrics.recallAtFpr1)}`);
      console.log(
        `at threshold ${threshold}: precision ${f(metrics.precision)}  recall ${f(metrics.recall)}  F1 ${f(metrics.f1)}  ` +
          `(tp ${metrics.confusion.tp}, fp ${metrics.confusion.fp}, tn ${metrics.confusion.tn}, fn ${metrics.confusion.fn})`,
      );
    }
    const minRoc = num('min-roc-auc');
    const minPr = num('min-auprc');
    if ((minRoc !== undefined && !(metrics.rocAuc >= minRoc)) || (minPr !== undefined && !(metrics.auprc >= minPr))) {
      console.error(`below the required minimum (ROC-AUC ${metrics.rocAuc}, AUPRC ${metrics.auprc})`);
      return 1;
    }
  },
};
