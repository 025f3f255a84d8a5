// ONNX export: the model (preprocessing included) as an ONNX graph, fp32 or int8.
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
export { inspectModel, type ModelSummary } from './proto.js';
