// Builds models/default: trains configs/default.yaml on the real sample (../shared/data, never
// committed), quantizes it to int8 (quantize()'s defaults: static scales at the 99.95th percentile
// of the training split's normal rows, rows beyond them rescored in fp32), exports model.onnx, writes a synthetic drift reference sample (the real rows
// must not be committed) and the model card with every figure and the command that produced it.
//
//   node --import tsx scripts/make-default-model.ts [--config configs/default.yaml] [--out models/default]
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { loadTable } from '../src/data/load.js';
import { splitTable } from '../src/data/split.js';
import { rowsWithLabel } from '../src/data/table.js';
import { evaluateScores, type Metrics } from '../src/eval/metrics.js';
import { saveModel } from '../src/model.js';
import { exportOnnx } from '../src/onnx/index.js';
import { quantize } from '../src/quantize.js';
import { Scorer } from '../src/scorer.js';
import { writeSynth } from '../src/synth/synth.js';
import { configToYaml, loadConfig } from '../src/train/config.js';
import { train } from '../src/train/train.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'configs/default.yaml' },
    out: { type: 'string', default: 'models/default' },
  },
});
const out = values.out!;
const config = await loadConfig(values.config);
console.error(`training ${values.config} on ${config.data.path}`);
const res = await train(config, {
  onEpoch: (r) => r.best && process.stderr.write(`\repoch ${r.epoch} val ${r.valLoss.toFixed(5)}   `),
});
console.error(
  `\nbest epoch ${res.bestEpoch}; test AUPRC ${res.test.auprc.toFixed(4)} ROC-AUC ${res.test.rocAuc.toFixed(4)}`,
);

// The same split train() used, to compare int8 with fp32 on the test rows.
const table = await loadTable(config.data.path, { features: config.data.features });
const { train: trainSplit, test } = splitTable(table, {
  strategy: config.data.split.strategy,
  ratios: config.data.split.ratios,
  seed: config.data.split.seed,
});
const w = config.data.normal_weight;
const q = quantize(res.model, { calibration: rowsWithLabel(trainSplit, 0).rows });
const fp32 = new Scorer(res.model, { backend: 'cpu' });
const int8 = new Scorer(q, { backend: 'cpu', precision: 'int8' });
const sFp = (await fp32.scoreAsync(test.rows)).scores;
const sQ = (await int8.scoreAsync(test.rows)).scores;
const fellShare = int8.fp32FallbackRows / test.n;
const thr = res.model.threshold!.value;
const mFp = evaluateScores(sFp, test.labels!, { threshold: thr, normalWeight: w });
const mQ = evaluateScores(sQ, test.labels!, { threshold: thr, normalWeight: w });
let agree = 0;
const rel: number[] = [];
for (let i = 0; i < test.n; i++) {
  if (sFp[i]! > thr === sQ[i]! > thr) agree++;
  rel.push(Math.abs(sQ[i]! - sFp[i]!) / Math.max(Math.abs(sFp[i]!), 1e-12));
}
rel.sort((a, b) => a - b);
const int8Summary = {
  activations: 'static',
  outOfRange: q.quantization!.outOfRange,
  percentile: q.quantization!.calibration?.percentile,
  fp32FallbackShare: fellShare,
  auprc: mQ.auprc,
  rocAuc: mQ.rocAuc,
  auprcDelta: mQ.auprc - mFp.auprc,
  rocAucDelta: mQ.rocAuc - mFp.rocAuc,
  decisionAgreement: agree / test.n,
  relErrMedian: rel[Math.floor(rel.length / 2)],
  relErrP99: rel[Math.floor(rel.length * 0.99)],
};
fp32.dispose();
int8.dispose();
console.error(`int8: ${JSON.stringify(int8Summary)}`);

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
// Provenance keeps the data path as the config gives it (relative), not this machine's absolute path.
const dataFile = (q.provenance.dataFile ?? {}) as Record<string, unknown>;
const model = {
  ...q,
  name: 'default',
  provenance: { ...q.provenance, dataFile: { ...dataFile, path: config.data.path } },
  metrics: { ...res.model.metrics, int8: int8Summary },
  extra: {
    reference: {
      file: 'reference.arrow',
      rows: 5000,
      source: 'synthetic normal rows (data/synth-stats.json, seed 7): the real sample is never committed',
    },
    onnx: { file: 'model.onnx', precision: 'fp32' },
    modelCard: 'MODEL_CARD.md',
    sweep: 'sweep-results.md',
  },
};
await saveModel(model, out);
await exportOnnx(res.model, join(out, 'model.onnx'));
await writeSynth(join(out, 'reference.arrow'), { rows: 5000, fraudRate: 0, seed: 7 });
await copyFile('configs/sweep-results.md', join(out, 'sweep-results.md'));
await writeFile(join(out, 'config.yaml'), configToYaml(config));

