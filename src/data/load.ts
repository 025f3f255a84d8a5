// Entry points for reading and writing transaction files in any supported format, chosen from the
// file extension unless given: .csv / .csv.gz, .arrow / .arrows / .feather / .ipc, .parquet.
//
// The Arrow and Parquet modules (apache-arrow, hyparquet: most of the package's import time) are
// loaded on first use of their format, so `import 'fraudscore'` stays cheap for a service that
// only scores; CSV is plain Node and loaded with this file.
import { readCsvBatches } from './csv.js';
import { CsvTableWriter } from './csv-writer.js';
import { LazyTableWriter } from './lazy-writer.js';
import { concatTables, DEFAULT_FEATURES, type Table } from './table.js';
import { type ExtraColumns, schemaOf, type TableSchema, type TableWriter } from './writer.js';

export type DataFormat = 'csv' | 'arrow' | 'parquet';

export interface LoadOptions {
  /**
   * Feature columns to read, in this order (they become `Table.features`).
   * @default V1..V28, Amount
   */
  features?: readonly string[];
  /** File format. @default from the extension */
  format?: DataFormat;
  /**
   * Called as the file is read with the bytes read so far (of the file on disk, before any gzip
   * decoding), for progress against its size. CSV only; other formats never call it.
   */
  onBytes?: (bytesRead: number) => void;
  /** What errors call a byte-stream source (in place of a path). @default 'input stream' */
  name?: string;
}

/** A file path, or CSV bytes: a Readable such as `process.stdin`, or any async iterable of chunks. */
export type TableSource = string | AsyncIterable<Uint8Array | string>;

export interface BatchOptions extends LoadOptions {
  /** Maximum rows per yielded batch (the last one may be smaller). */
  batchRows: number;
}

/** Rows per internal batch when loading a whole file. */
const LOAD_BATCH_ROWS = 65536;

/**
 * The format of a path from its extension.
 * @param option how the caller names its format option in the message (a flag for the CLI).
 * @throws {Error} for an extension that names no supported format.
 */
export function formatFromPath(
  path: string,
  option = '`format`',
): { format: DataFormat; gzip: boolean; stream: boolean } {
  const p = path.toLowerCase();
  if (p.endsWith('.csv.gz') || p.endsWith('.csv.gzip')) return { format: 'csv', gzip: true, stream: false };
  if (p.endsWith('.csv')) return { format: 'csv', gzip: false, stream: false };
  if (p.endsWith('.arrows')) return { format: 'arrow', gzip: false, stream: true };
  if (p.endsWith('.arrow') || p.endsWith('.feather') || p.endsWith('.ipc'))
    return { format: 'arrow', gzip: false, stream: false };
  if (p.endsWith('.parquet') || p.endsWith('.pq')) return { format: 'parquet', gzip: false, stream: false };
  throw new Error(
    `Cannot tell the format of "${path}" from its extension: use .csv, .csv.gz, .arrow, .arrows, .feather, .ipc or .parquet, or pass ${option}`,
  );
}

function resolveFormat(
  path: string,
  format: DataFormat | undefined,
): { format: DataFormat; gzip: boolean; stream: boolean } {
  if (format === undefined) return formatFromPath(path);
  if (format !== 'csv' && format !== 'arrow' && format !== 'parquet') {
    throw new TypeError(`Expected \`format\` to be 'csv', 'arrow' or 'parquet', got ${JSON.stringify(format)}`);
  }
  const lower = path.toLowerCase();
  return {
    format,
    gzip: format === 'csv' && lower.endsWith('.gz'),
    stream: format === 'arrow' && lower.endsWith('.arrows'),
  };
}

function checkFeatures(features: readonly string[] | undefined): readonly string[] {
  const f = features ?? DEFAULT_FEATURES;
  if (!Array.isArray(f) || f.length === 0 || f.some((x) => typeof x !== 'string' || x === '')) {
    throw new TypeError('Expected `features` to be a non-empty array of column names');
  }
  const dup = f.find((x, i) => f.indexOf(x) !== i);
  if (dup !== undefined) throw new TypeError(`Expected \`features\` to name each column once, "${dup}" appears twice`);
  return f;
}

/**
 * [async] Reads a file (or a stream of CSV bytes) in batches of at most `batchRows` rows; memory stays
 * bounded by one batch (and one Parquet row group), whatever the file size.
 * @throws {DataError} for bad data, naming file (or `name`), line/row and column.
 */
