// Decoding an Arrow IPC stream sent to /predict. The body comes from an unauthenticated client, so
// nothing in its headers is trusted: every record batch's row count is checked against the byte
// lengths of the buffers that must hold those rows, and the rows of the whole body against a cap,
// before a single output value is allocated. apache-arrow reads a batch's buffers as views of the
// body (clamped to it), so a header claiming 1e8 rows over 400 bytes would otherwise decode as 1e8
// zero or undefined values; and it trusts the flatbuffer metadata's vector lengths, which
// ipc-verify.ts checks first.
import { type Data, RecordBatchReader, type Table } from 'apache-arrow';

import { verifyIpcStream } from './ipc-verify.js';

/** Why a body was refused, as an HTTP status (400 malformed, 413 too many rows) and a message. */
export class ArrowBodyError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'ArrowBodyError';
    this.statusCode = statusCode;
  }
}

export interface DecodedArrowBody {
  /** n * features values, row-major, in the order of `features`. */
  rows: Float32Array;
  n: number;
}

// Type ids from apache-arrow's Type enum: Int = 2, Float = 3.
const isNumeric = (typeId: number) => typeId === 2 || typeId === 3;

/**
 * [sync] The feature columns of an Arrow IPC stream as row-major float32 rows.
 * `check(value, featureIndex, where)` vets each value (finite, in domain) and may throw.
 * @throws ArrowBodyError (400) for an unreadable stream, a missing/non-numeric/null column or a row
 *   count its buffers cannot hold; (413) for more than `maxRows` rows.
 */
export function decodeArrowBody(
  body: Uint8Array,
  features: readonly string[],
  maxRows: number,
  check: (v: number, j: number, where: string) => number,
): DecodedArrowBody {
  type Batch = ReturnType<Table['batches']['at']> & {};
  const batches: Batch[] = [];
  let n = 0;
  if (body.length >= 6 && Buffer.from(body.subarray(0, 6)).toString('latin1') === 'ARROW1') {
    throw new ArrowBodyError(
      400,
      'The body is an Arrow IPC file; send the stream format (application/vnd.apache.arrow.stream)',
    );
  }
  try {
    // Every offset and length of the metadata inside the body before apache-arrow trusts them.
    verifyIpcStream(body);
    const reader = RecordBatchReader.from(body);
    let b = 0;
    for (const batch of reader) {
      const rows = batch.numRows;
      if (!Number.isSafeInteger(rows) || rows < 0) throw new ArrowBodyError(400, `record batch ${b} has ${rows} rows`);
      if (n + rows > maxRows) {
        throw new ArrowBodyError(
          413,
          `Too many rows: the Arrow stream holds more than ${maxRows}, the limit per request (split it)`,
        );
      }
      for (const f of features) {
        const col = batch.getChild(f);
        if (col === null) continue; // reported below, naming every missing column at once
        for (const data of col.data as Data[]) checkData(data, rows, b, f);
      }
      batches.push(batch as Batch);
      n += rows;
      b++;
    }
  } catch (e) {
    if (e instanceof ArrowBodyError) throw e;
    throw new ArrowBodyError(400, `The body is not a readable Arrow IPC stream: ${(e as Error).message}`);
  }
  if (n === 0) throw new ArrowBodyError(400, 'The Arrow stream holds no rows');
  const first = batches[0]!;
  const missing = features.filter((f) => first.getChild(f) === null);
  if (missing.length > 0) {
    throw new ArrowBodyError(400, `The Arrow stream lacks feature column(s): ${missing.join(', ')}`);
  }
  const d = features.length;
  const out = new Float32Array(n * d);
  let at = 0;
  for (const batch of batches) {
    features.forEach((f, j) => {
      const col = batch.getChild(f);
      if (col === null) throw new ArrowBodyError(400, `The Arrow stream lacks feature column ${f} in a later batch`);
      if (col.nullCount > 0) throw new ArrowBodyError(400, `Arrow column ${f} holds ${col.nullCount} null value(s)`);
      let i = at;
      for (const data of col.data as Data[]) {
        const values = data.values as ArrayLike<number | bigint>;
        for (let k = data.offset, end = data.offset + data.length; k < end; k++, i++) {
          out[i * d + j] = check(Number(values[k]), j, `row ${i}: `);
        }
      }
    });
    at += batch.numRows;
  }
  return { rows: out, n };
}

/** One column chunk: numeric, no more rows than its batch, and values its buffer really holds. */
function checkData(data: Data, batchRows: number, b: number, f: string): void {
  const t = data.type as { typeId: number };
  if (!isNumeric(t.typeId)) {
    throw new ArrowBodyError(400, `Arrow column ${f} is ${String(data.type)}, expected a numeric type`);
  }
  const values = data.values as ArrayLike<unknown> | undefined;
  const held = values?.length ?? 0;
  if (data.length !== batchRows || data.offset + data.length > held) {
    throw new ArrowBodyError(
      400,
      `Arrow record batch ${b} claims ${batchRows} rows but column ${f} holds ${Math.max(held - data.offset, 0)} value(s) (${data.length} declared): the length fields disagree with the buffers`,
    );
  }
}
