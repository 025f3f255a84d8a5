// The evaluation report: report.json (everything, machine-readable), report.html (self-contained:
// inline CSS and SVG, no script, no network) and report.md (tables plus the SVG plots as files, so it
// renders on GitHub).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Curves, Metrics } from './metrics.js';
import { chart } from './svg.js';
import { escapeHtml } from '../html.js';

export interface ReportInput {
  metrics: Metrics;
  curves: Curves;
  /** Scores and labels of the evaluated rows (for the error histograms). */
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
  /** The decision threshold, with how it was chosen when known. */
  threshold: number | { value: number; strategy?: string; params?: object };
  title: string;
  /** Free-form facts shown under the title (model, data file, split, ...). */
  details?: Record<string, string | number>;
  /**
   * Hybrid models: AUPRC of models trained with 0 (the autoencoder alone), 10, 30, ... labelled
   * frauds on the same split (scripts/make-hybrid-model.ts), plotted as label-curve.svg.
   */
  labelCurve?: { labelledFrauds: number[]; auprc: number[] };
}

export interface Histogram {
  /** Bin edges (bins + 1 values), log-spaced. */
  edges: number[];
  /** Share of each class's rows per bin. */
  normal: number[];
  fraud: number[];
  /** Rows at or below the first edge (zero errors) folded into the first bin. */
  bins: number;
}

/** Log-spaced histogram of scores per class, as shares of the class (classes differ 500:1 in size). */
export function scoreHistogram(scores: ArrayLike<number>, labels: ArrayLike<number>, bins = 60): Histogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (s > 0 && s < lo) lo = s;
    if (s > hi) hi = s;
  }
  if (!(lo < Infinity)) lo = 1e-6;
  if (!(hi > lo)) hi = lo * 10;
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  const edges = Array.from({ length: bins + 1 }, (_, i) => 10 ** (l0 + ((l1 - l0) * i) / bins));
  const normal = new Array<number>(bins).fill(0);
  const fraud = new Array<number>(bins).fill(0);
  let nn = 0;
  let nf = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    const b = s > 0 ? Math.min(bins - 1, Math.max(0, Math.floor(((Math.log10(s) - l0) / (l1 - l0)) * bins))) : 0;
    if (labels[i] === 1) {
      fraud[b]++;
      nf++;
    } else {
      normal[b]++;
      nn++;
    }
  }
  return {
    edges,
    normal: normal.map((c) => c / Math.max(nn, 1)),
    fraud: fraud.map((c) => c / Math.max(nf, 1)),
    bins,
  };
}

const fmt = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const esc = escapeHtml;

/**
 * [async] Writes report.json, report.html, report.md and the plots (pr.svg, roc.svg,
 * histogram.svg) into `dir` (created if missing).
 * @returns the paths written.
 */
