// Public API of fraudscore. Everything a user imports comes from here.
export { describeValue, ModelError, NonFiniteError } from './errors.js';
export { flagScores, isFraud, type RiskLevel, riskLevel } from './decision.js';
export {
  createModel,
  type CreateModelOptions,
  defaultModelPath,
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
export { DataError } from './data/errors.js';
export {
  type DataFormat,
  formatFromPath,
  loadTable,
  openTableWriter,
  readBatches,
  type TableSource,
  writeTable,
} from './data/load.js';
export type { RowItem, RowSource } from './data/row-source.js';
export { fitPreprocessing } from './data/preprocess.js';
export { type SplitOptions, type Splits, splitTable } from './data/split.js';
export { DEFAULT_FEATURES, type Table } from './data/table.js';
export { computeCurves, type Curves, evaluateScores, type Metrics } from './eval/metrics.js';
export { writeReport } from './eval/report.js';
export { chooseThreshold } from './eval/threshold.js';
export { type ScoreFileOptions, type ScoreFileResult, scoreFile } from './score-file.js';
export { FULL_DATA_FRAUD_RATE, synthesize, writeSynth } from './synth/synth.js';
// Training, configs and the Arrow/Parquet readers load on first use (see src/training.ts and
// src/data/load.ts): the root import costs only what scoring needs. test/lazy-import.test.ts checks it.
export { ConfigError } from './train/config-error.js';
export type { TrainConfig } from './train/config.js';
export type { EpochRecord, TrainOptions, TrainResult } from './train/train.js';
export { loadConfig, sweep, train } from './training.js';
export * from './onnx/index.js';
export { type ActivationScales, type PruneOptions, prune, type QuantizeOptions, quantize } from './quantize.js';
export {
  type Backend,
  backendInfo,
  type NonFinitePolicy,
  type Precision,
  type AsyncScoreOptions,
  type ScoreOptions,
  Scorer,
  type ScorerOptions,
  type ScoreResult,
  setThreads,
} from './scorer.js';
export { VERSION } from './version.js';
