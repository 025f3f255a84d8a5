// The HTTP server: predictions (JSON, micro-batched; Arrow IPC streams for bulk), an int8 route,
// health/readiness, Prometheus metrics, drift monitoring against the model's reference sample,
// OpenAPI docs and a web page. createServer() returns the Fastify instance without listening, so
// it can be embedded, tested with inject(), or started by `fraudscore serve`.
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { basename } from 'node:path';

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';

import type { Model } from '../model.js';
import { driftReportAsync } from '../monitoring/drift.js';
import { escapeHtml, renderDriftHtml, renderWaitingHtml } from '../monitoring/html.js';
import type { Backend } from '../scorer.js';
import { VERSION } from '../version.js';
import { ArrowBodyError, type DecodedArrowBody, decodeArrowBody } from './arrow-body.js';
import { checkBatcherOptions, MicroBatcher } from './batcher.js';
import { ServerMetrics } from './metrics.js';
import { ModelState } from './model-state.js';
import { PredictionLog, predictionLogAvailable } from './prediction-log.js';
import { checkValue, HttpError, rowsFromBody } from './rows.js';
import * as schemas from './schemas.js';
import { sampleTransactions, uiAsset } from './ui.js';

export { HttpError };

export interface ServerOptions {
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
  /** Largest JSON body in bytes (more is 413). @default 1 MiB */
  bodyLimit?: number;
  /** Largest Arrow IPC body in bytes. @default 256 MiB */
  arrowBodyLimit?: number;
  /**
   * Most rows one Arrow IPC body may hold (413 beyond; the JSON path's limit is `maxInstances`).
   * @default 1048576 (about what 256 MiB of 29 float64 columns holds)
   */
  maxArrowRows?: number;
  /**
   * On close(): how long requests in flight may take to finish before their connections are cut
   * (idle connections are closed at once). The prediction log is flushed after either.
   * @default 10000
   */
  shutdownGraceMs?: number;
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
  /**
   * Fastify's logger option (true, or pino options), or a logger instance of your own (a pino
   * logger, or anything with pino's methods and child()), which then receives the server's logs.
   * @default false
   */
  logger?: boolean | Record<string, unknown> | FastifyBaseLogger;
}

/** What createServer adds to the Fastify instance (as `app.fraudscore`). */
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

declare module 'fastify' {
  interface FastifyInstance {
    fraudscore: ServerHandle;
  }
}

const ARROW_STREAM = 'application/vnd.apache.arrow.stream';
const PREDICTION_ROUTES = new Set(['/predict', '/predict_optimized']);

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`Expected \`${name}\` to be a positive integer, got ${v}`);
  return x;
}

