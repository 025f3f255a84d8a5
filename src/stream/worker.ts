// The stream worker: pulls transactions from a durable JetStream consumer, scores each pulled batch
// in one native call (through the server's MicroBatcher, on the libuv pool), publishes one result per
// row and acks each input only after JetStream has acknowledged its results (at-least-once; results
// carry Nats-Msg-Id so the output stream's duplicate window drops a redelivery's repeat). A body that
// cannot be scored goes to the dead-letter subject and is acked, so it never stalls the worker.
//
//   producers -> [stream: subject] -> durable consumer -> worker(s) -> [outputSubject] -> consumers
//                                                               \-> [dlqSubject]
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamClient,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';

import type { Model } from '../model.js';
import type { Backend, Precision } from '../scorer.js';
import { MicroBatcher } from '../server/batcher.js';
import { ModelState } from '../server/model-state.js';
import { type DeadLetter, type ParsedBody, parseBody, type StreamResult } from './messages.js';
import { StreamMetrics } from './metrics.js';

export interface StreamScorerOptions {
  /** A model directory (model.json + weights.safetensors) or a Model; it needs a threshold. */
  model: string | Model;
  /** NATS server URL(s), e.g. 'nats://127.0.0.1:4222'. */
  servers: string | string[];
  /** The JetStream stream holding the input messages (it must exist). */
  stream: string;
  /** Input subject: the durable consumer is filtered on it. */
  subject: string;
  /** Where results go; a stream must capture it (JetStream acknowledges each result). */
  outputSubject: string;
  /** Where malformed messages go, with the reason; a stream must capture it. */
  dlqSubject: string;
  /** Durable consumer name shared by every worker (created when missing: explicit ack, filtered on `subject`). */
  durable: string;
  /** Messages per pull and per native scoring call. @default 64 */
  batch?: number;
  /** How long a partly filled batch waits for more messages before it is scored, in ms. @default 5 */
  maxWaitMs?: number;
  /** 'int8' needs a quantized model. @default 'fp32' */
  precision?: Precision;
  /** Aborting it stops pulling, finishes and acks what is held, then closes (as stop()). */
  signal?: AbortSignal;
  /** @default 'auto' */
  backend?: Backend;
  /** Native threads per scoring call (0: the pool's size). @default 1 */
  threads?: number;
  /** Pulled batches being scored/published at once; pulling waits beyond it (back-pressure). @default 4 */
  maxInFlight?: number;
  /** Most rows in one `instances` body (more is dead-lettered). @default 1000 */
  maxInstances?: number;
  /** Ack wait of a consumer this call creates: an unacked message is redelivered after it, in ms. @default 30000 */
  ackWaitMs?: number;
  /** Metrics to record into (default: a new StreamMetrics, as `metrics`). */
  metrics?: StreamMetrics;
  /** Connection name, shown by the server's monitoring. @default 'fraudscore-stream' */
  name?: string;
  /** Called with operational events (reconnects, publish failures); default: none. */
  onEvent?: (message: string) => void;
}

export interface StreamScorer {
  readonly metrics: StreamMetrics;
  /** The engine scoring, e.g. 'cpu-avx2-fp32'. */
  readonly engine: string;
  /** Messages settled so far: scored (acked after their results) and dead-lettered (acked). */
  readonly counts: { readonly scored: number; readonly dlq: number; readonly failed: number };
  /** Resolves once stopped and drained (after stop(), an aborted signal, or a fatal error: rejects). */
  readonly done: Promise<void>;
  /** [async] Stops pulling, scores, publishes and acks what is held, drains the connection, frees the engine. Safe to call twice. */
  stop(): Promise<void>;
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min)
    throw new RangeError(`Expected \`${name}\` to be an integer >= ${min}, got ${v}`);
  return x;
}

function requireName(
  options: StreamScorerOptions,
  key: 'stream' | 'subject' | 'outputSubject' | 'dlqSubject' | 'durable',
): string {
  const v = options[key];
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`Expected \`${key}\` to be a non-empty string`);
  return v;
}

