// CSV reader: header-driven columns, quoting, exact number parsing, and one clear DataError per kind
// of bad input, checked on small hand-written fixtures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

import { parseNumberBytes } from '../src/data/csv-cells.js';
import { DataError } from '../src/data/errors.js';
import { loadTable, readBatches } from '../src/data/load.js';
import { Rng } from '../src/data/random.js';

const fx = (name: string) => join(import.meta.dirname, 'fixtures', name);
const small = { features: ['V1', 'V2', 'Amount'] };
const tmp = mkdtempSync(join(tmpdir(), 'fraudscore-csv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function dataError(p: Promise<unknown>): Promise<DataError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  return err as DataError;
}

describe('parseNumberBytes', () => {
  const parse = (s: string) => {
    const b = Buffer.from(`x${s}y`, 'latin1'); // offset start/end to exercise the bounds
    return parseNumberBytes(b, 1, b.length - 1);
  };

  it('matches Number() bit for bit on random decimals', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 20000; k++) {
      const v = (rng.next() - 0.5) * 10 ** (rng.int(30) - 15);
      const forms = [String(v), v.toPrecision(1 + rng.int(17)), v.toExponential(rng.int(16)), v.toFixed(rng.int(20))];
      for (const s of forms) expect(parse(s)).toBe(Number(s));
    }
  });

  it('accepts signs, bare dots and exponents, rejects everything else', () => {
    expect(parse('+4.')).toBe(4);
    expect(parse('.5')).toBe(0.5);
    expect(parse('-0')).toBe(-0);
    expect(parse('1E2')).toBe(100);
    expect(parse(' 2.5 ')).toBe(2.5);
    expect(parse('12345678901234567890123')).toBe(Number('12345678901234567890123'));
    for (const bad of ['', '-', '.', 'e5', '1e', '1e+', 'NaN', 'Infinity', '0x10', '1,5', '1.2.3', '--1', '1_0']) {
      expect(parse(bad), bad).toBeNaN();
    }
  });
});

