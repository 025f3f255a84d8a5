// The subset of the ONNX protobuf schema fraudscore writes, as plain TS objects and their encoders.
// Field numbers are those of onnx/onnx.proto3 (ModelProto, GraphProto, NodeProto, TensorProto,
// ValueInfoProto, TypeProto, TensorShapeProto, AttributeProto, OperatorSetIdProto,
// StringStringEntryProto); each is written next to its field below so a reader can check it
// against the schema. A small decoder reads back the parts tests and tools look at.
import { decodeMessage, type ProtoField, ProtoWriter } from './protobuf.js';

/** TensorProto.DataType values. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface TensorProto {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  /** Little-endian element bytes (TensorProto.raw_data). */
  raw: Uint8Array;
  docString?: string;
}

export type AttributeValue =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'tensor'; value: TensorProto };

export interface NodeProto {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** '' (or absent) is the default ai.onnx domain. */
  domain?: string;
  attributes?: Record<string, AttributeValue>;
  docString?: string;
}

export interface ValueInfoProto {
  name: string;
  elemType: DataTypeCode;
  /** A number is a fixed size, a string a symbolic (dynamic) dimension such as 'N'. */
  shape: (number | string)[];
  docString?: string;
}

export interface GraphProto {
  name: string;
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  docString?: string;
}

export interface OperatorSetId {
  domain: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  opsetImports: OperatorSetId[];
  producerName: string;
  producerVersion: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: GraphProto;
  metadata?: Record<string, string>;
}

// ---- encoders --------------------------------------------------------------------------------

function writeTensor(w: ProtoWriter, t: TensorProto): void {
  for (const d of t.dims) w.int(1, d); // TensorProto.dims = 1 (repeated int64, written unpacked)
  w.int(2, t.dataType); // data_type = 2
  w.string(8, t.name); // name = 8
  w.bytes(9, t.raw); // raw_data = 9
  if (t.docString) w.string(12, t.docString); // doc_string = 12
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(1, name); // AttributeProto.name = 1
  switch (a.type) {
    case 'float':
      w.float(2, a.value); // f = 2
      w.int(20, AttributeType.FLOAT); // type = 20
      break;
    case 'int':
      w.int(3, a.value); // i = 3
      w.int(20, AttributeType.INT);
      break;
    case 'string':
      w.string(4, a.value); // s = 4
      w.int(20, AttributeType.STRING);
      break;
    case 'tensor':
      w.message(5, (m) => writeTensor(m, a.value)); // t = 5
      w.int(20, AttributeType.TENSOR);
      break;
    case 'floats':
      for (const f of a.value) w.float(7, f); // floats = 7
      w.int(20, AttributeType.FLOATS);
      break;
    case 'ints':
      for (const i of a.value) w.int(8, i); // ints = 8
      w.int(20, AttributeType.INTS);
      break;
  }
}

function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i); // NodeProto.input = 1
  for (const o of n.outputs) w.string(2, o); // output = 2
  if (n.name) w.string(3, n.name); // name = 3
  w.string(4, n.opType); // op_type = 4
  for (const [name, a] of Object.entries(n.attributes ?? {})) w.message(5, (m) => writeAttribute(m, name, a)); // attribute = 5
  if (n.docString) w.string(6, n.docString); // doc_string = 6
  if (n.domain) w.string(7, n.domain); // domain = 7
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name); // ValueInfoProto.name = 1
  w.message(2, (type) =>
    // TypeProto.tensor_type = 1
    type.message(1, (tt) => {
      tt.int(1, v.elemType); // TypeProto.Tensor.elem_type = 1
      tt.message(2, (shape) => {
        // Tensor.shape = 2; TensorShapeProto.dim = 1
        for (const d of v.shape) {
          // Dimension.dim_value = 1 | dim_param = 2
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
  if (v.docString) w.string(3, v.docString); // doc_string = 3
}

function writeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n)); // GraphProto.node = 1
  w.string(2, g.name); // name = 2
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t)); // initializer = 5
  if (g.docString) w.string(10, g.docString); // doc_string = 10
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v)); // input = 11
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v)); // output = 12
}

