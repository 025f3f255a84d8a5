// Reader and writer of the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw
// little-endian tensor data. Python tools (safetensors, torch) read the files we write.

import { ModelError } from './errors.js';

export type TensorData = Float32Array | Int8Array | Uint8Array | Int32Array;
export type DType = 'F32' | 'I8' | 'U8' | 'I32';

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

const BYTES: Record<DType, number> = { F32: 4, I8: 1, U8: 1, I32: 4 };

function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  return 'I32';
}

/** Creates a tensor, checking that the shape matches the data's length. */
export function tensor(data: TensorData, shape: number[]): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new RangeError(`Expected tensor data of ${count} values for shape [${shape}], got ${data.length}`);
  }
  return { dtype: dtypeOf(data), shape, data };
}

/** Serializes tensors (in the given order) with optional string metadata. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (what the reference implementation does).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Parses a safetensors buffer. Errors name the file and what is wrong with it. */
export function decodeSafetensors(
  buf: Buffer,
  file = 'weights.safetensors',
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (buf.length < 8) throw new ModelError(`${file} is truncated: ${buf.length} bytes, no header`, file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > buf.length - 8) {
    throw new ModelError(`${file} is truncated: header of ${headerLen} bytes, file of ${buf.length}`, file);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch (e) {
    throw new ModelError(`${file} is corrupted: its header is not JSON (${(e as Error).message})`, file);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new ModelError(
      `${file} is corrupted: its header must be a JSON object, got ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header}`,
      file,
    );
  }
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (
        typeof raw !== 'object' ||
        raw === null ||
        Array.isArray(raw) ||
        !Object.values(raw).every((v) => typeof v === 'string')
      ) {
        throw new ModelError(`${file}: __metadata__ must be an object of strings`, file);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ModelError(`${file}: tensor ${name} must be described by an object, got ${JSON.stringify(raw)}`, file);
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = info.dtype as DType;
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) {
      throw new ModelError(`${file}: tensor ${name} has unsupported dtype ${JSON.stringify(info.dtype)}`, file);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((x) => Number.isSafeInteger(x))) {
      throw new ModelError(
        `${file}: tensor ${name} data_offsets must be [begin, end] integers, got ${JSON.stringify(offs)}`,
        file,
      );
    }
    const [begin, end] = offs as [number, number];
    const shape = info.shape ?? [];
    if (!Array.isArray(shape) || !shape.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new ModelError(
        `${file}: tensor ${name} shape must be an array of non-negative integers, got ${JSON.stringify(info.shape)}`,
        file,
      );
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end >= begin && end <= dataLen)) {
      throw new ModelError(
        `${file} is truncated: tensor ${name} needs bytes [${begin}, ${end}) of ${dataLen} data bytes`,
        file,
      );
    }
    if (end - begin !== count * BYTES[dtype]) {
      throw new ModelError(`${file}: tensor ${name} has ${end - begin} bytes for shape [${shape}] of ${dtype}`, file);
    }
    // Copy into a fresh, aligned buffer: the file's offsets need not be aligned for the type.
    const bytes = new Uint8Array(end - begin);
    bytes.set(buf.subarray(dataStart + begin, dataStart + end));
    const data: TensorData =
      dtype === 'F32'
        ? new Float32Array(bytes.buffer)
        : dtype === 'I8'
          ? new Int8Array(bytes.buffer)
          : dtype === 'I32'
            ? new Int32Array(bytes.buffer)
            : bytes;
    tensors[name] = { dtype, shape, data };
  }
  return { tensors, metadata };
}
