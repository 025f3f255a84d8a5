// A drift report as a self-contained HTML page (no scripts, no external assets), for
// GET /monitoring?format=html and `fraudscore drift --html`.
import { escapeHtml } from '../html.js';
import type { ColumnDrift, DriftReport } from './drift.js';

export { escapeHtml };

function fmt(v: number | null, digits = 4): string {
  if (v === null) return '–';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return v.toFixed(digits);
}

function row(c: ColumnDrift): string {
  // The bar shows how far the statistic is towards (or past) its threshold: p-values are inverted
  // because a smaller p means stronger evidence of drift.
  const ratio =
    c.method === 'ks' ? (c.pValue === null ? 0 : c.threshold / Math.max(c.pValue, 1e-12)) : c.statistic / c.threshold;
  const width = Math.min(100, Math.round(ratio * 50));
  return `<tr class="${c.drifted ? 'drift' : 'ok'}">
<td>${escapeHtml(c.feature)}</td><td>${c.drifted ? 'Drift' : 'No drift'}</td>
<td>${c.method === 'ks' ? 'K-S p-value' : 'Wasserstein (normed)'}</td>
<td>${fmt(c.method === 'ks' ? c.pValue : c.statistic)}</td><td>${fmt(c.threshold)}</td>
<td>${fmt(c.psi)}${c.psiShifted ? ' ⚠' : ''}</td>
<td>${fmt(c.reference.mean)} ± ${fmt(c.reference.std)}</td><td>${fmt(c.current.mean)} ± ${fmt(c.current.std)}</td>
<td><div class="bar"><span style="width:${width}%"></span></div></td></tr>`;
}

/** The report as an HTML document. */
export function renderDriftHtml(report: DriftReport, title = 'fraudscore drift report'): string {
  const d = report.dataset;
  const verdict = d.drifted ? 'Dataset drift detected' : 'No dataset drift';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2733}
h1{font-size:1.4rem} .verdict{padding:.8rem 1rem;border-radius:6px;font-weight:600;display:inline-block}
.verdict.drift{background:#fde2e1;color:#8a1c17}.verdict.ok{background:#dff3e4;color:#1e5b2e}
table{border-collapse:collapse;margin-top:1rem;width:100%}th,td{padding:.3rem .6rem;border-bottom:1px solid #e3e7ec;text-align:left;white-space:nowrap}
th{background:#f4f6f8} tr.drift td:nth-child(2){color:#b3261e;font-weight:600} tr.ok td:nth-child(2){color:#2e7d32}
.bar{width:120px;height:8px;background:#eef1f4;border-radius:4px;overflow:hidden}.bar span{display:block;height:100%;background:#5b8def}
tr.drift .bar span{background:#d9534f} .meta{color:#5f6b78}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Generated ${escapeHtml(report.generatedAt)} · reference ${report.referenceRows} rows · current ${report.currentRows} rows ·
KS test (p &lt; ${report.options.ksPValueThreshold}) when the reference has ≤ ${report.options.ksMaxRows} rows, else normalized Wasserstein ≥ ${report.options.wassersteinThreshold};
dataset drift when ≥ ${report.options.driftShare * 100}% of features drift.</p>
<p class="verdict ${d.drifted ? 'drift' : 'ok'}">${verdict}: ${d.driftedFeatures} of ${d.features} features drifted (${(d.share * 100).toFixed(1)}%)</p>
${report.score ? `<h2>Reconstruction error</h2><table><thead>${header()}</thead><tbody>${row(report.score)}</tbody></table>` : ''}
<h2>Features</h2>
<table><thead>${header()}</thead><tbody>
${report.features.map(row).join('\n')}
</tbody></table>
</body></html>
`;
}

function header(): string {
  return '<tr><th>Column</th><th>Verdict</th><th>Test</th><th>Value</th><th>Threshold</th><th>PSI</th><th>Reference mean ± std</th><th>Current mean ± std</th><th></th></tr>';
}

/** [sync] The drift page before any data: the same styles, a "waiting" verdict and why. */
export function renderWaitingHtml(modelName: string, detail: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fraudscore drift report: waiting for data</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2733}h1{font-size:1.4rem}
.verdict{padding:.8rem 1rem;border-radius:6px;font-weight:600;display:inline-block;background:#eef1f5;color:#3a4654}</style>
</head><body>
<h1>fraudscore drift report: ${escapeHtml(modelName)}</h1>
<p class="verdict">Waiting for data</p>
<p>${escapeHtml(detail)}</p>
</body></html>
`;
}
