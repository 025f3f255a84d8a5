// The HTTP server through Fastify's inject() (no sockets) and, where sockets matter (micro-batching,
// graceful shutdown, the CLI), on a loopback port. Scores are checked against the Scorer and the
// float64 reference on fresh random rows; every documented error status is provoked.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeTable } from '../src/data/load.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel, type Model, saveModel, toAddonSpec } from '../src/model.js';
import { addon } from '../src/native.js';
import { quantize } from '../src/quantize.js';
import { Scorer } from '../src/scorer.js';
import { createServer } from '../src/server/server.js';
import { maxRelErr, randomRows, testSeed } from './helpers.js';

const FEATURES = [...DEFAULT_FEATURES];
const D = FEATURES.length;
const AMOUNT = D - 1;

function makeModel(seed: number, version = '1'): Model {
  const m = createModel({
    features: FEATURES,
    seed,
    name: 'test-model',
    threshold: { value: 1.5, strategy: 'test' },
    preprocessing: {
      transform: FEATURES.map((_, j) => (j === AMOUNT ? 'log1p' : 'none')),
      mean: FEATURES.map((_, j) => (j === AMOUNT ? 3.2 : 0)),
      std: FEATURES.map((_, j) => (j === AMOUNT ? 1.3 : 2)),
    },
  });
  m.version = version;
  return m;
}

const rowOf = (rows: Float32Array, i: number) => Array.from(rows.subarray(i * D, (i + 1) * D));

