// Hostile request bodies against POST /predict, in a child process (test/probes/arrow-body.ts) so
// that a hang or a V8 heap abort of the server is a failed test rather than a dead vitest. Before the
// fix, a 100-row Arrow stream whose row counts were patched to 1e6 answered 200 with 1M fabricated
// rows (all logged) and patched to 1e8 blocked the server for minutes; one flipped byte in the
// schema's field count did the same.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { writeTable } from '../src/data/load.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel, saveModel } from '../src/model.js';
import { addon } from '../src/native.js';
import { quantize } from '../src/quantize.js';
import { createServer } from '../src/server/server.js';
import { randomRows, testSeed } from './helpers.js';

const PROBE = resolve(import.meta.dirname, 'probes/arrow-body.ts');

interface Answer {
  name: string;
  status: number;
  ms: number;
  logged: number;
  detail?: string;
}

describe('POST /predict with hostile Arrow IPC bodies', () => {
  const seed = testSeed();
  const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE], {
    env: { ...process.env, FRAUDSCORE_TEST_SEED: String(seed), PROBE_MUTATIONS: '400' },
    encoding: 'utf8',
    // Generous for a loaded machine; the 400 bodies take about 2 s on an idle one.
    timeout: 120_000,
  });
  const answers = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Answer);
  const byName = new Map(answers.map((a) => [a.name, a]));

  it('the server process lives through every body and finishes', () => {
    expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toMatchObject({
      status: 0,
      signal: null,
    });
    expect(answers.at(-1)?.name).toBe('done');
  });

  it('row counts patched past what the buffers hold: 400 within 1 s, naming the mismatch, nothing logged', () => {
    const good = byName.get('good')!;
    expect(good).toMatchObject({ status: 200, logged: 100 });
    const patched = byName.get('length-1e6')!;
    expect(patched.status).toBe(400);
    expect(patched.detail).toBe(
      'Arrow record batch 0 claims 1000000 rows but column V1 holds 100 value(s) (1000000 declared): the length fields disagree with the buffers',
    );
    expect(patched.ms).toBeLessThan(1000);
    expect(patched.logged).toBe(100);
    for (const name of ['length-1e8', 'length-2^53', 'length-negative']) {
      const a = byName.get(name)!;
      expect([400, 413], name).toContain(a.status);
      expect(a.ms, name).toBeLessThan(1000);
      expect(a.logged, name).toBe(100);
    }
    expect(byName.get('length-1e8')!.detail).toMatch(/^Too many rows: the Arrow stream holds more than 1048576/);
  });

  it('random byte mutations: every answer is 200/400/413 within 1 s and never logs more rows than the body holds', () => {
    const mutated = answers.filter((a) => a.name.startsWith('mutation-'));
    expect(mutated.length).toBe(400);
    let prev = byName.get('length-less')!.logged;
    for (const a of mutated) {
      expect([200, 400, 413], `${a.name}: ${a.detail}`).toContain(a.status);
      expect(a.ms, a.name).toBeLessThan(1000);
      const added = a.logged - prev;
      prev = a.logged;
      expect(added, a.name).toBe(a.status === 200 ? added : 0);
      expect(added, a.name).toBeLessThanOrEqual(100);
    }
    // The mutator must reach the metadata, not only the values: most bodies are refused.
    expect(mutated.filter((a) => a.status === 400).length).toBeGreaterThan(200);
  });
});

