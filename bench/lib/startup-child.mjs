// One cold start in a fresh process, the way a consumer service begins: import the package root,
// load the shipped model, score one row. Plain JS run by plain node (no tsx: its loader would be
// part of the figure). Prints one JSON line of milliseconds on stdout.
// Usage: node bench/lib/startup-child.mjs <package entry> [module to import first ...]
// The extra modules stand for what the root import used to load eagerly (apache-arrow, hyparquet,
// yaml, the training code), so one run can time the old behaviour next to the new one.
import { pathToFileURL } from 'node:url';

const [entry, ...eager] = process.argv.slice(2);
const url = (m) => (m.startsWith('/') ? pathToFileURL(m).href : m);
const t0 = performance.now();
await Promise.all(eager.map((m) => import(url(m))));
const fs = await import(url(entry));
const t1 = performance.now();
const model = await fs.loadModel(fs.defaultModelPath);
const t2 = performance.now();
const scorer = new fs.Scorer(model, { backend: 'cpu' });
const scores = scorer.score(new Float32Array(model.features.length));
const t3 = performance.now();
scorer.dispose();
if (!(scores.length === 1 && Number.isFinite(scores[0]))) throw new Error(`bad score ${scores[0]}`);
process.stdout.write(
  `${JSON.stringify({ importMs: t1 - t0, loadModelMs: t2 - t1, firstScoreMs: t3 - t2, totalMs: t3 - t0 })}\n`,
);
