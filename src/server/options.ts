// The server's options: what createServer() and fraudscorePlugin take, and the one place that
// checks them (a bad option throws at construction, naming it, before anything is loaded).
import type { FastifyBaseLogger } from 'fastify';

import type { Model } from '../model.js';
import type { Backend } from '../scorer.js';
import { checkBatcherOptions } from './batcher.js';

/** What the routes, the model and the prediction log need: every option but the HTTP server's own. */
export interface ServeOptions {
  /** A model directory (model.json + weights.safetensors [+ reference.arrow|csv]) or a Model. */
  model: string | Model;
  /** Reference sample for drift (default: reference.* in the model directory). */
  referencePath?: string;
  /** @default 'auto' (CUDA when a device answers, else CPU) */
  backend?: Backend;
  /** Native threads per scoring call; micro-batches are small, so 1 avoids fan-out overhead. @default 1 */
  threads?: number;
  /** How long a micro-batch waits for more requests, in µs. @default 300 */
  batchWindowMicros?: number;
  /** Rows at which a micro-batch is sent at once. @default 256 */
  maxBatchRows?: number;
  /** Most rows in one JSON `instances` request (more is 413). @default 1000 */
  maxInstances?: number;
  /** Largest Arrow IPC body in bytes. @default 256 MiB */
  arrowBodyLimit?: number;
  /**
   * Most rows one Arrow IPC body may hold (413 beyond; the JSON path's limit is `maxInstances`).
   * @default 1048576 (about what 256 MiB of 29 float64 columns holds)
   */
  maxArrowRows?: number;
  /**
   * SQLite file of the prediction log; ':memory:' keeps it in memory; false disables it. The log needs
   * better-sqlite3 (an optional dependency): without it the default is no log (with a warning), and a
   * path is an error naming what to install.
   * @default ':memory:'
   */
  log?: string | false;
  /** Milliseconds between prediction log flushes. @default 200 */
  logFlushIntervalMs?: number;
  /**
   * Most predictions answered but not yet committed to the log (what a SIGKILL can lose): past it,
   * a response waits for its rows to be written. @default 512
   */
  logMaxPending?: number;
  /** Bearer token for admin routes (POST /admin/reload). Without one, reload only re-reads the configured model directory. */
  token?: string;
  /** Require the token on every route except GET /ready (for probes). @default false */
  protectAll?: boolean;
  /** Origins allowed to call from browsers ('*' for any). @default none: no CORS headers */
  corsOrigins?: string[];
  /** Top contributing features returned per prediction. @default 3 */
  topFeatures?: number;
  /** Logged rows a drift report uses when the request names no window. @default 5000 */
  driftWindow?: number;
}

export interface ServerOptions extends ServeOptions {
  /** Largest JSON body in bytes (more is 413). @default 1 MiB */
  bodyLimit?: number;
  /**
   * On close(): how long requests in flight may take to finish before their connections are cut
   * (idle connections are closed at once). The prediction log is flushed after either.
   * @default 10000
   */
  shutdownGraceMs?: number;
  /**
   * Fastify's logger option (true, or pino options), or a logger instance of your own (a pino
   * logger, or anything with pino's methods and child()), which then receives the server's logs.
   * @default false
   */
  logger?: boolean | Record<string, unknown> | FastifyBaseLogger;
}

/** ServeOptions with every default applied and every value checked. */
export interface ResolvedServeOptions {
  readonly model: string | Model;
  readonly referencePath: string | undefined;
  readonly backend: Backend;
  readonly threads: number;
  readonly batcher: { windowMicros: number | undefined; maxRows: number | undefined };
  readonly maxInstances: number;
  readonly arrowBodyLimit: number;
  readonly maxArrowRows: number;
  readonly log: string | false | undefined;
  readonly logFlushIntervalMs: number | undefined;
  readonly logMaxPending: number;
  readonly token: string | undefined;
  readonly protectAll: boolean;
  readonly corsOrigins: readonly string[];
  readonly topFeatures: number;
  readonly driftWindow: number;
}

export function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`Expected \`${name}\` to be a positive integer, got ${v}`);
  return x;
}

/**
 * [sync] Checks the options the routes use and applies their defaults.
 * @throws TypeError/RangeError naming the option
 */
export function resolveServeOptions(options: ServeOptions): ResolvedServeOptions {
  if (!options || (typeof options.model !== 'string' && typeof options.model !== 'object')) {
    throw new TypeError('Expected `options.model` to be a model directory or a Model');
  }
  const maxInstances = positiveInt('maxInstances', options.maxInstances, 1000);
  const arrowBodyLimit = positiveInt('arrowBodyLimit', options.arrowBodyLimit, 256 << 20);
  const maxArrowRows = positiveInt('maxArrowRows', options.maxArrowRows, 1 << 20);
  const logMaxPending = positiveInt('logMaxPending', options.logMaxPending, 512);
  const topFeatures = positiveInt('topFeatures', options.topFeatures, 3);
  const driftWindow = positiveInt('driftWindow', options.driftWindow, 5000);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw new RangeError(`Expected \`threads\` to be an integer in [0, 1024], got ${options.threads}`);
  }
  const batcher = { windowMicros: options.batchWindowMicros, maxRows: options.maxBatchRows };
  checkBatcherOptions(batcher);
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 8)) {
    throw new RangeError('Expected `token` to be a string of at least 8 characters');
  }
  if (options.protectAll && !options.token) throw new RangeError('`protectAll` needs a `token`');
  const corsOrigins = options.corsOrigins ?? [];
  if (!Array.isArray(corsOrigins) || corsOrigins.some((o) => typeof o !== 'string')) {
    throw new TypeError('Expected `corsOrigins` to be an array of origins');
  }
  return {
    model: options.model,
    referencePath: options.referencePath,
    backend: options.backend ?? 'auto',
    threads,
    batcher,
    maxInstances,
    arrowBodyLimit,
    maxArrowRows,
    log: options.log,
    logFlushIntervalMs: options.logFlushIntervalMs,
    logMaxPending,
    token: options.token,
    protectAll: options.protectAll === true,
    corsOrigins,
    topFeatures,
    driftWindow,
  };
}
