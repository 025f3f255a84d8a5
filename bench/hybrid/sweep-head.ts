// Head settings on one fixed autoencoder (configs/default.yaml's, trained once): for each list of
// overrides, a head is trained and its weighted AUPRC printed on the validation split (what chose
// configs/hybrid.yaml) and on the test split (for the record only). One-off, see README.md here.
//
//   node --import tsx bench/hybrid/sweep-head.ts '[["model.head.ensemble=5"], ["model.head.pos_weight=5"]]'
import { loadTable } from '../../src/data/load.js';
import { splitTable } from '../../src/data/split.js';
import { evaluateScores } from '../../src/eval/metrics.js';
import { trainHead } from '../../src/hybrid/train-head.js';
import { Scorer } from '../../src/scorer.js';
import { applyOverrides, loadConfig } from '../../src/train/config.js';
import { train } from '../../src/train/train.js';
const base = await loadConfig('configs/default.yaml', ['training.threads=2']);
const ae = await train(base, { noRunDir: true });
const table = await loadTable(base.data.path, { features: base.data.features });
const splits = splitTable(table, {
  strategy: 'stratified',
  ratios: base.data.split.ratios,
  seed: base.data.split.seed,
});
console.log('AE val', ae.validation.auprc.toFixed(4), 'test', ae.test.auprc.toFixed(4));
const grid = JSON.parse(process.argv[2]!) as string[][];
for (const o of grid) {
  const cfg = applyOverrides(structuredClone(base), ['model.kind=hybrid', ...o]);
  const h = await trainHead(ae.model, splits, cfg, 2);
  const s = new Scorer(h.model, { backend: 'cpu' });
  const v = evaluateScores(s.score(splits.validation.rows), splits.validation.labels!, {
    threshold: 0.5,
    normalWeight: 9.742,
  });
  const t = evaluateScores(s.score(splits.test.rows), splits.test.labels!, { threshold: 0.5, normalWeight: 9.742 });
  s.dispose();
  console.log(
    o.join(' '),
    'val',
    v.auprc.toFixed(4),
    'test',
    t.auprc.toFixed(4),
    'ep',
    h.info.bestEpoch,
    h.info.epochsRun,
  );
}
