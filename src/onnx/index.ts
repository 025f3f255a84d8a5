// ONNX export: the model (preprocessing included) as an ONNX graph, fp32 or int8. Everything
// here is public (src/index.ts re-exports this file).
export {
  buildOnnx,
  type ExportOnnxOptions,
  exportOnnx,
  ONNX_DEFAULT_OPSET,
  ONNX_MAX_OPSET,
  ONNX_MIN_OPSET,
  ONNX_NAMES,
  type OnnxExportResult,
  type OnnxPrecision,
} from './export.js';
export { inspectOnnx, type OnnxSummary } from './proto.js';
