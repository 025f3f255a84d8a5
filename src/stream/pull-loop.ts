// The pull loop of a stream scorer (worker.ts sets it up): fetches batches from the durable
// consumer, scores them together in one native call, publishes one result per row, acks each input
// once JetStream has acknowledged its results, and sends bodies that cannot be scored to the
// dead-letter subject.
import { type JetStreamClient, type JsMsg, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

import { isFraud } from '../decision.js';
import type { MicroBatcher } from '../server/batcher.js';
import type { ModelState } from '../server/model-state.js';
import { type DeadLetter, type ParsedBody, parseBody, type StreamResult } from './messages.js';
import type { StreamMetrics } from './metrics.js';
import type { StreamScorer } from './worker.js';

/** How long one fetch waits for its batch to fill (the client's minimum). */
const PULL_EXPIRES_MS = 1000;

export interface WorkerConfig {
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

/** The pull loop of one stream scorer (createStreamScorer builds it). */
export class Worker implements StreamScorer {
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
        const result: StreamResult = { id, score, is_fraud: isFraud(score, thr), threshold: thr, model: this.#model };
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
