// The in-memory form of a transactions file: one row-major Float32Array of the model features plus
// the optional Class labels and Time column. Every loader produces it, every writer consumes it, and
// the native scorer reads `rows` as is (no copy).

/** Rows of transactions, row-major: `rows[i * features.length + j]` is feature j of row i. */
export interface Table {
  /** Feature names, in column order. */
  features: string[];
  /** n * features.length values, row-major. */
  rows: Float32Array;
  /** Number of rows. */
  n: number;
  /** Class per row (1 = fraud, 0 = normal) when the source had a Class column. */
  labels?: Uint8Array;
  /** Time per row (seconds since the first transaction in the Kaggle file) when the source had one. */
  time?: Float64Array;
}

/** The default model features: V1..V28 and Amount (the Kaggle file's columns minus Time and Class). */
export const DEFAULT_FEATURES: readonly string[] = Object.freeze([
  ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`),
  'Amount',
]);

/** Name of the label column (1 = fraud). */
export const LABEL_COLUMN = 'Class';
/** Name of the time column. */
export const TIME_COLUMN = 'Time';

/**
 * Checks that a Table's arrays agree with each other.
 * @throws {TypeError} naming the field that is inconsistent.
 */
export function assertTable(t: Table, name = 'table'): void {
  if (!Array.isArray(t.features) || t.features.length === 0) {
    throw new TypeError(`Expected \`${name}.features\` to be a non-empty array of column names`);
  }
  if (!Number.isInteger(t.n) || t.n < 0) {
    throw new TypeError(`Expected \`${name}.n\` to be a non-negative integer, got ${t.n}`);
  }
  if (!(t.rows instanceof Float32Array) || t.rows.length !== t.n * t.features.length) {
    throw new TypeError(
      `Expected \`${name}.rows\` to be a Float32Array of n*${t.features.length} = ${t.n * t.features.length} values, got ${t.rows instanceof Float32Array ? `${t.rows.length} values` : (t.rows as object)?.constructor?.name}`,
    );
  }
  if (t.labels !== undefined && (!(t.labels instanceof Uint8Array) || t.labels.length !== t.n)) {
    throw new TypeError(`Expected \`${name}.labels\` to be a Uint8Array of ${t.n} values`);
  }
  if (t.time !== undefined && (!(t.time instanceof Float64Array) || t.time.length !== t.n)) {
    throw new TypeError(`Expected \`${name}.time\` to be a Float64Array of ${t.n} values`);
  }
}

/** A new Table with the given rows of `t`, in the order given. */
export function takeRows(t: Table, indices: ArrayLike<number>): Table {
  const d = t.features.length;
  const m = indices.length;
  const rows = new Float32Array(m * d);
  const labels = t.labels ? new Uint8Array(m) : undefined;
  const time = t.time ? new Float64Array(m) : undefined;
  for (let i = 0; i < m; i++) {
    const src = indices[i];
    rows.set(t.rows.subarray(src * d, src * d + d), i * d);
    if (labels) labels[i] = (t.labels as Uint8Array)[src];
    if (time) time[i] = (t.time as Float64Array)[src];
  }
  const out: Table = { features: [...t.features], rows, n: m };
  if (labels) out.labels = labels;
  if (time) out.time = time;
  return out;
}

/** The rows of `t` whose label is `label` (e.g. 0 for the normal rows an autoencoder trains on). */
export function rowsWithLabel(t: Table, label: 0 | 1): Table {
  if (!t.labels) throw new Error('The table has no labels (no Class column in its source)');
  const idx: number[] = [];
  for (let i = 0; i < t.n; i++) if (t.labels[i] === label) idx.push(i);
  return takeRows(t, idx);
}

/** Concatenates tables with the same features (labels/time kept only when every part has them). */
export function concatTables(parts: readonly Table[]): Table {
  if (parts.length === 0) throw new Error('concatTables needs at least one table');
  const features = parts[0].features;
  const d = features.length;
  let n = 0;
  for (const [k, p] of parts.entries()) {
    if (p.features.length !== d || p.features.some((f, j) => f !== features[j])) {
      throw new Error(
        `concatTables: part ${k} has features [${p.features.join(', ')}], expected [${features.join(', ')}]`,
      );
    }
    n += p.n;
  }
  const rows = new Float32Array(n * d);
  const withLabels = parts.every((p) => p.labels);
  const withTime = parts.every((p) => p.time);
  const labels = withLabels ? new Uint8Array(n) : undefined;
  const time = withTime ? new Float64Array(n) : undefined;
  let at = 0;
  for (const p of parts) {
    rows.set(p.rows.subarray(0, p.n * d), at * d);
    if (labels) labels.set(p.labels as Uint8Array, at);
    if (time) time.set(p.time as Float64Array, at);
    at += p.n;
  }
  const out: Table = { features: [...features], rows, n };
  if (labels) out.labels = labels;
  if (time) out.time = time;
  return out;
}
