// fraudscorePlugin: the server mounted inside an existing Fastify app,
//   await app.register(fraudscorePlugin, { model: 'models/default', prefix: '/fraud' });
// Its routes live under `prefix` in an encapsulated context (the host's routes, parsers, hooks and
// error handler are untouched); `app.fraudscore` is its ServerHandle; `app.close()` releases the
// model and flushes the prediction log. Logs go to the host's logger.
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';

import { mount } from './app.js';
import type { ServeOptions } from './options.js';

export interface FraudscorePluginOptions extends ServeOptions {
  /**
   * Where the routes are mounted, e.g. '/fraud' (POST /fraud/predict; unknown paths under it get
   * the server's 404 shape). @default '' (the host's root, whose 404s stay the host's)
   */
  prefix?: string;
  /** The name of the host's decorator holding the ServerHandle (one per mounted server). @default 'fraudscore' */
  decorator?: string;
}

const plugin: FastifyPluginCallback<FraudscorePluginOptions> = (host: FastifyInstance, options, done) => {
  try {
    mount(host, options, { prefix: options.prefix ?? '', name: options.decorator ?? 'fraudscore', ownsApp: false });
    done();
  } catch (e) {
    done(e as Error);
  }
};
// Not encapsulated itself (like fastify-plugin): the decorator and close hook belong to the host;
// mount() registers the routes in a child context of their own.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'fraudscore',
});

/** The fraudscore server as a Fastify plugin (see FraudscorePluginOptions). */
export const fraudscorePlugin = plugin;
