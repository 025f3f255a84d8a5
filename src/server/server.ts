// The HTTP server: predictions (JSON, micro-batched; Arrow IPC streams for bulk), an int8 route,
// health/readiness, Prometheus metrics, drift monitoring against the model's reference sample,
// OpenAPI docs and a web page. createServer() returns the Fastify instance without listening, so
// it can be tested with inject() or started by `fraudscore serve`; to embed the routes in an app
// of your own, register fraudscorePlugin (plugin.ts) instead. The routes are in routes/, their
// shared state in context.ts, the wiring in app.ts, graceful shutdown in lifecycle.ts.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';

import { mount } from './app.js';
import type { ServerHandle } from './context.js';
import { drainOnClose } from './lifecycle.js';
import { positiveInt, resolveServeOptions, type ServerOptions } from './options.js';
import { HttpError } from './rows.js';

export { HttpError, type ServerHandle, type ServerOptions };
export { topFeatures } from './routes/predict.js';

function isLoggerInstance(lg: ServerOptions['logger']): lg is FastifyBaseLogger {
  return typeof lg === 'object' && lg !== null && typeof (lg as Partial<FastifyBaseLogger>).child === 'function';
}

/**
 * [sync] Builds the server. The model loads in the background: GET /ready answers 503 until it is
 * loaded (await `app.fraudscore.loaded` to know). Close with `app.close()`: it stops accepting,
 * drains in-flight requests and batches, flushes the prediction log and frees the engines.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  // Every option is checked before anything is built (mount() checks the same again, cheaply).
  resolveServeOptions(options);
  const bodyLimit = positiveInt('bodyLimit', options.bodyLimit, 1 << 20);
  const shutdownGraceMs = positiveInt('shutdownGraceMs', options.shutdownGraceMs, 10_000);
  const lg = options.logger;
  const app = Fastify({
    // Fastify 5 takes an instance as loggerInstance and refuses one passed as logger.
    ...(isLoggerInstance(lg) ? { loggerInstance: lg } : { logger: lg ?? false }),
    bodyLimit,
    // Strict types (a string is not a number, a number is not a one-element array), unknown keys are
    // errors rather than silently dropped, and Infinity passes the type check so the handler can
    // answer "non-finite" (400) instead of a type error (422).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, strictNumbers: false, allErrors: true } },
    return503OnClosing: true,
  });
  drainOnClose(app, shutdownGraceMs);
  mount(app, options, { prefix: '', name: 'fraudscore', ownsApp: true });
  return app;
}
