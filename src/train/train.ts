// The training pipeline: file -> splits -> preprocessing fitted on the training split's normal rows
// -> native training on those rows with early stopping on the validation split's normal rows ->
// threshold chosen on the validation split -> metrics on the test split -> run directory.
// Nothing here looks at the test split before the model and its threshold are fixed.
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { loadTable } from '../data/load.js';
import { fitPreprocessing } from '../data/preprocess.js';
import { splitTable } from '../data/split.js';
import { rowsWithLabel, type Table, takeRows } from '../data/table.js';
import { evaluateScores, type Metrics } from '../eval/metrics.js';
import { chooseThreshold } from '../eval/threshold.js';
import { withCallerStack } from '../errors.js';
import { type HeadEpochRecord, type HybridTrainingInfo, trainHead } from '../hybrid/train-head.js';
import { createModel, type DenseLayer, type Model, saveModel, toAddonSpec } from '../model.js';
import { type AddonTrainer, addon } from '../native.js';
import { cudaStatus, cudaUnavailable, Scorer } from '../scorer.js';
import { type PartialConfig, resolveConfig, type TrainConfig } from './config.js';
import { fingerprintFile, RunDir } from './run-dir.js';

/** One epoch's record (also a line of metrics.jsonl). */
export interface EpochRecord {
  epoch: number;
  epochs: number;
  /** Mean training loss (with dropout) over the epoch. */
  trainLoss: number;
  /** Mean reconstruction error of the validation split's normal rows (no dropout). */
  valLoss: number;
  /** True when this epoch is the best so far (its weights are kept). */
  best: boolean;
  /** Epochs since the last improvement. */
  sinceBest: number;
  seconds: number;
  rowsPerSecond: number;
}

export interface TrainOptions {
  /** Called after every epoch (progress bars, logging). Exceptions from it abort training. */
  onEpoch?: (record: EpochRecord) => void;
  /** Aborting stops the epoch in flight after its current minibatch and rejects with the reason. */
  signal?: AbortSignal;
  /** Hybrid models: called after every head epoch. */
  onHeadEpoch?: (record: HeadEpochRecord) => void;
  /** Write no run directory (tests, sweeps that keep only a table). @default false */
  noRunDir?: boolean;
  /**
   * Keep the run directory of a failed or cancelled run (run.json then says 'failed' or 'cancelled'
   * and why, metrics.jsonl has the epochs done) for a post-mortem. By default it is removed, so
   * runs/ holds only runs that finished. @default false
   */
  keepFailedRun?: boolean;
}

export interface TrainResult {
  /** The best epoch's weights, with preprocessing, threshold, metrics and provenance. */
  model: Model;
  /** The run directory, or null with noRunDir. */
  runDir: string | null;
  history: EpochRecord[];
  bestEpoch: number;
  stoppedEarly: boolean;
  validation: Metrics;
  test: Metrics;
  /** Hybrid models: the head's labels and early stopping (also in model.training.hybrid). */
  hybrid?: HybridTrainingInfo;
}

function rethrowFrom(caller: Error): (e: unknown) => never {
  return (e) => {
    throw withCallerStack(e, caller);
  };
}

function abortError(signal: AbortSignal): Error {
  const r = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error(r === undefined ? 'Training was aborted' : `Training was aborted: ${String(r)}`);
  e.name = 'AbortError';
  return e;
}

function normalRows(t: Table, part: string): Table {
  const n = rowsWithLabel(t, 0);
  if (n.n === 0) throw new RangeError(`The ${part} split has no normal (Class 0) rows to train or validate on`);
  return n;
}

async function scoreTable(model: Model, t: Table, threads: number): Promise<Float32Array> {
  const scorer = new Scorer(model, { backend: 'cpu', threads });
  try {
    return (await scorer.scoreAsync(t.rows)).scores;
  } finally {
    scorer.dispose();
  }
}

