// Splits and preprocessing: determinism, stratification, time order, float64 fit.
import { describe, expect, it } from 'vitest';

import { fitPreprocessing, STD_FLOOR } from '../src/data/preprocess.js';
import { Rng } from '../src/data/random.js';
import { splitTable } from '../src/data/split.js';
import { concatTables, rowsWithLabel, type Table } from '../src/data/table.js';

function table(n: number, fraudEvery: number, seed = 1): Table {
  const rng = new Rng(seed);
  const d = 2;
  const rows = new Float32Array(n * d);
  const labels = new Uint8Array(n);
  const time = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    rows[i * d] = i; // row id, to trace rows through the split
    rows[i * d + 1] = rng.normal();
    labels[i] = i % fraudEvery === 0 ? 1 : 0;
    time[i] = rng.next() * 1000;
  }
  return { features: ['id', 'x'], rows, n, labels, time };
}

const ids = (t: Table) => Array.from({ length: t.n }, (_, i) => t.rows[i * 2]);
const frauds = (t: Table) => Array.from(t.labels ?? []).reduce((a, b) => a + b, 0);

describe('splitTable', () => {
  it('stratified: same fraud share in each part, every row exactly once, deterministic per seed', () => {
    const t = table(10000, 50); // 200 frauds
    const s = splitTable(t, { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 7 });
    expect([s.train.n, s.validation.n, s.test.n]).toEqual([6000, 2000, 2000]);
    expect([frauds(s.train), frauds(s.validation), frauds(s.test)]).toEqual([120, 40, 40]);
    const all = [...ids(s.train), ...ids(s.validation), ...ids(s.test)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 10000 }, (_, i) => i));
    // Labels and time travel with their rows.
    for (const part of [s.train, s.test]) {
      for (let i = 0; i < part.n; i++) {
        const id = part.rows[i * 2];
        expect(part.labels?.[i]).toBe(t.labels?.[id]);
        expect(part.time?.[i]).toBe(t.time?.[id]);
      }
    }
    const again = splitTable(t, { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 7 });
    expect(ids(again.validation)).toEqual(ids(s.validation));
    const other = splitTable(t, { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 8 });
    expect(ids(other.validation)).not.toEqual(ids(s.validation));
  });

  it('defaults to stratified 0.6/0.2/0.2 and works without labels', () => {
    const t = table(1000, 10);
    const { labels: _, ...unlabeled } = t;
    const s = splitTable(unlabeled);
    expect([s.train.n, s.validation.n, s.test.n]).toEqual([600, 200, 200]);
    expect(s.train.labels).toBeUndefined();
  });

  it('time: parts are ordered in time, train earliest', () => {
    const t = table(1000, 10);
    const s = splitTable(t, { strategy: 'time', ratios: [0.5, 0.25, 0.25], seed: 0 });
    expect([s.train.n, s.validation.n, s.test.n]).toEqual([500, 250, 250]);
    const maxTrain = Math.max(...(s.train.time ?? []));
    const minVal = Math.min(...(s.validation.time ?? []));
    const maxVal = Math.max(...(s.validation.time ?? []));
    const minTest = Math.min(...(s.test.time ?? []));
    expect(maxTrain).toBeLessThanOrEqual(minVal);
    expect(maxVal).toBeLessThanOrEqual(minTest);
    const { time: _, ...noTime } = t;
    expect(() => splitTable(noTime, { strategy: 'time' })).toThrow(/needs a Time column/);
  });

  it('rejects bad ratios, naming them', () => {
    const t = table(10, 5);
    expect(() => splitTable(t, { ratios: [0.5, 0.2, 0.2] })).toThrow(/sum to 1, got 0.9/);
    expect(() => splitTable(t, { ratios: [1.2, -0.1, -0.1] })).toThrow(/`ratios\[0\]` \(train\)/);
    expect(() => splitTable(t, { seed: 1.5 })).toThrow(/`seed` to be a safe integer/);
    // @ts-expect-error: an unknown strategy from an untyped config
    expect(() => splitTable(t, { strategy: 'random' })).toThrow(/'stratified' or 'time', got "random"/);
  });
});

describe('fitPreprocessing', () => {
  it('fits mean and population std in float64, log1p where asked, floors the std', () => {
    const rows = Float32Array.from(
      [1, 0, 5, 3, 0, 5, 1e6 + 1, 0, 5, 1e6 + 3, 0, 5].map((v, i) => (i % 3 === 1 ? Math.expm1(v) : v)),
    );
    // Column a: 1, 3, 1e6+1, 1e6+3; column b: log1p(expm1(0)) = 0; column c: constant 5.
    const t: Table = { features: ['a', 'b', 'c'], rows, n: 4 };
    const p = fitPreprocessing(t, { log1p: ['b'] });
    expect(p.transform).toEqual(['none', 'log1p', 'none']);
    expect(p.mean[0]).toBe(500002);
    const dev = [1, 3, 1e6 + 1, 1e6 + 3].map((v) => (v - 500002) ** 2);
    expect(p.std[0]).toBeCloseTo(Math.sqrt(dev.reduce((a, b) => a + b) / 4), 6);
    expect(p.mean[1]).toBe(0);
    expect(p.std[2]).toBe(STD_FLOOR);

    const amounts: Table = { features: ['Amount'], rows: Float32Array.from([0, 9, 99]), n: 3 };
    const q = fitPreprocessing(amounts, { log1p: ['Amount'] });
    expect(q.mean[0]).toBeCloseTo((Math.log(1) + Math.log(10) + Math.log(100)) / 3, 12);
  });

  it('rejects an unknown log1p feature, values <= -1 under log1p, and an empty table', () => {
    const t: Table = { features: ['a'], rows: Float32Array.from([-1]), n: 1 };
    expect(() => fitPreprocessing(t, { log1p: ['Amount'] })).toThrow(
      /log1p feature "Amount" is not one of the table's features \(a\)/,
    );
    expect(() => fitPreprocessing(t, { log1p: ['a'] })).toThrow(/"a" has the value -1 at row 0/);
    expect(() => fitPreprocessing({ features: ['a'], rows: new Float32Array(0), n: 0 })).toThrow(/empty table/);
  });

  it('trains on normal rows: rowsWithLabel and concatTables keep rows intact', () => {
    const t = table(100, 10);
    const normal = rowsWithLabel(t, 0);
    const fraud = rowsWithLabel(t, 1);
    expect(normal.n + fraud.n).toBe(100);
    expect(frauds(normal)).toBe(0);
    const back = concatTables([normal, fraud]);
    expect(back.n).toBe(100);
    expect(ids(back).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