export async function writeReport(
  dir: string,
  input: ReportInput,
): Promise<{ json: string; html: string; md: string }> {
  const { metrics: m, curves, title } = input;
  const thr = typeof input.threshold === 'number' ? { value: input.threshold } : input.threshold;
  if (!Number.isFinite(thr.value))
    throw new TypeError(`Expected \`threshold\` to be a finite number, got ${thr.value}`);
  const hist = scoreHistogram(input.scores, input.labels);
  const weighted = m.normalWeight !== 1 ? ` (normal rows weighted ${m.normalWeight})` : '';

  const pr = chart({
    title: `Precision-recall (AUPRC ${fmt(m.auprc)})`,
    xLabel: 'Recall',
    yLabel: `Precision${weighted ? ' (weighted)' : ''}`,
    xRange: [0, 1],
    yRange: [0, 1],
    series: [{ label: 'autoencoder', color: '#2563eb', x: curves.pr.recall, y: curves.pr.precision, step: true }],
    markers: [{ x: m.recall, label: 'threshold', color: '#dc2626' }],
  });
  const roc = chart({
    title: `ROC (AUC ${fmt(m.rocAuc)})`,
    xLabel: 'False positive rate',
    yLabel: 'True positive rate (recall)',
    xRange: [0, 1],
    yRange: [0, 1],
    series: [
      { label: 'autoencoder', color: '#2563eb', x: curves.roc.fpr, y: curves.roc.tpr },
      { label: 'chance', color: '#9ca3af', x: [0, 1], y: [0, 1], dashed: true },
    ],
    markers: [{ x: m.fpr, label: 'threshold', color: '#dc2626' }],
  });
  const centers = hist.edges.slice(0, -1).map((e, i) => Math.sqrt(e * hist.edges[i + 1]));
  const histogram = chart({
    title: 'Reconstruction error by class',
    xLabel: 'Reconstruction error (log scale)',
    yLabel: 'Share of the class',
    xLog: true,
    xRange: [hist.edges[0], hist.edges[hist.edges.length - 1]],
    series: [
      { label: `normal (${m.negatives})`, color: '#2563eb', x: centers, y: hist.normal, step: true, fill: 0.15 },
      { label: `fraud (${m.positives})`, color: '#dc2626', x: centers, y: hist.fraud, step: true, fill: 0.15 },
    ],
    markers: [{ x: thr.value, label: `threshold ${thr.value.toPrecision(4)}`, color: '#111827' }],
    width: 1020,
  });

  const lc = input.labelCurve;
  const labelCurve = lc
    ? chart({
        title: 'AUPRC by labelled frauds (0 = autoencoder alone)',
        xLabel: 'Labelled frauds the head saw',
        yLabel: `AUPRC${weighted ? ' (weighted)' : ''}`,
        yRange: [0, 1],
        series: [{ label: 'hybrid', color: '#2563eb', x: lc.labelledFrauds, y: lc.auprc }],
      })
    : '';

  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  const md = join(dir, 'report.md');
  await writeFile(
    json,
    `${JSON.stringify({ title, generated: new Date().toISOString(), threshold: thr, metrics: m, details: input.details ?? {}, curves, histogram: hist, ...(lc ? { labelCurve: lc } : {}) }, null, 2)}\n`,
  );
  await Promise.all([
    writeFile(join(dir, 'pr.svg'), pr),
    writeFile(join(dir, 'roc.svg'), roc),
    writeFile(join(dir, 'histogram.svg'), histogram),
    ...(lc ? [writeFile(join(dir, 'label-curve.svg'), labelCurve)] : []),
  ]);

  const rows: [string, string][] = [
    ['ROC-AUC', fmt(m.rocAuc)],
    [`AUPRC, average precision${weighted}`, fmt(m.auprc)],
    [`Precision${weighted}`, fmt(m.precision)],
    ['Recall', fmt(m.recall)],
    [`F1${weighted}`, fmt(m.f1)],
    ['False positive rate', fmt(m.fpr, 5)],
    ['Recall at 1% FPR', fmt(m.recallAtFpr1)],
    ['Threshold', `${thr.value.toPrecision(6)}${thr.strategy ? ` (${thr.strategy})` : ''}`],
    ['Rows (fraud / normal)', `${m.n} (${m.positives} / ${m.negatives})`],
  ];
  const c = m.confusion;
  const cw = m.confusionWeighted;
  const details = Object.entries(input.details ?? {});

  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f3f4f6; color: #111827; }
  main { max-width: 1100px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  .sub { color: #4b5563; margin-bottom: 20px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 12px; margin-bottom: 20px; }
  .card { background: #fff; border-radius: 8px; padding: 12px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
  .card .k { color: #6b7280; font-size: 12px; }
  .card .v { font-size: 22px; font-weight: 600; margin-top: 2px; }
  .plots { display: flex; flex-wrap: wrap; gap: 16px; }
  .plot { background: #fff; border-radius: 8px; padding: 8px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
  table { border-collapse: collapse; background: #fff; border-radius: 8px; overflow: hidden; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
  td, th { padding: 6px 12px; border-bottom: 1px solid #e5e7eb; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .tables { display: flex; flex-wrap: wrap; gap: 16px; margin: 20px 0; align-items: flex-start; }
  footer { color: #6b7280; font-size: 12px; margin-top: 20px; }
</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
<div class="sub">${details.map(([k, v]) => `${esc(k)}: <b>${esc(String(v))}</b>`).join(' · ')}${details.length ? ' · ' : ''}scores above the threshold are flagged as fraud${weighted ? `; precision-type figures weight each normal row ${m.normalWeight} to estimate the full data` : ''}</div>
<div class="cards">
${[
  ['ROC-AUC', fmt(m.rocAuc)],
  ['AUPRC', fmt(m.auprc)],
  ['Precision', fmt(m.precision)],
  ['Recall', fmt(m.recall)],
  ['F1', fmt(m.f1)],
  ['Recall @ 1% FPR', fmt(m.recallAtFpr1)],
]
  .map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`)
  .join('\n')}
</div>
<div class="plots">
<div class="plot">${pr}</div>
<div class="plot">${roc}</div>
<div class="plot">${histogram}</div>
${lc ? `<div class="plot">${labelCurve}</div>` : ''}
</div>
<div class="tables">
<table><tr><th>Metric</th><th>Value</th></tr>
${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('\n')}
</table>
<table><tr><th>Confusion (rows)</th><th>Flagged</th><th>Not flagged</th></tr>
<tr><td>Fraud</td><td>${c.tp}</td><td>${c.fn}</td></tr>
<tr><td>Normal</td><td>${c.fp}</td><td>${c.tn}</td></tr>
${weighted ? `<tr><th>Weighted</th><th></th><th></th></tr><tr><td>Fraud</td><td>${cw.tp}</td><td>${cw.fn}</td></tr><tr><td>Normal</td><td>${cw.fp.toFixed(1)}</td><td>${cw.tn.toFixed(1)}</td></tr>` : ''}
</table>
</div>
<footer>fraudscore evaluation report · generated ${new Date().toISOString()} · data in report.json</footer>
</main>
</body>
</html>
`;
  const mdText = `# ${title}

${details.map(([k, v]) => `- ${k}: **${v}**`).join('\n')}${details.length ? '\n' : ''}
| Metric | Value |
| --- | ---: |
${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

| Confusion (rows) | Flagged | Not flagged |
| --- | ---: | ---: |
| Fraud | ${c.tp} | ${c.fn} |
| Normal | ${c.fp} | ${c.tn} |
${weighted ? `\nWeighted (normal rows x ${m.normalWeight}): false positives ${cw.fp.toFixed(1)}, true negatives ${cw.tn.toFixed(1)}.\n` : ''}
![Precision-recall curve](pr.svg) ![ROC curve](roc.svg)

![Reconstruction error by class](histogram.svg)
${
  lc
    ? `
![AUPRC by labelled frauds](label-curve.svg)

| Labelled frauds | AUPRC |
| ---: | ---: |
${lc.labelledFrauds.map((k, i) => `| ${k === 0 ? '0 (autoencoder alone)' : k} | ${fmt(lc.auprc[i]!)} |`).join('\n')}
`
    : ''
}`;
  await writeFile(html, page);
  await writeFile(md, mdText);
  return { json, html, md };
}