/**
 * [async] Connects, checks the streams, creates the durable consumer when missing and starts pulling.
 * @returns the running worker; stop it with stop() or the signal
 * @throws TypeError/RangeError for bad options, Error when the server, a stream or the model is unusable
 */
export async function createStreamScorer(options: StreamScorerOptions): Promise<StreamScorer> {
  if (!options || (typeof options.model !== 'string' && typeof options.model !== 'object')) {
    throw new TypeError('Expected `model` to be a model directory or a Model');
  }
  const stream = requireName(options, 'stream');
  const subject = requireName(options, 'subject');
  const outputSubject = requireName(options, 'outputSubject');
  const dlqSubject = requireName(options, 'dlqSubject');
  const durable = requireName(options, 'durable');
  const batch = positiveInt('batch', options.batch, 64);
  const maxWaitMs = positiveInt('maxWaitMs', options.maxWaitMs, 5, 0);
  const maxInFlight = positiveInt('maxInFlight', options.maxInFlight, 4);
  const maxInstances = positiveInt('maxInstances', options.maxInstances, 1000);
  const ackWaitMs = positiveInt('ackWaitMs', options.ackWaitMs, 30_000);
  const precision = options.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'int8') {
    throw new RangeError(`Expected \`precision\` to be 'fp32' or 'int8', got '${precision}'`);
  }
  const servers = typeof options.servers === 'string' ? [options.servers] : options.servers;
  if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || !s)) {
    throw new TypeError('Expected `servers` to be a NATS URL or a non-empty array of them');
  }

  const state = await ModelState.create(options.model, {
    backend: options.backend ?? 'auto',
    threads: options.threads ?? 1,
    // Window 0: a pulled batch is one submission, scored in the next turn in one native call.
    batcher: { windowMicros: 0, maxRows: batch * maxInstances },
  });
  const batcher = precision === 'fp32' ? state.fp32 : state.int8;
  if (!(batcher instanceof MicroBatcher)) {
    await state.dispose();
    throw new Error(`precision 'int8' is unavailable: ${batcher.missing}`);
  }
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: options.name ?? 'fraudscore-stream',
      // A broker restart must not end the worker: retry for ever, a little apart.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (e) {
    await state.dispose();
    throw new Error(`cannot connect to NATS at ${servers.join(', ')}: ${(e as Error).message}`);
  }
  try {
    await ensureConsumer(nc, { stream, subject, outputSubject, dlqSubject, durable, batch, maxInFlight, ackWaitMs });
  } catch (e) {
    await nc.close();
    await state.dispose();
    throw e;
  }
  const worker = new Worker(nc, state, batcher, {
    stream,
    durable,
    outputSubject,
    dlqSubject,
    batch,
    maxWaitMs,
    maxInFlight,
    maxInstances,
    // Dynamic int8 scales are per block of rows scored together: score each message alone, as the
    // server does, so that one message's score never depends on its neighbours.
    isolate: precision === 'int8' && state.model.quantization?.activations === 'dynamic',
    metrics: options.metrics ?? new StreamMetrics(),
    onEvent: options.onEvent ?? (() => {}),
  });
  if (options.signal) {
    if (options.signal.aborted) void worker.stop();
    else options.signal.addEventListener('abort', () => void worker.stop(), { once: true });
  }
  return worker;
}