/**
 * [sync] Builds the server. The model loads in the background: GET /ready answers 503 until it is
 * loaded (await `app.fraudscore.loaded` to know). Close with `app.close()`: it stops accepting,
 * drains in-flight requests and batches, flushes the prediction log and frees the engines.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  if (!options || (typeof options.model !== 'string' && typeof options.model !== 'object')) {
    throw new TypeError('Expected `options.model` to be a model directory or a Model');
  }
  const maxInstances = positiveInt('maxInstances', options.maxInstances, 1000);
  const bodyLimit = positiveInt('bodyLimit', options.bodyLimit, 1 << 20);
  const arrowBodyLimit = positiveInt('arrowBodyLimit', options.arrowBodyLimit, 256 << 20);
  const maxArrowRows = positiveInt('maxArrowRows', options.maxArrowRows, 1 << 20);
  const shutdownGraceMs = positiveInt('shutdownGraceMs', options.shutdownGraceMs, 10_000);
  const logMaxPending = positiveInt('logMaxPending', options.logMaxPending, 512);
  // What a SIGKILL can lose: rows answered but not yet committed. Past `logMaxPending` of them, an
  // answer waits until its rows are on disk (back-pressure), so the loss is bounded by that count
  // rather than by how far the writer has fallen behind.
  const boundLogBacklog = async (l: PredictionLog) => {
    if (l.pending > logMaxPending) await l.flushed();
  };
  const topK = positiveInt('topFeatures', options.topFeatures, 3);
  const driftWindow = positiveInt('driftWindow', options.driftWindow, 5000);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw new RangeError(`Expected \`threads\` to be an integer in [0, 1024], got ${options.threads}`);
  }
  const batcherOptions = { windowMicros: options.batchWindowMicros, maxRows: options.maxBatchRows };
  checkBatcherOptions(batcherOptions);
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 8)) {
    throw new RangeError('Expected `token` to be a string of at least 8 characters');
  }
  if (options.protectAll && !options.token) throw new RangeError('`protectAll` needs a `token`');
  const cors = options.corsOrigins ?? [];
  if (!Array.isArray(cors) || cors.some((o) => typeof o !== 'string')) {
    throw new TypeError('Expected `corsOrigins` to be an array of origins');
  }

  const lg = options.logger;
  const loggerInstance =
    typeof lg === 'object' && lg !== null && typeof (lg as FastifyBaseLogger).child === 'function'
      ? (lg as FastifyBaseLogger)
      : undefined;
  const app = Fastify({
    // Fastify 5 takes an instance as loggerInstance and refuses one passed as logger.
    ...(loggerInstance ? { loggerInstance } : { logger: (lg as boolean | Record<string, unknown>) ?? false }),
    bodyLimit,
    // Strict types (a string is not a number, a number is not a one-element array), unknown keys are
    // errors rather than silently dropped, and Infinity passes the type check so the handler can
    // answer "non-finite" (400) instead of a type error (422).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, strictNumbers: false, allErrors: true } },
    return503OnClosing: true,
  });
  const metrics = new ServerMetrics();
  // The default in-memory log is skipped when better-sqlite3 (optional) is not installed; a log file
  // asked for by name is not, so that case throws the error naming what is missing.
  const noSqlite = options.log === undefined && !predictionLogAvailable();
  if (noSqlite) {
    app.log.warn('prediction log off: better-sqlite3 (optional) is not installed; /monitoring has no data');
  }
  const log =
    options.log === false || noSqlite
      ? null
      : new PredictionLog({
          path: options.log ?? ':memory:',
          flushIntervalMs: options.logFlushIntervalMs,
          onError: (e, rows) => {
            metrics.logErrors.inc(rows);
            app.log.error(e);
          },
        });

  let state: ModelState | null = null;
  let loadError: Error | null = null;
  const stateOptions = {
    backend: options.backend ?? 'auto',
    threads,
    batcher: batcherOptions,
    onBatch: (engine: string, rows: number) => metrics.batchRows.observe({ engine }, rows),
  };
  let closed = false;
  const install = (s: ModelState) => {
    if (closed) {
      // The server closed while this model was loading: nobody will use or free it otherwise.
      void s.dispose();
      return;
    }
    const old = state;
    state = s;
    loadError = null;
    metrics.fp32FallbackRows = () => (s.int8 instanceof MicroBatcher ? s.int8.scorer.fp32FallbackRows : 0);
    metrics.setModel({
      name: s.model.name,
      version: s.model.version,
      fingerprint: s.fingerprint,
      engine: s.engines.fp32,
      precision: 'fp32',
    });
    // The old engines are freed once the batches already given to them have settled.
    if (old) void old.dispose();
  };
  const loaded = ModelState.create(options.model, stateOptions, options.referencePath).then(install, (e: Error) => {
    loadError = e;
    app.log.error(e, 'model load failed');
    throw e;
  });
  // Callers that never await `loaded` must not see an unhandled rejection; /ready reports it.
  loaded.catch(() => {});

  const handle: ServerHandle = {
    loaded,
    metrics,
    log,
    get state() {
      return state;
    },
    async reload(source) {
      const s = await ModelState.create(
        source ?? options.model,
        stateOptions,
        source === undefined ? options.referencePath : undefined,
      );
      install(s);
      return s;
    },
  };
  app.decorate('fraudscore', handle);

  const ready = (): ModelState => {
    if (state) return state;
    throw new HttpError(
      503,
      loadError ? `the model failed to load: ${loadError.message}` : 'the model is still loading',
    );
  };

  // ---- content types: JSON (Fastify's parser, with the JSON body limit) and Arrow IPC streams ----
  // Fastify also parses text/plain by default; no route takes text, so it must be a 415.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(ARROW_STREAM, { parseAs: 'buffer', bodyLimit: arrowBodyLimit }, (_req, body, done) =>
    done(null, body),
  );

  // ---- auth and CORS --------------------------------------------------------------------------
  const token = options.token ? Buffer.from(options.token) : null;
  const authorized = (req: FastifyRequest): boolean => {
    if (!token) return false;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/i.exec(h);
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    return given.length === token.length && timingSafeEqual(given, token);
  };
  // Only installed when there is something to check: a hook costs every request a few µs.
  if (cors.length > 0 || token)
    app.addHook('onRequest', async (req, reply) => {
      const origin = req.headers.origin;
      if (origin && cors.length > 0 && (cors.includes('*') || cors.includes(origin))) {
        reply.header('access-control-allow-origin', cors.includes('*') ? '*' : origin);
        reply.header('vary', 'Origin');
        if (req.method === 'OPTIONS') {
          reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
          reply.header('access-control-allow-headers', 'content-type, authorization');
          reply.header('access-control-max-age', '600');
          return reply.code(204).send();
        }
      }
      const path = req.routeOptions.url ?? req.url;
      const admin = path.startsWith('/admin/');
      if ((admin && token) || (options.protectAll && path !== '/ready')) {
        if (!authorized(req)) {
          reply.header('www-authenticate', 'Bearer');
          return reply.code(401).send({ detail: 'Missing or invalid bearer token (Authorization: Bearer <token>)' });
        }
      }
    });

  // ---- metrics per response -------------------------------------------------------------------
  // Callback-style hooks (here and onSend): no promise per request on the hot path.
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = String(reply.statusCode);
    metrics.http.inc({ method: req.method, route, status });
    if (PREDICTION_ROUTES.has(route)) {
      metrics.requests.inc({ route, status });
      metrics.latency.observe({ route }, reply.elapsedTime / 1000);
      if (reply.statusCode >= 400) {
        const reason =
          reply.statusCode === 503 ? 'unavailable' : reply.statusCode >= 500 ? 'internal' : 'invalid_request';
        metrics.errors.inc({ route, reason });
      }
    }
    done();
  });

  // ---- errors: FastAPI's shapes and codes -----------------------------------------------------
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ detail: err.message });
    if (err.validation) {
      const detail = err.validation.map((v) => ({
        loc: [err.validationContext ?? 'body', ...v.instancePath.split('/').filter(Boolean)],
        msg: v.message ?? 'invalid',
        type: v.keyword,
        ...(v.keyword === 'additionalProperties'
          ? { field: (v.params as { additionalProperty?: string }).additionalProperty }
          : {}),
      }));
      return reply.code(422).send({ detail });
    }
    switch (err.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply
          .code(422)
          .send({ detail: [{ loc: ['body'], msg: `JSON decode error: ${err.message}`, type: 'json_invalid' }] });
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({ detail: `Request body is larger than the limit (${err.message})` });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({
          detail: `Unsupported content type '${req.headers['content-type'] ?? ''}': send application/json or ${ARROW_STREAM}`,
        });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
      return reply.code(err.statusCode).send({ detail: err.message });
    req.log.error(err);
    return reply.code(500).send({ detail: `internal error: ${err.message}` });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: `Not found: ${req.method} ${req.url}` }));

  // ---- predictions ----------------------------------------------------------------------------
  /** Row-major rows from a JSON body, checked: counts, names, finite, log1p's domain. */
  const rowsFromJson = (s: ModelState, body: schemas.PredictBody) => rowsFromBody(s, body, maxInstances);

  // > 2x threshold is very_high for reconstruction errors; a probability is very_high past the
  // midpoint between the threshold and 1 (2x a threshold of 0.6 would never be reached).
  const riskLevel = (score: number, thr: number, probability: boolean): schemas.Prediction['risk_level'] =>
    score > (probability ? (1 + thr) / 2 : 2 * thr) ? 'very_high' : score > thr ? 'moderate' : 'low';

  const predictJson = async (req: FastifyRequest, reply: FastifyReply, precision: 'fp32' | 'int8') => {
    const s = ready();
    const route = precision === 'fp32' ? '/predict' : '/predict_optimized';
    if (Buffer.isBuffer(req.body)) return predictArrow(s, req.body, reply, precision, route);
    const batcher = precision === 'fp32' ? s.fp32 : s.int8;
    if (!(batcher instanceof MicroBatcher))
      throw new HttpError(503, `POST /predict_optimized is unavailable: ${batcher.missing}`);
    const { rows, batch } = rowsFromJson(s, req.body as schemas.PredictBody);
    const d = s.model.features.length;
    const n = rows.length / d;
    metrics.featureLength.observe(d);
    const top = (req.query as { top?: string }).top;
    const k = top === undefined ? topK : Math.min(Number(top), d);
    const { scores, featureErrors, aeScores } = await batcher.score(rows);
    const thr = s.threshold;
    const engine = batcher.scorer.engine;
    const latency = reply.elapsedTime / 1000;
    const now = Date.now();
    const out: schemas.Prediction[] = [];
    const flags: boolean[] = [];
    const logged = [];
    for (let i = 0; i < n; i++) {
      const score = scores[i]!;
      if (!Number.isFinite(score)) {
        throw new HttpError(
          400,
          `${batch ? `instances[${i}]: ` : ''}the transaction could not be scored (non-finite result)`,
        );
      }
      const isFraud = score > thr;
      flags.push(isFraud);
      out.push({
        is_fraud: isFraud,
        // Hybrid models (src/hybrid/): the score is a probability; the AE's error comes alongside.
        ...(aeScores ? { fraud_probability: score } : {}),
        reconstruction_error: aeScores ? aeScores[i]! : score,
        threshold: thr,
        risk_level: riskLevel(score, thr, aeScores !== undefined),
        engine,
        model_version: s.model.version,
        top_features: topFeatures(s.model.features, featureErrors.subarray(i * d, (i + 1) * d), k),
      });
      logged.push({
        time: now,
        modelVersion: s.model.version,
        engine,
        features: rows.subarray(i * d, (i + 1) * d),
        score,
        isFraud,
        latency,
      });
    }
    metrics.observeScores(route, scores, flags);
    if (log) {
      log.push(logged);
      metrics.logPending.set(log.pending);
      await boundLogBacklog(log);
    }
    if (!batch) return out[0];
    return { predictions: out, model_version: s.model.version, engine, threshold: thr };
  };

  const predictArrow = async (
    s: ModelState,
    body: Buffer,
    reply: FastifyReply,
    precision: 'fp32' | 'int8',
    route: string,
  ) => {
    const batcher = precision === 'fp32' ? s.fp32 : s.int8;
    if (!(batcher instanceof MicroBatcher))
      throw new HttpError(503, `POST /predict_optimized is unavailable: ${batcher.missing}`);
    const feats = s.model.features;
    const d = feats.length;
    let decoded: DecodedArrowBody;
    try {
      decoded = decodeArrowBody(body, feats, maxArrowRows, (v, j, where) => checkValue(s, v, j, where));
    } catch (e) {
      if (e instanceof ArrowBodyError) throw new HttpError(e.statusCode, e.message);
      throw e;
    }
    const { rows, n } = decoded;
    const scores = await batcher.scoreAll(rows);
    const thr = s.threshold;
    const flags = new Uint8Array(n);
    const bools: boolean[] = new Array(n);
    for (let i = 0; i < n; i++) {
      bools[i] = scores[i]! > thr;
      flags[i] = bools[i] ? 1 : 0;
    }
    metrics.observeScores(route, scores, bools);
    if (log) {
      const now = Date.now();
      const latency = reply.elapsedTime / 1000;
      const engine = batcher.scorer.engine;
      const logged = [];
      for (let i = 0; i < n; i++) {
        logged.push({
          time: now,
          modelVersion: s.model.version,
          engine,
          features: rows.subarray(i * d, (i + 1) * d),
          score: scores[i]!,
          isFraud: bools[i]!,
          latency,
        });
      }
      log.push(logged);
      await boundLogBacklog(log);
    }
    // A hybrid model's scores are probabilities: the column says so.
    const outTable = tableFromArrays(
      s.model.kind === 'hybrid'
        ? { fraud_probability: scores, is_fraud: flags }
        : { reconstruction_error: scores, is_fraud: flags },
    );
    reply.header('content-type', ARROW_STREAM);
    reply.header('x-fraudscore-threshold', String(thr));
    reply.header('x-fraudscore-engine', batcher.scorer.engine);
    reply.header('x-fraudscore-model-version', s.model.version);
    return reply.send(Buffer.from(tableToIPC(outTable, 'stream')));
  };

  // ---- routes ---------------------------------------------------------------------------------
  app.register(swagger, {
    openapi: {
      info: {
        title: 'fraudscore',
        version: VERSION,
        description:
          'Credit-card fraud scoring with an autoencoder: a transaction whose reconstruction error is above the model threshold is flagged.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      // One tag per area; the web page's own routes (/ui, its assets, config and samples) are hidden.
      tags: [
        { name: 'scoring', description: 'Score transactions (fp32 and int8)' },
        { name: 'monitoring', description: 'Prometheus metrics and drift of the logged requests' },
        { name: 'service', description: 'Liveness, readiness and what is served' },
        { name: 'admin', description: 'Model reload (bearer token when configured)' },
      ],
    },
  });
  app.register(swaggerUi, { routePrefix: '/docs' });

  app.register(async (r) => {
    // Paths on the server's disk (model directory, reference and log files) only for a caller with
    // the bearer token: /health is unauthenticated.
    const health = async (req: FastifyRequest) => {
      const full = authorized(req);
      const s = state;
      const base = { message: 'fraudscore API is active', version: VERSION };
      if (!s)
        return {
          ...base,
          status: loadError ? 'error' : 'loading',
          detail: loadError?.message ?? 'the model is still loading',
        };
      const engines = s.engines;
      const hidePaths = (text: string) => (full || !s.dir ? text : text.replaceAll(s.dir, '<model directory>'));
      return {
        ...base,
        status: 'ok',
        model: {
          name: s.model.name,
          version: s.model.version,
          fingerprint: s.fingerprint,
          features: s.model.features.length,
          threshold: s.threshold,
          ...(full ? { directory: s.dir } : {}),
        },
        backend: s.fp32.scorer.backend,
        engine: engines.fp32,
        precision: 'fp32',
        int8: engines.int8
          ? { engine: engines.int8 }
          : { engine: null, detail: hidePaths((s.int8 as { missing: string }).missing) },
        reference:
          'table' in s.reference
            ? { file: full ? s.reference.file : basename(s.reference.file), rows: s.reference.table.n }
            : { file: null, detail: hidePaths(s.reference.missing) },
        prediction_log: log
          ? { ...(full ? { path: log.path } : {}), written: log.written, pending: log.pending }
          : null,
      };
    };
    r.get('/', { schema: schemas.healthRoute('Liveness and what is served (the original GET /).') }, health);
    r.get(
      '/health',
      { schema: schemas.healthRoute('Status, model name/version/fingerprint, backend and precision.') },
      health,
    );
    r.get('/ready', { schema: schemas.readyRoute }, async (_req, reply) => {
      if (state) return { status: 'ready' };
      return reply
        .code(503)
        .send({ status: loadError ? 'error' : 'loading', detail: loadError?.message ?? 'the model is still loading' });
    });

    r.post('/predict', { schema: schemas.predictRoute(maxInstances, false) }, (req, reply) =>
      predictJson(req, reply, 'fp32'),
    );
    r.post('/predict_optimized', { schema: schemas.predictRoute(maxInstances, true) }, (req, reply) =>
      predictJson(req, reply, 'int8'),
    );

    r.get('/metrics', { schema: schemas.metricsRoute }, async (_req, reply) => {
      if (log) metrics.logPending.set(log.pending);
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });

    r.get('/monitoring', { schema: schemas.monitoringRoute }, async (req, reply) => {
      const q = req.query as { window?: string; since?: string; format?: 'json' | 'html' };
      const html = q.format === 'html';
      // A report that cannot be made (no reference, no log, empty window) is a 404 with the reason.
      const fail = (detail: string) => {
        if (!html) return reply.code(404).send({ detail });
        return reply
          .code(404)
          .type('text/html; charset=utf-8')
          .send(
            `<!doctype html><meta charset="utf-8"><title>fraudscore drift report</title><h1>No drift report</h1><p>${escapeHtml(detail)}</p>`,
          );
      };
      const s = ready();
      if (!('table' in s.reference)) return fail(s.reference.missing);
      if (!log)
        return fail(
          'the prediction log is disabled (start the server with a log), so there are no logged requests to compare',
        );
      let since: number | undefined;
      if (q.since !== undefined) {
        since = Date.parse(q.since);
        if (Number.isNaN(since))
          throw new HttpError(400, `Expected \`since\` to be an ISO 8601 time, got '${q.since}'`);
      }
      const last = q.window !== undefined ? Number(q.window) : since === undefined ? driftWindow : undefined;
      await log.flushed();
      const d = s.model.features.length;
      const win = log.window({ last, since, features: d });
      if (win.n === 0) {
        // Before any data a report is not an error: 200 with the empty state, so a dashboard or probe
        // polling it sees "waiting", not a failure.
        const detail = 'no logged predictions in the window yet: send some to POST /predict first';
        if (html) return reply.type('text/html; charset=utf-8').send(renderWaitingHtml(s.model.name, detail));
        return {
          status: 'waiting_for_data',
          detail,
          model: { name: s.model.name, version: s.model.version, fingerprint: s.fingerprint },
          reference: { file: s.reference.file, rows: s.reference.table.n },
          window: { last: last ?? null, since: since === undefined ? null : new Date(since).toISOString(), rows: 0 },
          report: null,
        };
      }
      const refScores = await s.referenceScores();
      const report = await driftReportAsync(
        { features: s.model.features, rows: s.reference.table.rows, scores: refScores ?? undefined },
        { features: s.model.features, rows: win.rows, scores: win.scores },
      );
      const body = {
        model: { name: s.model.name, version: s.model.version, fingerprint: s.fingerprint },
        reference: { file: s.reference.file, rows: s.reference.table.n },
        window: {
          last: last ?? null,
          since: since === undefined ? null : new Date(since).toISOString(),
          rows: win.n,
          from: win.from,
          to: win.to,
        },
        report,
      };
      if (html) {
        return reply
          .type('text/html; charset=utf-8')
          .send(
            renderDriftHtml(
              report,
              `fraudscore drift report: ${s.model.name} v${s.model.version}, ${win.n} logged rows (${win.from} – ${win.to})`,
            ),
          );
      }
      return body;
    });

    r.post('/admin/reload', { schema: schemas.reloadRoute }, async (req) => {
      const body = (req.body ?? {}) as { model?: string };
      if (body.model !== undefined && !token) {
        throw new HttpError(403, 'Reloading from another directory needs the server to be started with a token');
      }
      const source = body.model ?? (typeof options.model === 'string' ? options.model : undefined);
      if (source === undefined)
        throw new HttpError(400, 'The server was given an in-memory model: name a `model` directory to load');
      let s: ModelState;
      try {
        s = await ModelState.create(source, stateOptions, body.model === undefined ? options.referencePath : undefined);
      } catch (e) {
        // The old model keeps serving; the caller learns why the new one was refused.
        throw new HttpError(400, `reload failed, still serving the previous model: ${(e as Error).message}`);
      }
      // A quantized model whose int8 engine failed would silently turn /predict_optimized off.
      if (s.model.quantization && !(s.int8 instanceof MicroBatcher)) {
        await s.dispose();
        throw new HttpError(
          400,
          `reload failed, still serving the previous model: ${(s.int8 as { missing: string }).missing}`,
        );
      }
      install(s);
      return {
        status: 'reloaded',
        model: { name: s.model.name, version: s.model.version, fingerprint: s.fingerprint },
        engine: s.engines.fp32,
        int8_engine: s.engines.int8,
      };
    });

    // ---- the web page ----
    // Browsers ask for it on every page: no icon, and no 404 in the logs either.
    r.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.code(204).send());
    r.get('/ui', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/html; charset=utf-8').send(await uiAsset('index.html')),
    );
    r.get('/ui/app.js', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/javascript; charset=utf-8').send(await uiAsset('app.js')),
    );
    r.get('/ui/style.css', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/css; charset=utf-8').send(await uiAsset('style.css')),
    );
    r.get('/ui/config', { schema: schemas.uiConfigRoute }, async () => {
      const s = ready();
      return {
        model: { name: s.model.name, version: s.model.version },
        features: s.model.features,
        threshold: s.threshold,
        maxInstances,
        int8: s.engines.int8 !== null,
      };
    });
    r.get('/ui/samples', { schema: schemas.samplesRoute }, async () => sampleTransactions(ready()));
  });

  // Keep-alive connections with a request in flight at close() would hold the listener open after
  // their response; answering those with `connection: close` lets close() finish once they are done.
  // A socket with no request in flight (an idle keep-alive connection, or one that connected and
  // sent nothing) would hold close() open for as long as the client keeps it: such sockets are
  // destroyed at once, and the rest once their response is sent or when the grace period ends.
  let closing = false;
  const inFlight = new Map<Socket, number>();
  app.server.on('connection', (sock: Socket) => {
    inFlight.set(sock, 0);
    sock.once('close', () => inFlight.delete(sock));
  });
  // Only sockets of the listener are counted (inject() has none).
  app.addHook('onRequest', (req, _reply, done) => {
    const sock = req.raw.socket;
    const n = inFlight.get(sock);
    if (n !== undefined) inFlight.set(sock, n + 1);
    done();
  });
  app.addHook('onResponse', (req, _reply, done) => {
    const sock = req.raw.socket;
    const n = inFlight.get(sock);
    if (n !== undefined) {
      inFlight.set(sock, n - 1);
      if (closing && n === 1) sock.destroySoon();
    }
    done();
  });
  app.addHook('preClose', async () => {
    closing = true;
    for (const [sock, n] of inFlight) if (n === 0) sock.destroy();
    const timer = setTimeout(() => {
      if (inFlight.size > 0)
        app.log.warn(`shutdown grace of ${shutdownGraceMs} ms over: closing ${inFlight.size} connection(s)`);
      for (const sock of inFlight.keys()) sock.destroy();
    }, shutdownGraceMs);
    timer.unref();
    app.server.once('close', () => clearTimeout(timer));
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onClose', async () => {
    closed = true;
    // In-flight requests are done by now (Fastify closes the listener first); batches they started
    // have settled. Flush the log last so every answered prediction is on disk.
    await state?.dispose();
    await log?.close();
  });

  return app;
}

/** The k features with the largest share of the row's squared error (largest first). */
export function topFeatures(
  names: readonly string[],
  errors: Float32Array,
  k: number,
): { name: string; error_share: number }[] {
  // Insertion into a k-long list: k is small (3 by default) and this runs for every scored row.
  const kk = Math.min(k, names.length);
  const idx: number[] = [];
  let total = 0;
  for (let j = 0; j < errors.length; j++) {
    const e = errors[j]!;
    total += e;
    if (idx.length === kk && e <= errors[idx[kk - 1]!]!) continue;
    let at = idx.length === kk ? kk - 1 : idx.length;
    while (at > 0 && errors[idx[at - 1]!]! < e) {
      idx[at] = idx[at - 1]!;
      at--;
    }
    idx[at] = j;
  }
  return idx.map((j) => ({ name: names[j]!, error_share: total > 0 ? errors[j]! / total : 0 }));
}
