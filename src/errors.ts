// Error classes with stable `code`s so callers can branch without parsing messages.

/** A model artifact that cannot be used: missing, truncated, corrupted or inconsistent. */
export class ModelError extends Error {
  readonly code = 'ERR_FRAUDSCORE_MODEL';
  /** The file the problem was found in, when there is one. */
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super(message);
    this.name = 'ModelError';
    this.file = file;
  }
}

/**
 * A row the model cannot score: a NaN/Inf value, one outside log1p's domain, or one that overflows
 * float32 once preprocessed. Thrown by Scorer (nonFinite: 'error'); the native trainer rejects with
 * the same code, `row` and `column`.
 */
export class NonFiniteError extends RangeError {
  readonly code = 'ERR_FRAUDSCORE_NON_FINITE';
  /** Row index in the scored batch (0-based). */
  readonly row: number;
  /** Column index in the model's feature order. */
  readonly column: number;
  /** The feature's name. */
  readonly feature: string | undefined;
  /** The raw value. */
  readonly value: number;
  /** What is wrong with it: "NaN", "-2, outside log1p's domain (> -1)", ... */
  readonly problem: string;
  constructor(message: string, at: { row: number; column: number; feature?: string; value: number; problem: string }) {
    super(message);
    this.name = 'RangeError';
    this.row = at.row;
    this.column = at.column;
    this.feature = at.feature;
    this.value = at.value;
    this.problem = at.problem;
  }
}

/** Describes a value for messages: "Array", "number", "Float64Array", ... */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (Array.isArray(v)) return 'Array';
  return typeof v;
}

/**
 * [sync] Gives an error from an async native call the stack of the JS call that started it (as
 * sharp does): a promise settled from the libuv pool otherwise shows no frame of the caller.
 * `caller` is an Error created before the await. Its message, code and fields stay as they are.
 * @returns `err`
 */
export function withCallerStack<E>(err: E, caller: Error): E {
  if (err instanceof Error && caller.stack) {
    const frames = caller.stack.slice(caller.stack.indexOf('\n'));
    err.stack = `${err.name}: ${err.message}${frames}`;
  }
  return err;
}