async function ensureConsumer(
  nc: NatsConnection,
  o: {
    stream: string;
    subject: string;
    outputSubject: string;
    dlqSubject: string;
    durable: string;
    batch: number;
    maxInFlight: number;
    ackWaitMs: number;
  },
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(o.stream);
  } catch (e) {
    throw new Error(
      `JetStream stream ${o.stream} is not usable (${(e as Error).message}): create it first, e.g. \`nats stream add ${o.stream} --subjects '${o.subject}'\``,
    );
  }
  for (const [flag, subj] of [
    ['outputSubject', o.outputSubject],
    ['dlqSubject', o.dlqSubject],
  ] as const) {
    try {
      await jsm.streams.find(subj);
    } catch {
      throw new Error(
        `no JetStream stream captures \`${flag}\` ${subj}: results are published to JetStream and acknowledged, so create one (e.g. \`nats stream add RESULTS --subjects '${subj}'\`)`,
      );
    }
  }
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(o.stream, o.durable);
  } catch {
    info = await jsm.consumers.add(o.stream, {
      durable_name: o.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: o.subject,
      ack_wait: nanos(o.ackWaitMs),
      // Room for every worker's pulls; the server's default (1000) would cap a batch of 1024.
      max_ack_pending: Math.max(10_000, o.batch * o.maxInFlight * 8),
    });
  }
  const filter = info.config.filter_subject ?? info.config.filter_subjects?.join(',');
  if (filter && filter !== o.subject) {
    throw new Error(
      `durable consumer ${o.durable} on ${o.stream} is filtered on ${filter}, not ${o.subject}: use another --durable or the same subject`,
    );
  }
  if (info.config.ack_policy !== AckPolicy.Explicit) {
    throw new Error(
      `durable consumer ${o.durable} on ${o.stream} has ack policy ${info.config.ack_policy}: the worker needs explicit acks`,
    );
  }
}

/** How long one fetch waits for its batch to fill (the client's minimum). */
const PULL_EXPIRES_MS = 1000;

interface WorkerConfig {
  stream: string;
  durable: string;
  outputSubject: string;
  dlqSubject: string;
  batch: number;
  maxWaitMs: number;
  maxInFlight: number;
  maxInstances: number;
  isolate: boolean;
  metrics: StreamMetrics;
  onEvent: (message: string) => void;
}

interface Held {
  msg: JsMsg;
  /** performance.now() at arrival. */
  at: number;
}

class Worker implements StreamScorer {
  readonly metrics: StreamMetrics;
  readonly done: Promise<void>;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #state: ModelState;
  readonly #batcher: MicroBatcher;
  readonly #c: WorkerConfig;
  readonly #model: string;
  #queue: Held[] = [];
  #timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  #inFlight = 0;
  #slotWaiters: (() => void)[] = [];
  #batches = new Set<Promise<void>>();
  #stopping = false;
  #stopped: Promise<void> | null = null;
  #scored = 0;
  #dlq = 0;
  #failed = 0;

