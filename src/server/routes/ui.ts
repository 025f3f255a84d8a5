// The web page for people (/ui, its assets, its config and sample transactions) and /favicon.ico;
// hidden from the OpenAPI document.
import type { FastifyInstance } from 'fastify';

import type { ServerContext } from '../context.js';
import * as schemas from '../schemas.js';
import { sampleTransactions, uiAsset } from '../ui.js';

/** [sync] Adds the web page's routes to `scope`. */
export function uiRoutes(scope: FastifyInstance, ctx: ServerContext): void {
  // Browsers ask for it on every page: no icon, and no 404 in the logs either.
  scope.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.code(204).send());
  scope.get('/ui', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(await uiAsset('index.html')),
  );
  scope.get('/ui/app.js', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').send(await uiAsset('app.js')),
  );
  scope.get('/ui/style.css', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').send(await uiAsset('style.css')),
  );
  scope.get('/ui/config', { schema: schemas.uiConfigRoute }, async () => {
    const s = ctx.ready();
    return {
      model: { name: s.model.name, version: s.model.version },
      features: s.model.features,
      threshold: s.threshold,
      maxInstances: ctx.options.maxInstances,
      int8: s.engines.int8 !== null,
    };
  });
  scope.get('/ui/samples', { schema: schemas.samplesRoute }, async () => sampleTransactions(ctx.ready()));
}
