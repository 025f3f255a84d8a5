// Micro-batching: concurrent requests' rows are gathered for a short window and scored in one
// native scoreAsync call (on the libuv pool, so the event loop keeps serving). One call of 64 rows
// costs about what one call of 1 row costs, so under load this turns per-request native overhead
// into per-batch overhead; when idle a request waits at most the window.
import type { Scorer } from '../scorer.js';

export interface BatcherOptions {
  /**
   * How long the first request of a batch waits for others, in microseconds. 0 still groups the
   * requests that arrive in the same event-loop turn. @default 300
   */
  windowMicros?: number;
  /** A batch is sent at once when it holds this many rows. @default 256 */
  maxRows?: number;
  /** Called with the row count of every native call (metrics). */
  onBatch?: (rows: number) => void;
  /**
   * Score every request in a native call of its own. For engines whose scores depend on the rows
   * scored together (int8 with dynamic activation scales: one scale per block of rows), so that a
   * request's score never depends on other clients' traffic. @default false
   */
  isolate?: boolean;
}

export interface BatchResult {
  /** The request's scores (a view into the batch's array). */
  scores: Float32Array;
  /** The request's per-feature squared errors, row-major. */
  featureErrors: Float32Array;
  /** Hybrid models: the autoencoder's score per row (`scores` then holds fraud probabilities). */
  aeScores?: Float32Array;
}

interface Pending {
  rows: Float32Array;
  resolve: (r: BatchResult) => void;
  reject: (e: unknown) => void;
}

/** The options with their defaults. @throws RangeError naming a bad one */
export function checkBatcherOptions(options: BatcherOptions): { windowMicros: number; maxRows: number } {
  const { windowMicros = 300, maxRows = 256 } = options;
  if (!(Number.isFinite(windowMicros) && windowMicros >= 0 && windowMicros <= 1e6)) {
    throw new RangeError(`Expected \`batchWindowMicros\` to be a number in [0, 1000000], got ${windowMicros}`);
  }
  if (!(Number.isInteger(maxRows) && maxRows > 0))
    throw new RangeError(`Expected \`maxBatchRows\` to be a positive integer, got ${maxRows}`);
  return { windowMicros, maxRows };
}

export class MicroBatcher {
  readonly scorer: Scorer;
  readonly #d: number;
  readonly #windowNs: bigint;
  readonly #maxRows: number;
  readonly #onBatch: ((rows: number) => void) | undefined;
  readonly #isolate: boolean;
  #pending: Pending[] = [];
  #pendingRows = 0;
  #firstAt = 0n;
  #scheduled = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #received = 0;

  constructor(scorer: Scorer, options: BatcherOptions = {}) {
    const { windowMicros, maxRows } = checkBatcherOptions(options);
    const { onBatch } = options;
    this.#isolate = options.isolate ?? false;
    this.scorer = scorer;
    this.#d = scorer.features.length;
    this.#windowNs = BigInt(Math.round(windowMicros * 1000));
    this.#maxRows = maxRows;
    this.#onBatch = onBatch;
  }

  /** Rows submitted since creation (settled or not). */
  get received(): number {
    return this.#received;
  }

  /** Native calls started and not settled, plus requests waiting for a batch. */
  get busy(): boolean {
    return this.#inFlight > 0 || this.#pending.length > 0;
  }

  /**
   * [async] Scores `rows` (k * features values, already checked finite) as part of the next batch.
   * Rows must not be modified until the promise settles.
   */
  score(rows: Float32Array): Promise<BatchResult> {
    if (this.#isolate) {
      this.#received += rows.length / this.#d;
      return this.#run([{ rows, resolve: () => {}, reject: () => {} }], rows, rows.length / this.#d, true);
    }
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) this.#firstAt = process.hrtime.bigint();
      this.#pending.push({ rows, resolve, reject });
      this.#pendingRows += rows.length / this.#d;
      this.#received += rows.length / this.#d;
      if (this.#pendingRows >= this.#maxRows) this.#dispatch();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#tick);
      }
    });
  }

  /**
   * [async] Scores a large batch (an Arrow body, the reference sample) in one call of its own,
   * counted as in flight so that drained() - and so a model swap or shutdown - waits for it.
   */
  async scoreAll(rows: Float32Array): Promise<Float32Array> {
    this.#inFlight++;
    this.#onBatch?.(rows.length / this.#d);
    try {
      return (await this.scorer.scoreAsync(rows, { nonFinite: 'nan' })).scores;
    } finally {
      this.#settled();
    }
  }

  /** [async] Resolves when nothing is pending or in flight (graceful shutdown, model swap). */
  drained(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  // setImmediate rather than setTimeout: timers have 1 ms granularity, and each immediate lets the
  // loop poll the sockets once (without sleeping), so requests arriving inside the window join.
  #tick = (): void => {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    if (process.hrtime.bigint() - this.#firstAt >= this.#windowNs) this.#dispatch();
    else {
      this.#scheduled = true;
      setImmediate(this.#tick);
    }
  };

  #dispatch(): void {
    const batch = this.#pending;
    const n = this.#pendingRows;
    this.#pending = [];
    this.#pendingRows = 0;
    let rows: Float32Array;
    if (batch.length === 1) rows = batch[0]!.rows;
    else {
      rows = new Float32Array(n * this.#d);
      let off = 0;
      for (const p of batch) {
        rows.set(p.rows, off);
        off += p.rows.length;
      }
    }
    void this.#run(batch, rows, n, false);
  }

  /** One native call for `batch` (whose rows are `rows`, n of them); settles every request. */
  async #run(batch: Pending[], rows: Float32Array, n: number, single: boolean): Promise<BatchResult> {
    const d = this.#d;
    this.#inFlight++;
    this.#onBatch?.(n);
    try {
      // 'nan' policy: rows are checked before they get here, so a NaN score can only come from a
      // bug or an unforeseen value; it must fail one request, not the whole batch.
      const { scores, featureErrors, aeScores } = await this.scorer.scoreAsync(rows, {
        explain: true,
        nonFinite: 'nan',
      });
      if (single) return { scores, featureErrors: featureErrors!, ...(aeScores ? { aeScores } : {}) };
      let r = 0;
      for (const p of batch) {
        const k = p.rows.length / d;
        p.resolve({
          scores: scores.subarray(r, r + k),
          featureErrors: featureErrors!.subarray(r * d, (r + k) * d),
          ...(aeScores ? { aeScores: aeScores.subarray(r, r + k) } : {}),
        });
        r += k;
      }
      return { scores, featureErrors: featureErrors! };
    } catch (e) {
      if (single) throw e;
      for (const p of batch) p.reject(e);
      return { scores: new Float32Array(0), featureErrors: new Float32Array(0) };
    } finally {
      this.#settled();
    }
  }

  #settled(): void {
    this.#inFlight--;
    if (!this.busy) {
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
    }
  }
}
