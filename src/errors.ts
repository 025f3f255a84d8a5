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

/** Describes a value for messages: "Array", "number", "Float64Array", ... */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (Array.isArray(v)) return 'Array';
  return typeof v;
}
