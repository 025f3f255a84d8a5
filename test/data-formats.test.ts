// Arrow IPC (file and stream) and Parquet: round trips through the writers, streaming batches, and the
// same DataError rules as CSV with a row index instead of a line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  tableToIPC,
  Table as ArrowTable,
  vectorFromArray,
} from 'apache-arrow';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';

import { DataError } from '../src/data/errors.js';
import { formatFromPath, loadTable, openTableWriter, readBatches, writeTable } from '../src/data/load.js';
import { Rng } from '../src/data/random.js';
import type { Table } from '../src/data/table.js';

const tmp = mkdtempSync(join(tmpdir(), 'fraudscore-formats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const small = { features: ['V1', 'V2', 'Amount'] };

function randomTable(n: number, seed: number): Table {
  const rng = new Rng(seed);
  const rows = new Float32Array(n * 3);
  for (let i = 0; i < rows.length; i++) rows[i] = rng.normal() * 10 ** rng.int(4);
  const labels = Uint8Array.from({ length: n }, () => (rng.next() < 0.1 ? 1 : 0));
  const time = Float64Array.from({ length: n }, (_, i) => i * 1.5);
  return { features: ['V1', 'V2', 'Amount'], rows, n, labels, time };
}

function expectSame(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined, what: string): void {
  expect(a?.length, `${what} length`).toBe(b?.length);
  for (let i = 0; i < (a?.length ?? 0); i++) {
    if (!Object.is(a?.[i], b?.[i])) throw new Error(`${what}[${i}]: ${a?.[i]} != ${b?.[i]}`);
  }
}

async function dataError(p: Promise<unknown>): Promise<DataError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  return err as DataError;
}

describe('formats', () => {
  it('tells formats from extensions', () => {
    expect(formatFromPath('a.CSV.GZ')).toEqual({ format: 'csv', gzip: true, stream: false });
    expect(formatFromPath('a.arrows')).toEqual({ format: 'arrow', gzip: false, stream: true });
    expect(formatFromPath('a.feather').format).toBe('arrow');
    expect(formatFromPath('a.ipc').format).toBe('arrow');
    expect(formatFromPath('a.parquet').format).toBe('parquet');
    expect(() => formatFromPath('a.json')).toThrow(/Cannot tell the format of "a.json"/);
  });

  it.each(['t.csv', 't.csv.gz', 't.arrow', 't.arrows', 't.parquet'])(
    '%s round-trips rows, labels, time and extra columns',
    async (name) => {
      const t = randomTable(70000, 1); // more than one internal write part
      const score = Float32Array.from({ length: t.n }, (_, i) => i / 7);
      const p = join(tmp, name);
      await writeTable(p, t, { score });
      const back = await loadTable(p, small);
      expectSame(back.rows, t.rows, 'rows');
      expectSame(back.labels, t.labels, 'labels');
      expectSame(back.time, t.time, 'time');
      const scoreBack = await loadTable(p, { features: ['score'] });
      expectSame(scoreBack.rows, score, 'score');
    },
  );

  it.each(['b.arrow', 'b.parquet'])('%s streams in batches of batchRows', async (name) => {
    const t = randomTable(25000, 2);
    const p = join(tmp, name);
    await writeTable(p, t);
    const sizes: number[] = [];
    let at = 0;
    for await (const b of readBatches(p, { ...small, batchRows: 10000 })) {
      sizes.push(b.n);
      expectSame(b.rows, t.rows.subarray(at * 3, (at + b.n) * 3), `batch at ${at}`);
      at += b.n;
    }
    expect(sizes).toEqual([10000, 10000, 5000]);
  });

  it.each(['e.csv', 'e.arrow', 'e.arrows', 'e.parquet'])(
    '%s with no rows keeps its columns and reads back as "no data rows"',
    async (name) => {
      const p = join(tmp, name);
      await writeTable(
        p,
        { features: ['V1', 'V2', 'Amount'], rows: new Float32Array(0), n: 0, labels: new Uint8Array(0) },
        {
          score: new Float32Array(0),
        },
      );
      const e = await dataError(loadTable(p, small));
      expect(e.message).toMatch(/no data rows/);
      // The columns are there: asking for one that is not gives "missing", not "empty file".
      expect((await dataError(loadTable(p, { features: ['V7'] }))).message).toMatch(/missing feature column/);
    },
  );

  it('rejects extra columns of the wrong length', async () => {
    const t = randomTable(5, 4);
    await expect(writeTable(join(tmp, 'x.csv'), t, { score: new Float32Array(4) })).rejects.toThrow(
      /extra column `score` to have 5 values, got 4/,
    );
  });

  it('a writer opened for parts checks each part against its schema', async () => {
    const w = openTableWriter(join(tmp, 'w.arrow'), { features: ['V1', 'V2', 'Amount'], labels: true, time: false });
    const t = randomTable(10, 3);
    await expect(w.write(t)).rejects.toThrow(/Expected table without time/);
    w.abort();
  });
});

describe('Arrow errors', () => {
  const schema = (extra: Field[] = []) =>
    new Schema([new Field('V1', new Float64(), true), new Field('V2', new Float64(), true), ...extra]);

  function arrowFile(name: string, cols: Record<string, (number | null)[]>): string {
    const t = new ArrowTable(
      Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, vectorFromArray(v, new Float64())])),
    );
    const p = join(tmp, name);
    writeFileSync(p, tableToIPC(t, name.endsWith('.arrows') ? 'stream' : 'file'));
    return p;
  }

  it('names a missing column', async () => {
    const p = arrowFile('missing.arrow', { V1: [1, 2], Amount: [3, 4] });
    const e = await dataError(loadTable(p, small));
    expect(e.column).toBe('V2');
    expect(e.message).toMatch(/missing\.arrow column "V2": missing feature column \(the file has: V1, Amount\)/);
  });

  it('names the row and column of a NaN, an Infinity and a null', async () => {
    const nan = await dataError(
      loadTable(arrowFile('nan.arrows', { V1: [1, 2, 3], V2: [1, Number.NaN, 3], Amount: [1, 2, 3] }), small),
    );
    expect([nan.row, nan.column]).toEqual([1, 'V2']);
    expect(nan.message).toMatch(/nan\.arrows row 1 column "V2": non-finite value NaN/);
    const inf = await dataError(
      loadTable(arrowFile('inf.arrow', { V1: [1, Number.POSITIVE_INFINITY], V2: [1, 2], Amount: [1, 2] }), small),
    );
    expect([inf.row, inf.column]).toEqual([1, 'V1']);
    const nul = await dataError(
      loadTable(arrowFile('null.arrow', { V1: [1, 2, 3], V2: [1, 2, 3], Amount: [1, 2, null] }), small),
    );
    expect([nul.row, nul.column]).toEqual([2, 'Amount']);
    expect(nul.message).toMatch(/null \(missing\) value/);
  });

  it('rejects a bad label, an empty file and a file that is not Arrow', async () => {
    const children = [
      makeData({ type: new Float64(), length: 2, nullCount: 0, data: Float64Array.from([1, 2]) }),
      makeData({ type: new Float64(), length: 2, nullCount: 0, data: Float64Array.from([1, 2]) }),
      makeData({ type: new Float64(), length: 2, nullCount: 0, data: Float64Array.from([1, 2]) }),
      makeData({ type: new Int32(), length: 2, nullCount: 0, data: Int32Array.from([0, 7]) }),
    ];
    const s = schema([new Field('Amount', new Float64(), false), new Field('Class', new Int32(), false)]);
    const batch = new RecordBatch(s, makeData({ type: new Struct(s.fields), length: 2, nullCount: 0, children }));
    const p = join(tmp, 'label.arrow');
    writeFileSync(p, tableToIPC(new ArrowTable([batch]), 'file'));
    const e = await dataError(loadTable(p, small));
    expect([e.row, e.column]).toEqual([1, 'Class']);
    expect(e.message).toMatch(/label must be 0 or 1, got 7/);

    writeFileSync(join(tmp, 'empty.arrow'), '');
    expect((await dataError(loadTable(join(tmp, 'empty.arrow'), small))).message).toMatch(/empty\.arrow: empty file/);
    writeFileSync(join(tmp, 'junk.arrow'), 'V1,V2\n1,2\n');
    expect((await dataError(loadTable(join(tmp, 'junk.arrow'), small))).message).toMatch(
      /junk\.arrow: not a readable Arrow IPC/,
    );
  });
});

