// Where scoreAsync's int8 time goes at batch 65,536 beyond the kernels (bench_int8): the same rows
// (the bench's synthetic data and model, SharedArrayBuffer-backed) through score() and
// scoreAsync(), fp32 and int8, alternately in one run:
//   node --import tsx bench/int8-overhead.ts [--calls 200]
import { quantize, Scorer } from '../src/index.js';
import { benchData, makeTable } from './lib/data.js';

const i = process.argv.indexOf('--calls');
const calls = i > 0 ? Number(process.argv[i + 1]) : 200;
const n = 65536;
const data = await benchData(n, 42);
const d = data.model.features.length;
const rows = new Float32Array(new SharedArrayBuffer(n * d * 4));
rows.set(data.rows.subarray(0, n * d));
const out = new Float32Array(new SharedArrayBuffer(n * 4));
const calibration = (await makeTable(16_384, data.seed + 1)).table.rows;
const q = quantize(data.model, { calibration });
const scorers = {
  fp32: new Scorer(data.model, { backend: 'cpu', precision: 'fp32' }),
  int8: new Scorer(q, { backend: 'cpu', precision: 'int8' }),
};
for (const round of [1, 2]) {
  for (const [name, s] of Object.entries(scorers)) {
    for (let k = 0; k < 20; k++) s.score(rows, { out });
    const fellBefore = s.fp32FallbackRows;
    let t0 = performance.now();
    for (let k = 0; k < calls; k++) s.score(rows, { out });
    const sync = (performance.now() - t0) / calls;
    const rescored = (s.fp32FallbackRows - fellBefore) / (n * calls);
    for (let k = 0; k < 20; k++) await s.scoreAsync(rows, { out });
    t0 = performance.now();
    for (let k = 0; k < calls; k++) await s.scoreAsync(rows, { out });
    const async_ = (performance.now() - t0) / calls;
    console.log(
      `round ${round} ${name}: sync ${(sync * 1000).toFixed(0)} us/call (${((n / sync) * 1e-3).toFixed(1)}M rows/s), ` +
        `async ${(async_ * 1000).toFixed(0)} us/call (${((n / async_) * 1e-3).toFixed(1)}M rows/s)` +
        (name === 'int8' ? `, ${(100 * rescored).toFixed(2)}% of rows rescored in fp32` : ''),
    );
  }
}
