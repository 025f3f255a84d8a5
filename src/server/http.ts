// The HTTP plumbing of one mounted server, all scoped to its Fastify context (a host app's own
// routes are untouched): the content types it parses, bearer auth and CORS, metrics per response,
// and FastAPI's error shapes and codes (the original project's contract).
import type { FastifyError, FastifyInstance } from 'fastify';

import { ArrowBodyStream } from './arrow-body.js';
import type { ServerContext } from './context.js';
import { HttpError } from './rows.js';

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';
const PREDICTION_ROUTES = new Set(['/predict', '/predict_optimized']);

/**
 * [sync] Installs parsers, hooks and error handlers on `scope` (routes are added after). The 404
 * handler only where it cannot take over a host's: under a prefix, or when the app is the server's
 * own (`ownsApp`); mounted at a host's root, unknown paths stay the host's.
 */
export function installHttp(scope: FastifyInstance, ctx: ServerContext, ownsApp: boolean): void {
  const { corsOrigins: cors, protectAll } = ctx.options;
  // The route as this server knows it, whatever prefix the host mounted it under.
  const prefix = scope.prefix;
  const local = (url: string) => (prefix && url.startsWith(prefix) ? url.slice(prefix.length) || '/' : url);

  // ---- content types: JSON (Fastify's parser, with the JSON body limit) and Arrow IPC streams ----
  // Fastify also parses text/plain by default; no route takes text, so it must be a 415.
  scope.removeContentTypeParser('text/plain');
  // Arrow bodies are read by the route as they arrive (arrow-body.ts), never buffered whole.
  scope.addContentTypeParser(ARROW_STREAM, (req, payload, done) => {
    const length = Number(req.headers['content-length']);
    done(null, new ArrowBodyStream(payload, Number.isFinite(length) ? length : undefined));
  });

  // ---- auth and CORS ----
  // Only installed when there is something to check: a hook costs every request a few µs.
  if (cors.length > 0 || ctx.hasToken)
    scope.addHook('onRequest', async (req, reply) => {
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
      const path = local(req.routeOptions.url ?? req.url);
      const admin = path.startsWith('/admin/');
      if ((admin && ctx.hasToken) || (protectAll && path !== '/ready')) {
        if (!ctx.authorized(req)) {
          reply.header('www-authenticate', 'Bearer');
          return reply.code(401).send({ detail: 'Missing or invalid bearer token (Authorization: Bearer <token>)' });
        }
      }
    });

  // ---- metrics per response ----
  // Callback-style hooks: no promise per request on the hot path.
  const metrics = ctx.metrics;
  scope.addHook('onResponse', (req, reply, done) => {
    const full = req.routeOptions.url;
    const status = String(reply.statusCode);
    metrics.http.inc({ method: req.method, route: full ?? 'unmatched', status });
    const route = full === undefined ? '' : local(full);
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

  // ---- errors: FastAPI's shapes and codes ----
  scope.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ detail: err.message });
    if (err.validation) {
      const detail = err.validation.map((v) => ({
        loc: [err.validationContext ?? 'body', ...v.instancePath.split('/').filter(Boolean)],
        msg: v.message ?? 'invalid',
        type: v.keyword,
        ...(v.keyword === 'additionalProperties' && 'additionalProperty' in v.params
          ? { field: v.params.additionalProperty }
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
  if (ownsApp || prefix !== '')
    scope.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: `Not found: ${req.method} ${req.url}` }));
}