describe('Parquet errors', () => {
  it('names a missing column, a NaN and a null with row and column', async () => {
    const p = join(tmp, 'bad.parquet');
    parquetWriteFile({
      filename: p,
      columnData: [
        { name: 'V1', data: [1, 2, 3, 4], type: 'DOUBLE' },
        { name: 'V2', data: [1, 2, Number.NaN, 4], type: 'DOUBLE' },
        { name: 'Amount', data: [1, 2, 3, null], type: 'DOUBLE' },
      ],
    });
    const missing = await dataError(loadTable(p, { features: ['V1', 'V9'] }));
    expect(missing.column).toBe('V9');
    expect(missing.message).toMatch(/missing feature column \(the file has: V1, V2, Amount\)/);
    const nan = await dataError(loadTable(p, small));
    expect([nan.row, nan.column]).toEqual([2, 'V2']);
    const nul = await dataError(loadTable(p, { features: ['V1', 'Amount'] }));
    expect([nul.row, nul.column]).toEqual([3, 'Amount']);
    expect(nul.message).toMatch(/bad\.parquet row 3 column "Amount": null \(missing\) value/);
  });

  it('rejects a non-numeric column, an empty file and a file that is not Parquet', async () => {
    const p = join(tmp, 'text.parquet');
    parquetWriteFile({ filename: p, columnData: [{ name: 'V1', data: ['a', 'b'], type: 'STRING' }] });
    expect((await dataError(loadTable(p, { features: ['V1'] }))).message).toMatch(
      /column "V1": column type BYTE_ARRAY is not numeric/,
    );
    writeFileSync(join(tmp, 'empty.parquet'), '');
    expect((await dataError(loadTable(join(tmp, 'empty.parquet'), small))).message).toMatch(/empty file/);
    writeFileSync(join(tmp, 'junk.parquet'), 'not parquet at all');
    expect((await dataError(loadTable(join(tmp, 'junk.parquet'), small))).message).toMatch(
      /not a readable Parquet file/,
    );
  });
});