export function readBatches(path: TableSource, opts: BatchOptions): AsyncIterable<Table> {
  const features = checkFeatures(opts.features);
  if (!Number.isInteger(opts.batchRows) || opts.batchRows < 1) {
    throw new TypeError(`Expected \`batchRows\` to be a positive integer, got ${opts.batchRows}`);
  }
  if (typeof path !== 'string') {
    if (path === null || typeof path !== 'object' || !(Symbol.asyncIterator in path)) {
      throw new TypeError('Expected a path or an async iterable of CSV bytes (a Readable)');
    }
    if ((opts.format ?? 'csv') !== 'csv') {
      throw new TypeError(`Expected \`format\` 'csv' for a byte stream, got '${opts.format}'`);
    }
    return readCsvBatches(opts.name ?? 'input stream', features, opts.batchRows, false, path, opts.onBytes);
  }
  const { format, gzip } = resolveFormat(path, opts.format);
  switch (format) {
    case 'csv':
      return readCsvBatches(path, features, opts.batchRows, gzip, undefined, opts.onBytes);
    case 'arrow':
      return lazyBatches(async () => (await import('./arrow.js')).readArrowBatches(path, features, opts.batchRows));
    case 'parquet':
      return lazyBatches(async () => (await import('./parquet.js')).readParquetBatches(path, features, opts.batchRows));
  }
}

/** The batches of a reader whose module is imported when iteration starts. */
async function* lazyBatches(open: () => Promise<AsyncIterable<Table>>): AsyncGenerator<Table> {
  yield* await open();
}

/**
 * [async] Reads a whole file (or a stream of CSV bytes) into one Table.
 * @throws {DataError} for bad data, naming file (or `name`), line/row and column.
 */
export async function loadTable(path: TableSource, opts: LoadOptions = {}): Promise<Table> {
  const parts: Table[] = [];
  for await (const t of readBatches(path, { ...opts, batchRows: LOAD_BATCH_ROWS })) parts.push(t);
  return parts.length === 1 ? parts[0] : concatTables(parts);
}

export interface WriteOptions {
  /** File format. @default from the extension */
  format?: DataFormat;
}

/**
 * Opens a file for writing tables part by part (bounded memory for any number of rows).
 * @throws {Error} for an unknown extension.
 */
export function openTableWriter(path: string, schema: TableSchema, opts: WriteOptions = {}): TableWriter {
  const { format, gzip, stream } = resolveFormat(path, opts.format);
  switch (format) {
    case 'csv':
      return new CsvTableWriter(path, schema, gzip);
    case 'arrow':
      return new LazyTableWriter(async () => {
        const { ArrowTableWriter } = await import('./arrow.js');
        return () => new ArrowTableWriter(path, schema, stream);
      });
    case 'parquet':
      return new LazyTableWriter(async () => {
        const { ParquetTableWriter } = await import('./parquet.js');
        return () => new ParquetTableWriter(path, schema);
      });
  }
}

/**
 * [async] Writes a table, plus optional extra per-row columns (e.g. `{ score }`), as CSV (.csv,
 * .csv.gz), Arrow (.arrow, .arrows) or Parquet, by extension. Column order: Time, features, Class,
 * extra columns.
 */
export async function writeTable(
  path: string,
  table: Table,
  extraColumns?: ExtraColumns,
  opts: WriteOptions = {},
): Promise<void> {
  for (const [k, v] of Object.entries(extraColumns ?? {})) {
    if (v?.length !== table.n)
      throw new TypeError(`Expected extra column \`${k}\` to have ${table.n} values, got ${v?.length}`);
  }
  const writer = openTableWriter(path, schemaOf(table, extraColumns), opts);
  try {
    const d = table.features.length;
    const step = LOAD_BATCH_ROWS;
    for (let s = 0; s < table.n || (s === 0 && table.n === 0); s += step) {
      const e = Math.min(table.n, s + step);
      const part: Table = { features: table.features, rows: table.rows.subarray(s * d, e * d), n: e - s };
      if (table.labels) part.labels = table.labels.subarray(s, e);
      if (table.time) part.time = table.time.subarray(s, e);
      const extra: ExtraColumns = {};
      for (const [k, v] of Object.entries(extraColumns ?? {})) {
        extra[k] = ArrayBuffer.isView(v)
          ? (v as unknown as Float32Array).subarray(s, e)
          : Array.prototype.slice.call(v, s, e);
      }
      await writer.write(part, extra);
      if (table.n === 0) break;
    }
    await writer.close();
  } catch (err) {
    writer.abort();
    throw err;
  }
}
