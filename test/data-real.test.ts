// Checks on the real sample (../shared/data/creditcard-sample.csv.gz or $FRAUDSCORE_DATA): the loader
// reads it exactly, splits keep its fraud share, and the committed synthetic-data statistics were
// fitted on it. Skipped, with a message, where the file is absent (it is never committed).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';

import { loadTable, readBatches } from '../src/data/load.js';
import { fitPreprocessing } from '../src/data/preprocess.js';
import { splitTable } from '../src/data/split.js';
import { DEFAULT_FEATURES, rowsWithLabel } from '../src/data/table.js';
import { loadSynthStats } from '../src/synth/stats.js';
import { realDataPath } from './helpers.js';

const data = realDataPath();
if (!data)
  console.warn('Real data sample not found (../shared/data or FRAUDSCORE_DATA): skipping test/data-real.test.ts');

describe.skipIf(!data)('real sample', () => {
  const path = data as string;

  it('loads all 25,224 rows with 418 frauds, Time in order, and matches the README checksum', async () => {
    const t = await loadTable(path);
    expect(t.features).toEqual(DEFAULT_FEATURES);
    expect(t.n).toBe(25224);
    expect(Array.from(t.labels ?? []).reduce((a, b) => a + b, 0)).toBe(418);
    const time = t.time as Float64Array;
    for (let i = 1; i < t.n; i++) if (time[i] < time[i - 1]) throw new Error(`Time decreases at row ${i}`);
    for (const v of t.rows) if (!Number.isFinite(v)) throw new Error('non-finite value loaded');
    // Every cell equals an independent naive parse of the text (split on commas, Number()).
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(path).pipe(createGunzip())) chunks.push(c as Buffer);
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n');
    const header = lines[0].split(',').map((h) => h.replaceAll('"', ''));
    const cols = DEFAULT_FEATURES.map((f) => header.indexOf(f));
    expect(lines.length - 1).toBe(t.n);
    for (let i = 1; i < lines.length; i++) {
      const cells = lines[i].split(',');
      for (const [j, c] of cols.entries()) {
        if (t.rows[(i - 1) * 29 + j] !== Math.fround(Number(cells[c])))
          throw new Error(`line ${i + 1} ${DEFAULT_FEATURES[j]} differs`);
      }
    }
    const h = createHash('sha256');
    for await (const c of createReadStream(path).pipe(createGunzip())) h.update(c as Buffer);
    expect(h.digest('hex')).toBe('eb85e55884bfdcb1d114144baea2be6a3e950bf22248a3b9d884fc1d7d9d390b');
  });

  it('streams the same rows in batches', async () => {
    const whole = await loadTable(path);
    let at = 0;
    for await (const b of readBatches(path, { batchRows: 4096 })) {
      for (let i = 0; i < b.rows.length; i++) {
        if (b.rows[i] !== whole.rows[at * 29 + i]) throw new Error(`batch row ${at} differs`);
      }
      at += b.n;
    }
    expect(at).toBe(whole.n);
  });

  it('stratified split keeps the fraud share; preprocessing fits on training normals', async () => {
    const t = await loadTable(path);
    const s = splitTable(t, { strategy: 'stratified', ratios: [0.6, 0.2, 0.2], seed: 42 });
    const frauds = (x: typeof t) => Array.from(x.labels ?? []).reduce((a, b) => a + b, 0);
    expect([frauds(s.train), frauds(s.validation), frauds(s.test)]).toEqual([251, 84, 83]);
    const p = fitPreprocessing(rowsWithLabel(s.train, 0), { log1p: ['Amount'] });
    expect(p.transform.at(-1)).toBe('log1p');
    expect(p.transform.filter((x) => x === 'log1p')).toHaveLength(1);
    // PCA components are centred on the full data: normal-row means are near 0, log1p(Amount) near 3.
    for (let j = 0; j < 28; j++) expect(Math.abs(p.mean[j])).toBeLessThan(0.2);
    expect(p.mean[28]).toBeGreaterThan(2);
    expect(p.mean[28]).toBeLessThan(4);
  });

  it('data/synth-stats.json was fitted on this sample', async () => {
    const t = await loadTable(path);
    const stats = loadSynthStats();
    expect(stats.source.sha256).toBe('eb85e55884bfdcb1d114144baea2be6a3e950bf22248a3b9d884fc1d7d9d390b');
    for (const [label, cls] of [
      [0, stats.normal],
      [1, stats.fraud],
    ] as const) {
      const rows = rowsWithLabel(t, label);
      expect(cls.rows).toBe(rows.n);
      // EM keeps the mixture mean equal to the sample mean (up to the rounding to 8 digits).
      const wsum = cls.components.reduce((a, c) => a + c.weight, 0);
      for (let j = 0; j < 29; j++) {
        let sample = 0;
        for (let i = 0; i < rows.n; i++) sample += j === 28 ? Math.log1p(rows.rows[i * 29 + j]) : rows.rows[i * 29 + j];
        sample /= rows.n;
        const mixture = cls.components.reduce((a, c) => a + (c.weight / wsum) * c.mean[j], 0);
        expect(Math.abs(mixture - sample), `class ${label} ${stats.features[j]}`).toBeLessThan(1e-4);
      }
    }
  });
});
