// Decoding an Arrow IPC stream sent to /predict. The body comes from an unauthenticated client, so
// nothing in its headers is trusted: every record batch's row count is checked against the byte
// lengths of the buffers that must hold those rows, and the rows of the whole body against a cap,
// before a single output value is allocated. apache-arrow reads a batch's buffers as views of the
// body (clamped to it), so a header claiming 1e8 rows over 400 bytes would otherwise decode as 1e8
// zero or undefined values; and it trusts the flatbuffer metadata's vector lengths, which
// ipc-verify.ts checks first.
//
// The body is decoded as it arrives, one message at a time (ArrowBodyDecoder): each message's
// metadata is verified, a record batch's declared rows are checked against the cap before its body
// is read, and the batch is converted to float32 rows and dropped. Memory holds the rows decoded so
// far and one message, never the whole body (an Arrow body of float64 columns is twice its rows).
import type { Readable } from 'node:stream';

import { type Data, RecordBatchReader, type Table } from 'apache-arrow';

import { verifyIpcMessage } from './ipc-verify.js';

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

type Batch = ReturnType<Table['batches']['at']> & {};

/** The request stream of an Arrow body, as the content-type parser hands it to the route. */
export class ArrowBodyStream {
  constructor(
    readonly source: Readable | AsyncIterable<Uint8Array>,
    /** The Content-Length header, when given (a body over the limit is refused before it is read). */
    readonly declaredBytes?: number,
  ) {}
}

/**
 * [sync] An Arrow IPC stream decoded as its bytes arrive: push() each chunk, then end().
 * `check(value, featureIndex, where)` vets each value (finite, in domain) and may throw.
 */
export class ArrowBodyDecoder {
  readonly #features: readonly string[];
  readonly #maxRows: number;
  readonly #maxBytes: number;
  readonly #check: (v: number, j: number, where: string) => number;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #bytes = 0;
  #message = 0;
  #done = false;
  #schema: Uint8Array | null = null;
  #dictionaries: Uint8Array[] = [];
  #parts: Float32Array[] = [];
  #n = 0;
  #batches = 0;
  #magicChecked = false;

  constructor(
    features: readonly string[],
    maxRows: number,
    maxBytes: number,
    check: (v: number, j: number, where: string) => number,
  ) {
    this.#features = features;
    this.#maxRows = maxRows;
    this.#maxBytes = maxBytes;
    this.#check = check;
  }

  /** @throws ArrowBodyError as soon as the bytes so far are refused. */
  push(chunk: Uint8Array): void {
    if (this.#done || chunk.length === 0) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) throw new ArrowBodyError(413, 'Request body is too large');
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    // An Arrow IPC file starts with ARROW1: say so rather than misreading its magic as a length.
    if (!this.#magicChecked) {
      if (this.#bytes < 6) return;
      this.#magicChecked = true;
      if (Buffer.from(this.#peek(0, 6)).toString('latin1') === 'ARROW1') {
        throw new ArrowBodyError(
          400,
          'The body is an Arrow IPC file; send the stream format (application/vnd.apache.arrow.stream)',
        );
      }
    }
    this.#wrap(() => {
      while (!this.#done && this.#next(false)) {}
    });
  }

  /** The rows of the whole body. @throws ArrowBodyError for a truncated or empty stream. */
  end(): DecodedArrowBody {
    this.#magicChecked = true; // fewer than 6 bytes: not a file's magic
    this.#wrap(() => {
      while (!this.#done && this.#next(true)) {}
    });
    if (this.#n === 0) throw new ArrowBodyError(400, 'The Arrow stream holds no rows');
    const d = this.#features.length;
    const rows = this.#parts.length === 1 ? this.#parts[0]! : new Float32Array(this.#n * d);
    if (this.#parts.length > 1) {
      let at = 0;
      for (const p of this.#parts) {
        rows.set(p, at);
        at += p.length;
      }
    }
    return { rows, n: this.#n };
  }

  #wrap(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof ArrowBodyError) throw e;
      throw new ArrowBodyError(400, `The body is not a readable Arrow IPC stream: ${(e as Error).message}`);
    }
  }

  /** Bytes [at, at + n) of the queue, copied only when they span chunks. */
  #peek(at: number, n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (at + n <= first.length) return first.subarray(at, at + n);
    const out = new Uint8Array(n);
    let skip = at;
    let o = 0;
    for (const c of this.#chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const part = c.subarray(skip, Math.min(c.length, skip + n - o));
      out.set(part, o);
      o += part.length;
      skip = 0;
      if (o === n) break;
    }
    return out;
  }

