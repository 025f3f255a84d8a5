// GPU check of the Node addon (run by bench/gpu/run.sh on the GPU machine, where no npm packages
// are installed): loads the .node file given as argv[2], then checks CudaScorer (fp32) against the
// addon's float64 referenceScore on fresh random rows, scoreAsync while the event loop keeps
// ticking, the non-finite contract, the Trainer with cudaDevice 0 against the CPU
// Trainer, and times scoreAsync at batch 65,536 and both trainers' epochs.
// Exits 1 on the first failed check.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const addon = createRequire(import.meta.url)(process.argv[2]);
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};

const info = addon.cudaInfo();
console.log('cudaInfo', JSON.stringify(info));
if (!info.available) {
  console.log(`node-check: SKIPPED: ${info.reason}`);
  process.exit(0);
}

// A random [29, 32, 16, 32, 29] model, He-style weights, Amount-like log1p on the last feature.
const d = 29;
const sizes = [d, 32, 16, 32, d];
const rand = () => Math.random() * 2 - 1;
const model = {
  features: d,
  transform: Uint8Array.from({ length: d }, (_, j) => (j === d - 1 ? 1 : 0)),
  mean: Float32Array.from({ length: d }, rand),
  scale: Float32Array.from({ length: d }, () => 0.5 + Math.random() * 1.5),
  layers: sizes.slice(1).map((out, l) => {
    const inp = sizes[l];
    const s = Math.sqrt(2 / inp);
    return {
      in: inp,
      out,
      weight: Float32Array.from({ length: inp * out }, () => rand() * s),
      bias: Float32Array.from({ length: out }, () => rand() * 0.1),
    };
  }),
};
const randomRows = (n) => {
  const r = new Float32Array(n * d);
  for (let i = 0; i < r.length; i++) r[i] = (i % d === d - 1 ? Math.random() * 50 : rand() * 3) + 0;
  return r;
};

const scorer = new addon.CudaScorer(model, { precision: 'fp32' });
check(scorer.features === d && scorer.precision === 'fp32', `CudaScorer kernel=${scorer.kernel}`);
const n = 20011;
const rows = randomRows(n);
const scores = new Float32Array(n).fill(-1);
const fe = new Float32Array(n * d).fill(-1);
check(scorer.score(rows, scores, fe, 0, 0) === null, 'score() returns null on finite rows');
const ref = addon.referenceScore(model, rows);
let worst = 0;
for (let i = 0; i < n; i++)
  worst = Math.max(worst, Math.abs(scores[i] - ref.scores[i]) / Math.max(ref.scores[i], 1e-3));
check(worst < 1e-5, `fp32 scores vs float64 reference: worst rel err ${worst.toExponential(2)}`);
let worstFe = 0;
for (let i = 0; i < n * d; i++)
  worstFe = Math.max(
    worstFe,
    Math.abs(fe[i] - ref.featureErrors[i]) / Math.max(ref.scores[Math.floor(i / d)] * d, 1e-3),
  );
check(worstFe < 1e-5, `feature errors vs reference: worst ${worstFe.toExponential(2)}`);

// The event loop keeps ticking while a large scoreAsync runs.
const big = 1 << 22;
const bigRows = randomRows(big);
const bigScores = new Float32Array(big);
let ticks = 0;
const timer = setInterval(() => ticks++, 1);
const t0 = performance.now();
const res = await scorer.scoreAsync(bigRows, bigScores, null, 0, 0);
const ms = performance.now() - t0;
clearInterval(timer);
check(res === null, `scoreAsync of ${big} rows in ${ms.toFixed(1)} ms`);
check(ticks > 0 || ms < 5, `event loop ticked ${ticks} times during scoreAsync`);

// Non-finite contract.
rows[123 * d + 4] = Number.NaN;
rows[9000 * d + 1] = Number.POSITIVE_INFINITY;
const bad = scorer.score(rows, scores, null, 0, 0);
check(Array.isArray(bad) && bad[0] === 123 && bad[1] === 4, `first bad value ${JSON.stringify(bad)}`);
check(
  scorer.score(rows, scores, null, 1, 0) === null && Number.isNaN(scores[123]) && Number.isNaN(scores[9000]),
  'nonFinite=1 gives NaN rows',
);
let threw = '';
try {
  scorer.score(new Float32Array(5), scores, null, 0, 0);
} catch (e) {
  threw = e.message;
}
check(threw.startsWith('Expected `rows` to be a Float32Array of n*29 values'), `argument error: ${threw}`);

// Throughput through the binding at batch 65,536 (async, pageable JS memory).
const b = 65536;
const bRows = bigRows.subarray(0, b * d);
const bScores = new Float32Array(b);
for (let i = 0; i < 5; i++) await scorer.scoreAsync(bRows, bScores, null, 0, 0);
const reps = 200;
const t1 = performance.now();
for (let i = 0; i < reps; i++) await scorer.scoreAsync(bRows, bScores, null, 0, 0);
const rate = (b * reps) / ((performance.now() - t1) / 1000);
console.log(`node scoreAsync batch ${b}: ${(rate / 1e6).toFixed(1)} Mrows/s`);
const t2 = performance.now();
for (let i = 0; i < reps; i++) scorer.score(bRows, bScores, null, 0, 0);
const rateSync = (b * reps) / ((performance.now() - t2) / 1000);
console.log(`node score (sync) batch ${b}: ${(rateSync / 1e6).toFixed(1)} Mrows/s`);
scorer.dispose();
scorer.dispose();
threw = '';
try {
  scorer.score(bRows, bScores, null, 0, 0);
} catch (e) {
  threw = e.message;
}
check(threw.includes('disposed'), 'use after dispose throws');

// train({ backend: 'cuda' })'s path: the native Trainer with cudaDevice 0 against the CPU Trainer on
// the same raw rows, seed and batches, no dropout: epoch losses agree up to float rounding.
const epochRows = randomRows(200_000);
const opts = { lr: 1e-3, weightDecay: 1e-5, seed: 7, batchSize: 1024, threads: 2 };
const cpuT = new addon.Trainer(model, opts);
const gpuT = new addon.Trainer(model, { ...opts, cudaDevice: 0 });
const secs = { cpu: 0, gpu: 0 };
for (let e = 0; e < 3; e++) {
  let t = performance.now();
  const a = await cpuT.trainEpoch(epochRows);
  secs.cpu += (performance.now() - t) / 1000;
  t = performance.now();
  const g = await gpuT.trainEpoch(epochRows);
  secs.gpu += (performance.now() - t) / 1000;
  const rel = Math.abs(g.loss - a.loss) / a.loss;
  check(
    g.batches === a.batches && rel < 1e-3,
    `Trainer epoch ${e + 1}: cuda loss ${g.loss.toFixed(6)}, cpu ${a.loss.toFixed(6)} (rel ${rel.toExponential(1)})`,
  );
}
check(gpuT.steps === cpuT.steps, `Trainer steps ${gpuT.steps}`);
console.log(
  `node Trainer epochs (200k rows, batch 1024): cuda ${((3 * 200_000) / secs.gpu / 1e6).toFixed(2)} Mrows/s, cpu (2 threads) ${((3 * 200_000) / secs.cpu / 1e6).toFixed(2)} Mrows/s`,
);
cpuT.dispose();
gpuT.dispose();
console.log(`node-check: ${failures ? `${failures} check(s) failed` : 'all checks passed'}`);
process.exit(failures ? 1 : 0);
