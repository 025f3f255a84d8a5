// fraudscore/stream against a real `nats-server -js` started here (a free loopback port, a temp
// store): results equal Scorer.score, a SIGKILLed worker loses nothing, a broker restart is ridden
// out, malformed messages are dead-lettered with the reason, SIGTERM drains and exits 0.
// No nats-server: skipped with a message locally, failed in CI (CI=true), where .ci/run installs it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { AckPolicy, DeliverPolicy, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel, type Model, saveModel } from '../src/model.js';
import { Scorer } from '../src/scorer.js';
import { createStreamScorer, type DeadLetter, type StreamResult } from '../src/stream/index.js';
import { maxRelErr, randomRows, testSeed } from './helpers.js';
import { NatsServer, natsServerBinary } from './nats-server.js';

const FEATURES = [...DEFAULT_FEATURES];
const D = FEATURES.length;
const AMOUNT = D - 1;
const ROOT = resolve(import.meta.dirname, '..');
const bin = natsServerBinary();
const inCi = process.env.CI === 'true';
if (!bin && !inCi) console.warn('test/stream.test.ts: nats-server not found (apt-get install nats-server): skipped');

function makeModel(seed: number): Model {
  return createModel({
    features: FEATURES,
    seed,
    name: 'stream-test',
    threshold: { value: 1.5, strategy: 'test' },
    preprocessing: {
      transform: FEATURES.map((_, j) => (j === AMOUNT ? 'log1p' : 'none')),
      mean: FEATURES.map((_, j) => (j === AMOUNT ? 3.2 : 0)),
      std: FEATURES.map((_, j) => (j === AMOUNT ? 1.3 : 2)),
    },
  });
}

const enc = new TextEncoder();
const rowOf = (rows: Float32Array, i: number) => Array.from(rows.subarray(i * D, (i + 1) * D));

/** Waits until `check()` holds, polling; fails naming `what` after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every message now in `stream` (an ordered read from the start), parsed. */
async function readAll<T>(nc: NatsConnection, stream: string): Promise<T[]> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state.messages;
  const out: T[] = [];
  if (total === 0) return out;
  const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const it = await c.consume({ max_messages: 1024 });
  const timer = setTimeout(() => void it.close(), 60_000);
  for await (const m of it) {
    out.push(m.json<T>());
    if (out.length >= total) break;
  }
  clearTimeout(timer);
  await it.close();
  return out;
}

