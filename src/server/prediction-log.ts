// The prediction log: one SQLite row per prediction (time, model version, engine, features, score,
// decision, latency). Requests only push onto an in-memory queue; a timer hands the queue, packed
// into a few transferable arrays, to a worker thread that commits it in one transaction (WAL,
// synchronous=NORMAL). So neither a request nor the event loop ever waits on the disk: a commit of
// 1000 rows takes ~3 ms and a WAL checkpoint can take 15 ms, which on the event loop would land on
// the p99 latency of every request in flight. Reads (drift windows, counts) use a second,
// main-thread connection: WAL lets it read committed rows while the worker writes.
// ':memory:' databases cannot be shared between connections, so they are written inline.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';

import type Database from 'better-sqlite3';

type DatabaseConstructor = typeof Database;
type Sqlite = { Database: DatabaseConstructor; path: string } | { missing: string };
const requireHere = createRequire(import.meta.url);
let sqlite: Sqlite | undefined;

/**
 * better-sqlite3 is an optional dependency: only the prediction log needs it, so a service that
 * scores in-process (or serves with `log: false`) installs without compiling or downloading it.
 * Loaded on first use; `missing` says why it cannot be used.
 */
function loadSqlite(): Sqlite {
  if (sqlite) return sqlite;
  let path: string;
  try {
    path = requireHere.resolve('better-sqlite3');
  } catch {
    sqlite = { missing: 'is not installed' };
    return sqlite;
  }
  try {
    sqlite = { Database: requireHere(path) as DatabaseConstructor, path };
  } catch (e) {
    sqlite = { missing: `is installed but does not load (${(e as Error).message.split('\n')[0]})` };
  }
  return sqlite;
}

/** [sync] Whether the prediction log can be used here (better-sqlite3 is installed and loads). */
export function predictionLogAvailable(): boolean {
  return 'Database' in loadSqlite();
}

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
  /** Called when a batch could not be written (disk full, file removed, ...). */
  onError?: (error: Error, rows: number) => void;
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

const INSERT =
  'INSERT INTO predictions (ts, time_ms, model_version, engine, n_features, features, score, is_fraud, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** A queue's worth of predictions in columns, so it crosses to the worker as transferred buffers. */
interface PackedBatch {
  n: number;
  time: Float64Array;
  score: Float64Array;
  latency: Float64Array;
  fraud: Uint8Array;
  dims: Uint16Array;
  features: Float32Array;
  versions: string[];
  engines: string[];
}

function pack(rows: LoggedPrediction[]): PackedBatch {
  const n = rows.length;
  let total = 0;
  for (const r of rows) total += r.features.length;
  const b: PackedBatch = {
    n,
    time: new Float64Array(n),
    score: new Float64Array(n),
    latency: new Float64Array(n),
    fraud: new Uint8Array(n),
    dims: new Uint16Array(n),
    features: new Float32Array(total),
    versions: new Array(n),
    engines: new Array(n),
  };
  let at = 0;
  rows.forEach((r, i) => {
    b.time[i] = r.time;
    b.score[i] = r.score;
    b.latency[i] = r.latency;
    b.fraud[i] = r.isFraud ? 1 : 0;
    b.dims[i] = r.features.length;
    b.features.set(r.features, at);
    at += r.features.length;
    b.versions[i] = r.modelVersion;
    b.engines[i] = r.engine;
  });
  return b;
}

/** Writes a packed batch (inline mode; the worker's source below does the same). */
function writeBatch(insert: Database.Statement, b: PackedBatch): void {
  let at = 0;
  for (let i = 0; i < b.n; i++) {
    const d = b.dims[i]!;
    const f = Buffer.from(b.features.buffer, b.features.byteOffset + at * 4, d * 4);
    at += d;
    const t = b.time[i]!;
    insert.run(
      new Date(t).toISOString(),
      Math.round(t),
      b.versions[i],
      b.engines[i],
      d,
      f,
      b.score[i],
      b.fraud[i],
      b.latency[i]! * 1000,
    );
  }
}

