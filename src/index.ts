// Public API of fraudscore. Everything a user imports comes from here.
export { describeValue, ModelError } from './errors.js';
export {
  createModel,
  type CreateModelOptions,
  type DenseLayer,
  type FeatureTransform,
  flopsPerRow,
  layerSizes,
  loadModel,
  type Model,
  MODEL_FORMAT_VERSION,
  type Preprocessing,
  type Quantization,
  saveModel,
  type Threshold,
  validateModel,
} from './model.js';
export * from './monitoring/drift.js';
export { renderDriftHtml } from './monitoring/html.js';
export * from './onnx/index.js';
export { type ActivationScales, type PruneOptions, prune, type QuantizeOptions, quantize } from './quantize.js';
export {
  type Backend,
  backendInfo,
  type NonFinitePolicy,
  type Precision,
  type ScoreOptions,
  Scorer,
  type ScorerOptions,
  type ScoreResult,
  setThreads,
} from './scorer.js';
export { createServer, HttpError, type ServerHandle, type ServerOptions } from './server/server.js';
export { VERSION } from './version.js';
