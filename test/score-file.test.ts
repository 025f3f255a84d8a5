// Streaming file scoring: every format in and out, same scores as the in-memory Scorer, and a failed
// run leaves no output behind.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadTable, writeTable } from '../src/data/load.js';
import type { Table } from '../src/data/table.js';
import { createModel, type Model, Scorer } from '../src/index.js';
import { scoreFile } from '../src/score-file.js';
import { randomRows, testSeed } from './helpers.js';

const seed = testSeed();
const features = [...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount'];
let dir: string;
let model: Model;
let table: Table;
let expected: Float32Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fraudscore-scorefile-'));
  model = createModel({ features, seed });
  model.preprocessing.transform[28] = 'log1p';
  const n = 5003;
  table = { features, rows: randomRows(n, 29, seed, [28]), n, labels: new Uint8Array(n) };
  expected = new Scorer(model, { backend: 'cpu' }).score(table.rows);
  const sorted = Float32Array.from(expected).sort();
  model.threshold = { value: sorted[Math.floor(n * 0.95)]!, strategy: 'percentile', params: { q: 95 } };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scoreFile', () => {
  for (const [inExt, outExt] of [
    ['csv', 'csv'],
    ['csv.gz', 'arrow'],
    ['arrow', 'parquet'],
    ['parquet', 'arrows'],
    ['arrows', 'csv.gz'],
  ] as const) {
    it(`scores ${inExt} into ${outExt} in chunks, matching the in-memory scores`, async () => {
      const input = join(dir, `in.${inExt}`);
      const output = join(dir, `out-${inExt}.${outExt}`);
      await writeTable(input, table);
      const progress: number[] = [];
      const res = await scoreFile({ model, input, output, batchRows: 1000, onProgress: (p) => progress.push(p.rows) });
      expect(res.rows).toBe(5003);
      expect(progress).toEqual([1000, 2000, 3000, 4000, 5000, 5003]);
      const back = await loadTable(output, { features: ['score', 'is_fraud'] });
      expect(back.n).toBe(5003);
      let flagged = 0;
      for (let i = 0; i < back.n; i++) {
        const s = back.rows[i * 2]!;
        // CSV stores the shortest decimal that round-trips a float32, so scores come back exact.
        expect(s).toBe(expected[i]);
        expect(back.rows[i * 2 + 1]).toBe(expected[i]! > model.threshold!.value ? 1 : 0);
        flagged += back.rows[i * 2 + 1]!;
      }
      expect(res.flagged).toBe(flagged);
      expect(flagged).toBeGreaterThan(200);
    });
  }

  it('fails on a malformed file naming the line, and leaves no output', async () => {
    const input = join(dir, 'bad.csv');
    const header = features.join(',');
    const good = features.map(() => '0.5').join(',');
    const bad = features.map((_, j) => (j === 4 ? 'abc' : '0.5')).join(',');
    await writeFile(input, `${header}\n${good}\n${good}\n${bad}\n${good}\n`);
    const output = join(dir, 'bad-out.csv');
    await expect(scoreFile({ model, input, output, batchRows: 2 })).rejects.toThrow(
      /bad\.csv:4 column "V5": non-numeric/,
    );
    expect(existsSync(output)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('fails on a truncated gzip file and leaves no output', async () => {
    const full = join(dir, 'full.csv');
    await writeTable(full, table);
    const gz = gzipSync(await readFile(full));
    const input = join(dir, 'truncated.csv.gz');
    await writeFile(input, gz.subarray(0, Math.floor(gz.length / 2)));
    const output = join(dir, 'trunc-out.arrow');
    await expect(scoreFile({ model, input, output, batchRows: 500 })).rejects.toThrow(/truncated\.csv\.gz/);
    expect(existsSync(output)).toBe(false);
  });

  it('names the line of a log1p value outside its domain (a value the reader accepts)', async () => {
    const input = join(dir, 'domain.csv');
    const header = features.join(',');
    const good = features.map(() => '0.5').join(',');
    const bad = features.map((f) => (f === 'Amount' ? '-7' : '0.5')).join(',');
    await writeFile(input, `${header}\n${good}\n${good}\n${good}\n${bad}\n`);
    const output = join(dir, 'domain-out.csv');
    await expect(scoreFile({ model, input, output, batchRows: 3 })).rejects.toThrow(
      /domain\.csv:5 column "Amount": value -7, outside log1p's domain/,
    );
    expect(existsSync(output)).toBe(false);
  });
});

describe('scoreFile from streams and rows (issue 16)', () => {
  const rowsOf = (t: Table) => Array.from({ length: t.n }, (_, i) => Array.from(t.rows.subarray(i * 29, i * 29 + 29)));
  const scoresIn = async (file: string) => {
    const back = await loadTable(file, { features: ['score', 'is_fraud'] });
    return Array.from({ length: back.n }, (_, i) => back.rows[i * 2]!);
  };

  it('takes an async iterable of rows (arrays), a Float32Array chunk source and records by feature name', async () => {
    async function* arrays() {
      yield* rowsOf(table);
    }
    function* chunks() {
      for (let s = 0; s < table.n; s += 700) yield table.rows.subarray(s * 29, Math.min(table.n, s + 700) * 29);
    }
    async function* records() {
      for (const r of rowsOf(table))
        yield Object.fromEntries(features.map((f, j) => [f, r[j]!]).concat([['Class', 0]]));
    }
    for (const [name, input] of [
      ['arrays', arrays()],
      ['chunks', chunks()],
      ['records', records()],
    ] as const) {
      const output = join(dir, `rows-${name}.csv`);
      const res = await scoreFile({ model, input, output, batchRows: 1000 });
      expect(res.rows).toBe(table.n);
      expect(await scoresIn(output)).toEqual([...expected]);
    }
  });

  it('takes CSV bytes from a Readable and writes CSV to a Writable, left open', async () => {
    const csv = join(dir, 'bytes.csv');
    await writeTable(csv, table);
    const { Readable, PassThrough } = await import('node:stream');
    const sink = new PassThrough();
    const parts: Buffer[] = [];
    sink.on('data', (b: Buffer) => parts.push(b));
    const res = await scoreFile({
      model,
      input: Readable.from([await readFile(csv)], { objectMode: false }),
      output: sink,
      batchRows: 999,
    });
    expect(res.output).toBe('stream');
    expect(sink.writableEnded).toBe(false);
    const lines = Buffer.concat(parts).toString().trim().split('\n');
    expect(lines[0]).toBe('score,is_fraud');
    expect(lines.slice(1).map((l) => Math.fround(Number(l.split(',')[0])))).toEqual([...expected]);
  });

  it('names the input, the row and the feature of a bad row', async () => {
    const output = join(dir, 'bad-rows.csv');
    const rows = rowsOf(table).slice(0, 5) as unknown[];
    rows[3] = { ...Object.fromEntries(features.map((f) => [f, 1])), V7: 'x' };
    await expect(scoreFile({ model, input: rows as never, inputName: 'queue', output })).rejects.toThrow(
      'queue row 3 column "V7": expected a number, got "x"',
    );
    await expect(scoreFile({ model, input: [[1, 2]], output })).rejects.toThrow(
      'input stream row 0: expected 29 values',
    );
    expect(existsSync(output)).toBe(false);
    expect((await readdir(dir)).filter((n) => n.startsWith('.partial-'))).toEqual([]);
  });

  it('rejects an output extension it cannot write before creating anything, naming the output', async () => {
    const input = join(dir, 'ext.csv');
    await writeTable(input, table);
    const before = await readdir(dir);
    const output = join(dir, 's.xlsx');
    const p = scoreFile({ model, input, output });
    await expect(p).rejects.toThrow(`Cannot tell the format of "${output}"`);
    await expect(p).rejects.toThrow('or pass `outputFormat`');
    expect(await readdir(dir)).toEqual(before);
  });
});