describe('server', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-server-'));
  const modelDir = join(dir, 'model');
  const model = makeModel(seed);
  const reference = randomRows(5000, D, seed + 1, [AMOUNT]);
  let sha = '';
  let scorer: Scorer;
  let app: ReturnType<typeof createServer>;

  beforeAll(async () => {
    sha = await saveModel(model, modelDir);
    await writeTable(join(modelDir, 'reference.csv'), { features: FEATURES, rows: reference, n: 5000 });
    scorer = new Scorer(model, { backend: 'cpu' });
    app = createServer({ model: modelDir, backend: 'cpu', bodyLimit: 64 * 1024, maxInstances: 50 });
  });
  afterAll(async () => {
    await app?.close();
    scorer?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload: payload as string, headers });

  it('is not ready until the model is loaded, then reports model, fingerprint, backend and precision', async () => {
    const early = await app.inject('/ready');
    expect(early.statusCode).toBe(503);
    expect(early.json()).toEqual({ status: 'loading', detail: 'the model is still loading' });
    await app.fraudscore.loaded;
    expect((await app.inject('/ready')).statusCode).toBe(200);
    for (const url of ['/', '/health']) {
      const h = (await app.inject(url)).json();
      expect(h.status).toBe('ok');
      expect(h.message).toBe('fraudscore API is active');
      expect(h.model).toMatchObject({
        name: 'test-model',
        version: '1',
        fingerprint: sha,
        features: D,
        threshold: 1.5,
      });
      expect(h.backend).toBe('cpu');
      expect(h.precision).toBe('fp32');
      expect(h.engine).toMatch(/^cpu-\w+-fp32$/);
      // Without a token the server names no path on its disk (see hostile-server.test.ts).
      expect(h.reference).toEqual({ file: 'reference.csv', rows: 5000 });
    }
  });

  it('scores {features}, {transaction} and {instances} like the Scorer and the float64 reference', async () => {
    const rows = randomRows(20, D, seed + 2, [AMOUNT]);
    const { scores, featureErrors } = scorer.explain(rows);
    const ref = addon.referenceScore(toAddonSpec(model), rows);
    const one = (await post('/predict', { features: rowOf(rows, 0) })).json();
    expect(Object.keys(one).sort()).toEqual([
      'engine',
      'is_fraud',
      'model_version',
      'reconstruction_error',
      'risk_level',
      'threshold',
      'top_features',
    ]);
    expect(one.reconstruction_error).toBe(scores[0]);
    expect(maxRelErr([one.reconstruction_error], [ref.scores[0]!])).toBeLessThan(1e-5);
    expect(one.is_fraud).toBe(scores[0]! > 1.5);
    expect(one.threshold).toBe(1.5);
    expect(one.model_version).toBe('1');
    // Top features: the largest squared errors, as shares of the row's total.
    const fe = Array.from(featureErrors.subarray(0, D));
    const total = fe.reduce((s, v) => s + v, 0);
    const order = fe.map((v, j) => [v, j] as const).sort((x, y) => y[0] - x[0]);
    expect(one.top_features).toHaveLength(3);
    one.top_features.forEach((t: { name: string; error_share: number }, k: number) => {
      expect(t.name).toBe(FEATURES[order[k]![1]]);
      expect(t.error_share).toBeCloseTo(order[k]![0] / total, 5);
    });
    const named = (
      await post('/predict?top=29', { transaction: Object.fromEntries(FEATURES.map((f, j) => [f, rows[D + j]])) })
    ).json();
    expect(named.reconstruction_error).toBe(scores[1]);
    expect(named.top_features).toHaveLength(D);
    expect(named.top_features.reduce((s: number, t: { error_share: number }) => s + t.error_share, 0)).toBeCloseTo(
      1,
      5,
    );
    const batch = (
      await post('/predict', {
        instances: Array.from({ length: 20 }, (_, i) =>
          i % 2 ? rowOf(rows, i) : Object.fromEntries(FEATURES.map((f, j) => [f, rows[i * D + j]])),
        ),
      })
    ).json();
    expect(batch.predictions.map((p: { reconstruction_error: number }) => p.reconstruction_error)).toEqual(
      Array.from(scores),
    );
    expect(
      maxRelErr(
        batch.predictions.map((p: { reconstruction_error: number }) => p.reconstruction_error),
        ref.scores,
      ),
    ).toBeLessThan(1e-5);
  });

  it('flags rows above the threshold with a risk level (> 2x very high, > 1x moderate)', async () => {
    // Far-out values reconstruct badly: a score far above 1.5.
    const wild = FEATURES.map((_, j) => (j === AMOUNT ? 25000 : 40 * (j % 2 ? 1 : -1)));
    const p = (await post('/predict', { features: wild })).json();
    expect(p.reconstruction_error).toBeGreaterThan(3);
    expect(p.is_fraud).toBe(true);
    expect(p.risk_level).toBe('very_high');
    const calm = (
      await post('/predict', { features: FEATURES.map((_, j) => (j === AMOUNT ? Math.expm1(3.2) : 0)) })
    ).json();
    expect(calm.risk_level).toBe(calm.reconstruction_error > 3 ? 'very_high' : calm.is_fraud ? 'moderate' : 'low');
  });

  it('answers bad requests with 400/413/415/422 naming the problem, and keeps serving', async () => {
    const ok = FEATURES.map(() => 0.5);
    const cases: [unknown, Record<string, string>, number, unknown][] = [
      [{ features: ok.slice(1) }, {}, 400, { detail: 'Dimension mismatch: expected 29 features, got 28' }],
      [{ features: [...ok, 1] }, {}, 400, { detail: 'Dimension mismatch: expected 29 features, got 30' }],
      [
        { transaction: { ...Object.fromEntries(FEATURES.map((f) => [f, 0])), V0: 1, Foo: 2 } },
        {},
        400,
        { detail: expect.stringMatching(/^transaction: Unknown feature name\(s\): V0, Foo/) },
      ],
      [
        { transaction: { V1: 1 } },
        {},
        400,
        { detail: expect.stringMatching(/^transaction: Missing feature\(s\): V2, V3/) },
      ],
      [
        { instances: [ok, ok.slice(2)] },
        {},
        400,
        { detail: 'instances[1]: Dimension mismatch: expected 29 features, got 27' },
      ],
      [
        `{"features":[1e400${',0'.repeat(28)}]}`,
        { 'content-type': 'application/json' },
        400,
        { detail: expect.stringMatching(/Non-finite value for feature V1 \(index 0\): Infinity/) },
      ],
      [
        { features: [1e39, ...ok.slice(1)] },
        {},
        400,
        { detail: expect.stringMatching(/Non-finite value for feature V1.*float32/) },
      ],
      [
        { features: [...ok.slice(1), -2] },
        {},
        400,
        { detail: 'Feature Amount must be > -1 (it is log1p-transformed), got -2' },
      ],
      [{ instances: [] }, {}, 400, { detail: expect.stringMatching(/at least one/) }],
      [
        { instances: Array.from({ length: 51 }, () => ok) },
        {},
        413,
        { detail: expect.stringMatching(/Too many instances: 51, the limit is 50/) },
      ],
      [
        { features: ['a', ...ok.slice(1)] },
        {},
        422,
        { detail: [{ loc: ['body', 'features', '0'], msg: 'must be number', type: 'type' }] },
      ],
      [
        { features: 5 },
        {},
        422,
        { detail: expect.arrayContaining([expect.objectContaining({ loc: ['body', 'features'], type: 'type' })]) },
      ],
      [
        { features: ok, extra: 1 },
        {},
        422,
        { detail: expect.arrayContaining([expect.objectContaining({ field: 'extra' })]) },
      ],
      [{}, {}, 422, { detail: expect.arrayContaining([expect.objectContaining({ type: 'minProperties' })]) }],
      [
        '{"features": [1,',
        { 'content-type': 'application/json' },
        422,
        { detail: [expect.objectContaining({ type: 'json_invalid' })] },
      ],
      [
        '',
        { 'content-type': 'application/json' },
        422,
        { detail: [expect.objectContaining({ type: 'json_invalid' })] },
      ],
      [
        'features=1',
        { 'content-type': 'text/plain' },
        415,
        { detail: expect.stringMatching(/Unsupported content type 'text\/plain'/) },
      ],
      ['a,b', { 'content-type': 'text/csv' }, 415, { detail: expect.stringMatching(/send application\/json/) }],
      [
        JSON.stringify({ instances: Array.from({ length: 150 }, () => FEATURES.map(() => 0.123456789012345)) }),
        { 'content-type': 'application/json' },
        413,
        { detail: expect.stringMatching(/larger than the limit/) },
      ],
    ];
    for (const [payload, headers, status, body] of cases) {
      const res = await post('/predict', payload, headers);
      expect({ status: res.statusCode, body: res.json() }, JSON.stringify(payload).slice(0, 80)).toEqual({
        status,
        body,
      });
    }
    expect((await post('/predict', { features: ok })).statusCode).toBe(200);
    expect((await app.inject('/nope')).json()).toEqual({ detail: 'Not found: GET /nope' });
  });

  it('answers /predict_optimized with 503 naming what is missing for an fp32-only model', async () => {
    const res = await post('/predict_optimized', { features: FEATURES.map(() => 0) });
    expect(res.statusCode).toBe(503);
    expect(res.json().detail).toBe(
      `POST /predict_optimized is unavailable: model test-model v1 has no int8 weights (${join(modelDir, 'model.json')} has no \`quantization\` section): quantize it (quantize(model, { calibration }) from fraudscore) and save it to serve /predict_optimized`,
    );
  });

  it('scores an Arrow IPC stream and returns an Arrow stream of scores and flags', async () => {
    const n = 300;
    const rows = randomRows(n, D, seed + 3, [AMOUNT]);
    const cols: Record<string, Float32Array | Float64Array> = { Time: new Float64Array(n) };
    // Columns in reverse order and as float64: matched by name, converted to float32.
    for (const [j, f] of [...FEATURES.entries()].reverse())
      cols[f] = Float64Array.from({ length: n }, (_, i) => rows[i * D + j]!);
    const body = Buffer.from(tableToIPC(tableFromArrays(cols), 'stream'));
    const res = await post('/predict', body, { 'content-type': 'application/vnd.apache.arrow.stream' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.apache.arrow.stream');
    expect(res.headers['x-fraudscore-threshold']).toBe('1.5');
    const out = tableFromIPC(res.rawPayload);
    const got = out.getChild('reconstruction_error')!.toArray() as Float32Array;
    const want = scorer.score(rows);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(Array.from(out.getChild('is_fraud')!.toArray() as Uint8Array)).toEqual(
      Array.from(want, (s) => (s > 1.5 ? 1 : 0)),
    );

    const { V3: _drop, ...partial } = cols;
    const bad = await post('/predict', Buffer.from(tableToIPC(tableFromArrays(partial), 'stream')), {
      'content-type': 'application/vnd.apache.arrow.stream',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().detail).toBe('The Arrow stream lacks feature column(s): V3');
    const garbage = await post('/predict', Buffer.from('not arrow at all'), {
      'content-type': 'application/vnd.apache.arrow.stream',
    });
    expect(garbage.statusCode).toBe(400);
    expect(garbage.json().detail).toMatch(/not a readable Arrow IPC stream/);
  });

  it('exposes Prometheus metrics with the original names', async () => {
    const text = (await app.inject('/metrics')).body;
    for (const name of [
      'prediction_requests_total{route="/predict",status="200"}',
      'prediction_requests_total{route="/predict",status="422"}',
      'prediction_error_total{route="/predict",reason="invalid_request"}',
      'prediction_latency_seconds_bucket{le="0.001",route="/predict"}',
      'feature_length{quantile="0.5"} 29',
      'fraudscore_batch_rows_bucket',
      'fraudscore_fraud_rate_ratio',
      'fraudscore_reconstruction_error_bucket',
      `fraudscore_model_info{name="test-model",version="1",fingerprint="${sha}"`,
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text, name).toContain(name);
    }
  });

  it('reports drift of logged requests against the reference sample (JSON and HTML)', async () => {
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    // Nothing logged since `since` yet: 200 with the empty state, in JSON and as a styled page.
    const waiting = await app.inject(`/monitoring?since=${encodeURIComponent(since)}`);
    expect(waiting.statusCode).toBe(200);
    expect(waiting.json()).toMatchObject({ status: 'waiting_for_data', report: null, window: { rows: 0 } });
    const waitingHtml = await app.inject(`/monitoring?since=${encodeURIComponent(since)}&format=html`);
    expect(waitingHtml.statusCode).toBe(200);
    expect(waitingHtml.body).toContain('Waiting for data');
    expect(waitingHtml.body).toContain('<style>');
    // Samples are large enough that Evidently's Wasserstein threshold (0.1) has no false alarms to
    // speak of: for 5000 vs 3000 normal rows the normalized distance is ~0.03 +- 0.01. (At 1500 vs
    // 600 rows it exceeds 0.1 for ~5% of features: small windows give per-feature false alarms,
    // which is why the dataset verdict needs half of the features.)
    const n = 3000;
    const same = randomRows(n, D, seed + 4, [AMOUNT]);
    const sendAll = async (rows: Float32Array) => {
      const sends = [];
      for (let at = 0; at < n; at += 50)
        sends.push(post('/predict', { instances: Array.from({ length: 50 }, (_, i) => rowOf(rows, at + i)) }));
      for (const r of await Promise.all(sends)) expect(r.statusCode).toBe(200);
    };
    await sendAll(same);
    const r1 = (await app.inject(`/monitoring?since=${encodeURIComponent(since)}`)).json();
    expect(r1.window.rows).toBe(n);
    expect(r1.reference).toEqual({ file: join(modelDir, 'reference.csv'), rows: 5000 });
    expect(r1.report.features).toHaveLength(D);
    expect(r1.report.features[0].method).toBe('wasserstein');
    expect(r1.report.features.filter((f: { drifted: boolean }) => f.drifted)).toEqual([]);
    expect(r1.report.dataset.drifted).toBe(false);
    expect(r1.report.score.feature).toBe('reconstruction_error');
    expect(r1.report.score.drifted).toBe(false);
    // Now V5 moves by half a reference std (1): that feature, and only it, drifts.
    const moved = randomRows(n, D, seed + 5, [AMOUNT]);
    for (let i = 0; i < n; i++) moved[i * D + 4]! += 1;
    await sendAll(moved);
    const r2 = (await app.inject(`/monitoring?window=${n}`)).json();
    expect(r2.window.rows).toBe(n);
    const drifted = r2.report.features
      .filter((f: { drifted: boolean }) => f.drifted)
      .map((f: { feature: string }) => f.feature);
    expect(drifted).toEqual(['V5']);
    const html = await app.inject(`/monitoring?window=${n}&format=html`);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.body).toContain('No dataset drift: 1 of 29 features drifted');
    expect((await app.inject('/monitoring?window=abc')).statusCode).toBe(422);
    expect((await app.inject('/monitoring?since=yesterday')).json()).toEqual({
      detail: "Expected `since` to be an ISO 8601 time, got 'yesterday'",
    });
  });

  it('serves the OpenAPI document and docs page from the route schemas', async () => {
    const doc = (await app.inject('/docs/json')).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/predict',
        '/predict_optimized',
        '/health',
        '/ready',
        '/metrics',
        '/monitoring',
        '/admin/reload',
      ]),
    );
    expect(Object.keys(doc.paths['/predict'].post.requestBody.content)).toEqual([
      'application/json',
      'application/vnd.apache.arrow.stream',
    ]);
    // Tagged by area; the web page's internal routes are not listed.
    expect(doc.paths['/predict'].post.tags).toEqual(['scoring']);
    expect(doc.paths['/monitoring'].get.tags).toEqual(['monitoring']);
    expect(doc.paths['/admin/reload'].post.tags).toEqual(['admin']);
    expect(doc.paths['/ready'].get.tags).toEqual(['service']);
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ui') || p === '/favicon.ico')).toEqual([]);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { tags?: string[] }>>))
      for (const op of Object.values(ops)) expect(op.tags, path).toHaveLength(1);
    expect((await app.inject('/favicon.ico')).statusCode).toBe(204);
    const page = await app.inject('/docs/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('swagger');
  });

  it('serves the web page, its config and sample transactions', async () => {
    expect((await app.inject('/ui')).body).toContain('<script type="module" src="/ui/app.js">');
    expect((await app.inject('/ui/app.js')).headers['content-type']).toMatch(/javascript/);
    const cfg = (await app.inject('/ui/config')).json();
    expect(cfg).toMatchObject({ features: FEATURES, threshold: 1.5, maxInstances: 50 });
    const s = (await app.inject('/ui/samples')).json();
    expect(s.normal.length).toBeGreaterThan(0);
    expect(s.normal[0]).toHaveLength(D);
    expect(s.source.normal).toMatch(/reference sample/);
  });
});

