// A bounds check of an Arrow IPC stream's flatbuffer metadata, run before apache-arrow decodes it.
// apache-arrow (like the flatbuffers JS runtime) trusts every vector length it reads: one flipped
// byte in a schema's field count makes it decode tens of millions of fields, blocking the event
// loop for minutes. This walks the tables apache-arrow will read (Message, Schema, Field,
// KeyValue, RecordBatch) and checks that every offset, vector and string lies inside its message,
// so the decode that follows only ever touches what the body holds. Layout: format/Message.fbs,
// Schema.fbs of the Arrow spec; a flatbuffer table starts with an int32 back-offset to its vtable
// (uint16 vtable size, uint16 table size, then one uint16 offset per field, 0 = absent).

/** Why a stream's metadata was refused. */
export class IpcVerifyError extends Error {}

const MAX_DEPTH = 64;
const MAX_FIELDS = 100_000;

class Flat {
  readonly #v: DataView;
  fields = 0;
  constructor(bytes: Uint8Array) {
    this.#v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  #need(pos: number, n: number, what: string): void {
    if (!(pos >= 0 && n >= 0 && pos + n <= this.#v.byteLength)) {
      throw new IpcVerifyError(
        `${what} at byte ${pos} (${n} bytes) lies outside its ${this.#v.byteLength}-byte message`,
      );
    }
  }
  u8(pos: number): number {
    this.#need(pos, 1, 'a value');
    return this.#v.getUint8(pos);
  }
  u16(pos: number): number {
    this.#need(pos, 2, 'a value');
    return this.#v.getUint16(pos, true);
  }
  u32(pos: number): number {
    this.#need(pos, 4, 'a value');
    return this.#v.getUint32(pos, true);
  }
  i32(pos: number): number {
    this.#need(pos, 4, 'a value');
    return this.#v.getInt32(pos, true);
  }
  i64(pos: number): number {
    this.#need(pos, 8, 'a value');
    return Number(this.#v.getBigInt64(pos, true));
  }
  /** The table at `t`: a function from field index to its absolute position, or -1 when absent. */
  table(t: number, what: string): (i: number) => number {
    this.#need(t, 4, what);
    const vt = t - this.i32(t);
    this.#need(vt, 4, `${what}'s vtable`);
    const vsize = this.u16(vt);
    const tsize = this.u16(vt + 2);
    this.#need(vt, vsize, `${what}'s vtable`);
    this.#need(t, tsize, what);
    return (i) => {
      if (4 + 2 * i + 2 > vsize) return -1;
      const off = this.u16(vt + 4 + 2 * i);
      if (off === 0) return -1;
      if (off >= tsize) throw new IpcVerifyError(`${what} field ${i} lies outside the table`);
      return t + off;
    };
  }
  /** Follows the uoffset at `pos`. */
  deref(pos: number): number {
    return pos + this.u32(pos);
  }
  /** A vector of `n` elements of `size` bytes behind the uoffset at `pos`; its first element's position and n. */
  vector(pos: number, size: number, what: string): { at: number; n: number } {
    const v = this.deref(pos);
    const n = this.u32(v);
    this.#need(v + 4, n * size, `${what} (${n} elements)`);
    return { at: v + 4, n };
  }
  string(pos: number, what: string): void {
    const { at, n } = this.vector(pos, 1, what);
    this.#need(at, n + 1, what); // and its NUL
  }
}

function keyValues(f: Flat, pos: number, what: string): void {
  if (pos < 0) return;
  const { at, n } = f.vector(pos, 4, what);
  for (let k = 0; k < n; k++) {
    const kv = f.table(f.deref(at + 4 * k), `${what}[${k}]`);
    for (const i of [0, 1]) if (kv(i) >= 0) f.string(kv(i), `${what}[${k}] string`);
  }
}

function field(f: Flat, t: number, depth: number, what: string): void {
  if (depth > MAX_DEPTH) throw new IpcVerifyError(`${what}: fields nested deeper than ${MAX_DEPTH}`);
  if (++f.fields > MAX_FIELDS) throw new IpcVerifyError(`more than ${MAX_FIELDS} fields`);
  // Field: name, nullable, type_type, type, dictionary, children, custom_metadata.
  const fld = f.table(t, what);
  if (fld(0) >= 0) f.string(fld(0), `${what} name`);
  if (fld(3) >= 0) {
    const typeType = fld(2) >= 0 ? f.u8(fld(2)) : 0;
    const ty = f.table(f.deref(fld(3)), `${what} type`);
    // Union (14) is the one type table with a vector (typeIds: [int]).
    if (typeType === 14 && ty(1) >= 0) f.vector(ty(1), 4, `${what} union typeIds`);
  }
  if (fld(4) >= 0) {
    const dict = f.table(f.deref(fld(4)), `${what} dictionary`);
    if (dict(1) >= 0) f.table(f.deref(dict(1)), `${what} dictionary index type`);
  }
  if (fld(5) >= 0) {
    const { at, n } = f.vector(fld(5), 4, `${what} children`);
    for (let k = 0; k < n; k++) field(f, f.deref(at + 4 * k), depth + 1, `${what}.children[${k}]`);
  }
  keyValues(f, fld(6), `${what} custom_metadata`);
}

function schema(f: Flat, t: number): void {
  // Schema: endianness, fields, custom_metadata, features.
  const s = f.table(t, 'schema');
  if (s(1) >= 0) {
    const { at, n } = f.vector(s(1), 4, 'schema fields');
    for (let k = 0; k < n; k++) field(f, f.deref(at + 4 * k), 0, `field ${k}`);
  }
  keyValues(f, s(2), 'schema custom_metadata');
  if (s(3) >= 0) f.vector(s(3), 8, 'schema features');
}

function recordBatch(f: Flat, t: number, what: string): void {
  // RecordBatch: length, nodes: [FieldNode (16 bytes)], buffers: [Buffer (16 bytes)], compression,
  // variadicBufferCounts: [long].
  const rb = f.table(t, what);
  if (rb(0) >= 0 && f.i64(rb(0)) < 0) throw new IpcVerifyError(`${what} has a negative row count`);
  if (rb(1) >= 0) f.vector(rb(1), 16, `${what} nodes`);
  if (rb(2) >= 0) f.vector(rb(2), 16, `${what} buffers`);
  if (rb(3) >= 0) f.table(f.deref(rb(3)), `${what} compression`);
  if (rb(4) >= 0) f.vector(rb(4), 8, `${what} variadicBufferCounts`);
}

/** What one verified message says about itself. */
export interface IpcMessageInfo {
  /** 1 schema, 2 dictionary batch, 3 record batch. */
  headerType: number;
  /** Bytes of body that follow the metadata. */
  bodyLength: number;
  /** A record batch's declared row count (not yet checked against its buffers), else 0. */
  rows: number;
}

/**
 * [sync] Checks one message's flatbuffer metadata (the bytes after its length prefix).
 * @throws IpcVerifyError naming message `m` and what lies outside it.
 */
export function verifyIpcMessage(meta: Uint8Array, m: number): IpcMessageInfo {
  const f = new Flat(meta);
  // Message: version, header_type, header, bodyLength, custom_metadata.
  const msg = f.table(f.deref(0), `message ${m}`);
  const headerType = msg(1) >= 0 ? f.u8(msg(1)) : 0;
  const bodyLength = msg(3) >= 0 ? f.i64(msg(3)) : 0;
  keyValues(f, msg(4), `message ${m} custom_metadata`);
  if (msg(2) < 0) throw new IpcVerifyError(`message ${m} has no header`);
  const header = f.deref(msg(2));
  let rows = 0;
  if (headerType === 1) schema(f, header);
  else if (headerType === 3) {
    recordBatch(f, header, `message ${m} (record batch)`);
    const rb = f.table(header, `message ${m} (record batch)`);
    rows = rb(0) >= 0 ? f.i64(rb(0)) : 0;
  } else if (headerType === 2) {
    // DictionaryBatch: id, data: RecordBatch, isDelta.
    const db = f.table(header, `message ${m} (dictionary batch)`);
    if (db(1) >= 0) recordBatch(f, f.deref(db(1)), `message ${m} (dictionary batch data)`);
  } else throw new IpcVerifyError(`message ${m} has header type ${headerType}, expected a schema or a record batch`);
  return { headerType, bodyLength, rows };
}

/**
 * [sync] Checks the framing and metadata of every message of an IPC stream.
 * @throws IpcVerifyError naming the message and what lies outside it.
 */
export function verifyIpcStream(body: Uint8Array): void {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  for (let m = 0; pos < body.byteLength; m++) {
    if (pos + 4 > body.byteLength) throw new IpcVerifyError(`message ${m}: truncated length prefix`);
    let len = v.getInt32(pos, true);
    let start = pos + 4;
    if (len === -1) {
      // The continuation marker of the current format, then the length.
      if (pos + 8 > body.byteLength) throw new IpcVerifyError(`message ${m}: truncated length prefix`);
      len = v.getInt32(pos + 4, true);
      start = pos + 8;
    }
    if (len === 0) return; // end of stream
    if (len < 0 || start + len > body.byteLength) {
      throw new IpcVerifyError(
        `message ${m} claims ${len} metadata bytes, the body has ${body.byteLength - start} left`,
      );
    }
    const { bodyLength } = verifyIpcMessage(body.subarray(start, start + len), m);
    const end = start + len;
    if (!(bodyLength >= 0 && end + bodyLength <= body.byteLength)) {
      throw new IpcVerifyError(
        `message ${m} claims a ${bodyLength}-byte body, the stream has ${body.byteLength - end} left`,
      );
    }
    pos = end + bodyLength;
  }
}
