// CSV reading, the hot path of batch scoring: it works on the raw bytes of each stream chunk (no
// per-line strings, no regexes, no per-cell allocations; numbers and header fields go through
// csv-cells.ts). Columns are found by header name, so any column order and extra columns work, and
// quoting follows RFC 4180 (the Kaggle file quotes its header and Class). The writer: csv-writer.ts.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';

import { DataError, quoteCell } from './errors.js';
import { parseNumberBytes, POW10, splitHeader } from './csv-cells.js';
import { LABEL_COLUMN, TIME_COLUMN, type Table } from './table.js';

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

const IGNORE = -1;
const LABEL = -2;
const TIME = -3;

/**
 * Row parser state for one file. parse() consumes whole lines from a byte buffer in one tight loop
 * (fields are scanned and numbers converted in a single pass, state kept in locals), which is what
 * makes the reader fast; anything unusual (quotes, long mantissas, bad cells) takes a slower path.
 */
class CsvRowParser {
  readonly file: string;
  readonly features: readonly string[];
  readonly d: number;
  readonly batchRows: number;
  /** 1-based number of the last line consumed (the header is line 1). */
  line = 0;
  header: string[] = [];
  nCols = 0;
  /** Per header column: feature index, or IGNORE / LABEL / TIME. */
  target: Int32Array | null = null;
  hasLabels = false;
  hasTime = false;
  rows: Float32Array;
  labels: Uint8Array | undefined;
  time: Float64Array | undefined;
  count = 0;
  total = 0;

  constructor(file: string, features: readonly string[], batchRows: number) {
    this.file = file;
    this.features = features;
    this.d = features.length;
    this.batchRows = batchRows;
    this.rows = new Float32Array(batchRows * this.d);
  }

  /** Parses the header line [s, e) and maps the wanted columns. */
  parseHeader(buf: Uint8Array, s: number, e: number): void {
    const { file, features } = this;
    this.line = 1;
    const text = Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('utf8');
    const header = splitHeader(text, file);
    const nCols = header.length;
    const target = new Int32Array(nCols).fill(IGNORE);
    const seen = new Map<string, number>();
    for (const [i, name] of header.entries()) {
      const prev = seen.get(name);
      if (prev !== undefined && (features.includes(name) || name === LABEL_COLUMN || name === TIME_COLUMN)) {
        throw new DataError(
          { file, line: 1, column: name },
          `column appears twice in the header (fields ${prev + 1} and ${i + 1})`,
        );
      }
      seen.set(name, i);
    }
    for (const [j, f] of features.entries()) {
      const i = seen.get(f);
      if (i === undefined) {
        throw new DataError(
          { file, line: 1, column: f },
          `missing feature column (the header has ${nCols} columns: ${header.slice(0, 40).join(', ')}${nCols > 40 ? ', …' : ''})`,
        );
      }
      target[i] = j;
    }
    const li = seen.get(LABEL_COLUMN);
    if (li !== undefined && target[li] === IGNORE) {
      target[li] = LABEL;
      this.hasLabels = true;
      this.labels = new Uint8Array(this.batchRows);
    }
    const ti = seen.get(TIME_COLUMN);
    if (ti !== undefined && target[ti] === IGNORE) {
      target[ti] = TIME;
      this.hasTime = true;
      this.time = new Float64Array(this.batchRows);
    }
    this.header = header;
    this.nCols = nCols;
    this.target = target;
  }

  /** The batch so far as a Table; starts a new batch. */
  take(): Table {
    const { count, batchRows, d } = this;
    const full = count === batchRows;
    const t: Table = { features: [...this.features], rows: full ? this.rows : this.rows.slice(0, count * d), n: count };
    if (this.labels) t.labels = full ? this.labels : this.labels.slice(0, count);
    if (this.time) t.time = full ? this.time : this.time.slice(0, count);
    this.total += count;
    this.count = 0;
    this.rows = new Float32Array(batchRows * d);
    if (this.hasLabels) this.labels = new Uint8Array(batchRows);
    if (this.hasTime) this.time = new Float64Array(batchRows);
    return t;
  }

  fail(col: number, problem: string, line = this.line): never {
    throw new DataError({ file: this.file, line, column: col < this.nCols ? this.header[col] : undefined }, problem);
  }

  /** Message for a cell that did not parse as a finite number. */
  cellProblem(buf: Uint8Array, s: number, e: number, what: string): string {
    const t = Buffer.from(buf.buffer, buf.byteOffset + s, e - s)
      .toString('utf8')
      .trim();
    if (t === '') return `empty ${what} cell`;
    if (/^[+-]?(nan|inf|infinity)$/i.test(t))
      return `non-finite value ${quoteCell(t)} (NaN and Infinity are not allowed)`;
    return `non-numeric ${what} value ${quoteCell(t)}`;
  }

