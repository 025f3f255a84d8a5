// Rows from a JSON prediction body, checked: the one place that turns `features` / `transaction` /
// `instances` into row-major float32 rows, shared by POST /predict and the stream worker
// (fraudscore/stream), so that both accept and reject exactly the same bodies with the same messages.
import type { PredictBody } from './schemas.js';

/** An error with an HTTP status and a `detail` body (FastAPI's error shape, the original contract). */
export class HttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, detail: string) {
    super(detail);
    this.statusCode = statusCode;
  }
}

/** What row checking needs to know of a model (a ModelState has it). */
export interface RowSchema {
  readonly model: { readonly features: readonly string[] };
  readonly featureIndex: ReadonlyMap<string, number>;
  /** Per feature: must the raw value be > -1 (log1p's domain)? */
  readonly log1p: readonly boolean[];
}

/** A finite float32 value: JSON numbers such as 1e39 are finite doubles but overflow float32. */
function isFiniteF32(v: number): boolean {
  return Number.isFinite(Math.fround(v));
}

/**
 * [sync] Row-major rows from a JSON body: counts, names, finite float32 values, log1p's domain.
 * @returns the rows, and whether the body was the batch form (`instances`)
 * @throws HttpError naming what was wrong (400; 413 over `maxInstances`; 422 none of the three forms)
 */
export function rowsFromBody(
  s: RowSchema,
  body: PredictBody,
  maxInstances: number,
): { rows: Float32Array; batch: boolean } {
  const d = s.model.features.length;
  const fill = (rows: Float32Array, at: number, item: number[] | Record<string, number>, where: string) => {
    if (Array.isArray(item)) {
      if (item.length !== d)
        throw new HttpError(400, `${where}Dimension mismatch: expected ${d} features, got ${item.length}`);
      for (let j = 0; j < d; j++) rows[at * d + j] = checkValue(s, item[j]!, j, where);
    } else {
      const names = Object.keys(item);
      const unknown = names.filter((n) => !s.featureIndex.has(n));
      if (unknown.length > 0) {
        throw new HttpError(
          400,
          `${where}Unknown feature name(s): ${unknown.join(', ')} (the model's features are ${s.model.features.join(', ')})`,
        );
      }
      const missing = s.model.features.filter((f) => !(f in item));
      if (missing.length > 0) throw new HttpError(400, `${where}Missing feature(s): ${missing.join(', ')}`);
      for (let j = 0; j < d; j++) rows[at * d + j] = checkValue(s, item[s.model.features[j]!]!, j, where);
    }
  };
  if (body.instances !== undefined) {
    const n = body.instances.length;
    if (n === 0) throw new HttpError(400, 'Expected `instances` to hold at least one transaction, got 0');
    if (n > maxInstances)
      throw new HttpError(
        413,
        `Too many instances: ${n}, the limit is ${maxInstances} per request (send Arrow IPC for bulk scoring)`,
      );
    const rows = new Float32Array(n * d);
    for (const [i, item] of body.instances.entries()) fill(rows, i, item, `instances[${i}]: `);
    return { rows, batch: true };
  }
  const rows = new Float32Array(d);
  if (body.features !== undefined) fill(rows, 0, body.features, '');
  else if (body.transaction !== undefined) fill(rows, 0, body.transaction, 'transaction: ');
  else throw new HttpError(422, 'Expected one of `features`, `transaction` or `instances` in the body');
  return { rows, batch: false };
}

/** One value, checked: a finite float32 number, > -1 for a log1p-transformed feature. */
export function checkValue(s: RowSchema, v: number, j: number, where: string): number {
  if (typeof v !== 'number' || !isFiniteF32(v)) {
    throw new HttpError(
      400,
      `${where}Non-finite value for feature ${s.model.features[j]} (index ${j}): ${v} (values must be finite float32 numbers)`,
    );
  }
  if (s.log1p[j] && !(v > -1)) {
    throw new HttpError(400, `${where}Feature ${s.model.features[j]} must be > -1 (it is log1p-transformed), got ${v}`);
  }
  return v;
}