describe('server without a reference sample, with auth, CORS and reload', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-server-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('logs through a logger instance of your own (pino-shaped), not only logger options', async () => {
    const lines: { level: string; args: unknown[] }[] = [];
    const make = (bindings: Record<string, unknown>): Record<string, unknown> => {
      const at =
        (level: string) =>
        (...args: unknown[]) =>
          void lines.push({ level, args: [bindings, ...args] });
      return {
        level: 'info',
        fatal: at('fatal'),
        error: at('error'),
        warn: at('warn'),
        info: at('info'),
        debug: at('debug'),
        trace: at('trace'),
        silent: () => {},
        child: (b: Record<string, unknown>) => make({ ...bindings, ...b }),
      };
    };
    const app = createServer({
      model: makeModel(seed),
      backend: 'cpu',
      log: false,
      logger: make({ app: 'host' }) as never,
    });
    await app.fraudscore.loaded;
    expect((await app.inject('/health')).statusCode).toBe(200);
    await app.close();
    // Fastify's request logs reached our instance (through its child loggers).
    expect(lines.some((l) => l.level === 'info' && l.args.includes('request completed'))).toBe(true);
    expect(lines.every((l) => (l.args[0] as { app?: string }).app === 'host')).toBe(true);
  });

  it("says 'no reference sample' on /monitoring", async () => {
    await saveModel(makeModel(seed), join(dir, 'm0'));
    const app = createServer({ model: join(dir, 'm0'), backend: 'cpu' });
    await app.fraudscore.loaded;
    const res = await app.inject('/monitoring');
    expect(res.statusCode).toBe(404);
    expect(res.json().detail).toMatch(/^no reference sample: .*m0 holds none of reference\.arrow/);
    expect((await app.inject('/monitoring?format=html')).body).toContain('no reference sample');
    await app.close();
  });

  it('reports a model that failed to load on /ready and /health', async () => {
    const app = createServer({ model: join(dir, 'missing'), backend: 'cpu', log: false });
    await expect(app.fraudscore.loaded).rejects.toThrow(/model\.json not found/);
    const ready = await app.inject('/ready');
    expect(ready.statusCode).toBe(503);
    expect(ready.json().status).toBe('error');
    expect((await app.inject({ method: 'POST', url: '/predict', payload: { features: [1] } })).json().detail).toMatch(
      /the model failed to load: .*model\.json not found/,
    );
    await app.close();
  });

  it('rejects a model without a threshold and bad options', async () => {
    const m = makeModel(seed);
    m.threshold = null;
    const app = createServer({ model: m, backend: 'cpu', log: false });
    await expect(app.fraudscore.loaded).rejects.toThrow(/has no decision threshold/);
    await app.close();
    expect(() => createServer({ model: m, token: 'short' })).toThrow(/`token` to be a string of at least 8/);
    expect(() => createServer({ model: m, batchWindowMicros: -1 })).toThrow(/`batchWindowMicros`/);
    expect(() => createServer({ model: m, protectAll: true })).toThrow(/`protectAll` needs a `token`/);
    expect(() => createServer({ model: m, threads: -1 })).toThrow(/`threads` to be an integer/);
    // Closed right away, while the model may still be loading: whichever comes first, its engine
    // ends up freed and nothing throws.
    m.threshold = { value: 1, strategy: 'test' };
    const early = createServer({ model: m, backend: 'cpu', log: false });
    await early.close();
    await early.fraudscore.loaded;
    await new Promise((r) => setImmediate(r));
    const st = early.fraudscore.state;
    expect(st === null || st.fp32.scorer.disposed).toBe(true);
  });

  it('protects admin routes (and everything, when asked) with a bearer token; CORS only when configured', async () => {
    await saveModel(makeModel(seed, '1'), join(dir, 'v1'));
    await saveModel(makeModel(seed + 1, '2'), join(dir, 'v2'));
    const token = 'sekret-token-123';
    const app = createServer({ model: join(dir, 'v1'), backend: 'cpu', token, corsOrigins: ['https://ops.example'] });
    await app.fraudscore.loaded;
    const auth = { authorization: `Bearer ${token}` };
    expect((await app.inject({ method: 'POST', url: '/admin/reload' })).statusCode).toBe(401);
    expect(
      (await app.inject({ method: 'POST', url: '/admin/reload', headers: { authorization: 'Bearer wrong-token-123' } }))
        .statusCode,
    ).toBe(401);
    expect((await app.inject('/health')).statusCode).toBe(200);
    // CORS: the configured origin only.
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/predict',
      headers: { origin: 'https://ops.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://ops.example');
    expect(
      (await app.inject({ url: '/health', headers: { origin: 'https://evil.example' } })).headers[
        'access-control-allow-origin'
      ],
    ).toBeUndefined();

    // Reload to v2 while requests stream in (and a bulk Arrow body is being scored): none fails,
    // and later ones see v2.
    const row = FEATURES.map(() => 0.3);
    const bulkRows = 50_000;
    const bulk = app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'application/vnd.apache.arrow.stream' },
      payload: Buffer.from(
        tableToIPC(
          tableFromArrays(Object.fromEntries(FEATURES.map((f) => [f, new Float32Array(bulkRows).fill(0.2)]))),
          'stream',
        ),
      ),
    });
    const during = Array.from({ length: 40 }, () =>
      app.inject({ method: 'POST', url: '/predict', payload: { features: row } }),
    );
    const reload = app.inject({
      method: 'POST',
      url: '/admin/reload',
      headers: auth,
      payload: { model: join(dir, 'v2') },
    });
    const results = await Promise.all(during);
    expect(results.map((r) => r.statusCode)).toEqual(results.map(() => 200));
    const bulkRes = await bulk;
    expect(bulkRes.statusCode).toBe(200);
    expect(tableFromIPC(bulkRes.rawPayload).numRows).toBe(bulkRows);
    const rel = (await reload).json();
    expect(rel).toMatchObject({ status: 'reloaded', model: { version: '2' } });
    expect(
      (await app.inject({ method: 'POST', url: '/predict', payload: { features: row } })).json().model_version,
    ).toBe('2');
    const refused = await app.inject({
      method: 'POST',
      url: '/admin/reload',
      headers: auth,
      payload: { model: join(dir, 'nope') },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().detail).toMatch(/^reload failed, still serving the previous model: .*nope/);
    expect((await app.inject('/health')).json().model.version).toBe('2');
    await app.close();

    const locked = createServer({ model: join(dir, 'v1'), backend: 'cpu', token, protectAll: true, log: false });
    await locked.fraudscore.loaded;
    expect((await locked.inject('/health')).statusCode).toBe(401);
    expect((await locked.inject({ method: 'POST', url: '/predict', payload: { features: row } })).statusCode).toBe(401);
    expect((await locked.inject('/ready')).statusCode).toBe(200);
    expect((await locked.inject({ url: '/health', headers: auth })).statusCode).toBe(200);
    expect(
      (await locked.inject({ url: '/health', headers: { origin: 'https://ops.example' } })).headers[
        'access-control-allow-origin'
      ],
    ).toBeUndefined();
    await locked.close();
  });

  it('serves /predict_optimized through the int8 engine when the model is quantized and the build has one', async () => {
    const base = makeModel(seed);
    const calibration = randomRows(2000, D, seed + 7, [AMOUNT]);
    const rows = randomRows(24, D, seed + 8, [AMOUNT]);
    const fp32 = new Scorer(base, { backend: 'cpu' }).score(rows);
    for (const activations of ['static', 'dynamic'] as const) {
      const m = quantize(base, { calibration, activations });
      const app = createServer({ model: m, backend: 'cpu', log: false, batchWindowMicros: 5000 });
      await app.fraudscore.loaded;
      // All 24 requests at once: static scales batch them; dynamic ones must score each alone.
      const res = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          app.inject({ method: 'POST', url: '/predict_optimized', payload: { features: rowOf(rows, i) } }),
        ),
      );
      if (!addon.CpuInt8Scorer) {
        expect(res[0]!.statusCode).toBe(503);
        expect(res[0]!.json().detail).toBe(
          'POST /predict_optimized is unavailable: the int8 engine could not be created: this build has no int8 CPU engine',
        );
        await app.close();
        continue;
      }
      const got = res.map((r) => {
        expect(r.statusCode).toBe(200);
        expect(r.json().engine).toMatch(/^cpu-\w+-int8$/);
        return r.json().reconstruction_error as number;
      });
      // The same engine on each row alone gives the same scores, whatever was batched together.
      const int8 = new Scorer(m, { backend: 'cpu', precision: 'int8' });
      const alone = Array.from({ length: 24 }, (_, i) => int8.score(Float32Array.from(rowOf(rows, i)))[0]!);
      int8.dispose();
      expect(got).toEqual(alone);
      // And int8 tracks fp32 (the accuracy contract itself is tested with the int8 engine).
      const rel = got.map((g, i) => Math.abs(g - fp32[i]!) / fp32[i]!).sort((a, b) => a - b);
      expect(rel[12]!).toBeLessThan(0.1);
      expect((await app.inject({ method: 'GET', url: '/health' })).json().int8.engine).toMatch(/int8$/);
      // The rows rescored in fp32 (static scales, quantize()'s default outOfRange) are exported.
      const metricsText = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const fell = Number(/^fraudscore_int8_fp32_fallback_rows (\S+)$/m.exec(metricsText)?.[1]);
      const probe = new Scorer(m, { backend: 'cpu', precision: 'int8' });
      probe.score(rows);
      expect(fell).toBe(probe.fp32FallbackRows);
      if (activations === 'dynamic') expect(fell).toBe(0);
      probe.dispose();
      await app.close();
    }
  });
});