  /** Stores a cell parsed by the slow path (or reports it). */
  store(buf: Uint8Array, fs: number, fe: number, col: number, t: number, line: number): void {
    const v = parseNumberBytes(buf, fs, fe);
    if (t >= 0) {
      if (Number.isNaN(v)) this.fail(col, this.cellProblem(buf, fs, fe, 'feature'), line);
      const f = Math.fround(v);
      if (f === Infinity || f === -Infinity) {
        this.fail(
          col,
          `value ${quoteCell(Buffer.from(buf.subarray(fs, fe)).toString('latin1'))} overflows float32`,
          line,
        );
      }
      this.rows[this.count * this.d + t] = f;
    } else if (t === LABEL) {
      if (v !== 0 && v !== 1) {
        this.fail(
          col,
          Number.isNaN(v)
            ? this.cellProblem(buf, fs, fe, 'label')
            : `label must be 0 or 1, got ${quoteCell(Buffer.from(buf.subarray(fs, fe)).toString('latin1'))}`,
          line,
        );
      }
      (this.labels as Uint8Array)[this.count] = v;
    } else if (t === TIME) {
      if (Number.isNaN(v) || v === Infinity || v === -Infinity)
        this.fail(col, this.cellProblem(buf, fs, fe, 'time'), line);
      (this.time as Float64Array)[this.count] = v;
    }
  }

  /**
   * Parses complete lines starting at `pos`; buf[last] must be LF (it stops every scan). Returns the
   * position after the last line consumed: `last + 1`, or earlier when the batch filled up.
   */
  parse(buf: Uint8Array, pos: number, last: number): number {
    const target = this.target as Int32Array;
    const nCols = this.nCols;
    const d = this.d;
    const batchRows = this.batchRows;
    const rows = this.rows;
    let count = this.count;
    let line = this.line;
    while (pos <= last && count < batchRows) {
      line++;
      let c = buf[pos];
      if (c === LF || (c === CR && buf[pos + 1] === LF)) {
        pos += c === LF ? 1 : 2; // blank line
        continue;
      }
      const base = count * d;
      let col = 0;
      for (;;) {
        const fs = pos;
        const t = col < nCols ? target[col] : IGNORE;
        c = buf[pos];
        if (t === IGNORE || c === QUOTE) {
          // Slow path: skip or unquote the field, then parse its text.
          let s = pos;
          let e: number;
          if (c === QUOTE) {
            s = pos + 1;
            let p = s;
            for (;;) {
              const q = buf[p];
              if (q === LF || p >= last) {
                this.line = line;
                this.fail(col, 'unterminated quoted field (quoted line breaks are not supported)');
              }
              if (q === QUOTE) {
                if (buf[p + 1] === QUOTE) {
                  p += 2;
                  continue;
                }
                break;
              }
              p++;
            }
            e = p;
            pos = p + 1;
            c = buf[pos];
            if (c !== COMMA && c !== LF && !(c === CR && buf[pos + 1] === LF)) {
              this.count = count;
              this.fail(
                col,
                `unexpected character ${JSON.stringify(String.fromCharCode(c))} after a closing quote`,
                line,
              );
            }
          } else {
            while (c !== COMMA && c !== LF) c = buf[++pos];
            e = pos > fs && buf[pos - 1] === CR && c === LF ? pos - 1 : pos;
            if (e < pos) c = CR;
          }
          if (t !== IGNORE) {
            this.count = count;
            this.store(buf, s, e, col, t, line);
          }
        } else {
          // Fast path: an unquoted decimal, converted while scanning.
          let neg = false;
          if (c === 45) {
            neg = true;
            c = buf[++pos];
          } else if (c === 43) {
            c = buf[++pos];
          }
          // Digits accumulate unconditionally: m stays exact while it is below 2^53, and a final
          // m >= 2^53 means some step rounded (rounding is monotonic), so that is the exactness test.
          let m = 0;
          const intStart = pos;
          while ((c - 48) >>> 0 < 10) {
            m = m * 10 + (c - 48);
            c = buf[++pos];
          }
          let digits = pos - intStart;
          let exp10 = 0;
          if (c === 46) {
            const fracStart = ++pos;
            c = buf[pos];
            while ((c - 48) >>> 0 < 10) {
              m = m * 10 + (c - 48);
              c = buf[++pos];
            }
            exp10 = fracStart - pos;
            digits += pos - fracStart;
          }
          const exact = m < 9007199254740992;
          let dg: number;
          let ok = digits > 0;
          if (ok && (c === 101 || c === 69)) {
            c = buf[++pos];
            let eneg = false;
            if (c === 45 || c === 43) {
              eneg = c === 45;
              c = buf[++pos];
            }
            let ex = 0;
            let edigits = 0;
            dg = c - 48;
            while (dg >= 0 && dg <= 9) {
              if (ex < 100000) ex = ex * 10 + dg;
              edigits++;
              c = buf[++pos];
              dg = c - 48;
            }
            ok = edigits > 0;
            exp10 += eneg ? -ex : ex;
          }
          if (
            ok &&
            (c === COMMA || c === LF || (c === CR && buf[pos + 1] === LF)) &&
            exact &&
            exp10 >= -22 &&
            exp10 <= 22
          ) {
            let v = m === 0 ? 0 : exp10 < 0 ? m / POW10[-exp10] : m * POW10[exp10];
            if (neg) v = -v;
            if (t >= 0) {
              const f = Math.fround(v);
              if (f === Infinity || f === -Infinity) {
                this.count = count;
                this.store(buf, fs, pos, col, t, line);
              }
              rows[base + t] = f;
            } else if (t === LABEL) {
              if (v !== 0 && v !== 1) {
                this.count = count;
                this.store(buf, fs, pos, col, t, line);
              }
              (this.labels as Uint8Array)[count] = v;
            } else {
              (this.time as Float64Array)[count] = v;
            }
          } else {
            // Anything else (spaces, long mantissas, huge exponents, garbage): find the field end and
            // let the exact general parser decide or report.
            while (c !== COMMA && c !== LF) c = buf[++pos];
            const e = buf[pos - 1] === CR && c === LF && pos - 1 >= fs ? pos - 1 : pos;
            if (e < pos) c = CR;
            this.count = count;
            this.store(buf, fs, e, col, t, line);
          }
        }
        col++;
        if (c === COMMA) {
          pos++;
          continue;
        }
        // End of line (LF, or CR LF).
        pos += c === CR ? 2 : 1;
        break;
      }
      if (col !== nCols) {
        this.line = line;
        throw new DataError({ file: this.file, line }, `ragged row: ${col} fields, but the header has ${nCols}`);
      }
      count++;
    }
    this.count = count;
    this.line = line;
    return pos;
  }
}

