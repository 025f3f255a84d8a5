// fraudscorePlugin mounted in a host Fastify app: its routes answer under the prefix, the host's own
// routes, content types and 404s are untouched, and closing the host releases the model.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel } from '../src/model.js';
import { fraudscorePlugin } from '../src/server/index.js';
import { randomRows, testSeed } from './helpers.js';

const FEATURES = [...DEFAULT_FEATURES];
const D = FEATURES.length;

describe('fraudscorePlugin in a host app', () => {
  const seed = testSeed();
  const model = createModel({
    features: FEATURES,
    seed,
    name: 'plugin-model',
    threshold: { value: 1.5, strategy: 'test' },
  });
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify();
    app.get('/hello', async () => ({ hello: 'host' }));
    app.post('/echo', async (req) => ({ got: req.body }));
    await app.register(fraudscorePlugin, { model, prefix: '/fraud', backend: 'cpu', log: false });
    await app.ready();
    await app.fraudscore.loaded;
  });
  afterAll(async () => {
    await app.close();
  });

  it('serves its routes under the prefix', async () => {
    const row = Array.from(randomRows(1, D, seed + 1));
    const res = await app.inject({ method: 'POST', url: '/fraud/predict', payload: { features: row } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.is_fraud).toBe(body.reconstruction_error > 1.5);
    expect(body.threshold).toBe(1.5);
    const health = await app.inject({ method: 'GET', url: '/fraud/health' });
    expect(health.json()).toMatchObject({ status: 'ok', model: { name: 'plugin-model' } });
    expect((await app.inject({ method: 'GET', url: '/fraud/ready' })).json()).toEqual({ status: 'ready' });
    // Its own error shapes inside the prefix.
    const bad = await app.inject({ method: 'POST', url: '/fraud/predict', payload: { features: [1, 2] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().detail).toMatch(/expected 29 features, got 2/);
    const missing = await app.inject({ method: 'GET', url: '/fraud/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ detail: 'Not found: GET /fraud/nope' });
    // The OpenAPI document lists the prefixed routes.
    const docs = await app.inject({ method: 'GET', url: '/fraud/docs/json' });
    expect(Object.keys(docs.json().paths)).toContain('/fraud/predict');
    // Prediction metrics are labelled by the route as the server knows it.
    const metrics = await app.inject({ method: 'GET', url: '/fraud/metrics' });
    expect(metrics.body).toMatch(/prediction_requests_total\{route="\/predict",status="200"\} 1/);
  });

  it("leaves the host's routes, parsers and 404s alone", async () => {
    expect((await app.inject({ method: 'GET', url: '/hello' })).json()).toEqual({ hello: 'host' });
    // The plugin refuses text/plain in its scope; the host still parses it.
    const postText = (url: string) =>
      app.inject({ method: 'POST', url, payload: 'hi', headers: { 'content-type': 'text/plain' } });
    const echo = await postText('/echo');
    expect(echo.statusCode).toBe(200);
    expect(echo.json()).toEqual({ got: 'hi' });
    const text = await postText('/fraud/predict');
    expect(text.statusCode).toBe(415);
    // Fastify's own 404 outside the prefix, not the plugin's `detail` shape.
    const outside = await app.inject({ method: 'GET', url: '/nope' });
    expect(outside.statusCode).toBe(404);
    expect(outside.json().detail).toBeUndefined();
    expect((await app.inject({ method: 'GET', url: '/predict' })).statusCode).toBe(404);
  });

  it('releases the model when the host closes', async () => {
    const host = Fastify();
    await host.register(fraudscorePlugin, { model, prefix: '/fs', backend: 'cpu', log: false });
    await host.ready();
    await host.fraudscore.loaded;
    const state = host.fraudscore.state!;
    expect(state.fp32.scorer.disposed).toBe(false);
    await host.close();
    expect(state.fp32.scorer.disposed).toBe(true);
  });

  it("mounted at the host's root, it leaves the host's own 404 handler in place", async () => {
    const host = Fastify();
    host.setNotFoundHandler((_req, reply) => reply.code(404).send({ host: 'missing' }));
    host.get('/hello', async () => ({ hello: 'host' }));
    await host.register(fraudscorePlugin, { model, backend: 'cpu', log: false, decorator: 'scoring' });
    await host.ready();
    expect((await host.inject({ method: 'GET', url: '/ready' })).statusCode).toBeLessThan(600);
    expect((await host.inject({ method: 'GET', url: '/nope' })).json()).toEqual({ host: 'missing' });
    expect((await host.inject({ method: 'GET', url: '/hello' })).json()).toEqual({ hello: 'host' });
    expect(host.getDecorator<{ loaded: Promise<void> }>('scoring').loaded).toBeInstanceOf(Promise);
    await host.close();
  });

  it('throws a bad option at registration, naming it', async () => {
    const host = Fastify();
    await expect(host.register(fraudscorePlugin, { model, maxInstances: 0 })).rejects.toThrow(
      'Expected `maxInstances` to be a positive integer, got 0',
    );
    await host.close().catch(() => {});
  });
});