const f = (x: number) => x.toFixed(4);
const row = (name: string, m: Metrics) =>
  `| ${name} | ${f(m.auprc)} | ${f(m.rocAuc)} | ${f(m.precision)} | ${f(m.recall)} | ${f(m.f1)} | ${f(m.recallAtFpr1)} | ${m.confusion.tp} / ${m.confusion.fp} / ${m.confusion.tn} / ${m.confusion.fn} |`;
const normalTrain = rowsWithLabel(table, 0).n;
const card = `# Model card: fraudscore default

An autoencoder of shape ${[res.model.layers[0]!.in, ...res.model.layers.map((l) => l.out)].join(' → ')} (ReLU hidden layers,
linear output) trained to reconstruct **normal** credit-card transactions; a transaction whose
reconstruction error (mean squared error over the ${res.model.features.length} standardized features) is
above the threshold is flagged as fraud.

Produced by \`node --import tsx scripts/make-default-model.ts\` (config: \`configs/default.yaml\`, copied
here as \`config.yaml\`) at commit ${res.model.provenance.gitCommit ?? 'unknown'}, fraudscore ${res.model.provenance.libraryVersion}.

## Data
- Real sample of the public ULB/Kaggle credit-card data set: \`${config.data.path}\`, ${table.n} rows
  (${table.n - normalTrain} frauds), sha256 of the uncompressed CSV \`${res.model.provenance.dataFingerprint}\`.
  The rows are not in this repository.
- Features: ${res.model.features.join(', ')}. Amount is log1p-transformed; every feature is then
  standardized with the mean and std of the **training split's normal rows** (stored in model.json and
  applied by the native kernel: pass raw values).
- Split: ${config.data.split.strategy}, ratios ${config.data.split.ratios.join('/')}, seed ${config.data.split.seed}.
  Trained on the training split's normal rows only (${res.model.training?.rows ? JSON.stringify(res.model.training.rows) : ''}).
- The sample keeps every fraud but only ~1 in 9.742 normal rows, so precision, F1, AUPRC and false
  positives below weight each normal row ${w} to estimate full-data figures; recall and ROC-AUC need no weight.

## Training
Adam (lr ${config.training.lr}, L2 weight decay ${config.training.weight_decay}), batch ${config.training.batch_size},
dropout ${config.model.dropout}, up to ${config.training.epochs} epochs with early stopping on the validation normal rows'
loss (patience ${config.training.patience}): best epoch ${res.bestEpoch} of ${res.history.length}. The configuration was chosen
by \`fraudscore sweep --spec configs/sweep.yaml\` ranked by **validation** AUPRC (table: sweep-results.md).

## Threshold
${res.model.threshold!.value} (strategy: ${res.model.threshold!.strategy}), chosen on the validation split, never on test.

## Metrics (test split, normal rows weighted ${w})
| model | AUPRC | ROC-AUC | precision | recall | F1 | recall @ 1% FPR | tp / fp / tn / fn (raw) |
|---|---:|---:|---:|---:|---:|---:|---|
${row('fp32', mFp)}
${row('int8', mQ)}

int8: static per-layer scales at the ${int8Summary.percentile}th percentile of the training split's normal rows; a row whose
activations leave that range is rescored with the fp32 weights (${(100 * fellShare).toFixed(2)}% of the test rows). Against fp32
on the ${test.n} test rows: decisions agree on ${(100 * int8Summary.decisionAgreement).toFixed(2)}%, per-row relative score error median
${(100 * int8Summary.relErrMedian!).toFixed(2)}%, p99 ${(100 * int8Summary.relErrP99!).toFixed(2)}%.

## Files
- \`model.json\`, \`weights.safetensors\`: the fp32 weights and the int8 weights with their scales.
- \`model.onnx\`: fp32 ONNX graph from raw features to \`score\` (preprocessing included).
- \`reference.arrow\`: 5,000 synthetic normal rows drawn from statistics fitted on the real sample
  (\`data/synth-stats.json\`): the drift monitor's reference. Real rows cannot be shipped; replace it
  with a sample of your own training data for production monitoring.

## Limits
The data are PCA components of 2013 European card transactions; the model knows nothing else. Scores
are not probabilities. Retrain and recalibrate the threshold on your own data before relying on it.
`;
await writeFile(join(out, 'MODEL_CARD.md'), card);
console.error(`wrote ${out}`);
