// Message bodies of the stream worker: the forms of POST /predict (one transaction as `features` or
// `transaction`, several as `instances`), each with an optional `id`, checked by the server's own
// row checks (rowsFromBody) so that a body the server rejects is a body the stream dead-letters,
// with the same message.
import { rowsFromBody, type RowSchema } from '../server/rows.js';
import type { PredictBody } from '../server/schemas.js';

/** Top-level fields a stream body may hold. */
const FIELDS = new Set(['id', 'features', 'transaction', 'instances', 'explain']);
const FORMS = ['features', 'transaction', 'instances'] as const;

/** A body that can be scored. */
export interface ParsedBody {
  /** The body's `id`, or null when it has none (the result then carries the stream sequence). */
  id: string | number | null;
  /** Row-major rows, `features` values each. */
  rows: Float32Array;
  /** The `instances` form: one result per row, ids `<id>:<row>`. */
  batch: boolean;
  /** Per-feature squared errors asked for (`"explain": true`). */
  explain: boolean;
}

/** A body that cannot be: what goes to the dead-letter subject. */
export interface BadBody {
  id: string | number | null;
  error: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A usable `id`: a non-empty string (at most 256 characters) or a safe integer. */
function checkId(v: unknown): string | number | null | BadBody {
  if (v === undefined) return null;
  if (typeof v === 'string' && v.length > 0 && v.length <= 256) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  return {
    id: null,
    error: `Expected \`id\` to be a non-empty string of at most 256 characters or an integer, got ${JSON.stringify(v)}`,
  };
}

/**
 * [sync] Parses and checks one message body.
 * @param data the message payload (UTF-8 JSON)
 * @param maxInstances most rows in one `instances` body
 * @returns the rows to score, or what was wrong (never throws on input)
 */
export function parseBody(schema: RowSchema, data: Uint8Array, maxInstances: number): ParsedBody | BadBody {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (e) {
    return { id: null, error: `JSON decode error: ${(e as Error).message}` };
  }
  if (!isPlainObject(body))
    return {
      id: null,
      error: `Expected a JSON object, got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}`,
    };
  const checked = checkId(body.id);
  if (checked !== null && typeof checked === 'object') return checked;
  const id = checked;
  const unknown = Object.keys(body).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) {
    return {
      id,
      error: `Unknown field(s): ${unknown.join(', ')} (a body holds \`id\`, \`explain\` and one of \`features\`, \`transaction\`, \`instances\`)`,
    };
  }
  const forms = FORMS.filter((f) => body[f] !== undefined);
  if (forms.length !== 1) {
    return {
      id,
      error:
        forms.length === 0
          ? 'Expected one of `features`, `transaction` or `instances` in the body'
          : `Expected only one of \`features\`, \`transaction\` or \`instances\`, got ${forms.join(', ')}`,
    };
  }
  const form = forms[0]!;
  const v = body[form];
  if (form === 'features' && !Array.isArray(v))
    return { id, error: `Expected \`features\` to be an array of numbers, got ${typeof v}` };
  if (form === 'transaction' && !isPlainObject(v))
    return { id, error: 'Expected `transaction` to be an object of numbers by feature name' };
  if (form === 'instances') {
    if (!Array.isArray(v)) return { id, error: 'Expected `instances` to be an array of transactions' };
    const bad = v.findIndex((r) => !Array.isArray(r) && !isPlainObject(r));
    if (bad >= 0) return { id, error: `instances[${bad}]: Expected an array of numbers or an object by feature name` };
  }
  if (body.explain !== undefined && typeof body.explain !== 'boolean')
    return { id, error: 'Expected `explain` to be a boolean' };
  try {
    const { rows, batch } = rowsFromBody(schema, body as PredictBody, maxInstances);
    return { id, rows, batch, explain: body.explain === true };
  } catch (e) {
    return { id, error: (e as Error).message };
  }
}

/** One scored row, as published on the output subject. */
export interface StreamResult {
  /** The body's id (`<id>:<row>` for the instances form), else the input's stream sequence. */
  id: string | number;
  score: number;
  /** isFraud(score, threshold) (src/decision.ts): the rule of the server and scoreFile. */
  is_fraud: boolean;
  threshold: number;
  /** `<name>@<version>` of the model that scored it. */
  model: string;
  /** Hybrid models: the fraud probability (equal to `score`) and the autoencoder's error. */
  fraud_probability?: number;
  reconstruction_error?: number;
  /** Per feature squared error, by name (when the body asked with `"explain": true`). */
  feature_errors?: Record<string, number>;
}

/** What is published on the dead-letter subject. */
export interface DeadLetter {
  /** The body's id when it could be read, else null. */
  id: string | number | null;
  /** What was wrong, naming the field. */
  error: string;
  stream: string;
  /** Stream sequence of the input message. */
  seq: number;
  subject: string;
  /** The original body, as UTF-8 text. */
  body: string;
}
