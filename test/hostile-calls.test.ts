// Careless calls of the Scorer API: per-call options that were silently ignored, null options,
// and a finite value that overflows float32 once preprocessed (it was called "not finite").
import { describe, expect, it } from 'vitest';

import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel } from '../src/model.js';
import { Scorer } from '../src/scorer.js';
import { randomRows, testSeed } from './helpers.js';

const FEATURES = [...DEFAULT_FEATURES];
const D = FEATURES.length;

describe('careless Scorer calls', () => {
  const seed = testSeed();
  const scorer = new Scorer(createModel({ features: FEATURES, seed, name: 'm' }), { backend: 'cpu' });
  const rows = randomRows(64, D, seed + 1, [D - 1]);

  it('per-call threads out of range is a RangeError on score, explain and scoreAsync; in range it scores the same', async () => {
    for (const threads of [-1, 1e9, 1.5, Number.NaN]) {
      const want = `Expected \`threads\` to be an integer in [0, 1024], got ${threads}`;
      expect(() => scorer.score(rows, { threads })).toThrow(want);
      expect(() => scorer.explain(rows, { threads })).toThrow(want);
      await expect(scorer.scoreAsync(rows, { threads })).rejects.toThrow(want);
    }
    const all = scorer.score(rows);
    expect(Array.from(scorer.score(rows, { threads: 1 }))).toEqual(Array.from(all));
    expect(Array.from((await scorer.scoreAsync(rows, { threads: 2 })).scores)).toEqual(Array.from(all));
  });

  it('null or non-object options: a TypeError naming `options`', async () => {
    for (const bad of [null, 5, 'x', []]) {
      // biome-ignore lint/suspicious/noExplicitAny: the careless caller's untyped argument
      expect(() => scorer.score(rows, bad as any)).toThrow(TypeError);
      // biome-ignore lint/suspicious/noExplicitAny: as above
      await expect(scorer.scoreAsync(rows, bad as any)).rejects.toThrow(/^Expected `options` to be an object, got /);
    }
  });

  it('3e38 (finite, but overflowing once standardized) is not called "not finite"', () => {
    // std 1e-3: 3e38 / 1e-3 overflows float32.
    const tight = new Scorer(
      createModel({
        features: FEATURES,
        seed,
        name: 'm',
        preprocessing: {
          transform: FEATURES.map(() => 'none' as const),
          mean: FEATURES.map(() => 0),
          std: FEATURES.map(() => 1e-3),
        },
      }),
      { backend: 'cpu' },
    );
    const r = rows.slice();
    r[5 * D + 3] = 3e38;
    expect(() => tight.score(r)).toThrow(
      `Expected \`rows\` to hold values the model can score: row 5, column 3 (V4) is 3.0000000054977558e+38, which overflows float32 once preprocessed`,
    );
    r[5 * D + 3] = Number.POSITIVE_INFINITY;
    expect(() => tight.score(r)).toThrow('Expected `rows` to hold finite values: row 5, column 3 (V4) is Infinity');
  });
});