/** [sync] The serialized ModelProto (what a .onnx file holds). */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion); // ModelProto.ir_version = 1
  w.string(2, m.producerName); // producer_name = 2
  w.string(3, m.producerVersion); // producer_version = 3
  if (m.domain) w.string(4, m.domain); // domain = 4
  if (m.modelVersion !== undefined) w.int(5, m.modelVersion); // model_version = 5
  if (m.docString) w.string(6, m.docString); // doc_string = 6
  w.message(7, (g) => writeGraph(g, m.graph)); // graph = 7
  for (const o of m.opsetImports) {
    // opset_import = 8; OperatorSetIdProto.domain = 1, version = 2
    w.message(8, (op) => {
      if (o.domain) op.string(1, o.domain);
      op.int(2, o.version);
    });
  }
  for (const [key, value] of Object.entries(m.metadata ?? {})) {
    // metadata_props = 14; StringStringEntryProto.key = 1, value = 2
    w.message(14, (e) => e.string(1, key).string(2, value));
  }
  return w.finish();
}

// ---- decoder (the parts tools look at) -------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });
const str = (f: ProtoField): string => utf8.decode(f.bytes!);

/** What `inspectOnnx` reads back from a .onnx file. */
export interface OnnxSummary {
  irVersion: number;
  opsetImports: OperatorSetId[];
  producerName: string;
  producerVersion: string;
  docString: string;
  metadata: Record<string, string>;
  graph: {
    name: string;
    docString: string;
    nodes: { opType: string; domain: string; inputs: string[]; outputs: string[] }[];
    initializers: { name: string; dataType: number; dims: number[] }[];
    inputs: { name: string; docString: string }[];
    outputs: { name: string; docString: string }[];
  };
}

/** [sync] Reads the header, graph structure and doc strings of a serialized ModelProto. */
export function inspectOnnx(bytes: Uint8Array): OnnxSummary {
  const s: OnnxSummary = {
    irVersion: 0,
    opsetImports: [],
    producerName: '',
    producerVersion: '',
    docString: '',
    metadata: {},
    graph: { name: '', docString: '', nodes: [], initializers: [], inputs: [], outputs: [] },
  };
  const valueInfo = (b: Uint8Array) => {
    const v = { name: '', docString: '' };
    for (const f of decodeMessage(b)) {
      if (f.field === 1) v.name = str(f);
      else if (f.field === 3) v.docString = str(f);
    }
    return v;
  };
  for (const f of decodeMessage(bytes)) {
    if (f.field === 1) s.irVersion = Number(f.varint);
    else if (f.field === 2) s.producerName = str(f);
    else if (f.field === 3) s.producerVersion = str(f);
    else if (f.field === 6) s.docString = str(f);
    else if (f.field === 8) {
      const op = { domain: '', version: 0 };
      for (const g of decodeMessage(f.bytes!)) {
        if (g.field === 1) op.domain = str(g);
        else if (g.field === 2) op.version = Number(g.varint);
      }
      s.opsetImports.push(op);
    } else if (f.field === 14) {
      let key = '';
      let value = '';
      for (const g of decodeMessage(f.bytes!)) {
        if (g.field === 1) key = str(g);
        else if (g.field === 2) value = str(g);
      }
      s.metadata[key] = value;
    } else if (f.field === 7) {
      for (const g of decodeMessage(f.bytes!)) {
        if (g.field === 1) {
          const node = { opType: '', domain: '', inputs: [] as string[], outputs: [] as string[] };
          for (const h of decodeMessage(g.bytes!)) {
            if (h.field === 1) node.inputs.push(str(h));
            else if (h.field === 2) node.outputs.push(str(h));
            else if (h.field === 4) node.opType = str(h);
            else if (h.field === 7) node.domain = str(h);
          }
          s.graph.nodes.push(node);
        } else if (g.field === 2) s.graph.name = str(g);
        else if (g.field === 5) {
          const t = { name: '', dataType: 0, dims: [] as number[] };
          for (const h of decodeMessage(g.bytes!)) {
            if (h.field === 1) {
              // dims may be packed (a LEN field of varints) or one varint per field
              if (h.varint !== undefined) t.dims.push(Number(h.varint));
              else t.dims.push(...decodePackedVarints(h.bytes!));
            } else if (h.field === 2) t.dataType = Number(h.varint);
            else if (h.field === 8) t.name = str(h);
          }
          s.graph.initializers.push(t);
        } else if (g.field === 10) s.graph.docString = str(g);
        else if (g.field === 11) s.graph.inputs.push(valueInfo(g.bytes!));
        else if (g.field === 12) s.graph.outputs.push(valueInfo(g.bytes!));
      }
    }
  }
  return s;
}

function decodePackedVarints(b: Uint8Array): number[] {
  const out: number[] = [];
  let v = 0n;
  let shift = 0n;
  for (const byte of b) {
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      out.push(Number(BigInt.asIntN(64, v)));
      v = 0n;
      shift = 0n;
    } else shift += 7n;
  }
  return out;
}
