// The shape shared by the CSV, Arrow and Parquet writers: open with a schema, write tables in parts
// (bounded memory for any file size), close. writeTable() and the synthetic generator use it.
import { LABEL_COLUMN, TIME_COLUMN, type Table } from './table.js';

/** Element type of an extra per-row column (scores, decisions, ...). */
export type ExtraColumnType = 'float32' | 'float64' | 'int32' | 'uint8';

/** Extra per-row columns appended after the features and Class, e.g. `{ score: Float32Array }`. */
export type ExtraColumns = Record<string, ArrayLike<number>>;

/** What every part written to one file has in common. */
export interface TableSchema {
  features: readonly string[];
  /** Whether a Class column is written (every part must then have labels). */
  labels: boolean;
  /** Whether a Time column is written (every part must then have time). */
  time: boolean;
  /** Extra columns in order, with their types. */
  extra?: Record<string, ExtraColumnType>;
}

/** A file being written part by part. */
export interface TableWriter {
  /** Appends the rows of `table` (and the matching values of the extra columns). */
  write(table: Table, extra?: ExtraColumns): Promise<void>;
  /** Finishes the file (footer, flush); the file is complete only after this resolves. */
  close(): Promise<void>;
  /** Stops writing after a failure; the partial file is left for the caller to remove. */
  abort(): void;
}

/** The schema of a table plus extra columns typed by their array types. */
export function schemaOf(table: Table, extra?: ExtraColumns): TableSchema {
  const types: Record<string, ExtraColumnType> = {};
  for (const [k, v] of Object.entries(extra ?? {})) {
    types[k] =
      v instanceof Float32Array
        ? 'float32'
        : v instanceof Uint8Array
          ? 'uint8'
          : v instanceof Int32Array
            ? 'int32'
            : 'float64';
  }
  return { features: table.features, labels: table.labels !== undefined, time: table.time !== undefined, extra: types };
}

/**
 * Checks that one part agrees with the writer's schema; returns the extra columns in schema order.
 * @throws {TypeError} naming what differs.
 */
export function checkPart(schema: TableSchema, table: Table, extra: ExtraColumns | undefined): ArrayLike<number>[] {
  const f = schema.features;
  if (table.features.length !== f.length || table.features.some((x, j) => x !== f[j])) {
    throw new TypeError(`Expected table features [${f.join(', ')}], got [${table.features.join(', ')}]`);
  }
  if (schema.labels !== (table.labels !== undefined)) {
    throw new TypeError(`Expected table ${schema.labels ? 'with' : 'without'} labels (${LABEL_COLUMN} column)`);
  }
  if (schema.time !== (table.time !== undefined)) {
    throw new TypeError(`Expected table ${schema.time ? 'with' : 'without'} time (${TIME_COLUMN} column)`);
  }
  const names = Object.keys(schema.extra ?? {});
  const given = Object.keys(extra ?? {});
  for (const k of given) {
    if (!names.includes(k))
      throw new TypeError(`Unexpected extra column \`${k}\` (the file has: ${names.join(', ') || 'none'})`);
  }
  return names.map((k) => {
    const col = extra?.[k];
    if (!col || col.length !== table.n) {
      throw new TypeError(`Expected extra column \`${k}\` to have ${table.n} values, got ${col ? col.length : 'none'}`);
    }
    return col;
  });
}
