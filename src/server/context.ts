// What every route of one mounted server shares: its checked options, metrics, prediction log and
// the model being served (installed in the background, swapped by a reload, freed on close). The
// routes get it as their only argument; nothing else holds state.
import { timingSafeEqual } from 'node:crypto';

import type { FastifyBaseLogger, FastifyRequest } from 'fastify';

import type { Model } from '../model.js';
import { MicroBatcher } from './batcher.js';
import { ServerMetrics } from './metrics.js';
import { ModelState, type ModelStateOptions } from './model-state.js';
import { PredictionLog, predictionLogAvailable } from './prediction-log.js';
import type { ResolvedServeOptions } from './options.js';
import { HttpError } from './rows.js';

// The handle createServer's instance carries as `app.fraudscore` (the plugin's host: under its
// `decorator` name). Declared here, beside the type, so a consumer's fraudscore/server typings have it.
declare module 'fastify' {
  interface FastifyInstance {
    fraudscore: ServerHandle;
  }
}

/** What a mounted server exposes (as `app.fraudscore`). */
export interface ServerHandle {
  /** Resolves when the model is loaded and /ready answers 200; rejects when loading failed. */
  readonly loaded: Promise<void>;
  readonly metrics: ServerMetrics;
  readonly log: PredictionLog | null;
  /** The model being served (null while loading). */
  readonly state: ModelState | null;
  /** [async] Loads a model and swaps it in; in-flight requests finish on the old one. */
  reload(source?: string | Model): Promise<ModelState>;
}

export class ServerContext {
  readonly options: ResolvedServeOptions;
  readonly metrics = new ServerMetrics();
  readonly log: PredictionLog | null;
  readonly stateOptions: ModelStateOptions;
  readonly handle: ServerHandle;
  #state: ModelState | null = null;
  #loadError: Error | null = null;
  #closed = false;
  readonly #token: Buffer | null;

  constructor(options: ResolvedServeOptions, logger: FastifyBaseLogger) {
    this.options = options;
    this.#token = options.token ? Buffer.from(options.token) : null;
    // The default in-memory log is skipped when better-sqlite3 (optional) is not installed; a log file
    // asked for by name is not, so that case throws the error naming what is missing.
    const noSqlite = options.log === undefined && !predictionLogAvailable();
    if (noSqlite) {
      logger.warn('prediction log off: better-sqlite3 (optional) is not installed; /monitoring has no data');
    }
    this.log =
      options.log === false || noSqlite
        ? null
        : new PredictionLog({
            path: options.log ?? ':memory:',
            flushIntervalMs: options.logFlushIntervalMs,
            onError: (e, rows) => {
              this.metrics.logErrors.inc(rows);
              logger.error(e);
            },
          });
    this.stateOptions = {
      backend: options.backend,
      threads: options.threads,
      batcher: options.batcher,
      onBatch: (engine: string, rows: number) => this.metrics.batchRows.observe({ engine }, rows),
    };
    const loaded = ModelState.create(options.model, this.stateOptions, options.referencePath).then(
      (s) => this.install(s),
      (e: Error) => {
        this.#loadError = e;
        logger.error(e, 'model load failed');
        throw e;
      },
    );
    // Callers that never await `loaded` must not see an unhandled rejection; /ready reports it.
    loaded.catch(() => {});
    const ctx = this;
    this.handle = {
      loaded,
      metrics: this.metrics,
      log: this.log,
      get state() {
        return ctx.#state;
      },
      async reload(source) {
        const s = await ctx.load(source ?? options.model, source === undefined ? options.referencePath : undefined);
        ctx.install(s);
        return s;
      },
    };
  }

  /** The model being served, or null while loading (or after a failed load). */
  get state(): ModelState | null {
    return this.#state;
  }

  /** Why the first load failed (null when it did not, or has not yet). */
  get loadError(): Error | null {
    return this.#loadError;
  }

  /** [sync] The model being served. @throws HttpError 503 while loading or after a failed load */
  ready(): ModelState {
    if (this.#state) return this.#state;
    throw new HttpError(
      503,
      this.#loadError ? `the model failed to load: ${this.#loadError.message}` : 'the model is still loading',
    );
  }

  /** [async] Loads a model with this server's backend, threads and batcher. */
  load(source: string | Model, referencePath: string | undefined): Promise<ModelState> {
    return ModelState.create(source, this.stateOptions, referencePath);
  }

  /** [sync] Swaps `s` in; the old engines are freed once the batches given to them settle. */
  install(s: ModelState): void {
    if (this.#closed) {
      // The server closed while this model was loading: nobody will use or free it otherwise.
      void s.dispose();
      return;
    }
    const old = this.#state;
    this.#state = s;
    this.#loadError = null;
    this.metrics.fp32FallbackRows = () => (s.int8 instanceof MicroBatcher ? s.int8.scorer.fp32FallbackRows : 0);
    this.metrics.setModel({
      name: s.model.name,
      version: s.model.version,
      fingerprint: s.fingerprint,
      engine: s.engines.fp32,
      precision: 'fp32',
    });
    if (old) void old.dispose();
  }

  /** Whether the request carries this server's bearer token (false when it has none). */
  authorized(req: FastifyRequest): boolean {
    const token = this.#token;
    if (!token) return false;
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    return given.length === token.length && timingSafeEqual(given, token);
  }

  /** Whether a bearer token was configured. */
  get hasToken(): boolean {
    return this.#token !== null;
  }

  /**
   * [async] What a SIGKILL can lose: rows answered but not yet committed. Past `logMaxPending` of
   * them, an answer waits until its rows are on disk (back-pressure), so the loss is bounded by that
   * count rather than by how far the writer has fallen behind.
   */
  async boundLogBacklog(): Promise<void> {
    const l = this.log;
    if (l && l.pending > this.options.logMaxPending) await l.flushed();
  }

  /**
   * [async] Frees the model and flushes the prediction log (last, so every answered prediction is
   * on disk). A model still loading is freed when it arrives.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#state?.dispose();
    await this.log?.close();
  }
}
