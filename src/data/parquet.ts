// Parquet through hyparquet (read) and hyparquet-writer (write), both pure JS. Reading goes one row
// group at a time, so memory is bounded by the file's row-group size; writing makes one row group per
// written part.
import { stat } from 'node:fs/promises';
import { asyncBufferFromFile, type FileMetaData, parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet';
import { fileWriter, ParquetWriter } from 'hyparquet-writer';

import { type ColumnPiece, type ColumnValues, rebatch } from './columnar.js';
import { DataError } from './errors.js';
import { LABEL_COLUMN, TIME_COLUMN, type Table } from './table.js';
import { checkPart, type ExtraColumns, type ExtraColumnType, type TableSchema, type TableWriter } from './writer.js';

const NUMERIC = new Set(['INT32', 'INT64', 'FLOAT', 'DOUBLE', 'BOOLEAN']);

/**
 * Reads a Parquet file in row-major batches of at most `batchRows` rows.
 * @throws {DataError} for a missing or non-numeric column, a null or non-finite cell, an invalid file.
 */
export async function* readParquetBatches(
  file: string,
  features: readonly string[],
  batchRows: number,
): AsyncGenerator<Table> {
  const { size } = await stat(file);
  if (size === 0) throw new DataError({ file }, 'empty file');
  const buffer = await asyncBufferFromFile(file);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new DataError({ file }, `not a readable Parquet file (${(err as Error).message})`, { cause: err });
  }
  const columns = parquetSchema(metadata).children;
  const byName = new Map(columns.map((c) => [c.element.name, c]));
  const names = [...byName.keys()];
  const checkNumeric = (name: string): void => {
    const c = byName.get(name);
    if (c === undefined) return;
    if (c.children.length > 0 || !NUMERIC.has(String(c.element.type))) {
      throw new DataError({ file, column: name }, `column type ${c.element.type ?? 'group'} is not numeric`);
    }
  };
  for (const f of features) {
    if (!byName.has(f)) {
      throw new DataError(
        { file, column: f },
        `missing feature column (the file has: ${names.slice(0, 40).join(', ')})`,
      );
    }
    checkNumeric(f);
  }
  const hasLabels = byName.has(LABEL_COLUMN) && !features.includes(LABEL_COLUMN);
  const hasTime = byName.has(TIME_COLUMN) && !features.includes(TIME_COLUMN);
  if (hasLabels) checkNumeric(LABEL_COLUMN);
  if (hasTime) checkNumeric(TIME_COLUMN);
  const wanted = [...features, ...(hasLabels ? [LABEL_COLUMN] : []), ...(hasTime ? [TIME_COLUMN] : [])];

  async function* pieces(): AsyncGenerator<ColumnPiece> {
    let start = 0;
    for (const group of metadata.row_groups) {
      const n = Number(group.num_rows);
      const end = start + n;
      const chunks = new Map<string, { rowStart: number; data: ColumnValues }[]>();
      try {
        await parquetRead({
          file: buffer,
          metadata,
          columns: wanted,
          rowStart: start,
          rowEnd: end,
          onChunk: (c) => {
            const list = chunks.get(c.columnName) ?? [];
            list.push({ rowStart: c.rowStart, data: c.columnData as ColumnValues });
            chunks.set(c.columnName, list);
          },
        });
      } catch (err) {
        throw new DataError({ file, row: start }, `corrupt or truncated Parquet data (${(err as Error).message})`, {
          cause: err,
        });
      }
      const column = (name: string): ColumnValues => assemble(chunks.get(name) ?? [], start, n);
      const piece: ColumnPiece = { rowOffset: start, n, features: features.map(column) };
      if (hasLabels) piece.label = column(LABEL_COLUMN);
      if (hasTime) piece.time = column(TIME_COLUMN);
      yield piece;
      start = end;
    }
  }
  yield* rebatch(file, features, hasLabels, hasTime, pieces(), batchRows);
}

/** One column of rows [start, start+n) from the decoded chunks (usually exactly one chunk). */
function assemble(list: { rowStart: number; data: ColumnValues }[], start: number, n: number): ColumnValues {
  if (list.length === 1 && list[0].rowStart === start && list[0].data.length === n) return list[0].data;
  // Pages or chunks that straddle the range: copy the covered part; uncovered rows stay undefined and
  // are reported as missing values.
  const out: (number | bigint | null | undefined)[] = new Array(n);
  for (const { rowStart, data } of list) {
    for (let k = 0; k < data.length; k++) {
      const r = rowStart + k - start;
      if (r >= 0 && r < n) out[r] = data[k];
    }
  }
  return out;
}

const PARQUET_TYPE: Record<ExtraColumnType, 'FLOAT' | 'DOUBLE' | 'INT32'> = {
  float32: 'FLOAT',
  float64: 'DOUBLE',
  int32: 'INT32',
  uint8: 'INT32',
};

/** Parquet writer: one row group per written part, snappy-compressed. */
export class ParquetTableWriter implements TableWriter {
  readonly #schema: TableSchema;
  readonly #writer: ParquetWriter;

  constructor(file: string, schema: TableSchema) {
    this.#schema = schema;
    const extra = Object.entries(schema.extra ?? {});
    const elements = [
      ...(schema.time ? [{ name: TIME_COLUMN, type: 'DOUBLE' as const }] : []),
      ...schema.features.map((f) => ({ name: f, type: 'FLOAT' as const })),
      ...(schema.labels ? [{ name: LABEL_COLUMN, type: 'INT32' as const }] : []),
      ...extra.map(([k, t]) => ({ name: k, type: PARQUET_TYPE[t] })),
    ].map((e) => ({ ...e, repetition_type: 'REQUIRED' as const }));
    this.#writer = new ParquetWriter({
      writer: fileWriter(file),
      schema: [{ name: 'root', num_children: elements.length }, ...elements],
    });
  }

  async write(table: Table, extra?: ExtraColumns): Promise<void> {
    const extras = checkPart(this.#schema, table, extra);
    const n = table.n;
    if (n === 0) return;
    const d = table.features.length;
    const columnData: { name: string; data: Float32Array | Float64Array | Int32Array }[] = [];
    if (table.time) columnData.push({ name: TIME_COLUMN, data: table.time });
    for (let j = 0; j < d; j++) {
      const col = new Float32Array(n);
      for (let i = 0, o = j; i < n; i++, o += d) col[i] = table.rows[o];
      columnData.push({ name: table.features[j], data: col });
    }
    if (table.labels) columnData.push({ name: LABEL_COLUMN, data: Int32Array.from(table.labels) });
    const types = Object.entries(this.#schema.extra ?? {});
    for (const [k, col] of extras.entries()) {
      const [name, t] = types[k];
      const data =
        t === 'float32' ? Float32Array.from(col) : t === 'float64' ? Float64Array.from(col) : Int32Array.from(col);
      columnData.push({ name, data });
    }
    await this.#writer.write({ columnData, rowGroupSize: n });
  }

  async close(): Promise<void> {
    await this.#writer.finish();
  }

  abort(): void {
    // fileWriter writes synchronously and holds no descriptor between calls: nothing to release.
  }
}