// The worker is evaluated from source text (CommonJS), so it runs the same from src/ under tsx or
// vitest and from dist/, with no separate file to ship or transpile. Its writeBatch is plain JS
// (not writeBatch.toString(): a coverage tool or bundler may rewrite that function's body).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const insert = db.prepare(${JSON.stringify(INSERT)});
function writeBatch(insert, b) {
  let at = 0;
  for (let i = 0; i < b.n; i++) {
    const d = b.dims[i];
    const f = Buffer.from(b.features.buffer, b.features.byteOffset + at * 4, d * 4);
    at += d;
    const t = b.time[i];
    insert.run(new Date(t).toISOString(), Math.round(t), b.versions[i], b.engines[i], d, f, b.score[i], b.fraud[i], b.latency[i] * 1000);
  }
}
const write = db.transaction((b) => writeBatch(insert, b));
parentPort.on('message', (m) => {
  if (m.type === 'batch') {
    try {
      write(m.batch);
      parentPort.postMessage({ type: 'written', n: m.batch.n });
    } catch (e) {
      parentPort.postMessage({ type: 'error', n: m.batch.n, message: String(e && e.message || e) });
    }
  } else if (m.type === 'close') {
    db.close();
    parentPort.postMessage({ type: 'closed' });
  }
});
`;

export class PredictionLog {
  readonly path: string;
  #db: Database.Database;
  #insert: Database.Statement | null = null;
  #worker: Worker | null = null;
  #queue: LoggedPrediction[] = [];
  #timer: NodeJS.Timeout | null = null;
  #interval: number;
  #maxQueue: number;
  #onError: ((error: Error, rows: number) => void) | undefined;
  #sent = 0;
  #settled = 0;
  #written = 0;
  #failed = 0;
  #waiters: { upTo: number; resolve: () => void }[] = [];
  #closed = false;
  #closing: Promise<void> | null = null;

  constructor(options: PredictionLogOptions) {
    const { path, flushIntervalMs = 200, maxQueue = 4096, onError } = options;
    if (typeof path !== 'string' || path === '')
      throw new TypeError('Expected `log.path` to be a file path or ":memory:"');
    if (!(Number.isFinite(flushIntervalMs) && flushIntervalMs >= 0)) {
      throw new RangeError(`Expected \`log.flushIntervalMs\` to be a non-negative number, got ${flushIntervalMs}`);
    }
    if (!(Number.isInteger(maxQueue) && maxQueue > 0)) {
      throw new RangeError(`Expected \`log.maxQueue\` to be a positive integer, got ${maxQueue}`);
    }
    const lib = loadSqlite();
    if ('missing' in lib) {
      const e = new Error(
        `The prediction log needs better-sqlite3, an optional dependency of fraudscore, which ${lib.missing}. ` +
          'Run `npm install better-sqlite3` in your project, or serve without it: `log: false` (CLI: `--no-log`).',
      );
      (e as Error & { code: string }).code = 'ERR_FRAUDSCORE_MISSING_DEPENDENCY';
      throw e;
    }
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.#interval = flushIntervalMs;
    this.#maxQueue = maxQueue;
    this.#onError = onError;
    this.#db = new lib.Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    if (path === ':memory:') {
      this.#insert = this.#db.prepare(INSERT);
    } else {
      this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, sqlite: lib.path } });
      this.#worker.on('message', (m: { type: string; n?: number; message?: string }) => {
        if (m.type === 'written') this.#settle(m.n!, true);
        else if (m.type === 'error') {
          this.#settle(m.n!, false);
          this.#report(new Error(`prediction log ${path}: ${m.n} rows could not be written: ${m.message}`), m.n!);
        }
      });
      this.#worker.on('error', (e) =>
        this.#report(new Error(`prediction log ${path}: the writer thread failed: ${e.message}`), 0),
      );
      // An idle writer must not keep a process alive; one with rows in hand does (see #settle).
      this.#worker.unref();
    }
  }

  /** Rows committed so far by this process. */
  get written(): number {
    return this.#written;
  }

  /** Rows that could not be written (see `onError`). */
  get failed(): number {
    return this.#failed;
  }

  /** Rows not committed yet: queued, or handed to the writer and not acknowledged. */
  get pending(): number {
    return this.#queue.length + this.#sent - this.#settled;
  }

  /** Queues predictions; they reach the disk at the next flush. */
  push(rows: LoggedPrediction[]): void {
    if (this.#closed) throw new Error(`prediction log ${this.path} is closed`);
    for (const r of rows) this.#queue.push(r);
    if (this.#queue.length >= this.#maxQueue) {
      // Not inside the request's tick: let the response go out first.
      setImmediate(() => this.flush());
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => this.flush(), this.#interval);
      this.#timer.unref();
    }
  }

  /** [sync] Hands everything queued to the writer (or writes it, for ':memory:'). */
  flush(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const rows = this.#queue;
    if (rows.length === 0 || this.#closed) return;
    this.#queue = [];
    const batch = pack(rows);
    this.#sent += batch.n;
    if (this.#worker) {
      const transfer = [
        batch.time.buffer,
        batch.score.buffer,
        batch.latency.buffer,
        batch.fraud.buffer,
        batch.dims.buffer,
        batch.features.buffer,
      ];
      this.#worker.postMessage({ type: 'batch', batch }, transfer as ArrayBuffer[]);
      this.#worker.ref();
      return;
    }
    try {
      this.#db.transaction(() => writeBatch(this.#insert!, batch))();
      this.#settle(batch.n, true);
    } catch (e) {
      this.#settle(batch.n, false);
      this.#report(
        new Error(`prediction log ${this.path}: ${batch.n} rows could not be written: ${(e as Error).message}`),
        batch.n,
      );
    }
  }

  /** [async] Flushes, then resolves when every row pushed so far is committed (or failed). */
  flushed(): Promise<void> {
    this.flush();
    const upTo = this.#sent;
    if (this.#settled >= upTo) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ upTo, resolve }));
  }

  /** [sync] Rows in the database (committed ones). */
  count(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM predictions').get() as { n: number }).n;
  }

  /**
   * [sync] Logged features and scores of a window, oldest first, for drift reports. Sees committed
   * rows: await flushed() first to include the latest.
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
      const f = r.features;
      rows.set(new Float32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)), i * d);
      scores[i] = r.score;
    });
    return { rows, scores, n: got.length, from: got[0]?.ts ?? null, to: got.at(-1)?.ts ?? null };
  }

  /** [async] Writes everything queued, stops the writer and closes the database. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.flushed();
      this.#closed = true;
      const worker = this.#worker;
      if (worker) {
        worker.ref();
        await new Promise<void>((resolve) => {
          worker.on('message', (m: { type: string }) => m.type === 'closed' && resolve());
          worker.postMessage({ type: 'close' });
        });
        await worker.terminate();
      }
      this.#db.close();
    })();
    return this.#closing;
  }

  #settle(n: number, ok: boolean): void {
    this.#settled += n;
    if (this.#settled === this.#sent && !this.#closing) this.#worker?.unref();
    if (ok) this.#written += n;
    else this.#failed += n;
    const keep = [];
    for (const w of this.#waiters) {
      if (this.#settled >= w.upTo) w.resolve();
      else keep.push(w);
    }
    this.#waiters = keep;
  }

  #report(e: Error, rows: number): void {
    if (this.#onError) this.#onError(e, rows);
    else console.error(e.message);
  }
}
