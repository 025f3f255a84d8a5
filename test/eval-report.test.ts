// The evaluation report: three files, self-contained HTML with the three plots, JSON that round-trips.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { Rng } from '../src/data/random.js';
import { computeCurves, evaluateScores } from '../src/eval/metrics.js';
import { scoreHistogram, writeReport } from '../src/eval/report.js';
import { chooseThreshold } from '../src/eval/threshold.js';

const tmp = mkdtempSync(join(tmpdir(), 'fraudscore-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sample(n: number) {
  const rng = new Rng(2);
  const scores = new Float32Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.next() < 0.02 ? 1 : 0;
    scores[i] = Math.exp(rng.normal() * 0.6 + (labels[i] ? 1.8 : -0.5));
  }
  return { scores, labels };
}

describe('writeReport', () => {
  it('writes JSON, self-contained HTML with PR, ROC and histogram plots, and Markdown', async () => {
    const { scores, labels } = sample(20000);
    const threshold = chooseThreshold(scores, labels, { name: 'max-f1' }, { normalWeight: 9.742 });
    const metrics = evaluateScores(scores, labels, { threshold: threshold.value, normalWeight: 9.742 });
    const curves = computeCurves(scores, labels, { normalWeight: 9.742 });
    const dir = join(tmp, 'r1');
    const out = await writeReport(dir, {
      metrics,
      curves,
      scores,
      labels,
      threshold,
      title: `Test <report> "it's"`,
      details: { model: "unit-test's", split: 'test' },
    });
    const html = readFileSync(out.html, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('Precision-recall');
    expect(html).toContain('ROC (AUC');
    expect(html).toContain('Reconstruction error by class');
    expect(html).toContain('threshold');
    // Escaped, not markup, with quotes too (one escaper for the page and its plots' attributes).
    expect(html).toContain('Test &lt;report&gt; &quot;it&#39;s&quot;');
    expect(html).toContain('unit-test&#39;s');
    expect(html).not.toContain("it's");
    expect(html).not.toMatch(/<script|<link |src="http/);
    const json = JSON.parse(readFileSync(out.json, 'utf8'));
    expect(json.metrics.auprc).toBeCloseTo(metrics.auprc, 12);
    expect(json.threshold.value).toBe(threshold.value);
    expect(json.threshold.strategy).toBe('max-f1');
    expect(json.curves.roc.fpr.length).toBe(curves.roc.fpr.length);
    const md = readFileSync(out.md, 'utf8');
    expect(md).toMatch(/\| ROC-AUC \| 0\.\d{4} \|/);
    expect(md).toContain('![ROC curve](roc.svg)');
    for (const f of ['pr.svg', 'roc.svg', 'histogram.svg'])
      expect(readFileSync(join(dir, f), 'utf8')).toMatch(/^<svg /);
  });

  it('histogram shares sum to 1 per class on a log scale', () => {
    const { scores, labels } = sample(5000);
    const h = scoreHistogram(scores, labels, 40);
    expect(h.edges).toHaveLength(41);
    expect(h.normal.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    expect(h.fraud.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    expect(h.edges[1] / h.edges[0]).toBeCloseTo(h.edges[40] / h.edges[39], 9);
  });

  it('rejects a non-finite threshold', async () => {
    const { scores, labels } = sample(100);
    const metrics = evaluateScores(scores, labels, { threshold: 1 });
    await expect(
      writeReport(join(tmp, 'r2'), {
        metrics,
        curves: computeCurves(scores, labels),
        scores,
        labels,
        threshold: Number.NaN,
        title: 'x',
      }),
    ).rejects.toThrow(/finite number, got NaN/);
  });
});
