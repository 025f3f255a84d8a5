// Rows that arrive from code rather than from a file: any iterable or async iterable (an object-mode
// Readable, an async generator, an array) of rows, cut into batches of at most `batchRows` rows. A row
// is an array or Float32Array of the model's features in order (a Float32Array may hold several rows,
// row-major), or an object keyed by feature name (extra keys ignored), e.g. parsed JSON lines.
import { DataError } from './errors.js';
import type { Table } from './table.js';

/** One item of a row source (see the file comment). */
export type RowItem = ArrayLike<number> | Readonly<Record<string, unknown>>;

/** Any iterable or async iterable of rows. */
export type RowSource = AsyncIterable<RowItem> | Iterable<RowItem>;

/**
 * [async] The rows of `source` in batches (memory: one batch).
 * @throws {DataError} naming `label`, the 0-based row and the feature for a missing, non-numeric or
 *   wrongly sized row. Non-finite values pass through (the scorer's `nonFinite` policy decides).
 */
export async function* rowSourceBatches(
  label: string,
  source: RowSource,
  features: readonly string[],
  batchRows: number,
): AsyncGenerator<Table> {
  const d = features.length;
  const names = [...features];
  let rows = new Float32Array(batchRows * d);
  let n = 0;
  let row = 0;
  const take = (): Table => {
    const t: Table = { features: names, rows: rows.subarray(0, n * d), n };
    rows = new Float32Array(batchRows * d);
    n = 0;
    return t;
  };
  for await (const item of source as AsyncIterable<RowItem>) {
    if (item instanceof Float32Array || item instanceof Float64Array || Array.isArray(item)) {
      const values = item as ArrayLike<unknown>;
      const isTyped = !Array.isArray(item);
      if (values.length === 0 || values.length % d !== 0 || (!isTyped && values.length !== d)) {
        throw new DataError(
          { file: label, row },
          `expected ${isTyped ? `a multiple of ${d}` : d} values (${features.join(', ')}), got ${values.length}`,
        );
      }
      for (let o = 0; o < values.length; o += d) {
        for (let j = 0; j < d; j++) {
          const v = values[o + j];
          if (typeof v !== 'number') {
            throw new DataError({ file: label, row, column: features[j] }, `expected a number, got ${describe(v)}`);
          }
          rows[n * d + j] = v;
        }
        n++;
        row++;
        if (n === batchRows) yield take();
      }
    } else if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item)) {
      const rec = item as Record<string, unknown>;
      for (let j = 0; j < d; j++) {
        const f = features[j]!;
        const v = rec[f];
        if (typeof v !== 'number') {
          throw new DataError(
            { file: label, row, column: f },
            v === undefined ? 'missing feature' : `expected a number, got ${describe(v)}`,
          );
        }
        rows[n * d + j] = v;
      }
      n++;
      row++;
      if (n === batchRows) yield take();
    } else {
      throw new DataError(
        { file: label, row },
        `expected a row (an array of ${d} numbers or an object keyed by feature name), got ${describe(item)}`,
      );
    }
  }
  if (row === 0) throw new DataError({ file: label }, 'no rows');
  if (n > 0) yield take();
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return Array.isArray(v) ? 'an array' : typeof v;
}
