// Nothing JS can pass may crash the process: every native class and function of the addon gets
// argument lists built from awkward values (wrong types, empty/huge/negative numbers, detached and
// shared buffers, TypedArrays of every kind). Each call must return or throw a JS error, never
// abort. The file runs in a forked worker (vitest.config.ts), so a crash fails it loudly.
import { describe, expect, it } from 'vitest';

import { createModel } from '../src/index.js';
import { toAddonSpec } from '../src/model.js';
import { type AddonScorer, addon } from '../src/native.js';
import { createHead } from '../src/hybrid/head.js';
import { quantize } from '../src/quantize.js';
import { randomRows, testSeed } from './helpers.js';

const seed = testSeed();

function detached(): Float32Array {
  const buf = new ArrayBuffer(29 * 4);
  const view = new Float32Array(buf);
  structuredClone(buf, { transfer: [buf] }); // detaches `buf`
  return view;
}

const awkward = (): unknown[] => [
  undefined,
  null,
  0,
  -1,
  2 ** 31,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  0.5,
  'x',
  {},
  [],
  [1, 2, 3],
  () => 1,
  Symbol('s'),
  10n,
  new Float32Array(0),
  new Float32Array(29),
  new Float32Array(29 * 3).fill(Number.NaN),
  new Float64Array(29),
  new Int8Array(29),
  new Uint8Array(29),
  new Float32Array(new SharedArrayBuffer(29 * 4)),
  detached(),
  new DataView(new ArrayBuffer(8)),
];

/** Calls fn with many argument lists; returns how many threw (each throw must be a JS Error). */
async function hammer(fn: (...args: unknown[]) => unknown, arity: number, rand: () => number): Promise<number> {
  const values = awkward();
  let threw = 0;
  for (let trial = 0; trial < 300; trial++) {
    const args = Array.from(
      { length: Math.floor(rand() * (arity + 2)) },
      () => values[Math.floor(rand() * values.length)],
    );
    try {
      const r = fn(...args);
      if (r instanceof Promise) await r.catch((e) => expect(e).toBeInstanceOf(Error));
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      threw++;
    }
  }
  return threw;
}

function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the addon survives anything JS passes', () => {
  const model = createModel({ features: 29, seed });
  const spec = toAddonSpec(model);
  const rand = rng(seed);

  it('module functions', async () => {
    for (const name of ['cpuInfo', 'setThreads', 'referenceScore', 'cudaInfo'] as const) {
      const fn = addon[name] as ((...a: unknown[]) => unknown) | undefined;
      if (fn) await hammer(fn, 2, rand);
    }
    addon.setThreads(2);
  });

  it('class constructors', async () => {
    for (const Cls of [
      addon.CpuScorer,
      addon.CpuInt8Scorer,
      addon.CudaScorer,
      addon.Trainer,
      addon.HybridScorer,
      addon.HeadTrainer,
    ]) {
      if (!Cls) continue;
      const threw = await hammer((...a) => new (Cls as new (...x: unknown[]) => unknown)(...a), 3, rand);
      expect(threw).toBeGreaterThan(0);
    }
  });

  it('scorer methods, before and after dispose', async () => {
    const q = quantize(model, { calibration: randomRows(2000, 29, seed) });
    const quant = {
      weights: q.quantization!.weights,
      weightScales: q.quantization!.weightScales,
      inputScales: Float32Array.from(q.quantization!.inputScales),
    };
    const scorers: AddonScorer[] = [new addon.CpuScorer(spec)];
    if (addon.CpuInt8Scorer) scorers.push(new addon.CpuInt8Scorer(spec, quant));
    if (addon.HybridScorer) scorers.push(new addon.HybridScorer(spec, createHead(29, [8], seed).layers));
    for (const s of scorers) {
      for (const round of [0, 1]) {
        await hammer((...a) => s.score(...(a as Parameters<typeof s.score>)), 5, rand);
        await hammer((...a) => s.scoreAsync(...(a as Parameters<typeof s.score>)), 5, rand);
        if (round === 0) {
          // Still usable after all that.
          const rows = randomRows(10, 29, seed);
          const out = new Float32Array(10);
          expect(s.score(rows, out, null, 0, 0)).toBeNull();
          expect(out.every(Number.isFinite)).toBe(true);
          s.dispose();
        }
      }
    }
  });

  it('trainer methods', async () => {
    // Called with anything at all: untyped on purpose.
    const Trainer = addon.Trainer as unknown as new (...a: unknown[]) => Record<string, (...x: unknown[]) => unknown>;
    const t = new Trainer(spec, { lr: 1e-3, seed: 1, batchSize: 64 });
    for (const m of ['trainEpoch', 'evalLoss', 'getWeights', 'setWeights', 'cancel']) {
      await hammer((...a) => t[m]!(...a), 2, rand);
    }
    const loss = await (t.evalLoss!(randomRows(100, 29, seed)) as Promise<number>);
    expect(Number.isFinite(loss)).toBe(true);
    t.dispose!();
    t.dispose!();
  });

  it('head trainer methods', async () => {
    const HeadTrainer = addon.HeadTrainer as unknown as new (
      ...a: unknown[]
    ) => Record<string, (...x: unknown[]) => unknown>;
    const t = new HeadTrainer(createHead(29, [8], seed).layers, 59, { seed: 1, batchSize: 64 });
    for (const m of ['trainEpoch', 'evalLoss', 'batchGradients', 'getWeights', 'setWeights', 'cancel']) {
      await hammer((...a) => t[m]!(...a), 2, rand);
    }
    const x = randomRows(100, 59, seed);
    expect(Number.isFinite(t.evalLoss!(x, new Uint8Array(100)) as number)).toBe(true);
    t.dispose!();
    t.dispose!();
  });
});
