// The prediction log: one SQLite row per prediction (time, model version, engine, features, score,
// decision, latency), written in batches off the request path. Requests only push onto an in-memory
// queue; a timer commits the queue in one transaction (WAL, synchronous=NORMAL: one fsync per
// checkpoint, not per row), so a request never waits on the disk. close() flushes what is queued.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

export interface LoggedPrediction {
  /** Milliseconds since the epoch (UTC). */
  time: number;
  modelVersion: string;
  engine: string;
  /** Raw feature values, in the model's order. */
  features: Float32Array;
  score: number;
  isFraud: boolean;
  /** Seconds from request arrival to scored. */
  latency: number;
}

export interface PredictionLogOptions {
  /** SQLite file; ':memory:' keeps the log in memory (tests). */
  path: string;
  /** Milliseconds between flushes. @default 200 */
  flushIntervalMs?: number;
  /** Flush at once when this many rows are queued. @default 4096 */
  maxQueue?: number;
}

export interface LogWindow {
  /** Most recent rows only. */
  last?: number;
  /** Rows logged at or after this time (ms since the epoch). */
  since?: number;
  /** Only rows of this feature count (a reloaded model may have a different one). */
  features?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS predictions (
  id INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,             -- ISO 8601 UTC, readable with the sqlite3 shell
  time_ms INTEGER NOT NULL,     -- the same instant for range queries
  model_version TEXT NOT NULL,
  engine TEXT NOT NULL,
  n_features INTEGER NOT NULL,
  features BLOB NOT NULL,       -- float32 little-endian, the model's feature order
  score REAL NOT NULL,
  is_fraud INTEGER NOT NULL,
  latency_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions(time_ms);
`;

export class PredictionLog {
  readonly path: string;
  #db: Database.Database;
  #insert: Database.Statement;
  #queue: LoggedPrediction[] = [];
  #timer: NodeJS.Timeout | null = null;
  #interval: number;
  #maxQueue: number;
  #written = 0;
  #closed = false;

  constructor(options: PredictionLogOptions) {
    const { path, flushIntervalMs = 200, maxQueue = 4096 } = options;
    if (typeof path !== 'string' || path === '')
      throw new TypeError('Expected `log.path` to be a file path or ":memory:"');
    if (!(Number.isFinite(flushIntervalMs) && flushIntervalMs >= 0)) {
      throw new RangeError(`Expected \`log.flushIntervalMs\` to be a non-negative number, got ${flushIntervalMs}`);
    }
    if (!(Number.isInteger(maxQueue) && maxQueue > 0))
      throw new RangeError(`Expected \`log.maxQueue\` to be a positive integer, got ${maxQueue}`);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.#interval = flushIntervalMs;
    this.#maxQueue = maxQueue;
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    this.#insert = this.#db.prepare(
      'INSERT INTO predictions (ts, time_ms, model_version, engine, n_features, features, score, is_fraud, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** Rows committed so far by this process. */
  get written(): number {
    return this.#written;
  }

  /** Rows waiting for the next flush. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues predictions; they reach the disk at the next flush. */
  push(rows: LoggedPrediction[]): void {
    if (this.#closed) throw new Error('prediction log is closed');
    for (const r of rows) this.#queue.push(r);
    if (this.#queue.length >= this.#maxQueue) {
      // Do not write inside the request's tick: let the response go out first.
      setImmediate(() => this.flush());
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => this.flush(), this.#interval);
      this.#timer.unref();
    }
  }

  /** [sync] Commits everything queued, in one transaction. */
  flush(): number {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const rows = this.#queue;
    if (rows.length === 0 || this.#closed) return 0;
    this.#queue = [];
    const insert = this.#insert;
    this.#db.transaction(() => {
      for (const r of rows) {
        const f = r.features;
        insert.run(
          new Date(r.time).toISOString(),
          Math.round(r.time),
          r.modelVersion,
          r.engine,
          f.length,
          Buffer.from(f.buffer, f.byteOffset, f.byteLength),
          r.score,
          r.isFraud ? 1 : 0,
          r.latency * 1000,
        );
      }
    })();
    this.#written += rows.length;
    return rows.length;
  }

  /** [sync] Rows in the database (committed ones). */
  count(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM predictions').get() as { n: number }).n;
  }

  /**
   * [sync] Logged features and scores of a window, oldest first, for drift reports.
   * @returns n rows of `features` values and their scores
   */
  window(w: LogWindow = {}): {
    rows: Float32Array;
    scores: Float64Array;
    n: number;
    from: string | null;
    to: string | null;
  } {
    const where: string[] = [];
    const args: number[] = [];
    if (w.since !== undefined) {
      where.push('time_ms >= ?');
      args.push(Math.floor(w.since));
    }
    if (w.features !== undefined) {
      where.push('n_features = ?');
      args.push(w.features);
    }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const limit = w.last !== undefined ? `LIMIT ${Math.max(0, Math.floor(w.last))}` : '';
    const sql = `SELECT ts, features, score FROM (SELECT id, ts, features, score FROM predictions ${cond} ORDER BY id DESC ${limit}) ORDER BY id`;
    const got = this.#db.prepare(sql).all(...args) as { ts: string; features: Buffer; score: number }[];
    const d = w.features ?? (got[0] ? got[0].features.byteLength / 4 : 0);
    const rows = new Float32Array(got.length * d);
    const scores = new Float64Array(got.length);
    got.forEach((r, i) => {
      rows.set(
        new Float32Array(r.features.buffer.slice(r.features.byteOffset, r.features.byteOffset + r.features.byteLength)),
        i * d,
      );
      scores[i] = r.score;
    });
    return { rows, scores, n: got.length, from: got[0]?.ts ?? null, to: got.at(-1)?.ts ?? null };
  }

  /** [sync] Flushes and closes the database. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#db.close();
  }
}