  constructor(nc: NatsConnection, state: ModelState, batcher: MicroBatcher, c: WorkerConfig) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#state = state;
    this.#batcher = batcher;
    this.#c = c;
    this.metrics = c.metrics;
    this.#model = `${state.model.name}@${state.model.version}`;
    void this.#watchStatus();
    this.done = this.#pull().then(
      () => this.stop(),
      async (e) => {
        await this.stop();
        throw e;
      },
    );
    this.done.catch(() => {});
  }

  get engine(): string {
    return this.#batcher.scorer.engine;
  }

  get counts() {
    return { scored: this.#scored, dlq: this.#dlq, failed: this.#failed };
  }

  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#stopping = true;
    this.#stopped = (async () => {
      // Stop pulling: the pull loop ends with its current fetch (at most PULL_EXPIRES_MS), having
      // queued every message that fetch delivered.
      await this.#loopDone;
      this.#flush(true);
      while (this.#batches.size > 0) await Promise.allSettled([...this.#batches]);
      // drain(): flushes the acks just sent, then closes.
      if (!this.#nc.isClosed()) await this.#nc.drain().catch(() => {});
      await this.#state.dispose();
    })();
    return this.#stopped;
  }

  #loopDone: Promise<void> = Promise.resolve();

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        this.#c.onEvent(`nats ${s.type}${'server' in s && s.server ? ` ${s.server}` : ''}`);
      }
    }
  }

  async #pull(): Promise<void> {
    let finish!: () => void;
    this.#loopDone = new Promise((r) => (finish = r));
    try {
      const consumer = await this.#js.consumers.get(this.#c.stream, this.#c.durable);
      // One fetch of up to `batch` at a time, not consume(): consume keeps a pull request open at
      // the server, so messages already on their way when it is closed would be dropped here and
      // only come back after the ack wait. A fetch ends by itself (full, or after PULL_EXPIRES_MS),
      // so stopping between fetches leaves nothing delivered and unanswered.
      while (!this.#stopping) {
        try {
          const messages = await consumer.fetch({ max_messages: this.#c.batch, expires: PULL_EXPIRES_MS });
          for await (const msg of messages) {
            this.#queue.push({ msg, at: performance.now() });
            this.metrics.lag.set(msg.info.pending);
            if (this.#queue.length >= this.#c.batch) await this.#flushWhenFree();
            else this.#arm();
          }
        } catch (e) {
          // Broker restarts end fetches with errors (heartbeats missed, no responders): say so, wait
          // a little and pull again; the connection reconnects by itself.
          this.#c.onEvent(`pull: ${(e as Error).message}`);
          if (!this.#stopping) await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      finish();
    }
  }

  /** Schedules scoring of a partly filled batch after maxWaitMs (the next turn for 0). */
  #arm(): void {
    if (this.#timer) return;
    const fire = () => {
      this.#timer = null;
      void this.#flushWhenFree();
    };
    this.#timer = this.#c.maxWaitMs === 0 ? setImmediate(fire) : setTimeout(fire, this.#c.maxWaitMs);
  }

  /** Waits for a free slot (back-pressure: the pull loop stops reading meanwhile), then scores. */
  async #flushWhenFree(): Promise<void> {
    while (this.#inFlight >= this.#c.maxInFlight) await new Promise<void>((r) => this.#slotWaiters.push(r));
    this.#flush(false);
  }

  /** Takes held messages (up to a batch; all of them when draining) and starts scoring them. */
  #flush(all: boolean): void {
    if (this.#timer) {
      clearTimeout(this.#timer as NodeJS.Timeout);
      clearImmediate(this.#timer as NodeJS.Immediate);
      this.#timer = null;
    }
    while (this.#queue.length > 0) {
      const held = this.#queue.splice(0, this.#c.batch);
      this.#inFlight++;
      this.metrics.inFlight.set(this.#inFlight);
      const p = this.#settle(held).finally(() => {
        this.#batches.delete(p);
        this.#inFlight--;
        this.metrics.inFlight.set(this.#inFlight);
        this.#slotWaiters.shift()?.();
      });
      this.#batches.add(p);
      if (!all) break;
    }
    if (this.#queue.length > 0 && !all) this.#arm();
  }

  /** Scores one batch in one native call, publishes results and dead letters, acks. Never throws. */
  async #settle(held: Held[]): Promise<void> {
    const state = this.#state;
    const d = state.model.features.length;
    const parsed = held.map((h) => parseBody(state, h.msg.data, this.#c.maxInstances));
    const good: { i: number; p: ParsedBody }[] = [];
    let n = 0;
    for (const [i, p] of parsed.entries()) {
      if ('rows' in p) {
        good.push({ i, p });
        n += p.rows.length / d;
      }
    }
    let scores: Float32Array = new Float32Array(0);
    let featureErrors: Float32Array = new Float32Array(0);
    // Hybrid models: the autoencoder's score per row (`scores` then holds probabilities).
    let aeScores: Float32Array | undefined;
    let scoreError: string | null = null;
    if (n > 0) {
      try {
        if (this.#c.isolate) {
          const parts = await Promise.all(good.map((g) => this.#batcher.score(g.p.rows)));
          scores = new Float32Array(n);
          featureErrors = new Float32Array(n * d);
          if (parts[0]?.aeScores) aeScores = new Float32Array(n);
          let r = 0;
          for (const part of parts) {
            scores.set(part.scores, r);
            featureErrors.set(part.featureErrors, r * d);
            if (aeScores && part.aeScores) aeScores.set(part.aeScores, r);
            r += part.scores.length;
          }
        } else {
          const rows = good.length === 1 ? good[0]!.p.rows : new Float32Array(n * d);
          if (good.length > 1) {
            let off = 0;
            for (const g of good) {
              rows.set(g.p.rows, off);
              off += g.p.rows.length;
            }
          }
          ({ scores, featureErrors, aeScores } = await this.#batcher.score(rows));
        }
        this.metrics.batchRows.observe(n);
      } catch (e) {
        // The engine failed (not the input): leave the messages for redelivery.
        scoreError = (e as Error).message;
      }
    }
    const thr = state.threshold;
    const features = state.model.features;
    const work: Promise<void>[] = [];
    let r = 0;
    for (const [i, h] of held.entries()) {
      const p = parsed[i]!;
      const seq = h.msg.seq;
      if (!('rows' in p)) {
        work.push(this.#deadLetter(h, p.id, p.error));
        continue;
      }
      const k = p.rows.length / d;
      const at = r;
      r += k;
      if (scoreError !== null) {
        this.#failed++;
        this.#c.onEvent(`scoring failed, message ${seq} left for redelivery: ${scoreError}`);
        h.msg.nak(1000);
        continue;
      }
      const results: { r: StreamResult; msgId: string }[] = [];
      let bad: string | null = null;
      for (let j = 0; j < k; j++) {
        const score = scores[at + j]!;
        if (!Number.isFinite(score)) {
          bad = `${p.batch ? `instances[${j}]: ` : ''}the transaction could not be scored (non-finite result)`;
          break;
        }
        const base = p.id ?? seq;
        const id = p.batch ? `${base}:${j}` : base;
        const msgKey = p.id === null ? `${this.#c.stream}#${seq}` : String(p.id);
        const result: StreamResult = { id, score, is_fraud: score > thr, threshold: thr, model: this.#model };
        if (aeScores) {
          result.fraud_probability = score;
          result.reconstruction_error = aeScores[at + j]!;
        }
        if (p.explain) {
          const fe: Record<string, number> = {};
          for (let f = 0; f < d; f++) fe[features[f]!] = featureErrors[(at + j) * d + f]!;
          result.feature_errors = fe;
        }
        results.push({ r: result, msgId: p.batch ? `${msgKey}:${j}` : msgKey });
      }
      if (bad !== null) {
        work.push(this.#deadLetter(h, p.id, bad));
        continue;
      }
      work.push(this.#publishResults(h, results));
    }
    await Promise.all(work);
  }

  async #publishResults(h: Held, results: { r: StreamResult; msgId: string }[]): Promise<void> {
    try {
      await Promise.all(
        results.map((x) => this.#js.publish(this.#c.outputSubject, JSON.stringify(x.r), { msgID: x.msgId })),
      );
    } catch (e) {
      this.#publishFailed(h, e);
      return;
    }
    h.msg.ack();
    this.#scored++;
    this.metrics.messages.inc({ outcome: 'scored' });
    let frauds = 0;
    for (const x of results) if (x.r.is_fraud) frauds++;
    this.metrics.rows.inc(results.length);
    if (frauds > 0) this.metrics.frauds.inc(frauds);
    this.metrics.ackLatency.observe((performance.now() - h.at) / 1000);
  }

  async #deadLetter(h: Held, id: string | number | null, error: string): Promise<void> {
    const m = h.msg;
    const dead: DeadLetter = {
      id,
      error,
      stream: this.#c.stream,
      seq: m.seq,
      subject: m.subject,
      body: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'),
    };
    try {
      await this.#js.publish(this.#c.dlqSubject, JSON.stringify(dead), { msgID: `${this.#c.stream}#${m.seq}:dlq` });
    } catch (e) {
      this.#publishFailed(h, e);
      return;
    }
    m.ack();
    this.#dlq++;
    this.metrics.messages.inc({ outcome: 'dlq' });
    this.metrics.ackLatency.observe((performance.now() - h.at) / 1000);
  }

  /** A publish failed (broker down, no stream): not acked, so JetStream redelivers it. */
  #publishFailed(h: Held, e: unknown): void {
    this.#failed++;
    this.metrics.publishErrors.inc();
    this.#c.onEvent(`publish failed, message ${h.msg.seq} left for redelivery: ${(e as Error).message}`);
    // A delayed nak: redelivered soon once the broker is back, without a hot loop while it is not.
    if (!this.#nc.isClosed()) h.msg.nak(1000);
  }
}
