// `fraudscore/server`: the HTTP server, kept off the package root so that importing `fraudscore`
// to score in-process does not load fastify, prom-client and better-sqlite3.
export { createServer, HttpError, type ServerHandle, type ServerOptions } from './server.js';
export { type FraudscorePluginOptions, fraudscorePlugin } from './plugin.js';
export type { ServeOptions } from './options.js';
