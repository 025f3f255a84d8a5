// Builds models/hybrid: trains configs/hybrid.yaml (the default autoencoder plus a supervised head)
// on the real sample (../shared/data, never committed), the same config as an autoencoder alone
// (the zero-label point, same split), and hybrids that saw 10, 30 and 100 labelled frauds (the
// label curve); writes the model, its evaluation report (with the curve) and the model card, with
// every figure and the command that produced it.
//
//   node --import tsx scripts/make-hybrid-model.ts [--config configs/hybrid.yaml] [--out models/hybrid]
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { loadTable } from '../src/data/load.js';
import { splitTable } from '../src/data/split.js';
import { computeCurves, type Metrics } from '../src/eval/metrics.js';
import { writeReport } from '../src/eval/report.js';
import { saveModel } from '../src/model.js';
import { exportOnnx } from '../src/onnx/index.js';
import { Scorer } from '../src/scorer.js';
import { writeSynth } from '../src/synth/synth.js';
import { applyOverrides, configToYaml, loadConfig } from '../src/train/config.js';
import { train } from '../src/train/train.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'configs/hybrid.yaml' },
    out: { type: 'string', default: 'models/hybrid' },
  },
});
const out = values.out!;
const config = await loadConfig(values.config);
if (config.model.kind !== 'hybrid') throw new Error(`${values.config}: model.kind must be 'hybrid'`);
console.error(`training ${values.config} on ${config.data.path}`);
const res = await train(config, { noRunDir: true });
const h = res.hybrid!;
console.error(`hybrid: test AUPRC ${res.test.auprc.toFixed(4)} ROC-AUC ${res.test.rocAuc.toFixed(4)}`);
const ae = await train(applyOverrides(structuredClone(config), ['model.kind=autoencoder']), { noRunDir: true });
console.error(`autoencoder alone: test AUPRC ${ae.test.auprc.toFixed(4)}`);

// The label curve: the same config with at most k labelled frauds (nested choices, same seed).
const curve: { labelledFrauds: number; test: Metrics; validation: Metrics }[] = [
  { labelledFrauds: 0, test: ae.test, validation: ae.validation },
];
for (const k of [10, 30, 100]) {
  if (k >= h.labelledFrauds) break;
  const r = await train(applyOverrides(structuredClone(config), [`training.max_labelled_frauds=${k}`]), {
    noRunDir: true,
  });
  curve.push({ labelledFrauds: r.hybrid!.labelledFrauds, test: r.test, validation: r.validation });
  console.error(`${k} labelled frauds: test AUPRC ${r.test.auprc.toFixed(4)}`);
}
curve.push({ labelledFrauds: h.labelledFrauds, test: res.test, validation: res.validation });

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const dataFile = (res.model.provenance.dataFile ?? {}) as Record<string, unknown>;
const model = {
  ...res.model,
  name: 'hybrid',
  provenance: { ...res.model.provenance, dataFile: { ...dataFile, path: config.data.path } },
  extra: {
    modelCard: 'MODEL_CARD.md',
    reference: {
      file: 'reference.arrow',
      rows: 5000,
      source: 'synthetic normal rows (data/synth-stats.json, seed 7): the real sample is never committed',
    },
    onnx: { file: 'model.onnx', precision: 'fp32' },
    report: 'report/report.md',
    labelCurve: curve.map((c) => ({
      labelledFrauds: c.labelledFrauds,
      testAuprc: c.test.auprc,
      validationAuprc: c.validation.auprc,
    })),
  },
};
await saveModel(model, out);
await exportOnnx(res.model, join(out, 'model.onnx'));
await writeSynth(join(out, 'reference.arrow'), { rows: 5000, fraudRate: 0, seed: 7 });
await writeFile(join(out, 'config.yaml'), configToYaml(config));

// The evaluation report of the test split, with the label curve.
const table = await loadTable(config.data.path, { features: config.data.features });
const { test } = splitTable(table, {
  strategy: config.data.split.strategy,
  ratios: config.data.split.ratios,
  seed: config.data.split.seed,
});
const w = config.data.normal_weight;
const scorer = new Scorer(res.model, { backend: 'cpu' });
const probs = (await scorer.scoreAsync(test.rows)).scores;
scorer.dispose();
await writeReport(join(out, 'report'), {
  metrics: res.test,
  curves: computeCurves(probs, test.labels!, { normalWeight: w }),
  scores: probs,
  labels: test.labels!,
  threshold: res.model.threshold!,
  title: 'fraudscore hybrid: test split of the real sample',
  details: { model: 'models/hybrid', data: config.data.path, split: 'test' },
  labelCurve: { labelledFrauds: curve.map((c) => c.labelledFrauds), auprc: curve.map((c) => c.test.auprc) },
});

const f = (x: number) => x.toFixed(4);
const row = (name: string, m: Metrics) =>
  `| ${name} | ${f(m.auprc)} | ${f(m.rocAuc)} | ${f(m.precision)} | ${f(m.recall)} | ${f(m.f1)} | ${f(m.recallAtFpr1)} | ${m.confusion.tp} / ${m.confusion.fp} / ${m.confusion.tn} / ${m.confusion.fn} |`;