/**
 * Reads a CSV file (optionally gzip-compressed) in batches of at most `batchRows` rows. Memory is
 * bounded by one stream chunk plus one batch. With `bytes`, reads those (a Readable such as stdin,
 * or any async iterable of byte chunks) instead of opening `file`, which then only names them in errors.
 * @throws {DataError} naming file, line and column for any bad cell, ragged row, missing feature
 * column, empty file or truncated gzip data.
 */
export async function* readCsvBatches(
  file: string,
  features: readonly string[],
  batchRows: number,
  gzip: boolean,
  bytes?: AsyncIterable<Uint8Array | string>,
  onBytes?: (bytesRead: number) => void,
): AsyncGenerator<Table> {
  const fileStream: Readable =
    bytes === undefined
      ? createReadStream(file, { highWaterMark: 1 << 20 })
      : Readable.from(bytes, { objectMode: false });
  if (onBytes) {
    let read = 0;
    fileStream.on('data', (c: Buffer | string) => {
      read += c.length;
      onBytes(read);
    });
  }
  const source: Readable = gzip ? fileStream.pipe(createGunzip()) : fileStream;
  if (gzip) fileStream.on('error', (err) => source.destroy(err));
  const parser = new CsvRowParser(file, features, batchRows);
  let sawBytes = false;
  let rest: Buffer | null = null;

  // Parses the complete lines of buf[start..last] (buf[last] is LF), yielding full batches.
  function* lines(buf: Uint8Array, start: number, last: number): Generator<Table> {
    let pos = start;
    if (parser.target === null) {
      const nl = buf.indexOf(LF, pos);
      parser.parseHeader(buf, pos, nl);
      pos = nl + 1;
    }
    while (pos <= last) {
      pos = parser.parse(buf, pos, last);
      if (parser.count === batchRows) yield parser.take();
    }
  }

  try {
    for await (const data of source as AsyncIterable<Buffer | string>) {
      const chunk = typeof data === 'string' ? Buffer.from(data) : data;
      if (chunk.length === 0) continue;
      sawBytes = true;
      let start = 0;
      if (rest !== null) {
        const nl = chunk.indexOf(LF);
        if (nl < 0) {
          rest = Buffer.concat([rest, chunk]);
          continue;
        }
        const joined = Buffer.concat([rest, chunk.subarray(0, nl + 1)]);
        rest = null;
        start = nl + 1;
        yield* lines(joined, 0, joined.length - 1);
      }
      const last = chunk.lastIndexOf(LF);
      if (last >= start) {
        yield* lines(chunk, start, last);
        start = last + 1;
      }
      if (start < chunk.length) rest = Buffer.from(chunk.subarray(start));
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (gzip && (e.code?.startsWith('Z_') || /zlib|gzip|header check|unexpected end/i.test(e.message))) {
      throw new DataError({ file, line: parser.line + 1 }, `truncated or corrupt gzip data (${e.message})`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    source.destroy();
    fileStream.destroy();
  }
  if (rest !== null && rest.length > 0) {
    // The last line has no line break: give it one so the scanner has its stop byte.
    const joined = Buffer.concat([rest, Buffer.from([LF])]);
    yield* lines(joined, 0, joined.length - 1);
  }
  if (!sawBytes) throw new DataError({ file }, 'empty file (no header, no rows)');
  if (parser.target === null) throw new DataError({ file }, 'empty file (no header line)');
  if (parser.total + parser.count === 0)
    throw new DataError({ file, line: parser.line + 1 }, 'no data rows after the header');
  if (parser.count > 0) yield parser.take();
}
