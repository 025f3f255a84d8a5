// The app wiring: one server's context, its HTTP plumbing, OpenAPI docs and routes, mounted on a
// Fastify instance under a prefix. createServer() mounts it on its own instance; fraudscorePlugin
// mounts it in a host app. Everything but the `fraudscore` decorator and the close hook lives in an
// encapsulated child context, so a host's own routes, parsers, hooks and error handler are untouched.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

import { VERSION } from '../version.js';
import { ServerContext } from './context.js';
import { installHttp } from './http.js';
import { resolveServeOptions, type ServeOptions } from './options.js';
import { adminRoutes } from './routes/admin.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { predictRoutes } from './routes/predict.js';
import { serviceRoutes } from './routes/service.js';
import { uiRoutes } from './routes/ui.js';

export interface MountOptions {
  /** Where the routes go ('' for the host's root). */
  prefix: string;
  /** The host's decorator that holds the ServerHandle. */
  name: string;
  /** createServer's own instance (its 404s are the server's), not a host app's. */
  ownsApp: boolean;
}

/**
 * [sync] Checks the options, starts loading the model, decorates `host` with the ServerHandle and
 * registers the routes under the prefix. The model and the prediction log are released by
 * `host.close()`.
 * @throws TypeError/RangeError naming a bad option
 */
export function mount(host: FastifyInstance, options: ServeOptions, at: MountOptions): ServerContext {
  const { prefix, name, ownsApp } = at;
  const ctx = new ServerContext(resolveServeOptions(options), host.log);
  host.decorate(name, ctx.handle);
  host.register(
    async (scope) => {
      installHttp(scope, ctx, ownsApp);
      scope.register(swagger, {
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
      scope.register(swaggerUi, { routePrefix: '/docs' });
      // A child of its own, so that swagger (loaded first) sees every route.
      scope.register(async (r) => {
        serviceRoutes(r, ctx);
        predictRoutes(r, ctx);
        monitoringRoutes(r, ctx);
        adminRoutes(r, ctx);
        uiRoutes(r, ctx);
      });
    },
    { prefix },
  );
  // In-flight requests are done by now (Fastify closes the listener first); batches they started
  // have settled.
  host.addHook('onClose', () => ctx.close());
  return ctx;
}