describe('CSV reader', () => {
  it('finds columns by name in any order, ignores extra and quoted columns, keeps Class and Time', async () => {
    const t = await loadTable(fx('good.csv'), small);
    expect(t.features).toEqual(['V1', 'V2', 'Amount']);
    expect(t.n).toBe(3); // the blank line is skipped
    expect(Array.from(t.rows)).toEqual([-0.25, 1.5, 10, 3, Math.fround(-2e-3), 0.5, 100, 4, Math.fround(1234.56)]);
    expect(Array.from(t.labels ?? [])).toEqual([0, 1, 0]);
    expect(Array.from(t.time ?? [])).toEqual([0, 1, 2.5]);
  });

  it('reads CRLF line ends and a last line without a line break', async () => {
    const t = await loadTable(fx('crlf-no-final-newline.csv'), small);
    expect(Array.from(t.rows)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(t.labels ?? [])).toEqual([0, 1]);
  });

  it('has no labels or time when the file has no Class or Time column', async () => {
    const t = await loadTable(fx('no-labels.csv'), small);
    expect(t.n).toBe(2);
    expect(t.labels).toBeUndefined();
    expect(t.time).toBeUndefined();
  });

  it('uses V1..V28 + Amount by default and reads .csv.gz', async () => {
    const header = ['Time', ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount', 'Class'];
    const lines = [header.map((h) => `"${h}"`).join(',')];
    for (let r = 0; r < 5; r++)
      lines.push([r, ...header.slice(1, -1).map((_, j) => r * 100 + j), `"${r % 2}"`].join(','));
    const p = join(tmp, 'wide.csv.gz');
    writeFileSync(p, gzipSync(`${lines.join('\n')}\n`));
    const t = await loadTable(p);
    expect(t.features).toHaveLength(29);
    expect(t.features[28]).toBe('Amount');
    expect(t.n).toBe(5);
    expect(t.rows[3 * 29 + 28]).toBe(328);
    expect(Array.from(t.labels ?? [])).toEqual([0, 1, 0, 1, 0]);
  });

  it('converts every cell exactly like Math.fround(Number(text))', async () => {
    const rng = new Rng(11);
    const cells: string[] = [];
    let text = 'V1,V2,Amount\n';
    for (let r = 0; r < 3000; r++) {
      const row: string[] = [];
      for (let j = 0; j < 3; j++) {
        const v = (rng.next() - 0.5) * 10 ** (rng.int(24) - 12);
        const pick = rng.int(4);
        const s =
          pick === 0
            ? String(v)
            : pick === 1
              ? v.toPrecision(1 + rng.int(17))
              : pick === 2
                ? v.toExponential(rng.int(16))
                : `"${v}"`;
        row.push(s);
        cells.push(s.replaceAll('"', ''));
      }
      text += `${row.join(',')}\n`;
    }
    const p = join(tmp, 'fuzz.csv');
    writeFileSync(p, text);
    const t = await loadTable(p, small);
    cells.forEach((s, i) => {
      if (!Object.is(t.rows[i], Math.fround(Number(s)))) throw new Error(`cell ${i} "${s}" read as ${t.rows[i]}`);
    });
  });

  it('streams in batches of at most batchRows rows, across chunk boundaries', async () => {
    const n = 70000; // > one 1 MiB chunk
    let text = 'V1,V2,Amount\n';
    for (let i = 0; i < n; i++) text += `${i},${-i / 8},${i % 7}\n`;
    const p = join(tmp, 'long.csv');
    writeFileSync(p, text);
    const sizes: number[] = [];
    let i = 0;
    for await (const b of readBatches(p, { ...small, batchRows: 30000 })) {
      sizes.push(b.n);
      for (let k = 0; k < b.n; k++, i++) {
        if (b.rows[k * 3] !== i || b.rows[k * 3 + 1] !== -i / 8 || b.rows[k * 3 + 2] !== i % 7) {
          throw new Error(`row ${i} read back wrong: ${b.rows.subarray(k * 3, k * 3 + 3)}`);
        }
      }
    }
    expect(sizes).toEqual([30000, 30000, 10000]);
  });

  it('names file, line and column for a missing feature column', async () => {
    const e = await dataError(loadTable(fx('missing-column.csv'), small));
    expect(e.file).toBe(fx('missing-column.csv'));
    expect(e.line).toBe(1);
    expect(e.column).toBe('V2');
    expect(e.message).toMatch(/missing-column\.csv:1 column "V2": missing feature column/);
  });

  it.each([
    ['non-numeric.csv', 3, 'V2', /non-numeric feature value "abc"/],
    ['nan.csv', 3, 'Amount', /non-finite value "NaN"/],
    ['inf.csv', 2, 'V1', /non-finite value "-Infinity"/],
    ['empty-cell.csv', 2, 'V2', /empty feature cell/],
    ['bad-label.csv', 3, 'Class', /label must be 0 or 1, got "2"/],
    ['float32-overflow.csv', 2, 'Amount', /overflows float32/],
    ['unterminated-quote.csv', 2, 'V1', /unterminated quoted field/],
  ])('%s: line %i, column %s', async (name, line, column, message) => {
    const e = await dataError(loadTable(fx(name), small));
    expect(e.line).toBe(line);
    expect(e.column).toBe(column);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`${name}:${line} column "${column}"`);
    expect(e.code).toBe('ERR_FRAUDSCORE_DATA');
  });

  it('reports a ragged row with its line', async () => {
    const e = await dataError(loadTable(fx('ragged.csv'), small));
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/ragged\.csv:4: ragged row: 4 fields, but the header has 5/);
  });

  it('rejects an empty file and a header with no rows', async () => {
    expect((await dataError(loadTable(fx('empty.csv'), small))).message).toMatch(/empty\.csv: empty file/);
    expect((await dataError(loadTable(fx('header-only.csv'), small))).message).toMatch(
      /header-only\.csv:2: no data rows/,
    );
  });

  it('reports truncated gzip data', async () => {
    let text = 'V1,V2,Amount\n';
    for (let i = 0; i < 20000; i++) text += `${i},${i * 0.5},1\n`;
    const gz = gzipSync(text);
    const p = join(tmp, 'truncated.csv.gz');
    writeFileSync(p, gz.subarray(0, Math.floor(gz.length / 2)));
    const e = await dataError(loadTable(p, small));
    expect(e.file).toBe(p);
    expect(e.message).toMatch(/truncated or corrupt gzip data/);
    expect(readFileSync(p).length).toBeLessThan(gz.length);
  });

  it('rejects a duplicated wanted column and bad options', async () => {
    const p = join(tmp, 'dup.csv');
    writeFileSync(p, 'V1,V2,Amount,V2\n1,2,3,4\n');
    const e = await dataError(loadTable(p, small));
    expect(e.column).toBe('V2');
    expect(e.message).toMatch(/appears twice/);
    expect(() => readBatches(p, { ...small, batchRows: 0 })).toThrow(
      /Expected `batchRows` to be a positive integer, got 0/,
    );
    expect(() => readBatches(p, { features: ['V1', 'V1'], batchRows: 1 })).toThrow(/"V1" appears twice/);
    await expect(loadTable(join(tmp, 'x.txt'))).rejects.toThrow(/Cannot tell the format of .*x\.txt/);
  });
});

describe('CSV from a stream of bytes (issue 16)', () => {
  it('loadTable and readBatches read a Readable as they read a file, naming it in errors', async () => {
    const { Readable } = await import('node:stream');
    const text = 'Time,a,b,Class\n0,1.5,2,0\n1,3,4.25,1\n2,5,6,0\n';
    const chunks = (t: string) => Readable.from([...t].map((c) => Buffer.from(c)));
    const t = await loadTable(chunks(text), { features: ['a', 'b'] });
    expect(t.n).toBe(3);
    expect([...t.rows]).toEqual([1.5, 2, 3, 4.25, 5, 6]);
    expect([...t.labels!]).toEqual([0, 1, 0]);
    const parts: number[] = [];
    for await (const b of readBatches(chunks(text), { features: ['a', 'b'], batchRows: 2 })) parts.push(b.n);
    expect(parts).toEqual([2, 1]);
    await expect(loadTable(chunks(text.replace('4.25', 'x')), { features: ['a', 'b'], name: 'stdin' })).rejects.toThrow(
      'stdin:3 column "b"',
    );
    expect(() => readBatches(chunks(text), { features: ['a'], batchRows: 1, format: 'arrow' })).toThrow(
      "Expected `format` 'csv' for a byte stream, got 'arrow'",
    );
  });
});
