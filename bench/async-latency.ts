// What a scoreAsync call costs beyond the same call made synchronously, by batch size: the hand-off
// to a libuv thread and back (and, with 2 threads, the wake-up of the engine's pool worker), which
// is wall time per call, not CPU work. Rows and outputs on a SharedArrayBuffer (no copies), the
// bench's synthetic data and model, fp32, sync and async alternately in one run:
//   node --import tsx bench/async-latency.ts [--calls 200]
import { Scorer } from '../src/index.js';
import { benchData } from './lib/data.js';

const i = process.argv.indexOf('--calls');
const calls = i > 0 ? Number(process.argv[i + 1]) : 200;
const data = await benchData(65536, 42);
const d = data.model.features.length;
const s = new Scorer(data.model, { backend: 'cpu', precision: 'fp32' });
const perCall = async (k: number, f: () => unknown) => {
  const t0 = performance.now();
  for (let c = 0; c < k; c++) await f();
  return ((performance.now() - t0) / k) * 1000;
};
for (const n of [1, 1024, 16384, 65536]) {
  const rows = new Float32Array(new SharedArrayBuffer(n * d * 4));
  rows.set(data.rows.subarray(0, n * d));
  const out = new Float32Array(new SharedArrayBuffer(n * 4));
  const k = n > 10_000 ? calls : calls * 10;
  for (let c = 0; c < 50; c++) await s.scoreAsync(rows, { out });
  const line: string[] = [];
  for (const threads of [0, 1]) {
    const opts = threads ? { out, threads } : { out };
    const sync = await perCall(k, () => s.score(rows, opts));
    const async_ = await perCall(k, () => s.scoreAsync(rows, opts));
    line.push(
      `${threads ? '1 thread' : 'pool'}: sync ${sync.toFixed(1)} us, async ${async_.toFixed(1)} us ` +
        `(+${(async_ - sync).toFixed(1)})`,
    );
  }
  console.log(`batch ${n}: ${line.join('; ')}`);
}
s.dispose();
