// The one error type for unusable input data. Every message names the file and, where known, the
// line (CSV, 1-based, the header is line 1) or row (Arrow/Parquet, 0-based row index) and the column,
// so a user can open the file at the right place instead of guessing.

export interface DataErrorLocation {
  /** The file being read or written. */
  file: string;
  /** CSV line number (1-based; the header is line 1). */
  line?: number;
  /** Row index in an Arrow or Parquet file (0-based, counted over the whole file). */
  row?: number;
  /** Column name. */
  column?: string;
}

/** Bad input data: missing column, non-numeric or non-finite cell, ragged row, empty or truncated file. */
export class DataError extends Error {
  readonly code = 'ERR_FRAUDSCORE_DATA';
  readonly file: string;
  readonly line: number | undefined;
  readonly row: number | undefined;
  readonly column: string | undefined;

  constructor(where: DataErrorLocation, problem: string, options?: { cause?: unknown }) {
    super(`${formatLocation(where)}: ${problem}`, options);
    this.name = 'DataError';
    this.file = where.file;
    this.line = where.line;
    this.row = where.row;
    this.column = where.column;
  }
}

function formatLocation(where: DataErrorLocation): string {
  let s = where.file;
  if (where.line !== undefined) s += `:${where.line}`;
  if (where.row !== undefined) s += ` row ${where.row}`;
  if (where.column !== undefined) s += ` column "${where.column}"`;
  return s;
}

/** Shortens a cell for messages so a megabyte-long garbage field does not flood the terminal. */
export function quoteCell(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(cut);
}
