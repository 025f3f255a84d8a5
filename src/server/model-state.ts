// Everything the server derives from one model: its scorers (fp32, and int8 when the model is
// quantized), their micro-batchers, its fingerprint and its reference sample for drift. A reload
// builds a new ModelState and swaps it in; requests that started on the old one finish on it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadTable } from '../data/load.js';
import type { Table } from '../data/table.js';
import { loadModel, MODEL_JSON, type Model, modelDirectory } from '../model.js';
import { fileInModelDir, MAX_MODEL_JSON_BYTES, readModelFile } from '../model-files.js';
import { type Backend, Scorer } from '../scorer.js';
import { type BatcherOptions, MicroBatcher } from './batcher.js';

export interface ModelStateOptions {
  backend: Backend;
  threads: number;
  batcher: BatcherOptions;
  onBatch?: (engine: string, rows: number) => void;
}

export interface ReferenceSample {
  file: string;
  table: Table;
  /** The reference rows' scores under this model (computed once, lazily). */
  scores?: Float32Array;
}

/** Names of the reference sample files looked for in a model directory, in order. */
export const REFERENCE_FILES = [
  'reference.arrow',
  'reference.arrows',
  'reference.parquet',
  'reference.csv',
  'reference.csv.gz',
];

export class ModelState {
  readonly model: Model;
  readonly dir: string | null;
  readonly fingerprint: string;
  readonly fp32: MicroBatcher;
  /** The int8 path, or why there is none (the 503 message of /predict_optimized). */
  readonly int8: MicroBatcher | { missing: string };
  readonly reference: ReferenceSample | { missing: string };
  readonly featureIndex: ReadonlyMap<string, number>;
  /** Per feature: must the raw value be > -1 (log1p's domain)? */
  readonly log1p: readonly boolean[];

  private constructor(init: {
    model: Model;
    dir: string | null;
    fingerprint: string;
    fp32: MicroBatcher;
    int8: MicroBatcher | { missing: string };
    reference: ReferenceSample | { missing: string };
  }) {
    this.model = init.model;
    this.dir = init.dir;
    this.fingerprint = init.fingerprint;
    this.fp32 = init.fp32;
    this.int8 = init.int8;
    this.reference = init.reference;
    this.featureIndex = new Map(init.model.features.map((f, j) => [f, j]));
    this.log1p = init.model.preprocessing.transform.map((t) => t === 'log1p');
  }

  get threshold(): number {
    // Checked in create(): a served model always has one.
    return this.model.threshold!.value;
  }

  /**
   * [async] Loads a model (a directory or an in-memory Model) and builds its scorers.
   * @throws ModelError for an unusable directory, Error for a model without a threshold
   */
  static async create(source: string | Model, options: ModelStateOptions, referencePath?: string): Promise<ModelState> {
    const dir = typeof source === 'string' ? resolve(modelDirectory(source)) : null;
    const model = typeof source === 'string' ? await loadModel(source) : source;
    if (!model.threshold) {
      throw new Error(
        `model ${dir ?? model.name} has no decision threshold (model.json \`threshold\`): the server needs one to flag fraud; train or calibrate the model first`,
      );
    }
    const fingerprint = dir ? await dirFingerprint(dir) : weightsFingerprint(model);
    const make = (precision: 'fp32' | 'int8') => {
      const scorer = new Scorer(model, {
        backend: options.backend,
        precision,
        threads: options.threads,
        nonFinite: 'nan',
      });
      const onBatch = options.onBatch;
      // Dynamic int8 scales are per block of rows scored together: batching requests would make one
      // client's score depend on another's rows.
      const isolate = precision === 'int8' && model.quantization?.activations === 'dynamic';
      return new MicroBatcher(scorer, {
        ...options.batcher,
        isolate,
        onBatch: onBatch && ((n) => onBatch(scorer.engine, n)),
      });
    };
    const fp32 = make('fp32');
    let int8: MicroBatcher | { missing: string };
    if (!model.quantization) {
      int8 = {
        missing: `model ${model.name} v${model.version} has no int8 weights (${dir ? join(dir, MODEL_JSON) : 'the model'} has no \`quantization\` section): quantize it (quantize(model, { calibration }) from fraudscore) and save it to serve /predict_optimized`,
      };
    } else {
      try {
        int8 = make('int8');
      } catch (e) {
        int8 = { missing: `the int8 engine could not be created: ${(e as Error).message}` };
      }
    }
    let reference: ReferenceSample | { missing: string };
    const refFile = referencePath ?? (dir ? findReference(dir, model) : undefined);
    if (refFile === undefined) {
      reference = {
        missing: dir
          ? `no reference sample: ${dir} holds none of ${REFERENCE_FILES.join(', ')} (a sample of training normal rows)`
          : 'no reference sample: the model was given in memory and no `referencePath` was set',
      };
    } else {
      reference = { file: refFile, table: await loadTable(refFile, { features: model.features }) };
    }
    return new ModelState({ model, dir, fingerprint, fp32, int8, reference });
  }

  /** The engines' names, e.g. { fp32: 'cpu-avx2-fp32', int8: null }. */
  get engines(): { fp32: string; int8: string | null } {
    return { fp32: this.fp32.scorer.engine, int8: this.int8 instanceof MicroBatcher ? this.int8.scorer.engine : null };
  }

  /** [async] The reference rows' scores, computed on first use. */
  async referenceScores(): Promise<Float32Array | null> {
    if (!('table' in this.reference)) return null;
    if (!this.reference.scores) {
      this.reference.scores = await this.fp32.scoreAll(this.reference.table.rows);
    }
    return this.reference.scores;
  }

  /** [async] Waits for in-flight work, then frees the native engines. */
  async dispose(): Promise<void> {
    await this.fp32.drained();
    this.fp32.scorer.dispose();
    if (this.int8 instanceof MicroBatcher) {
      await this.int8.drained();
      this.int8.scorer.dispose();
    }
  }
}

function findReference(dir: string, model: Model): string | undefined {
  const named = model.extra?.reference;
  // Like weights.file, a reference model.json names must lie inside the model directory.
  if (typeof named === 'string') {
    const path = fileInModelDir(dir, named, join(dir, MODEL_JSON), 'extra.reference');
    if (existsSync(path)) return path;
  }
  return REFERENCE_FILES.map((f) => join(dir, f)).find((p) => existsSync(p));
}

/** The weights file's sha256 as model.json pins it (what `fraudscore info` shows). */
async function dirFingerprint(dir: string): Promise<string> {
  const text = (await readModelFile(join(dir, MODEL_JSON), MAX_MODEL_JSON_BYTES)).toString('utf8');
  const meta = JSON.parse(text) as { weights?: { sha256?: string } } | null;
  return meta?.weights?.sha256 ?? weightsFingerprint(await loadModel(dir));
}

/** sha256 over every layer's weight and bias bytes, in order (for models built in memory). */
export function weightsFingerprint(model: Model): string {
  const h = createHash('sha256');
  for (const l of model.layers) {
    h.update(new Uint8Array(l.weight.buffer, l.weight.byteOffset, l.weight.byteLength));
    h.update(new Uint8Array(l.bias.buffer, l.bias.byteOffset, l.bias.byteLength));
  }
  return h.digest('hex');
}
