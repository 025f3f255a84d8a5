// CSV writing: scores and tables out as CSV (optionally gzip), float32 values in their shortest
// round-tripping text, back-pressure honoured so memory stays bounded (the reader is csv.ts).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';

import { LABEL_COLUMN, TIME_COLUMN, type Table } from './table.js';
import { checkPart, type ExtraColumns, type TableSchema, type TableWriter } from './writer.js';

/**
 * Short decimal text that reads back as the same float32 value: 8 significant digits when they
 * round-trip, else 9 (always enough for float32), trailing zeros trimmed ("0.5", not "0.50000000").
 * Not always the very shortest form, but two toPrecision calls instead of a search keep writing fast.
 */
export function formatFloat32(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const s = v.toPrecision(8);
  return trimZeros(Math.fround(Number(s)) === v ? s : v.toPrecision(9));
}

function trimZeros(s: string): string {
  // "1.500000" -> "1.5", "1.000e-7" -> "1e-7"; toPrecision never yields a bare integer with a dot.
  const ePos = s.indexOf('e');
  let mant = ePos < 0 ? s : s.slice(0, ePos);
  const exp = ePos < 0 ? '' : s.slice(ePos);
  if (mant.includes('.')) mant = mant.replace(/0+$/, '').replace(/\.$/, '');
  return mant + exp;
}

function csvName(name: string): string {
  return /[",\r\n]/.test(name) ? `"${name.replace(/"/g, '""')}"` : name;
}

/**
 * Streams a table to CSV (gzip-compressed when `gzip`): Time first and Class last when present, like
 * the Kaggle file, then the extra columns. write() honours backpressure, so memory stays bounded.
 */
export class CsvTableWriter implements TableWriter {
  readonly #schema: TableSchema;
  readonly #out: Writable;
  readonly #sink: Writable;
  readonly #done: Promise<void>;
  #failed: Error | null = null;

  /** Whether #out was opened here (a file: ended on close) or given (a stream: left open). */
  readonly #owned: boolean;

  /** @param file a path, or a Writable (e.g. stdout) to write to and leave open after close(). */
  constructor(file: string | Writable, schema: TableSchema, gzip: boolean) {
    this.#schema = schema;
    this.#owned = typeof file === 'string';
    if (typeof file !== 'string' && gzip) throw new TypeError('Expected a file path for gzip output, got a stream');
    this.#out = typeof file === 'string' ? createWriteStream(file) : file;
    this.#sink = gzip ? createGzip({ level: 6 }) : this.#out;
    if (gzip) this.#sink.pipe(this.#out);
    this.#done = new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.#failed = err;
        reject(err);
      };
      this.#out.on('finish', resolve);
      this.#out.on('error', onError);
      this.#sink.on('error', onError);
    });
    this.#done.catch(() => {}); // surfaced by write()/close(); avoid an unhandled rejection meanwhile
    const cols = [
      ...(schema.time ? [TIME_COLUMN] : []),
      ...schema.features,
      ...(schema.labels ? [LABEL_COLUMN] : []),
      ...Object.keys(schema.extra ?? {}),
    ];
    this.#sink.write(`${cols.map(csvName).join(',')}\n`);
  }

  async #write(s: string): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (!this.#sink.write(s)) await Promise.race([once(this.#sink, 'drain'), this.#done]);
  }

  async write(table: Table, extra?: ExtraColumns): Promise<void> {
    const extras = checkPart(this.#schema, table, extra);
    const d = table.features.length;
    const extraIsF32 = extras.map((c) => c instanceof Float32Array);
    let text = '';
    for (let i = 0; i < table.n; i++) {
      // Every cell ends with ',' and the last one is cut, so any subset of columns (even no
      // features, as for a file of scores) gets its separators right.
      let l = table.time ? `${table.time[i]},` : '';
      const o = i * d;
      for (let j = 0; j < d; j++) l += `${formatFloat32(table.rows[o + j])},`;
      if (table.labels) l += `${table.labels[i]},`;
      for (let k = 0; k < extras.length; k++)
        l += `${extraIsF32[k] ? formatFloat32(extras[k][i]) : String(extras[k][i])},`;
      text += `${l.slice(0, -1)}\n`;
      if (text.length > 1 << 16) {
        await this.#write(text);
        text = '';
      }
    }
    if (text) await this.#write(text);
  }

  async close(): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#owned) {
      this.#sink.end();
      await this.#done;
      return;
    }
    // A given stream stays open: wait until everything written so far has been handed to it.
    await Promise.race([new Promise<void>((resolve) => this.#out.write('', () => resolve())), this.#done]);
  }

  abort(): void {
    this.#sink.destroy();
    if (this.#owned) this.#out.destroy();
  }
}
