// Child-process probe of the addon's lifetime guarantees (run by test/hostile-addon.test.ts with
// --expose-gc): buffers detached by a transfer or shrunk by resize() while scoreAsync runs, and a
// worker thread torn down (terminate(), process.exit()) with scoreAsync in flight. Prints one JSON
// line per case; a SIGSEGV or abort of this process is what the parent test detects.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

import { DEFAULT_FEATURES } from '../../src/data/table.js';
import { createModel, toAddonSpec } from '../../src/model.js';
import { Scorer } from '../../src/scorer.js';
import { randomRows } from '../helpers.js';

const seed = Number(process.env.FRAUDSCORE_TEST_SEED ?? 1);
const only = process.env.PROBE_CASE;
const FEATURES = [...DEFAULT_FEATURES];
const D = FEATURES.length;
const model = createModel({ features: FEATURES, seed, name: 'probe' });
const scorer = new Scorer(model, { backend: 'cpu' });
// Large enough that the call is still running when the buffer goes (tens of ms on any machine).
const N = 400_000;
const rows0 = randomRows(N, D, seed + 1);
const want = scorer.score(rows0);
// Resizable ArrayBuffers are in Node 20 (V8 11) but not in this project's TS lib (es2022).
type Resizable = ArrayBuffer & { resize(byteLength: number): void };
const ResizableBuffer = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function same(got: Float32Array): boolean {
  if (got.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) return false;
  return true;
}
/** Fills the heap with fresh data so freed memory would be reused (and read as garbage). */
function churn(): void {
  gc();
  const junk: Float32Array[] = [];
  for (let k = 0; k < 8; k++) junk.push(new Float32Array(rows0.length).fill(1e30));
  junk.length = 0;
}
function report(name: string, r: Record<string, unknown>) {
  console.log(JSON.stringify({ name, ...r }));
}
async function settle(p: Promise<{ scores: Float32Array }>) {
  try {
    const { scores } = await p;
    return { resolved: true, correct: same(scores) };
  } catch (e) {
    return { resolved: false, code: (e as { code?: string }).code, message: (e as Error).message };
  }
}

const cases: Record<string, () => Promise<void>> = {
  async 'detach-rows'() {
    const rows = rows0.slice();
    const p = scorer.scoreAsync(rows);
    structuredClone(rows.buffer, { transfer: [rows.buffer] }); // dropped at once: its memory is freed
    churn();
    report('detach-rows', { detached: rows.length === 0, ...(await settle(p)) });
  },
  async 'detach-out'() {
    const out = new Float32Array(N);
    const p = scorer.scoreAsync(rows0, { out });
    structuredClone(out.buffer, { transfer: [out.buffer] });
    churn();
    report('detach-out', { detached: out.length === 0, ...(await settle(p)) });
  },
  async 'resize-rows'() {
    const buf = new ResizableBuffer(rows0.byteLength, { maxByteLength: rows0.byteLength });
    const rows = new Float32Array(buf);
    rows.set(rows0);
    const p = scorer.scoreAsync(rows);
    buf.resize(0);
    churn();
    report('resize-rows', { shrunk: rows.length === 0, ...(await settle(p)) });
  },
  async 'resize-out'() {
    const buf = new ResizableBuffer(N * 4, { maxByteLength: N * 4 });
    const out = new Float32Array(buf);
    const p = scorer.scoreAsync(rows0, { out });
    buf.resize(0);
    churn();
    report('resize-out', { shrunk: out.length === 0, ...(await settle(p)) });
  },
  async 'shared-rows'() {
    const rows = new Float32Array(new SharedArrayBuffer(rows0.byteLength));
    rows.set(rows0);
    const out = new Float32Array(new SharedArrayBuffer(N * 4));
    const r = await settle(scorer.scoreAsync(rows, { out }));
    report('shared-rows', { ...r, inPlace: same(out) });
  },
  async 'worker-terminate'() {
    await inWorker('terminate');
  },
  async 'worker-exit'() {
    await inWorker('exit');
  },
};

/** A worker that starts scoreAsync calls and is ended while they run; this process must live on. */
async function inWorker(how: 'terminate' | 'exit') {
  const addonPath = createRequire(import.meta.url).resolve('../../build/Release/fraudscore.node');
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    const addon = require(workerData.addonPath);
    const s = new addon.CpuScorer(workerData.spec);
    const rows = workerData.rows;
    const n = rows.length / ${D};
    for (let k = 0; k < 8; k++) s.scoreAsync(rows, new Float32Array(n), null, 0, 0).catch(() => {});
    parentPort.postMessage('started');
    if (workerData.how === 'exit') setImmediate(() => process.exit(3));`;
  const w = new Worker(src, { eval: true, workerData: { addonPath, spec: toAddonSpec(model), rows: rows0, how } });
  const exited = new Promise<number>((r) => w.on('exit', r));
  w.on('error', () => {});
  await new Promise((r) => w.once('message', r));
  if (how === 'terminate') await w.terminate();
  const code = await exited;
  // The main thread's addon still works afterwards.
  const r = await settle(scorer.scoreAsync(rows0));
  report(`worker-${how}`, { workerExit: code, ...r });
}

for (const [name, run] of Object.entries(cases)) if (!only || only === name) await run();
console.log(JSON.stringify({ name: 'done' }));
