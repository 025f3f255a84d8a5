// GET / and /health (liveness and what is served) and GET /ready (503 until the model is loaded).
import { basename } from 'node:path';

import type { FastifyInstance, FastifyRequest } from 'fastify';

import { VERSION } from '../../version.js';
import type { ServerContext } from '../context.js';
import * as schemas from '../schemas.js';

/** [sync] Adds GET /, /health and /ready to `scope`. */
export function serviceRoutes(scope: FastifyInstance, ctx: ServerContext): void {
  const log = ctx.log;
  // Paths on the server's disk (model directory, reference and log files) only for a caller with
  // the bearer token: /health is unauthenticated.
  const health = async (req: FastifyRequest) => {
    const full = ctx.authorized(req);
    const s = ctx.state;
    const base = { message: 'fraudscore API is active', version: VERSION };
    if (!s)
      return {
        ...base,
        status: ctx.loadError ? 'error' : 'loading',
        detail: ctx.loadError?.message ?? 'the model is still loading',
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
      int8: 'missing' in s.int8 ? { engine: null, detail: hidePaths(s.int8.missing) } : { engine: engines.int8 },
      reference:
        'table' in s.reference
          ? { file: full ? s.reference.file : basename(s.reference.file), rows: s.reference.table.n }
          : { file: null, detail: hidePaths(s.reference.missing) },
      prediction_log: log ? { ...(full ? { path: log.path } : {}), written: log.written, pending: log.pending } : null,
    };
  };
  scope.get('/', { schema: schemas.healthRoute('Liveness and what is served (the original GET /).') }, health);
  scope.get(
    '/health',
    { schema: schemas.healthRoute('Status, model name/version/fingerprint, backend and precision.') },
    health,
  );
  scope.get('/ready', { schema: schemas.readyRoute }, async (_req, reply) => {
    if (ctx.state) return { status: 'ready' };
    return reply.code(503).send({
      status: ctx.loadError ? 'error' : 'loading',
      detail: ctx.loadError?.message ?? 'the model is still loading',
    });
  });
}