const hc = config.model.head;
const sizes = (l: { in: number; out: number }[]) => [l[0]!.in, ...l.map((x) => x.out)].join(' → ');
const card = `# Model card: fraudscore hybrid

The autoencoder of models/default (${sizes(res.model.layers)}, trained on the training split's **normal**
rows only), then a supervised head (${h.ensemble} heads of ${[2 * res.model.features.length + 1, ...hc.hidden, 1].join(' → ')}, ReLU, averaged by
logit into one head of ${sizes(res.model.head!.layers)}) trained on the training split's **labelled** rows. The head reads
the standardized features, log1p of each feature's squared reconstruction error and log1p of the
AE score; its output, a sigmoid, is the fraud probability. One native pass computes both.

Produced by \`node --import tsx scripts/make-hybrid-model.ts\` (config: \`configs/hybrid.yaml\`, copied
here as \`config.yaml\`), fraudscore ${res.model.provenance.libraryVersion}.

## Labels it saw
- ${h.labelledFrauds} labelled frauds and ${h.labelledNormals} labelled normal rows of the training split (of
  ${h.available.frauds} and ${h.available.normals}; training.label_fraction ${h.labelFraction}, max_labelled_frauds ${h.maxLabelledFrauds}).
- ${h.validation!.frauds} of the validation split's ${h.validation!.available.frauds} frauds and ${h.validation!.normals} of its ${h.validation!.available.normals} normal rows (the training split's
  share of labels) decided early stopping (weighted AUPRC, patience ${hc.patience}) and the threshold; the
  test split was used for the figures below only. The label-curve points below saw the same share of
  validation frauds as of training frauds (training.max_labelled_frauds).
- Not label-free: the autoencoder still trains on the training split's normal rows and stops on the
  validation split's normal rows, which needs every row's label (as models/default does).

## Data and split
- \`${config.data.path}\`, sha256 of the uncompressed CSV \`${res.model.provenance.dataFingerprint}\`; the rows are not in this repository.
- Split: ${config.data.split.strategy}, ratios ${config.data.split.ratios.join('/')}, seed ${config.data.split.seed} (the default model's).
- Precision, F1 and AUPRC weight each normal row ${w} (the sample keeps ~1 in ${w} normal rows).

## Head training
Native HeadTrainer: ${hc.loss === 'focal' ? `focal loss (gamma ${hc.focal_gamma})` : 'class-weighted cross-entropy'}, fraud weight ${h.posWeight}, Adam
(lr ${hc.lr}, L2 ${hc.weight_decay}), batch ${hc.batch_size}, up to ${hc.epochs} epochs; best epochs ${JSON.stringify(h.bestEpoch)} of
${JSON.stringify(h.epochsRun)}. Validation AUPRC: autoencoder alone ${f(h.aeValAuprc!)}, hybrid ${f(h.bestValAuprc!)}.

## Threshold
${res.model.threshold!.value} on the probability (strategy: ${res.model.threshold!.strategy}).

## Metrics (test split, normal rows weighted ${w})
| model | AUPRC | ROC-AUC | precision | recall | F1 | recall @ 1% FPR | tp / fp / tn / fn (raw) |
|---|---:|---:|---:|---:|---:|---:|---|
${row('hybrid', res.test)}
${row('autoencoder alone (same config, kind autoencoder)', ae.test)}

## AUPRC by labelled frauds (test split; report/label-curve.svg)
| labelled frauds | test AUPRC | validation AUPRC |
|---:|---:|---:|
${curve.map((c) => `| ${c.labelledFrauds === 0 ? '0 (autoencoder alone)' : c.labelledFrauds} | ${f(c.test.auprc)} | ${f(c.validation.auprc)} |`).join('\n')}

## Files
- \`model.json\` (kind 'hybrid', the head's layer sizes, training.hybrid), \`weights.safetensors\`
  (layers.* the autoencoder, head.* the head; fp32).
- \`model.onnx\`: fp32 ONNX graph from raw features to \`fraud_probability\` (and the autoencoder's
  \`score\`, \`feature_errors\`, ...), the head in the same graph.
- \`report/\`: the test split's evaluation report with the label curve.
- \`reference.arrow\`: models/default's drift reference (5,000 synthetic normal rows; the real rows
  cannot be shipped).
- Not yet: int8 weights (the hybrid engine is fp32, CPU only).

## Limits
${res.test.positives} test frauds: an AUPRC moves by several points with a handful of rows. The data are PCA
components of 2013 European card transactions. Retrain on your own labels before relying on it.
`;
await writeFile(join(out, 'MODEL_CARD.md'), card);
console.log(
  JSON.stringify({ hybridTest: res.test.auprc, aeTest: ae.test.auprc, curve: model.extra.labelCurve, hybrid: h }),
);
console.error(`wrote ${out}`);
