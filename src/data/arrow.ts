// Apache Arrow IPC, file format (.arrow/.feather/.ipc) and stream format (.arrows). Reading goes
// batch by batch through apache-arrow's RecordBatchReader on a file handle (it detects the format
// from the magic bytes), so memory is bounded by one record batch plus one output batch. Writing
// emits one record batch per written part and waits for the file stream to drain.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import {
  type DataType,
  Field,
  Float32,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Uint8,
  type Vector,
} from 'apache-arrow';
import type { Writable } from 'node:stream';

import { type ColumnPiece, rebatch } from './columnar.js';
import { DataError } from './errors.js';
import { LABEL_COLUMN, TIME_COLUMN, type Table } from './table.js';
import { checkPart, type ExtraColumns, type ExtraColumnType, type TableSchema, type TableWriter } from './writer.js';

function isNumericType(t: DataType): boolean {
  // Type ids from apache-arrow's Type enum: Int = 2, Float = 3.
  return t.typeId === 2 || t.typeId === 3;
}

/**
 * Reads an Arrow IPC file or stream in row-major batches of at most `batchRows` rows.
 * @throws {DataError} for a missing or non-numeric column, a null or non-finite cell, an invalid file.
 */
export async function* readArrowBatches(
  file: string,
  features: readonly string[],
  batchRows: number,
): AsyncGenerator<Table> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) throw new DataError({ file }, 'empty file');
    let reader: Awaited<ReturnType<typeof RecordBatchReader.from>>;
    try {
      reader = await RecordBatchReader.from(fh);
      await reader.open();
    } catch (err) {
      throw new DataError({ file }, `not a readable Arrow IPC file or stream (${(err as Error).message})`, {
        cause: err,
      });
    }
    const names = reader.schema.fields.map((f) => f.name);
    const byName = new Map(reader.schema.fields.map((f) => [f.name, f]));
    for (const f of features) {
      const field = byName.get(f);
      if (!field) {
        throw new DataError(
          { file, column: f },
          `missing feature column (the file has: ${names.slice(0, 40).join(', ')})`,
        );
      }
      if (!isNumericType(field.type))
        throw new DataError({ file, column: f }, `column type ${field.type} is not numeric`);
    }
    const labelField = byName.get(LABEL_COLUMN);
    const timeField = byName.get(TIME_COLUMN);
    const hasLabels = labelField !== undefined && !features.includes(LABEL_COLUMN);
    const hasTime = timeField !== undefined && !features.includes(TIME_COLUMN);
    if (hasLabels && !isNumericType(labelField.type)) {
      throw new DataError({ file, column: LABEL_COLUMN }, `column type ${labelField.type} is not numeric`);
    }
    if (hasTime && !isNumericType(timeField.type)) {
      throw new DataError({ file, column: TIME_COLUMN }, `column type ${timeField.type} is not numeric`);
    }
    const source = reader;
    async function* pieces(): AsyncGenerator<ColumnPiece> {
      let rowOffset = 0;
      try {
        for await (const batch of source) {
          const get = (name: string): Vector => batch.getChild(name) as Vector;
          const cols = features.map(get);
          const piece: ColumnPiece = {
            rowOffset,
            n: batch.numRows,
            features: cols.map((v) => v.toArray() as ArrayLike<number>),
            nullMask: cols.map((v) => (v.nullCount > 0 ? (i: number) => !v.isValid(i) : () => false)),
          };
          if (hasLabels) piece.label = nullable(get(LABEL_COLUMN));
          if (hasTime) piece.time = nullable(get(TIME_COLUMN));
          yield piece;
          rowOffset += batch.numRows;
        }
      } catch (err) {
        if (err instanceof DataError) throw err;
        throw new DataError({ file, row: rowOffset }, `corrupt or truncated Arrow data (${(err as Error).message})`, {
          cause: err,
        });
      }
    }
    yield* rebatch(file, features, hasLabels, hasTime, pieces(), batchRows);
  } finally {
    await fh.close();
  }
}

/** The values of a column with nulls as null, so the checks can name them. */
function nullable(v: Vector): ArrayLike<number | bigint | null> {
  if (v.nullCount === 0) return v.toArray() as ArrayLike<number | bigint>;
  return Array.from({ length: v.length }, (_, i) => (v.isValid(i) ? (v.get(i) as number | bigint) : null));
}

function arrowType(t: ExtraColumnType): DataType {
  switch (t) {
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'int32':
      return new Int32();
    case 'uint8':
      return new Uint8();
  }
}

