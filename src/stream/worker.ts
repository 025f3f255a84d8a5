// The stream worker: pulls transactions from a durable JetStream consumer, scores each pulled batch
// in one native call (through the server's MicroBatcher, on the libuv pool), publishes one result per
// row and acks each input only after JetStream has acknowledged its results (at-least-once; results
// carry Nats-Msg-Id so the output stream's duplicate window drops a redelivery's repeat). A body that
// cannot be scored goes to the dead-letter subject and is acked, so it never stalls the worker.
//
//   producers -> [stream: subject] -> durable consumer -> worker(s) -> [outputSubject] -> consumers
//                                                               \-> [dlqSubject]
//
// This file checks the options, connects and sets the consumer up; the loop is pull-loop.ts.
import { AckPolicy, type ConsumerInfo, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';

import type { Model } from '../model.js';
import type { Backend, Precision } from '../scorer.js';
import { MicroBatcher } from '../server/batcher.js';
import { ModelState } from '../server/model-state.js';
import { StreamMetrics } from './metrics.js';
import { Worker } from './pull-loop.js';

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
