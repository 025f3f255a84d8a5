// Binding + TS tier: the Scorer against the float64 reference, exact error messages, async
// behaviour, lifecycle.
import { describe, expect, expectTypeOf, it } from 'vitest';

import { withCallerStack } from '../src/errors.js';
import { backendInfo, createModel, type Model, NonFiniteError, Scorer, type ScoreResult } from '../src/index.js';
import { addon } from '../src/native.js';
import { toAddonSpec } from '../src/model.js';
import { maxRelErr, randomRows, testSeed } from './helpers.js';

const seed = testSeed();

function model29(s = seed): Model {
  const features = [...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount'];
  const m = createModel({ features, hidden: [32, 16, 32], seed: s });
  m.preprocessing.transform[28] = 'log1p';
  m.preprocessing.mean = features.map((_, j) => (j === 28 ? 3 : 0.1 * j));
  m.preprocessing.std = features.map((_, j) => 0.5 + (j % 5) * 0.3);
  return m;
}

describe('Scorer (cpu)', () => {
  const model = model29();

  it('matches the float64 reference on every SIMD path, odd batch sizes included', () => {
    for (const simd of addon.cpuInfo().available) {
      const scorer = new Scorer(model, { backend: 'cpu', simd: simd as 'avx2' });
      for (const n of [1, 7, 256, 4099]) {
        const rows = randomRows(n, 29, seed + n, [28]);
        const ref = addon.referenceScore(toAddonSpec(model), rows);
        const { scores, featureErrors } = scorer.explain(rows);
        expect(maxRelErr(scores, ref.scores), `${simd} n=${n}`).toBeLessThan(1e-5);
        // feature errors relative to the row total
        let worst = 0;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < 29; j++) {
            const e =
              Math.abs(featureErrors[i * 29 + j]! - ref.featureErrors[i * 29 + j]!) /
              Math.max(ref.scores[i]! * 29, 1e-3);
            worst = Math.max(worst, e);
          }
        }
        expect(worst).toBeLessThan(1e-5);
      }
      scorer.dispose();
    }
  });

  it('scoreAsync gives the same scores as score, with and without explanations', async () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    const rows = randomRows(10_000, 29, seed + 1, [28]);
    const sync = scorer.score(rows);
    const res = await scorer.scoreAsync(rows, { explain: true });
    expect(res.scores).toEqual(sync);
    expect(res.featureErrors).toHaveLength(10_000 * 29);
    const plain = await scorer.scoreAsync(rows);
    expect(plain.featureErrors).toBeUndefined();
    expectTypeOf(res).toEqualTypeOf<ScoreResult>();
  });

  it('scoreAsync honours an AbortSignal: before the call, during it, and not at all', async () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    const rows = randomRows(200_000, 29, seed + 2, [28]);
    const out = new Float32Array(200_000).fill(-1);
    const before = new AbortController();
    before.abort();
    await expect(scorer.scoreAsync(rows, { out, signal: before.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(out[0]).toBe(-1); // nothing was scored
    const during = new AbortController();
    const p = scorer.scoreAsync(rows, { signal: during.signal });
    during.abort(new Error('caller gave up'));
    await expect(p).rejects.toThrow('caller gave up');
    const kept = new AbortController();
    const res = await scorer.scoreAsync(rows, { signal: kept.signal });
    expect(res.scores).toEqual(scorer.score(rows));
    await expect(scorer.scoreAsync(rows, { signal: {} as AbortSignal })).rejects.toThrow(
      'Expected `signal` to be an AbortSignal, got object',
    );
    scorer.dispose();
  });

  it('writes into caller-provided outputs', async () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    const rows = randomRows(100, 29, seed + 2, [28]);
    const out = new Float32Array(150).fill(-1);
    const s = scorer.score(rows, { out });
    expect(s.buffer).toBe(out.buffer);
    expect(s.length).toBe(100);
    expect(out[100]).toBe(-1);
    const fe = new Float32Array(100 * 29);
    const r = await scorer.scoreAsync(rows, { featureErrors: fe });
    expect(r.featureErrors).toBe(fe);
  });

  it('keeps the event loop ticking while scoring a large batch asynchronously', async () => {
    const scorer = new Scorer(model, { backend: 'cpu', threads: 1 });
    const rows = randomRows(400_000, 29, seed + 3, [28]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    await scorer.scoreAsync(rows);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // Only meaningful when the work took several milliseconds; it does on any machine at 400k rows.
    expect(elapsed).toBeGreaterThan(5);
    expect(ticks).toBeGreaterThan(0);
  });

  it('rejects bad arguments with messages that name them', () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    expect(() => scorer.score([1, 2, 3] as unknown as Float32Array)).toThrow(
      new TypeError('Expected `rows` to be a Float32Array, got Array'),
    );
    expect(() => scorer.score(new Float64Array(29) as unknown as Float32Array)).toThrow(
      'Expected `rows` to be a Float32Array, got Float64Array',
    );
    expect(() => scorer.score(new Float32Array(57))).toThrow(
      new RangeError('Expected `rows` to be a Float32Array of n*29 values, got 57 values'),
    );
    expect(() => scorer.score(new Float32Array(0))).toThrow('Expected `rows` to hold at least one row, got 0 values');
    expect(() => scorer.score(new Float32Array(58), { out: new Float32Array(1) })).toThrow(
      'Expected `out` to hold at least 2 values, got 1',
    );
    expect(() => scorer.explain(new Float32Array(58), { featureErrors: new Float32Array(3) })).toThrow(
      'Expected `featureErrors` to hold at least 58 values, got 3',
    );
    expect(() => new Scorer(model, { backend: 'gpu' as 'cpu' })).toThrow(
      "Expected `backend` to be 'auto', 'cpu' or 'cuda', got 'gpu'",
    );
    expect(() => new Scorer(model, { precision: 'int8' })).toThrow(/quantized model/);
  });

  it('the addon guards its own arguments too (nothing JS passes crashes the process)', () => {
    const raw = new addon.CpuScorer(toAddonSpec(model));
    const scores = new Float32Array(4);
    const bad: unknown[][] = [
      [],
      [null, scores, null, 0, 0],
      [new Float32Array(29), null, null, 0, 0],
      [new Float32Array(29), scores, 'x', 0, 0],
      [new Float32Array(29), scores, null, 7, 0],
      [new Float32Array(29), scores, null, 0, -1],
      [new Float32Array(29), scores, null, 0.5, 0],
      [new Float32Array(29), scores, new Float32Array(1), 0, 0],
      [new Float32Array(28), scores, null, 0, 0],
      [new Float32Array(29 * 5), scores, null, 0, 0],
    ];
    for (const args of bad) {
      expect(() => (raw.score as (...a: unknown[]) => unknown)(...args)).toThrow(/Expected `/);
    }
    expect(() => new addon.CpuScorer({} as never)).toThrow(/Expected `model.features`/);
    expect(() => new addon.CpuScorer({ ...toAddonSpec(model), mean: new Float32Array(3) })).toThrow(
      'Expected `model` to be valid, but mean has 3 entries, expected 29',
    );
    expect(() => new addon.CpuScorer(toAddonSpec(model), 'avx9000')).toThrow(/Expected `simd`/);
    raw.dispose();
  });

  it('names the first non-finite value, or gives NaN rows on request', async () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    const rows = randomRows(3000, 29, seed + 4, [28]);
    rows[2500 * 29 + 3] = Number.NaN;
    rows[1200 * 29 + 28] = -5; // Amount is log1p'd: outside the domain
    expect(() => scorer.score(rows)).toThrow(
      "Expected `rows` to hold finite values: row 1200, column 28 (Amount) is -5, outside log1p's domain (> -1)",
    );
    await expect(scorer.scoreAsync(rows)).rejects.toThrow('row 1200, column 28 (Amount)');
    try {
      scorer.score(rows);
    } catch (e) {
      expect(e).toMatchObject({ code: 'ERR_FRAUDSCORE_NON_FINITE', row: 1200, column: 28, feature: 'Amount' });
    }
    const s = scorer.score(rows, { nonFinite: 'nan' });
    expect(Number.isNaN(s[1200])).toBe(true);
    expect(Number.isNaN(s[2500])).toBe(true);
    expect(Number.isFinite(s[0])).toBe(true);
    rows[1200 * 29 + 28] = Number.POSITIVE_INFINITY;
    expect(() => scorer.score(rows)).toThrow('row 1200, column 28 (Amount) is Infinity');
  });

  it("an async rejection is a NonFiniteError with the fields, and carries the caller's stack", async () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    const rows = randomRows(100, 29, seed + 9, [28]);
    rows[42 * 29 + 28] = -5;
    // A named frame of the caller's own, which only the stack captured at the call can hold.
    const callerOfScoreAsync = () => scorer.scoreAsync(rows);
    const err = await callerOfScoreAsync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err).toMatchObject({
      code: 'ERR_FRAUDSCORE_NON_FINITE',
      row: 42,
      column: 28,
      feature: 'Amount',
      value: -5,
      problem: "-5, outside log1p's domain (> -1)",
    });
    expect((err as Error).stack).toMatch(/^RangeError: Expected `rows` to hold finite values: row 42/);
    expect((err as Error).stack).toContain('callerOfScoreAsync');
    scorer.dispose();
  });

  it('withCallerStack gives a native rejection the frames of the call that started it', () => {
    function startedHere() {
      return new Error();
    }
    const caller = startedHere();
    const native = Object.assign(new Error('CpuScorer.scoreAsync failed: boom'), { code: 'ERR_FRAUDSCORE_NATIVE' });
    native.stack = 'Error: CpuScorer.scoreAsync failed: boom';
    const err = withCallerStack(native, caller);
    expect(err).toBe(native);
    expect(err.stack).toMatch(/^Error: CpuScorer.scoreAsync failed: boom\n\s+at startedHere/);
    expect(err.code).toBe('ERR_FRAUDSCORE_NATIVE');
  });

  it('dispose is idempotent and later calls fail clearly; in-flight async work survives it', async () => {
    const scorer = new Scorer(model, { backend: 'cpu' });
    const rows = randomRows(50_000, 29, seed + 5, [28]);
    const pending = scorer.scoreAsync(rows);
    scorer.dispose();
    scorer.dispose();
    expect(scorer.disposed).toBe(true);
    const { scores } = await pending;
    expect(Number.isFinite(scores[49_999])).toBe(true);
    expect(() => scorer.score(rows)).toThrow(new TypeError('Expected `scorer` to be usable, got a disposed scorer'));
    {
      using s2 = new Scorer(model, { backend: 'cpu' });
      expect(s2.score(rows.subarray(0, 29))).toHaveLength(1);
    }
  });

  it('reports its backend and engine', () => {
    const info = backendInfo();
    expect(info.cpu.available).toContain('sse2');
    expect(['cpu', 'cuda']).toContain(info.auto);
    const scorer = new Scorer(model, { backend: 'cpu', simd: 'sse2' });
    expect(scorer.engine).toBe('cpu-sse2-fp32');
    expect(scorer.backend).toBe('cpu');
  });
});