async function streamCount(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

/** A `fraudscore stream` worker in a child process (tsx on the sources). */
function spawnWorker(args: string[]): ChildProcess & { output: () => string } {
  const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'stream', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  p.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  return Object.assign(p, { output: () => log });
}

function exited(p: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode });
    const timer = setTimeout(() => reject(new Error(`worker did not exit in ${ms} ms`)), ms);
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe.skipIf(!bin && !inCi)('stream scoring on NATS JetStream', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-stream-'));
  const modelDir = join(dir, 'model');
  const model = makeModel(seed);
  let scorer: Scorer;
  let nats: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let streamNo = 0;

  /** Fresh input, result and DLQ streams for one test (names and subjects unique to it). */
  async function streams(dupWindowMs = 120_000) {
    const k = ++streamNo;
    const s = {
      stream: `IN${k}`,
      subject: `tx${k}.in`,
      out: `OUT${k}`,
      outSubject: `tx${k}.scored`,
      dlq: `DLQ${k}`,
      dlqSubject: `tx${k}.dlq`,
      durable: `scorers${k}`,
    };
    await jsm.streams.add({ name: s.stream, subjects: [s.subject] });
    await jsm.streams.add({ name: s.out, subjects: [s.outSubject], duplicate_window: dupWindowMs * 1e6 });
    await jsm.streams.add({ name: s.dlq, subjects: [s.dlqSubject] });
    return s;
  }

  /** The `fraudscore stream` flags that name the model, the server and the streams `s` made. */
  function cliArgs(s: Awaited<ReturnType<typeof streams>>): string[] {
    return [
      '--model',
      modelDir,
      '--servers',
      nats.url,
      '--stream',
      s.stream,
      '--subject',
      s.subject,
      '--output-subject',
      s.outSubject,
      '--dlq-subject',
      s.dlqSubject,
      '--durable',
      s.durable,
    ];
  }

  async function publishRows(subject: string, rows: Float32Array, prefix: string): Promise<void> {
    const js = jetstream(nc);
    const n = rows.length / D;
    for (let i = 0; i < n; i += 256) {
      const acks = [];
      for (let j = i; j < Math.min(n, i + 256); j++) {
        acks.push(js.publish(subject, enc.encode(JSON.stringify({ id: `${prefix}${j}`, features: rowOf(rows, j) }))));
      }
      await Promise.all(acks);
    }
  }

  beforeAll(async () => {
    if (!bin) throw new Error('nats-server is not installed: CI=true needs it (.ci/run installs it with apt-get)');
    await saveModel(model, modelDir);
    scorer = new Scorer(model, { backend: 'cpu' });
    nats = await NatsServer.start(bin);
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    jsm = await jetstreamManager(nc);
  }, 120_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.dispose();
    scorer?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('publishes one result per message, equal to Scorer.score, acked after the result', async () => {
    const s = await streams();
    const n = 600;
    const rows = randomRows(n, D, seed + 1, [AMOUNT]);
    const js = jetstream(nc);
    // Both single forms, with and without ids, and one instances body of 3 rows.
    const acks = [];
    for (let i = 0; i < n; i++) {
      const body =
        i % 3 === 0
          ? { id: `t${i}`, features: rowOf(rows, i) }
          : i % 3 === 1
            ? { id: i, transaction: Object.fromEntries(FEATURES.map((f, j) => [f, rows[i * D + j]!])) }
            : { features: rowOf(rows, i) };
      acks.push(js.publish(s.subject, JSON.stringify(body)));
    }
    const seqs = (await Promise.all(acks)).map((a) => a.seq);
    await js.publish(
      s.subject,
      JSON.stringify({ id: 'b', instances: [rowOf(rows, 0), rowOf(rows, 1), rowOf(rows, 2)], explain: true }),
    );
    const worker = await createStreamScorer({
      model: modelDir,
      servers: nats.url,
      stream: s.stream,
      subject: s.subject,
      outputSubject: s.outSubject,
      dlqSubject: s.dlqSubject,
      durable: s.durable,
      batch: 64,
      backend: 'cpu',
    });
    try {
      await until('all results', 120_000, async () => (await streamCount(jsm, s.out)) >= n + 3);
      // Give a late duplicate the chance to show up before counting.
      await new Promise((r) => setTimeout(r, 300));
      const results = await readAll<StreamResult>(nc, s.out);
      expect(results.length).toBe(n + 3);
      const want = scorer.score(rows);
      const byId = new Map(results.map((r) => [String(r.id), r]));
      const got = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const id = i % 3 === 0 ? `t${i}` : i % 3 === 1 ? String(i) : String(seqs[i]);
        const r = byId.get(id);
        expect(r, `result of message ${i} (id ${id})`).toBeDefined();
        got[i] = r!.score;
        expect(r!.is_fraud).toBe(r!.score > 1.5);
        expect(r!.threshold).toBe(1.5);
        expect(r!.model).toBe(`stream-test@${model.version}`);
      }
      expect(maxRelErr(got, want)).toBeLessThan(1e-6);
      // Both sides of the decision are exercised.
      expect(results.some((r) => r.is_fraud)).toBe(true);
      expect(results.some((r) => !r.is_fraud)).toBe(true);
      for (let j = 0; j < 3; j++) {
        const r = byId.get(`b:${j}`)!;
        expect(r.score).toBeCloseTo(want[j]!, 5);
        expect(Object.keys(r.feature_errors!)).toEqual(FEATURES);
        const fe = Object.values(r.feature_errors!);
        expect(fe.reduce((a, b) => a + b, 0) / D).toBeCloseTo(r.score, 4);
      }
      await until('acks', 30_000, async () => (await jsm.consumers.info(s.stream, s.durable)).num_ack_pending === 0);
      const info = await jsm.consumers.info(s.stream, s.durable);
      expect(info.num_pending).toBe(0);
      expect(info.config.ack_policy).toBe(AckPolicy.Explicit);
      expect(worker.counts).toMatchObject({ scored: n + 1, dlq: 0 });
      expect(await streamCount(jsm, s.dlq)).toBe(0);
      expect(await worker.metrics.registry.getSingleMetricAsString('fraudscore_stream_messages_total')).toMatch(
        new RegExp(`outcome="scored"} ${n + 1}`),
      );
    } finally {
      await worker.stop();
    }
  }, 180_000);

  it('dead-letters malformed messages with the reason and the original body, and keeps scoring', async () => {
    const s = await streams();
    const good = randomRows(2, D, seed + 2, [AMOUNT]);
    const bad: [string, RegExp, string | number | null][] = [
      ['{"id": "j1", "features": [1, 2', /JSON decode error/, null],
      [JSON.stringify({ id: 'len', features: [1, 2, 3] }), /Dimension mismatch: expected 29 features, got 3/, 'len'],
      [
        JSON.stringify({ id: 'inf', features: [...rowOf(good, 0).slice(0, 5), 1e39, ...rowOf(good, 0).slice(6)] }),
        /Non-finite value for feature V6 \(index 5\)/,
        'inf',
      ],
      [
        JSON.stringify({ id: 'str', features: [...rowOf(good, 0).slice(0, 28), 'NaN'] }),
        /Non-finite value for feature Amount/,
        'str',
      ],
      [JSON.stringify({ id: 'unk', features: rowOf(good, 0), extra: 1 }), /Unknown field\(s\): extra/, 'unk'],
      [
        JSON.stringify({ id: 'name', transaction: { ...Object.fromEntries(FEATURES.map((f) => [f, 0])), V99: 1 } }),
        /Unknown feature name\(s\): V99/,
        'name',
      ],
      [
        JSON.stringify({ id: 'neg', features: [...rowOf(good, 0).slice(0, 28), -2] }),
        /Feature Amount must be > -1/,
        'neg',
      ],
      [JSON.stringify({ id: 'none' }), /Expected one of `features`, `transaction` or `instances`/, 'none'],
      [JSON.stringify([1, 2]), /Expected a JSON object, got an array/, null],
      [
        JSON.stringify({ id: 'big', instances: Array.from({ length: 5 }, () => rowOf(good, 0)) }),
        /Too many instances: 5, the limit is 4/,
        'big',
      ],
    ];
    const js = jetstream(nc);
    await js.publish(s.subject, JSON.stringify({ id: 'ok1', features: rowOf(good, 0) }));
    for (const [body] of bad) await js.publish(s.subject, body);
    await js.publish(s.subject, JSON.stringify({ id: 'ok2', features: rowOf(good, 1) }));
    const worker = await createStreamScorer({
      model: modelDir,
      servers: [nats.url],
      stream: s.stream,
      subject: s.subject,
      outputSubject: s.outSubject,
      dlqSubject: s.dlqSubject,
      durable: s.durable,
      batch: 4,
      maxInstances: 4,
      backend: 'cpu',
    });
    try {
      await until(
        'dead letters and results',
        60_000,
        async () => (await streamCount(jsm, s.dlq)) >= bad.length && (await streamCount(jsm, s.out)) >= 2,
      );
      const dead = await readAll<DeadLetter>(nc, s.dlq);
      expect(dead).toHaveLength(bad.length);
      for (const [i, [body, reason, id]] of bad.entries()) {
        const d = dead.find((x) => x.seq === i + 2)!;
        expect(d, `dead letter of ${body.slice(0, 40)}`).toBeDefined();
        expect(d.error).toMatch(reason);
        expect(d.body).toBe(body);
        expect(d.id).toBe(id);
        expect(d.stream).toBe(s.stream);
        expect(d.subject).toBe(s.subject);
      }
      const results = await readAll<StreamResult>(nc, s.out);
      expect(results.map((r) => r.id).sort()).toEqual(['ok1', 'ok2']);
      expect(results.find((r) => r.id === 'ok2')!.score).toBeCloseTo(scorer.score(good)[1]!, 5);
      await until('acks', 30_000, async () => (await jsm.consumers.info(s.stream, s.durable)).num_ack_pending === 0);
      expect(worker.counts).toMatchObject({ scored: 2, dlq: bad.length });
    } finally {
      await worker.stop();
    }
  }, 120_000);

  it('two workers on one durable, one SIGKILLed mid-way: every message scored once, none lost', async () => {
    const s = await streams();
    const n = 6000;
    const rows = randomRows(n, D, seed + 3, [AMOUNT]);
    await publishRows(s.subject, rows, 'k');
    const args = [...cliArgs(s), '--batch', '8', '--max-in-flight', '2', '--backend', 'cpu', '--ack-wait-ms', '3000'];
    // Create the consumer once, with a short ack wait (a dead worker's messages come back in 3 s).
    const a = spawnWorker(args);
    const b = spawnWorker(args);
    try {
      await until('the first results', 120_000, async () => (await streamCount(jsm, s.out)) >= 300);
      a.kill('SIGKILL');
      const killedAt = await streamCount(jsm, s.out);
      expect(killedAt, 'killed mid-way').toBeLessThan(n);
      expect((await exited(a, 30_000)).signal).toBe('SIGKILL');
      await until(
        `all ${n} results (worker b: ${b.output()})`,
        180_000,
        async () => (await streamCount(jsm, s.out)) >= n,
      );
      await until('acks', 60_000, async () => {
        const i = await jsm.consumers.info(s.stream, s.durable);
        return i.num_ack_pending === 0 && i.num_pending === 0;
      });
      const results = await readAll<StreamResult>(nc, s.out);
      // Exactly one result per message: a redelivered message's repeat was dropped by Nats-Msg-Id.
      expect(results).toHaveLength(n);
      const ids = new Set(results.map((r) => r.id));
      expect(ids.size).toBe(n);
      for (let i = 0; i < n; i++) expect(ids.has(`k${i}`)).toBe(true);
      const want = scorer.score(rows);
      const got = new Float32Array(n);
      for (const r of results) got[Number(String(r.id).slice(1))] = r.score;
      expect(maxRelErr(got, want)).toBeLessThan(1e-6);
      expect(await streamCount(jsm, s.dlq)).toBe(0);
      b.kill('SIGTERM');
      expect(await exited(b, 60_000)).toEqual({ code: 0, signal: null });
      // Both shared the work: b scored fewer than all (a did the rest before it died).
      const bScored = Number(/(\d+) scored/.exec(b.output())![1]);
      expect(bScored).toBeGreaterThan(0);
      expect(bScored).toBeLessThan(n);
      // a died holding messages: they were delivered again (deliveries > messages), and their
      // results are still one each (checked above).
      const deliveries = (await jsm.consumers.info(s.stream, s.durable)).delivered.consumer_seq;
      console.log(`SIGKILL test: ${killedAt} results at the kill, b scored ${bScored}, ${deliveries} deliveries`);
      expect(deliveries, 'messages redelivered after the kill').toBeGreaterThan(n);
    } finally {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
    }
  }, 400_000);

  it('rides out a broker restart mid-stream and resumes, losing nothing', async () => {
    const s = await streams();
    const n = 4000;
    const rows = randomRows(n, D, seed + 4, [AMOUNT]);
    await publishRows(s.subject, rows, 'r');
    const events: string[] = [];
    const worker = await createStreamScorer({
      model: modelDir,
      servers: nats.url,
      stream: s.stream,
      subject: s.subject,
      outputSubject: s.outSubject,
      dlqSubject: s.dlqSubject,
      durable: s.durable,
      batch: 8,
      maxInFlight: 2,
      ackWaitMs: 3000,
      backend: 'cpu',
      onEvent: (e) => events.push(e),
    });
    try {
      await until('the first results', 120_000, async () => (await streamCount(jsm, s.out)) >= 200);
      const beforeStop = await streamCount(jsm, s.out);
      await nats.stop();
      expect(beforeStop, 'stopped mid-stream').toBeLessThan(n);
      await new Promise((r) => setTimeout(r, 1000));
      await nats.restart();
      await until(
        `all ${n} results (events: ${events.slice(-5).join('; ')})`,
        180_000,
        async () => (await streamCount(jsm, s.out).catch(() => 0)) >= n,
      );
      await until('acks', 60_000, async () => {
        const i = await jsm.consumers.info(s.stream, s.durable);
        return i.num_ack_pending === 0 && i.num_pending === 0;
      });
      expect(events.some((e) => e.startsWith('nats reconnect'))).toBe(true);
      const results = await readAll<StreamResult>(nc, s.out);
      expect(results).toHaveLength(n);
      expect(new Set(results.map((r) => r.id)).size).toBe(n);
      expect(worker.counts.scored).toBeGreaterThan(0);
    } finally {
      await worker.stop();
    }
  }, 400_000);

  it('refuses to start, naming what is missing, when no stream captures the output subject', async () => {
    const s = await streams();
    await expect(
      createStreamScorer({
        model: modelDir,
        servers: nats.url,
        stream: s.stream,
        subject: s.subject,
        outputSubject: 'nowhere.scored',
        dlqSubject: s.dlqSubject,
        durable: s.durable,
        backend: 'cpu',
      }),
    ).rejects.toThrow(/no JetStream stream captures `outputSubject` nowhere\.scored/);
    await expect(
      createStreamScorer({
        model: modelDir,
        servers: nats.url,
        stream: 'NOSUCH',
        subject: s.subject,
        outputSubject: s.outSubject,
        dlqSubject: s.dlqSubject,
        durable: s.durable,
        backend: 'cpu',
      }),
    ).rejects.toThrow(/JetStream stream NOSUCH is not usable/);
  }, 60_000);

  it('on SIGTERM stops pulling, acks every message it held and exits 0', async () => {
    const s = await streams();
    const n = 20000;
    const rows = randomRows(n, D, seed + 5, [AMOUNT]);
    await publishRows(s.subject, rows, 'g');
    const w = spawnWorker([...cliArgs(s), '--batch', '64', '--backend', 'cpu', '--metrics-port', '0']);
    try {
      await until('the first results', 120_000, async () => (await streamCount(jsm, s.out)) >= 500);
      w.kill('SIGTERM');
      expect(await exited(w, 60_000), w.output()).toEqual({ code: 0, signal: null });
      expect(w.output()).toMatch(/SIGTERM: stopping pulls/);
      expect(w.output()).toMatch(/stopped on SIGTERM; \d+ scored/);
      const info = await jsm.consumers.info(s.stream, s.durable);
      const out = await streamCount(jsm, s.out);
      // Mid-way, and everything delivered to it was answered and acked: nothing left to redeliver.
      expect(out).toBeLessThan(n);
      expect(info.num_ack_pending).toBe(0);
      expect(info.num_redelivered).toBe(0);
      expect(info.ack_floor.stream_seq).toBe(out);
      expect(info.num_pending).toBe(n - out);
      expect(Number(/(\d+) scored/.exec(w.output())![1])).toBe(out);
    } finally {
      w.kill('SIGKILL');
    }
  }, 300_000);
});

describe('fraudscore stream command line', () => {
  it('names a missing required flag and a bad value (exit 2)', async () => {
    const { main } = await import('../src/cli.js');
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => errors.push(String(m));
    try {
      expect(await main(['stream', '--model', 'models/default', '--servers', 'nats://127.0.0.1:1'])).toBe(2);
      expect(errors.at(-1)).toBe('fraudscore stream: missing required option --stream');
      expect(await main(['stream', '--precision', 'fp16'])).toBe(2);
      expect(errors.at(-1)).toBe("fraudscore stream: --precision must be fp32 or int8, got 'fp16'");
    } finally {
      console.error = orig;
    }
  });
});