describe('server on a socket: micro-batching, the prediction log, graceful shutdown', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-server-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const countRows = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM predictions').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it('batches concurrent requests into few native calls, logs every prediction, and loses none on close', async () => {
    const m = makeModel(seed);
    const logFile = join(dir, 'log.sqlite');
    const app = createServer({
      model: m,
      backend: 'cpu',
      log: logFile,
      batchWindowMicros: 2000,
      logFlushIntervalMs: 10_000,
    });
    await app.fraudscore.loaded;
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const rows = randomRows(200, D, seed + 6, [AMOUNT]);
    const want = new Scorer(m, { backend: 'cpu' });
    const expected = want.score(rows);
    want.dispose();
    // Event-loop ticks counted while the requests are in flight: scoring must not block the loop.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    const send = (i: number) =>
      fetch(`${base}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ features: rowOf(rows, i) }),
      });
    const first = await Promise.all(Array.from({ length: 100 }, (_, i) => send(i).then((r) => r.json())));
    clearInterval(timer);
    expect(first.map((p) => p.reconstruction_error)).toEqual(Array.from(expected.subarray(0, 100)));
    expect(ticks).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const calls = Number(/fraudscore_batch_rows_count\{engine="[^"]+"\} (\d+)/.exec(metrics)![1]);
    const batched = Number(/fraudscore_batch_rows_sum\{engine="[^"]+"\} (\d+)/.exec(metrics)![1]);
    expect(batched).toBe(100);
    expect(calls).toBeLessThan(50);
    // The log flush interval is long: these rows are only queued until close() flushes them.
    expect(countRows(logFile)).toBe(0);
    await app.close();
    expect(countRows(logFile)).toBe(100);
    const db = new Database(logFile, { readonly: true });
    const logged = db.prepare('SELECT * FROM predictions ORDER BY id').all() as Record<string, unknown>[];
    db.close();
    const sent = new Map(Array.from({ length: 100 }, (_, i) => [rowOf(rows, i).join(), expected[i]!]));
    for (const r of logged) {
      expect(r.model_version).toBe('1');
      expect(r.n_features).toBe(D);
      expect(Number.isNaN(Date.parse(r.ts as string))).toBe(false);
      expect(r.latency_ms as number).toBeGreaterThanOrEqual(0);
      const f = r.features as Buffer;
      const values = Array.from(new Float32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)));
      // Each logged row is one of the sent rows, with its score and decision.
      expect(sent.get(values.join())).toBe(r.score);
      expect(r.is_fraud).toBe((r.score as number) > 1.5 ? 1 : 0);
    }
  });

  it('close() lets in-flight requests finish and flushes their log rows', async () => {
    const logFile = join(dir, 'drain.sqlite');
    // A 1 s batch window parks the requests inside the server when close() is called.
    const app = createServer({
      model: makeModel(seed),
      backend: 'cpu',
      log: logFile,
      batchWindowMicros: 1_000_000,
      logFlushIntervalMs: 10_000,
    });
    await app.fraudscore.loaded;
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const n = 50;
    const pending = Array.from({ length: n }, (_, i) =>
      fetch(`${base}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ features: FEATURES.map(() => i / 7) }),
      }),
    );
    const t0 = Date.now();
    // Close once every request is inside the server (a request still in the client or the kernel
    // when the listener closes is refused, as it should be: the client retries it elsewhere).
    while (app.fraudscore.state!.fp32.received < n) {
      if (Date.now() - t0 > 10_000)
        throw new Error(`only ${app.fraudscore.state!.fp32.received} of ${n} requests reached the server`);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(app.fraudscore.state!.fp32.busy).toBe(true);
    await app.close();
    const statuses = await Promise.all(pending.map((p) => p.then((r) => r.status)));
    expect(statuses).toEqual(statuses.map(() => 200));
    expect(countRows(logFile)).toBe(n);
  });

  it('fraudscore serve: N requests, SIGTERM, exit 0 and N rows in the log', async () => {
    const modelDir = join(dir, 'cli-model');
    await saveModel(makeModel(seed), modelDir);
    const logFile = join(dir, 'cli.sqlite');
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'serve',
        '--model',
        modelDir,
        '--port',
        '0',
        '--backend',
        'cpu',
        '--log',
        logFile,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const address = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /on (http:\/\/[\d.:]+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    const n = 37;
    const res = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        fetch(`${address}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ features: FEATURES.map(() => i / 10) }),
        }),
      ),
    );
    expect(res.map((r) => r.status)).toEqual(res.map(() => 200));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain(`${n} predictions logged`);
    expect(countRows(logFile)).toBe(n);
  }, 60_000);
});

describe('fraudscore serve from the environment', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-serve-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads FRAUDSCORE_MODEL, PORT, HOST and FRAUDSCORE_LOG when the flags are absent, and names the log', async () => {
    const modelDir = join(dir, 'env-model');
    await saveModel(makeModel(seed), modelDir);
    const logFile = join(dir, 'env.sqlite');
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'serve', '--backend', 'cpu'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, FRAUDSCORE_MODEL: modelDir, PORT: '0', HOST: '127.0.0.1', FRAUDSCORE_LOG: logFile },
      },
    );
    let stderr = '';
    const address = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+)[\s\S]*prediction log: /.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    expect(stderr).toContain(`prediction log: ${logFile}`);
    const r = await fetch(`${address}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: FEATURES.map(() => 0.1) }),
    });
    expect(r.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const db = new Database(logFile, { readonly: true });
    try {
      expect((db.prepare('SELECT COUNT(*) AS n FROM predictions').get() as { n: number }).n).toBe(1);
    } finally {
      db.close();
    }
  }, 60_000);

  it('names $PORT when it is not a port', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--model', 'default'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: 'eighty' },
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain("$PORT must be an integer >= 0, got 'eighty'");
  }, 60_000);
});