/**
 * [async] Trains a model as `config` says and evaluates it. `config` may leave keys out (they take
 * DEFAULT_CONFIG's values); every key given is checked against the config schema.
 * @throws {ConfigError} naming a bad key, {DataError} for bad data, {RangeError} for unusable
 *   splits or options, the signal's reason when aborted.
 */
export async function train(input: TrainConfig | PartialConfig, options: TrainOptions = {}): Promise<TrainResult> {
  // A native rejection settles from the libuv pool with no JS frames: give it train()'s caller's.
  const caller = new Error();
  const { signal, onEpoch } = options;
  if (signal?.aborted) throw abortError(signal);
  const config = resolveConfig(input, 'train() config');
  const tc = config.training;
  if (tc.backend === 'cuda') {
    // Before any file is read or run directory made: the environment, not the data, is at fault.
    const cuda = cudaStatus();
    if (!cuda.available) {
      throw cudaUnavailable(`Config key "training.backend" is 'cuda', but CUDA is not available: ${cuda.reason}`);
    }
  }
  const threads = tc.threads === 0 ? availableParallelism() : tc.threads;
  const run = options.noRunDir ? null : await RunDir.create(config);
  try {
    const [table, fingerprint] = await Promise.all([
      loadTable(config.data.path, { features: config.data.features }),
      fingerprintFile(config.data.path),
    ]);
    await run?.update({ data: fingerprint });
    if (!table.labels) {
      throw new RangeError(
        config.model.kind === 'hybrid'
          ? `${config.data.path} has no Class column: model.kind 'hybrid' trains its head on the labels (and training needs them to keep frauds out of the autoencoder and to choose the threshold)`
          : `${config.data.path} has no Class column: training needs labels to keep frauds out of training and to choose the threshold`,
      );
    }
    const splits = splitTable(table, {
      strategy: config.data.split.strategy,
      ratios: config.data.split.ratios,
      seed: config.data.split.seed,
    });
    const trainNormal = normalRows(splits.train, 'training');
    const valNormal = normalRows(splits.validation, 'validation');
    const prep = fitPreprocessing(trainNormal, { log1p: config.data.log1p });

    let model = createModel({
      features: config.data.features,
      hidden: config.model.hidden,
      seed: tc.seed,
      preprocessing: prep,
      name: config.output.name,
      dropout: config.model.dropout,
    });

    const trainer: AddonTrainer = new addon.Trainer(toAddonSpec(model), {
      lr: tc.lr,
      weightDecay: tc.weight_decay,
      dropout: config.model.dropout,
      seed: tc.seed,
      threads,
      batchSize: tc.batch_size,
      cudaDevice: tc.backend === 'cuda' ? 0 : -1,
    });
    const onAbort = () => trainer.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });

    const history: EpochRecord[] = [];
    let best = Number.POSITIVE_INFINITY;
    let bestEpoch = 0;
    let bestWeights: DenseLayer[] = model.layers;
    let sinceBest = 0;
    let stoppedEarly = false;
    const t0 = performance.now();
    try {
      for (let epoch = 1; epoch <= tc.epochs; epoch++) {
        if (signal?.aborted) throw abortError(signal);
        const e0 = performance.now();
        const r = await trainer.trainEpoch(trainNormal.rows).catch(rethrowFrom(caller));
        if (r.cancelled || signal?.aborted) throw abortError(signal as AbortSignal);
        const seconds = (performance.now() - e0) / 1000;
        const valLoss = await trainer.evalLoss(valNormal.rows, threads).catch(rethrowFrom(caller));
        const improved = valLoss < best;
        if (improved) {
          best = valLoss;
          bestEpoch = epoch;
          bestWeights = trainer.getWeights();
          sinceBest = 0;
        } else {
          sinceBest++;
        }
        const record: EpochRecord = {
          epoch,
          epochs: tc.epochs,
          trainLoss: r.loss,
          valLoss,
          best: improved,
          sinceBest,
          seconds,
          rowsPerSecond: r.rows / Math.max(seconds, 1e-9),
        };
        history.push(record);
        await run?.appendMetrics(record);
        onEpoch?.(record);
        if (tc.patience > 0 && sinceBest >= tc.patience) {
          stoppedEarly = epoch < tc.epochs;
          break;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      trainer.dispose();
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    model = { ...model, layers: bestWeights };

    // Hybrid: the head on top of the fixed autoencoder; scores below are then probabilities.
    let hybrid: HybridTrainingInfo | undefined;
    // The validation rows whose labels choose the threshold: all of them, or for a hybrid head
    // trained on part of the labels the same share (the rows its early stopping saw).
    let thresholdRows = splits.validation;
    if (config.model.kind === 'hybrid') {
      const h = await trainHead(model, splits, config, threads, { signal, onEpoch: options.onHeadEpoch });
      model = h.model;
      hybrid = h.info;
      if (h.validationIndices !== null && h.validationIndices.length < splits.validation.n) {
        thresholdRows = takeRows(splits.validation, h.validationIndices);
      }
      await run?.writeJson('head-metrics.json', h.history);
    }

    // Threshold on validation (frauds included), metrics on test; validation metrics over every
    // validation row (an evaluation, like test's, comparable across label budgets).
    const w = config.data.normal_weight;
    const valScores = await scoreTable(model, splits.validation, threads);
    const thresholdScores =
      thresholdRows === splits.validation ? valScores : await scoreTable(model, thresholdRows, threads);
    const chosen = chooseThreshold(
      thresholdScores,
      thresholdRows.labels as Uint8Array,
      config.threshold.value === null
        ? { name: config.threshold.strategy }
        : { name: config.threshold.strategy, value: config.threshold.value },
      { normalWeight: w },
    );
    const validation = evaluateScores(valScores, splits.validation.labels as Uint8Array, {
      threshold: chosen.value,
      normalWeight: w,
    });
    if (signal?.aborted) throw abortError(signal);
    const testScores = await scoreTable(model, splits.test, threads);
    const test = evaluateScores(testScores, splits.test.labels as Uint8Array, {
      threshold: chosen.value,
      normalWeight: w,
    });

    const rowsTrained = trainNormal.n * history.length;
    model = {
      ...model,
      threshold: {
        value: chosen.value,
        strategy:
          thresholdRows === splits.validation
            ? `${chosen.strategy} on the validation split`
            : `${chosen.strategy} on the validation split's ${hybrid!.validation!.frauds} labelled frauds and ${hybrid!.validation!.normals} labelled normal rows`,
        params: chosen.params,
      },
      metrics: { test, validation, split: 'test', normalWeight: w },
      training: {
        config,
        bestEpoch,
        epochsRun: history.length,
        stoppedEarly,
        bestValLoss: best,
        seconds: trainSeconds,
        rowsPerSecond: rowsTrained / Math.max(trainSeconds, 1e-9),
        rows: { train: trainNormal.n, validation: splits.validation.n, test: splits.test.n },
        ...(hybrid ? { hybrid } : {}),
      },
      provenance: {
        ...model.provenance,
        gitCommit: run?.info.gitCommit ?? undefined,
        dataFingerprint: fingerprint.contentSha256 ?? fingerprint.sha256,
        dataFile: fingerprint,
        seed: tc.seed,
      },
    };

    if (run) {
      await saveModel(model, join(run.path, 'model'));
      await run.writeJson('eval.json', { threshold: model.threshold, validation, test, bestEpoch, stoppedEarly });
      await run.update({ status: 'completed', finishedAt: new Date().toISOString(), bestEpoch });
    }
    return {
      model,
      runDir: run?.path ?? null,
      history,
      bestEpoch,
      stoppedEarly,
      validation,
      test,
      ...(hybrid ? { hybrid } : {}),
    };
  } catch (e) {
    if (run) {
      const cancelled = signal?.aborted === true;
      await run
        .update({
          status: cancelled ? 'cancelled' : 'failed',
          finishedAt: new Date().toISOString(),
          error: (e as Error).message,
        })
        .catch(() => {});
      if (!options.keepFailedRun) await rm(run.path, { recursive: true, force: true }).catch(() => {});
    }
    throw e;
  }
}
