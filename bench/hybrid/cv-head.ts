// Head settings chosen by k-fold cross-validation over the training and validation splits (never the
// test split): one validation split of 84 frauds moves AUPRC by points from a seed or an epoch to
// the next, so a setting chosen on it is chosen partly by noise. Here the train + validation rows
// are cut into K stratified folds; for fold k the head trains on K-2 folds, stops early on fold
// k+1 and is scored on fold k, which it never saw. The figure per setting is the mean weighted
// AUPRC over the K held-out folds (all 335 train + validation frauds are scored once). The
// autoencoder is models/hybrid's (configs/hybrid.yaml's, fitted on the training split's normal
// rows), fixed. One-off, see README.md here.
//
//   node --import tsx bench/hybrid/cv-head.ts [K] '<JSON list of override lists>'
import { loadTable } from '../../src/data/load.js';
import { Rng } from '../../src/data/random.js';
import { splitTable } from '../../src/data/split.js';
import { type Table, takeRows } from '../../src/data/table.js';
import { averagePrecisionOf } from '../../src/eval/metrics.js';
import { rank } from '../../src/eval/ranking.js';
import { trainHead } from '../../src/hybrid/train-head.js';
import { loadModel } from '../../src/model.js';
import { Scorer } from '../../src/scorer.js';
import { applyOverrides, loadConfig } from '../../src/train/config.js';

const K = Number(process.argv[2] ?? 5);
const grid = JSON.parse(process.argv[3] ?? '[[]]') as string[][];
const base = await loadConfig('configs/hybrid.yaml', ['training.threads=1']);
const hybrid = await loadModel('models/hybrid');
const { head: _head, ...rest } = hybrid;
const ae = { ...rest, kind: 'autoencoder' as const };
const table = await loadTable(base.data.path, { features: base.data.features });
const splits = splitTable(table, {
  strategy: 'stratified',
  ratios: base.data.split.ratios,
  seed: base.data.split.seed,
});

// Train + validation as one pool, cut into K folds stratified by class (seeded shuffle per class).
const pool: Table = concat(splits.train, splits.validation);
const fold = new Int32Array(pool.n);
const rng = new Rng(12345);
for (const cls of [0, 1]) {
  const idx: number[] = [];
  for (let i = 0; i < pool.n; i++) if (pool.labels![i] === cls) idx.push(i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  idx.forEach((r, k) => {
    fold[r] = k % K;
  });
}
const rowsOf = (pred: (f: number) => boolean) => {
  const out: number[] = [];
  for (let i = 0; i < pool.n; i++) if (pred(fold[i]!)) out.push(i);
  return takeRows(pool, out);
};
const w = base.data.normal_weight;
const aeScorer = new Scorer(ae, { backend: 'cpu', threads: 1 });
const aeFolds: number[] = [];
for (let k = 0; k < K; k++) {
  const held = rowsOf((f) => f === k);
  aeFolds.push(averagePrecisionOf(rank(aeScorer.score(held.rows), held.labels!), w));
}
aeScorer.dispose();
console.log(`autoencoder alone: cv ${mean(aeFolds).toFixed(4)} folds ${aeFolds.map((a) => a.toFixed(3)).join(' ')}`);

for (const o of grid) {
  const cfg = applyOverrides(structuredClone(base), o);
  const per: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < K; k++) {
    const stop = (k + 1) % K;
    const train = rowsOf((f) => f !== k && f !== stop);
    const validation = rowsOf((f) => f === stop);
    const held = rowsOf((f) => f === k);
    const h = await trainHead(ae, { train, validation, test: held }, cfg, 1);
    const s = new Scorer(h.model, { backend: 'cpu', threads: 1 });
    per.push(averagePrecisionOf(rank(s.score(held.rows), held.labels!), w));
    s.dispose();
  }
  const sd = Math.sqrt(per.reduce((a, x) => a + (x - mean(per)) ** 2, 0) / (per.length - 1));
  console.log(
    `${o.join(' ') || '(configs/hybrid.yaml)'}: cv ${mean(per).toFixed(4)} sd ${sd.toFixed(3)} folds ${per.map((a) => a.toFixed(3)).join(' ')} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

function mean(a: number[]): number {
  return a.reduce((s, x) => s + x, 0) / a.length;
}

function concat(a: Table, b: Table): Table {
  const rows = new Float32Array(a.rows.length + b.rows.length);
  rows.set(a.rows);
  rows.set(b.rows, a.rows.length);
  const labels = new Uint8Array(a.n + b.n);
  labels.set(a.labels!);
  labels.set(b.labels!, a.n);
  return { features: a.features, rows, n: a.n + b.n, labels };
}