describe('topFeatures', () => {
  it('returns the k largest error shares, largest first, ties in feature order', async () => {
    const { topFeatures } = await import('../src/server/server.js');
    const e = Float32Array.from([1, 4, 2, 4, 0]);
    expect(topFeatures(['a', 'b', 'c', 'd', 'e'], e, 3)).toEqual([
      { name: 'b', error_share: 4 / 11 },
      { name: 'd', error_share: 4 / 11 },
      { name: 'c', error_share: 2 / 11 },
    ]);
    expect(topFeatures(['a', 'b'], Float32Array.from([0, 0]), 5)).toEqual([
      { name: 'a', error_share: 0 },
      { name: 'b', error_share: 0 },
    ]);
    // Against a full sort on random errors.
    const rand = Float32Array.from({ length: 29 }, (_, j) => ((j * 7919) % 31) / 7);
    const want = [...rand.keys()].sort((x, y) => rand[y]! - rand[x]! || x - y).slice(0, 5);
    expect(topFeatures(FEATURES, rand, 5).map((t) => t.name)).toEqual(want.map((j) => FEATURES[j]));
  });
});

describe('prediction log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes on its worker thread, reads windows back exactly, and survives a close() twice', async () => {
    const { PredictionLog } = await import('../src/server/prediction-log.js');
    for (const path of [join(dir, 'a', 'log.sqlite'), ':memory:']) {
      const log = new PredictionLog({ path, flushIntervalMs: 60_000 });
      const t0 = Date.parse('2026-01-02T03:04:05.000Z');
      const row = (i: number, d: number) => ({
        time: t0 + i * 1000,
        modelVersion: d === 3 ? 'v3' : 'v2',
        engine: 'cpu-test',
        features: Float32Array.from({ length: d }, (_, j) => i + j / 10),
        score: i / 3,
        isFraud: i % 2 === 1,
        latency: 0.001 * i,
      });
      log.push([row(0, 3), row(1, 3), row(2, 2)]);
      log.push([row(3, 3)]);
      expect(log.pending).toBe(4);
      await log.flushed();
      expect({ pending: log.pending, written: log.written, count: log.count() }).toEqual({
        pending: 0,
        written: 4,
        count: 4,
      });
      const w = log.window({ features: 3 });
      expect(w.n).toBe(3);
      expect(Array.from(w.scores)).toEqual([0, 1 / 3, 1]);
      expect(Array.from(w.rows)).toEqual(Array.from([0, 1, 3].flatMap((i) => Array.from(row(i, 3).features))));
      expect(w.from).toBe('2026-01-02T03:04:05.000Z');
      expect(log.window({ features: 3, last: 1 }).scores[0]).toBe(1);
      expect(log.window({ features: 3, since: t0 + 1000 }).n).toBe(2);
      log.push([row(4, 3)]);
      await Promise.all([log.close(), log.close()]);
      expect(() => log.push([row(5, 3)])).toThrow(/is closed/);
    }
    const db = new Database(join(dir, 'a', 'log.sqlite'), { readonly: true });
    const rows = db
      .prepare('SELECT model_version, n_features, is_fraud, latency_ms FROM predictions ORDER BY id')
      .all();
    db.close();
    expect(rows).toEqual([
      { model_version: 'v3', n_features: 3, is_fraud: 0, latency_ms: 0 },
      { model_version: 'v3', n_features: 3, is_fraud: 1, latency_ms: 1 },
      { model_version: 'v2', n_features: 2, is_fraud: 0, latency_ms: 2 },
      { model_version: 'v3', n_features: 3, is_fraud: 1, latency_ms: 3 },
      { model_version: 'v3', n_features: 3, is_fraud: 0, latency_ms: 4 },
    ]);
    expect(() => new PredictionLog({ path: join(dir, 'b.sqlite'), maxQueue: 0 })).toThrow(/`log.maxQueue`/);
  });
});
