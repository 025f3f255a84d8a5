// A small ONNX graph builder: constants become initializers, ops become nodes with fresh unique
// output names, and the result is a GraphProto ready for encodeModel().
import {
  type AttributeValue,
  DataType,
  type DataTypeCode,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto.js';

/** Element bytes in little-endian order, whatever the host's endianness (ONNX raw_data requires it). */
function rawBytes(dataType: DataTypeCode, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  switch (dataType) {
    case DataType.FLOAT: {
      const out = new Uint8Array(4 * n);
      const v = new DataView(out.buffer);
      for (let i = 0; i < n; i++) v.setFloat32(4 * i, values[i]!, true);
      return out;
    }
    case DataType.INT32: {
      const out = new Uint8Array(4 * n);
      const v = new DataView(out.buffer);
      for (let i = 0; i < n; i++) v.setInt32(4 * i, values[i]!, true);
      return out;
    }
    case DataType.INT64: {
      const out = new Uint8Array(8 * n);
      const v = new DataView(out.buffer);
      for (let i = 0; i < n; i++) v.setBigInt64(8 * i, BigInt(values[i]!), true);
      return out;
    }
    case DataType.INT8:
      return new Uint8Array(Int8Array.from(values).buffer);
    case DataType.UINT8:
      return Uint8Array.from(values);
    case DataType.BOOL:
      return Uint8Array.from(values, (b) => (b ? 1 : 0));
  }
}

const INT_RANGES: Partial<Record<DataTypeCode, [number, number]>> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
  [DataType.INT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export class GraphBuilder {
  readonly #nodes: NodeProto[] = [];
  readonly #initializers: TensorProto[] = [];
  readonly #names = new Set<string>();
  /** Reserved output names not produced yet. */
  readonly #pending = new Set<string>();

  /** `base`, or `base_1`, `base_2`, ... : every value in an ONNX graph has one producer. */
  unique(base: string): string {
    let name = base;
    for (let k = 1; this.#names.has(name); k++) name = `${base}_${k}`;
    this.#names.add(name);
    return name;
  }

  /**
   * Reserves a name that must be kept exactly (graph inputs and outputs), so no generated name can
   * take it; an `exact` op output later claims it.
   */
  reserve(name: string): string {
    if (this.#names.has(name)) throw new Error(`ONNX graph: the name '${name}' is already used`);
    this.#names.add(name);
    this.#pending.add(name);
    return name;
  }

  #claim(name: string): string {
    if (!this.#pending.delete(name)) throw new Error(`ONNX graph: '${name}' is not a reserved, unproduced name`);
    return name;
  }

  /**
   * A constant tensor (graph initializer). Values are checked against the type's range so a bad
   * scale or weight cannot be silently wrapped or turned into NaN.
   * @returns its (unique) name
   */
  constant(
    base: string,
    dataType: DataTypeCode,
    dims: number[],
    values: ArrayLike<number>,
    docString?: string,
  ): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (values.length !== count) {
      throw new RangeError(`ONNX constant '${base}': ${values.length} values for dims [${dims}] (${count} expected)`);
    }
    const range = INT_RANGES[dataType];
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (
        dataType === DataType.FLOAT
          ? !Number.isFinite(v)
          : range && !(Number.isInteger(v) && v >= range[0] && v <= range[1])
      ) {
        throw new RangeError(`ONNX constant '${base}'[${i}] is ${v}, not a valid value of its type`);
      }
    }
    const name = this.unique(base);
    this.#initializers.push({ name, dataType, dims, raw: rawBytes(dataType, values), docString });
    return name;
  }

  /** A scalar constant (dims []). */
  scalar(base: string, dataType: DataTypeCode, value: number): string {
    return this.constant(base, dataType, [], [value]);
  }

  /**
   * Appends a node. `outputs` are base names (made unique) unless `exact` says they are graph
   * outputs whose names must be kept.
   * @returns the output names, in order
   */
  op(
    opType: string,
    inputs: string[],
    options: { outputs?: string[]; exact?: boolean; attributes?: Record<string, AttributeValue>; domain?: string } = {},
  ): string[] {
    const bases = options.outputs ?? [opType.toLowerCase()];
    const outputs = bases.map((b) => (options.exact ? this.#claim(b) : this.unique(b)));
    this.#nodes.push({
      opType,
      inputs,
      outputs,
      name: this.unique(`${opType}_${this.#nodes.length}`),
      attributes: options.attributes,
      domain: options.domain,
    });
    return outputs;
  }

  /** The single output of a node. */
  op1(opType: string, inputs: string[], options: Parameters<GraphBuilder['op']>[2] = {}): string {
    return this.op(opType, inputs, options)[0]!;
  }

  build(name: string, inputs: ValueInfoProto[], outputs: ValueInfoProto[], docString?: string): GraphProto {
    return { name, nodes: [...this.#nodes], initializers: [...this.#initializers], inputs, outputs, docString };
  }
}
