// The shape every scoring engine takes in the bench: built once for a model and a set of batch
// sizes (views and output buffers are made up front, so a timed call allocates nothing the engine
// itself does not), then called with a batch size.
import type { BenchData } from '../data.js';

export interface EngineContext {
  data: BenchData;
  /** Batch sizes that will be asked for; views of the first b rows are prepared for each. */
  batches: readonly number[];
  /** Threads for engines that take a count (the machine's cores). */
  threads: number;
  /** A scratch directory for exported models. */
  tmpDir: string;
}

export interface EngineRun {
  /** [sync] Scores the first `n` rows; returns their scores (may be a reused buffer). */
  sync?: (n: number) => Float32Array;
  /** [async] Same, off the calling thread where the engine can. */
  async?: (n: number) => Promise<Float32Array>;
  /** Makes the engine ready to run after another engine ran (tfjs: switches to its backend). */
  activate?: () => Promise<void>;
  /** Frees what the engine holds. */
  dispose(): void | Promise<void>;
  /** What the engine runs with (SIMD path, threads, graph form...), for the report. */
  detail: Record<string, unknown>;
}

export type EngineSetup = EngineRun | { skip: string };

export interface Engine {
  /** Stable key used in JSON and --engines. */
  id: string;
  /** Row label in the table. */
  label: string;
  /** Which arithmetic it runs: int8 engines are compared with a looser yardstick. */
  precision: 'fp32' | 'int8' | 'fp64';
  /** Sync calls are measured up to this batch (the sync API is for small batches). */
  syncUpTo?: number;
  /** Async calls are measured from this batch up. */
  asyncFrom?: number;
  create(ctx: EngineContext): Promise<EngineSetup>;
}

/** Views of the first b rows for each batch size, made once (a subarray per call costs ~100 ns). */
export function batchViews(rows: Float32Array, d: number, batches: readonly number[]): Map<number, Float32Array> {
  const m = new Map<number, Float32Array>();
  for (const b of batches) {
    if (b * d > rows.length) {
      throw new RangeError(`Expected at least ${b} rows of data for batch ${b}, got ${rows.length / d}`);
    }
    m.set(b, rows.subarray(0, b * d));
  }
  return m;
}

/** One output buffer per batch size, exactly b long (Scorer then takes it without a subarray). */
export function batchOutputs(batches: readonly number[]): Map<number, Float32Array> {
  return new Map(batches.map((b) => [b, new Float32Array(b)]));
}

export function at<T>(m: Map<number, T>, n: number): T {
  const v = m.get(n);
  if (v === undefined) throw new RangeError(`Batch ${n} was not prepared (prepared: ${[...m.keys()].join(', ')})`);
  return v;
}