function typedColumn(
  t: ExtraColumnType,
  src: ArrayLike<number>,
): Float32Array | Float64Array | Int32Array | Uint8Array {
  switch (t) {
    case 'float32':
      return src instanceof Float32Array ? src : Float32Array.from(src);
    case 'float64':
      return src instanceof Float64Array ? src : Float64Array.from(src);
    case 'int32':
      return src instanceof Int32Array ? src : Int32Array.from(src);
    case 'uint8':
      return src instanceof Uint8Array ? src : Uint8Array.from(src);
  }
}

/** Arrow IPC writer: file format, or stream format when `stream` (the .arrows extension). */
export class ArrowTableWriter implements TableWriter {
  readonly #schema: TableSchema;
  readonly #arrowSchema: Schema;
  readonly #fields: Field[];
  readonly #writer: RecordBatchFileWriter | RecordBatchStreamWriter;
  readonly #out: Writable;
  readonly #node: ReturnType<RecordBatchFileWriter['toNodeStream']>;
  readonly #done: Promise<void>;
  #failed: Error | null = null;
  #batches = 0;

  constructor(file: string, schema: TableSchema, stream: boolean) {
    this.#schema = schema;
    this.#fields = [
      ...(schema.time ? [new Field(TIME_COLUMN, new Float64(), false)] : []),
      ...schema.features.map((f) => new Field(f, new Float32(), false)),
      ...(schema.labels ? [new Field(LABEL_COLUMN, new Int32(), false)] : []),
      ...Object.entries(schema.extra ?? {}).map(([k, t]) => new Field(k, arrowType(t), false)),
    ];
    this.#arrowSchema = new Schema(this.#fields);
    this.#writer = stream ? new RecordBatchStreamWriter() : new RecordBatchFileWriter();
    this.#out = createWriteStream(file);
    this.#done = new Promise<void>((resolve, reject) => {
      this.#out.on('finish', resolve);
      this.#out.on('error', (err) => {
        this.#failed = err;
        reject(err);
      });
    });
    this.#done.catch(() => {});
    this.#node = this.#writer.toNodeStream();
    this.#node.pipe(this.#out);
  }

  async write(table: Table, extra?: ExtraColumns): Promise<void> {
    if (this.#failed) throw this.#failed;
    const extras = checkPart(this.#schema, table, extra);
    const n = table.n;
    if (n === 0 && this.#batches > 0) return;
    this.#batches++;
    const d = table.features.length;
    const children = [];
    if (this.#schema.time)
      children.push(makeData({ type: new Float64(), length: n, nullCount: 0, data: table.time as Float64Array }));
    // Transpose row-major rows to columns: Arrow is columnar.
    for (let j = 0; j < d; j++) {
      const col = new Float32Array(n);
      const rows = table.rows;
      for (let i = 0, o = j; i < n; i++, o += d) col[i] = rows[o];
      children.push(makeData({ type: new Float32(), length: n, nullCount: 0, data: col }));
    }
    if (this.#schema.labels) {
      children.push(
        makeData({ type: new Int32(), length: n, nullCount: 0, data: Int32Array.from(table.labels as Uint8Array) }),
      );
    }
    const types = Object.values(this.#schema.extra ?? {});
    for (const [k, col] of extras.entries()) {
      const t = types[k];
      // biome-ignore lint/suspicious/noExplicitAny: makeData's overloads are keyed by the static type.
      children.push(makeData({ type: arrowType(t) as any, length: n, nullCount: 0, data: typedColumn(t, col) }));
    }
    const data = makeData({ type: new Struct(this.#fields), length: n, nullCount: 0, children });
    this.#writer.write(new RecordBatch(this.#arrowSchema, data));
    // Let the pipe move the serialized batch into the file stream, then wait while it is backed up:
    // this keeps at most about one batch in memory however many rows are written.
    await new Promise<void>((r) => setImmediate(r));
    while (this.#out.writableNeedDrain) await Promise.race([once(this.#out, 'drain'), this.#done]);
    if (this.#failed) throw this.#failed;
  }

  async close(): Promise<void> {
    if (this.#failed) throw this.#failed;
    // A file with no rows still gets its schema (one empty batch), so readers see the columns.
    if (this.#batches === 0) {
      const extra = Object.fromEntries(Object.entries(this.#schema.extra ?? {}).map(([k]) => [k, new Float64Array(0)]));
      await this.write(
        {
          features: [...this.#schema.features],
          rows: new Float32Array(0),
          n: 0,
          ...(this.#schema.labels ? { labels: new Uint8Array(0) } : {}),
          ...(this.#schema.time ? { time: new Float64Array(0) } : {}),
        },
        extra,
      );
    }
    this.#writer.finish();
    await this.#done;
  }

  abort(): void {
    // Not writer.abort(): before the first batch it rejects an internal read nobody awaits (an
    // unhandled rejection, fatal in Node by default). Tearing down the pipe stops it as well.
    this.#node.unpipe(this.#out);
    this.#node.destroy();
    this.#out.destroy();
  }
}
