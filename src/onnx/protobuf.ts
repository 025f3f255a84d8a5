// A minimal protocol-buffers wire-format writer and reader: just what an ONNX ModelProto needs
// (varints, 32-bit floats, length-delimited bytes/strings/sub-messages). No protobuf package is a
// dependency, and the ONNX messages we write are small and flat, so each message is encoded into
// its own buffer and length-prefixed by its parent.
// Wire format: https://protobuf.dev/programming-guides/encoding/ (tag = field << 3 | wire type).

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const utf8 = new TextEncoder();

/** Accumulates one message's bytes. Fields are written in call order. */
export class ProtoWriter {
  #buf = new Uint8Array(256);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  #byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  /**
   * An unsigned or two's-complement varint. int64 fields encode negative values as 10 bytes
   * (their 64-bit two's complement), so negatives go through BigInt; non-negative safe integers
   * take the fast path.
   */
  #varint(value: number | bigint): void {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw new RangeError(`Expected a safe integer for a varint, got ${value}`);
      if (value >= 0) {
        let v = value;
        while (v >= 0x80) {
          this.#byte((v % 0x80) | 0x80);
          v = Math.floor(v / 0x80);
        }
        this.#byte(v);
        return;
      }
      value = BigInt(value);
    }
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.#byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#byte(Number(v));
  }

  #tag(field: number, wire: number): void {
    if (!Number.isInteger(field) || field < 1 || field > 536_870_911) {
      throw new RangeError(`Expected a protobuf field number in [1, 2^29 - 1], got ${field}`);
    }
    this.#varint(field * 8 + wire);
  }

  /** int32/int64/enum/bool field (wire type 0). */
  int(field: number, value: number | bigint): this {
    this.#tag(field, WIRE_VARINT);
    this.#varint(value);
    return this;
  }

  /** float field (wire type 5, IEEE-754 binary32 little-endian). */
  float(field: number, value: number): this {
    this.#tag(field, WIRE_I32);
    this.#reserve(4);
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setFloat32(this.#len, value, true);
    this.#len += 4;
    return this;
  }

  /** bytes field (wire type 2). */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WIRE_LEN);
    this.#varint(value.length);
    this.#reserve(value.length);
    this.#buf.set(value, this.#len);
    this.#len += value.length;
    return this;
  }

  /** string field: UTF-8 bytes (wire type 2). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** Embedded message field: the sub-message is encoded by `write` and length-prefixed. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const sub = new ProtoWriter();
    write(sub);
    return this.bytes(field, sub.finish());
  }

  /** The message's bytes (a copy of exactly the written length). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** One decoded field: varints as bigint (int64-safe), I32/I64 as raw bytes, LEN as a subarray. */
export interface ProtoField {
  field: number;
  wire: number;
  /** Wire type 0. */
  varint?: bigint;
  /** Wire types 1, 2 and 5: the payload (a view into the input). */
  bytes?: Uint8Array;
}

/**
 * [sync] Splits one message into its fields, in order. Used by tests and tools to read back what
 * we wrote (and the graphs onnxruntime writes when asked to save its optimized model).
 * @throws RangeError naming the byte offset of a truncated or malformed field
 */
export function decodeMessage(buf: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new RangeError(`protobuf: truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
      if (shift > 63n) throw new RangeError(`protobuf: varint longer than 10 bytes at byte ${pos}`);
    }
  };
  const take = (n: number, at: number): Uint8Array => {
    if (pos + n > buf.length) throw new RangeError(`protobuf: field at byte ${at} runs past the end (${n} bytes)`);
    const v = buf.subarray(pos, pos + n);
    pos += n;
    return v;
  };
  while (pos < buf.length) {
    const at = pos;
    const tag = readVarint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (field === 0) throw new RangeError(`protobuf: field number 0 at byte ${at}`);
    if (wire === WIRE_VARINT) out.push({ field, wire, varint: readVarint() });
    else if (wire === WIRE_I64) out.push({ field, wire, bytes: take(8, at) });
    else if (wire === WIRE_I32) out.push({ field, wire, bytes: take(4, at) });
    else if (wire === WIRE_LEN) out.push({ field, wire, bytes: take(Number(readVarint()), at) });
    else throw new RangeError(`protobuf: unsupported wire type ${wire} at byte ${at}`);
  }
  return out;
}