  #drop(n: number): void {
    this.#queued -= n;
    while (n > 0) {
      const c = this.#chunks[0]!;
      if (c.length <= n) {
        this.#chunks.shift();
        n -= c.length;
      } else {
        this.#chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }

  #int32(at: number): number {
    const b = this.#peek(at, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  }

  /**
   * Handles the next complete message; false when more bytes are needed (or, at the end, when the
   * stream is over). `atEnd`: no more bytes will come, so a partial message is an error.
   */
  #next(atEnd: boolean): boolean {
    const m = this.#message;
    const left = this.#queued;
    if (left === 0) {
      if (atEnd) this.#done = true;
      return false;
    }
    const truncated = (): false => {
      if (atEnd)
        throw new ArrowBodyError(
          400,
          `The body is not a readable Arrow IPC stream: message ${m}: truncated length prefix`,
        );
      return false;
    };
    if (left < 4) return truncated();
    let len = this.#int32(0);
    let start = 4;
    if (len === -1) {
      if (left < 8) return truncated();
      len = this.#int32(4);
      start = 8;
    }
    if (len === 0) {
      this.#done = true; // end-of-stream marker
      return false;
    }
    // Bytes consumed before this message: with what it says it needs, over the limit is refused on
    // its word, before the bytes arrive (metadata that long is garbage: 400; a body, 413).
    const before = this.#bytes - left;
    if (len < 0 || before + start + len > this.#maxBytes) {
      throw new ArrowBodyError(
        400,
        `The body is not a readable Arrow IPC stream: message ${m} claims ${len} metadata bytes`,
      );
    }
    if (left < start + len) {
      if (atEnd) {
        throw new ArrowBodyError(
          400,
          `The body is not a readable Arrow IPC stream: message ${m} claims ${len} metadata bytes, the body has ${left - start} left`,
        );
      }
      return false;
    }
    const info = verifyIpcMessage(this.#peek(start, len).slice(), m);
    if (info.headerType === 3) {
      const rows = info.rows;
      if (!Number.isSafeInteger(rows) || rows < 0) throw new ArrowBodyError(400, `record batch ${m} has ${rows} rows`);
      // Refused on the header's word, before the batch's body is read.
      if (this.#n + rows > this.#maxRows) {
        throw new ArrowBodyError(
          413,
          `Too many rows: the Arrow stream holds more than ${this.#maxRows}, the limit per request (split it)`,
        );
      }
    }
    const total = start + len + info.bodyLength;
    if (!(info.bodyLength >= 0)) {
      throw new ArrowBodyError(
        400,
        `The body is not a readable Arrow IPC stream: message ${m} claims a ${info.bodyLength}-byte body`,
      );
    }
    if (before + total > this.#maxBytes) throw new ArrowBodyError(413, 'Request body is too large');
    if (left < total) {
      if (atEnd) {
        throw new ArrowBodyError(
          400,
          `The body is not a readable Arrow IPC stream: message ${m} claims a ${info.bodyLength}-byte body, the stream has ${left - start - len} left`,
        );
      }
      return false;
    }
    const bytes = this.#peek(0, total).slice();
    this.#drop(total);
    this.#message++;
    if (info.headerType === 1) {
      if (this.#schema !== null) throw new ArrowBodyError(400, `message ${m} is a second schema`);
      this.#schema = bytes;
    } else if (info.headerType === 2) {
      this.#dictionaries.push(bytes);
    } else {
      if (this.#schema === null) throw new ArrowBodyError(400, `message ${m} is a record batch before the schema`);
      this.#batch(bytes);
    }
    return true;
  }

  /** Decodes one record batch (with the schema and dictionaries before it) into float32 rows. */
  #batch(message: Uint8Array): void {
    const parts = [this.#schema!, ...this.#dictionaries, message];
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      bytes.set(p, o);
      o += p.length;
    }
    const b = this.#batches++;
    for (const batch of RecordBatchReader.from(bytes) as Iterable<Batch>) {
      const rows = batch.numRows;
      if (!Number.isSafeInteger(rows) || rows < 0) throw new ArrowBodyError(400, `record batch ${b} has ${rows} rows`);
      const missing = this.#features.filter((f) => batch.getChild(f) === null);
      if (missing.length > 0) {
        throw new ArrowBodyError(400, `The Arrow stream lacks feature column(s): ${missing.join(', ')}`);
      }
      const d = this.#features.length;
      const out = new Float32Array(rows * d);
      const at = this.#n;
      this.#features.forEach((f, j) => {
        const col = batch.getChild(f)!;
        for (const data of col.data as Data[]) checkData(data, rows, b, f);
        if (col.nullCount > 0) throw new ArrowBodyError(400, `Arrow column ${f} holds ${col.nullCount} null value(s)`);
        let i = 0;
        for (const data of col.data as Data[]) {
          const values = data.values as ArrayLike<number | bigint>;
          for (let k = data.offset, end = data.offset + data.length; k < end; k++, i++) {
            out[i * d + j] = this.#check(Number(values[k]), j, `row ${at + i}: `);
          }
        }
      });
      if (rows > 0) this.#parts.push(out);
      this.#n += rows;
    }
  }
}

/**
 * [sync] The feature columns of a whole Arrow IPC stream body as row-major float32 rows.
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
  const dec = new ArrowBodyDecoder(features, maxRows, Number.POSITIVE_INFINITY, check);
  dec.push(body);
  return dec.end();
}

/**
 * [async] The same, read from a request stream as it arrives; stops reading at the first problem.
 * @throws ArrowBodyError as decodeArrowBody, and (413) for a body over `maxBytes`.
 */
export async function decodeArrowBodyStream(
  body: ArrowBodyStream,
  features: readonly string[],
  maxRows: number,
  maxBytes: number,
  check: (v: number, j: number, where: string) => number,
): Promise<DecodedArrowBody> {
  if (body.declaredBytes !== undefined && body.declaredBytes > maxBytes) {
    throw new ArrowBodyError(413, 'Request body is too large');
  }
  const dec = new ArrowBodyDecoder(features, maxRows, maxBytes, check);
  for await (const chunk of body.source as AsyncIterable<Uint8Array>) dec.push(chunk);
  return dec.end();
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
