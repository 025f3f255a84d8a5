// Turns column-oriented pieces (Arrow record batches, Parquet row groups) into row-major batches of a
// fixed size, checking every cell on the way: the same rules and messages as the CSV reader, with a
// 0-based row index instead of a line number.
import { DataError } from './errors.js';
import { LABEL_COLUMN, TIME_COLUMN, type Table } from './table.js';

/** A numeric column slice as decoded by Arrow or Parquet (nulls possible in plain arrays). */
export type ColumnValues = ArrayLike<number | bigint | null | undefined>;

/** A run of rows from a columnar file: one array per feature, plus optional label and time. */
export interface ColumnPiece {
  /** Row index of the piece's first row within the whole file. */
  rowOffset: number;
  n: number;
  features: ColumnValues[];
  /** Per feature: true when the source column is nullable and has nulls in this piece. */
  nullMask?: ((i: number) => boolean)[];
  label?: ColumnValues;
  time?: ColumnValues;
}

/**
 * Fills row-major batches of `batchRows` rows from column pieces.
 * @throws {DataError} for a null, non-finite or out-of-range cell, naming file, row and column.
 */
export async function* rebatch(
  file: string,
  features: readonly string[],
  hasLabels: boolean,
  hasTime: boolean,
  pieces: AsyncIterable<ColumnPiece>,
  batchRows: number,
): AsyncGenerator<Table> {
  const d = features.length;
  let rows = new Float32Array(batchRows * d);
  let labels = hasLabels ? new Uint8Array(batchRows) : undefined;
  let time = hasTime ? new Float64Array(batchRows) : undefined;
  let count = 0;
  let total = 0;

  const take = (): Table => {
    const full = count === batchRows;
    const t: Table = { features: [...features], rows: full ? rows : rows.slice(0, count * d), n: count };
    if (labels) t.labels = full ? labels : labels.slice(0, count);
    if (time) t.time = full ? time : time.slice(0, count);
    total += count;
    count = 0;
    rows = new Float32Array(batchRows * d);
    if (labels) labels = new Uint8Array(batchRows);
    if (time) time = new Float64Array(batchRows);
    return t;
  };

  for await (const piece of pieces) {
    let i = 0;
    while (i < piece.n) {
      const m = Math.min(piece.n - i, batchRows - count);
      for (let j = 0; j < d; j++) {
        const col = piece.features[j];
        const isNull = piece.nullMask?.[j];
        for (let k = 0; k < m; k++) {
          const raw = col[i + k];
          const v = typeof raw === 'number' ? raw : raw === null || raw === undefined ? Number.NaN : Number(raw);
          const f = Math.fround(v);
          if (Number.isNaN(f) || f === Infinity || f === -Infinity || (isNull?.(i + k) ?? false)) {
            throw new DataError(
              { file, row: piece.rowOffset + i + k, column: features[j] },
              raw === null || raw === undefined || isNull?.(i + k)
                ? 'null (missing) value'
                : Number.isNaN(v) || v === Infinity || v === -Infinity
                  ? `non-finite value ${v} (NaN and Infinity are not allowed)`
                  : `value ${v} overflows float32`,
            );
          }
          rows[(count + k) * d + j] = f;
        }
      }
      if (labels) {
        const col = piece.label as ColumnValues;
        for (let k = 0; k < m; k++) {
          const raw = col[i + k];
          const v = raw === null || raw === undefined ? Number.NaN : Number(raw);
          if (v !== 0 && v !== 1) {
            throw new DataError(
              { file, row: piece.rowOffset + i + k, column: LABEL_COLUMN },
              `label must be 0 or 1, got ${raw}`,
            );
          }
          labels[count + k] = v;
        }
      }
      if (time) {
        const col = piece.time as ColumnValues;
        for (let k = 0; k < m; k++) {
          const raw = col[i + k];
          const v = raw === null || raw === undefined ? Number.NaN : Number(raw);
          if (!Number.isFinite(v)) {
            throw new DataError(
              { file, row: piece.rowOffset + i + k, column: TIME_COLUMN },
              `time must be a finite number, got ${raw}`,
            );
          }
          time[count + k] = v;
        }
      }
      count += m;
      i += m;
      if (count === batchRows) yield take();
    }
  }
  if (total + count === 0) throw new DataError({ file }, 'no data rows');
  if (count > 0) yield take();
}
