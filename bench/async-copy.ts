// What scoreAsync's copy of non-shared buffers costs (issue 17: a buffer detached or resized during
// the call must never be touched, and N-API cannot pin one, so rows are copied in and scores copied
// back unless they live on a SharedArrayBuffer). One model, batch 65,536, plain ArrayBuffer-backed
// arrays against SharedArrayBuffer-backed ones, alternately, in one run:
//   node --import tsx bench/async-copy.ts [--rows 65536] [--calls 300]
import { createModel, Scorer } from '../src/index.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg('--rows', 65536);
const calls = arg('--calls', 300);
const model = createModel({ features: 29, hidden: [32, 16, 32], seed: 1 });
const scorer = new Scorer(model, { backend: 'cpu' });

function arrays(shared: boolean) {
  const alloc = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const rows = new Float32Array(alloc(n * 29 * 4));
  for (let i = 0; i < rows.length; i++) rows[i] = Math.random() * 2 - 1;
  return { rows, out: new Float32Array(alloc(n * 4)) };
}

for (const shared of [false, true, false, true]) {
  const { rows, out } = arrays(shared);
  for (let i = 0; i < 30; i++) await scorer.scoreAsync(rows, { out });
  let total = 0;
  let onLoop = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const p = scorer.scoreAsync(rows, { out });
    onLoop += performance.now() - t0;
    await p;
    total += performance.now() - t0;
  }
  console.log(
    `${shared ? 'SharedArrayBuffer' : 'ArrayBuffer      '} batch ${n}: ${(total / calls).toFixed(3)} ms per call, ` +
      `${(onLoop / calls).toFixed(3)} ms of it on the event loop`,
  );
}
scorer.dispose();