describe('what the server tells an unauthenticated caller, and a reload that loses int8', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-hostile-health-'));
  const FEATURES = [...DEFAULT_FEATURES];
  const D = FEATURES.length;
  const TOKEN = 'a-long-enough-token';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('/health names no path on the disk without the token, and all of them with it', async () => {
    const modelDir = join(dir, 'plain');
    await saveModel(
      createModel({ features: FEATURES, seed, name: 'm', threshold: { value: 1.5, strategy: 't' } }),
      modelDir,
    );
    await writeTable(join(modelDir, 'reference.csv'), {
      features: FEATURES,
      rows: randomRows(50, D, seed, [D - 1]),
      n: 50,
    });
    const log = join(dir, 'plain-log.sqlite');
    const app = createServer({ model: modelDir, backend: 'cpu', log, token: TOKEN });
    await app.fraudscore.loaded;
    for (const url of ['/', '/health']) {
      const anon = (await app.inject(url)).json();
      const text = JSON.stringify(anon);
      expect(text).not.toContain(dir);
      expect(anon.model.directory).toBeUndefined();
      expect(anon.reference).toEqual({ file: 'reference.csv', rows: 50 });
      expect(anon.prediction_log).toEqual({ written: 0, pending: 0 });
      const admin = (await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } })).json();
      expect(admin.model.directory).toBe(modelDir);
      expect(admin.reference.file).toBe(join(modelDir, 'reference.csv'));
      expect(admin.prediction_log.path).toBe(log);
    }
    await app.close();
  });

  it.skipIf(!addon.CpuInt8Scorer)(
    'a reload whose int8 engine fails is refused (400) and /predict_optimized keeps serving the old model',
    async () => {
      const base = createModel({ features: FEATURES, seed, name: 'm', threshold: { value: 1.5, strategy: 't' } });
      const calibration = randomRows(500, D, seed + 1, [D - 1]);
      const good = join(dir, 'q-good');
      await saveModel(quantize(base, { calibration }), good);
      const bad = quantize(base, { calibration });
      bad.version = '2';
      // A zero weight scale passes loadModel but the int8 engine refuses it.
      bad.quantization!.weightScales[0]![0] = 0;
      const badDir = join(dir, 'q-bad');
      await saveModel(bad, badDir);
      const app = createServer({ model: good, backend: 'cpu', log: false, token: TOKEN });
      await app.fraudscore.loaded;
      const features = Array.from(randomRows(1, D, seed + 2, [D - 1]));
      const before = await app.inject({ method: 'POST', url: '/predict_optimized', payload: { features } });
      expect(before.statusCode).toBe(200);
      const res = await app.inject({
        method: 'POST',
        url: '/admin/reload',
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: { model: badDir },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().detail).toMatch(
        /^reload failed, still serving the previous model: the int8 engine could not be created: .*wscale\[0\]\[0\] must be finite and > 0/,
      );
      const after = await app.inject({ method: 'POST', url: '/predict_optimized', payload: { features } });
      expect(after.statusCode).toBe(200);
      expect(after.json()).toEqual(before.json());
      await app.close();
    },
  );
});

describe('the prediction log backlog a SIGKILL could lose is bounded', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-backlog-'));
  const FEATURES = [...DEFAULT_FEATURES];
  const D = FEATURES.length;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('at every answer, answered-but-uncommitted rows stay <= logMaxPending, even with a writer that never flushes on its own', async () => {
    const modelDir = join(dir, 'm');
    await saveModel(
      createModel({ features: FEATURES, seed, name: 'm', threshold: { value: 1.5, strategy: 't' } }),
      modelDir,
    );
    const bound = 100;
    // No timer flush within the test: only the bound makes rows durable before the answers.
    const app = createServer({
      model: modelDir,
      backend: 'cpu',
      log: join(dir, 'log.sqlite'),
      logFlushIntervalMs: 600_000,
      logMaxPending: bound,
    });
    await app.fraudscore.loaded;
    const log = app.fraudscore.log!;
    const rows = randomRows(25, D, seed + 1, [D - 1]);
    const instances = Array.from({ length: 25 }, (_, i) => Array.from(rows.subarray(i * D, (i + 1) * D)));
    let answered = 0;
    let worst = 0;
    await Promise.all(
      Array.from({ length: 40 }, () =>
        app.inject({ method: 'POST', url: '/predict', payload: { instances } }).then((r) => {
          expect(r.statusCode).toBe(200);
          answered += 25;
          worst = Math.max(worst, answered - log.written);
        }),
      ),
    );
    expect(answered).toBe(1000);
    expect(worst).toBeLessThanOrEqual(bound);
    await app.close();
    expect(log.written).toBe(1000);
  });
});
