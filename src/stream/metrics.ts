// Prometheus metrics of one stream worker (its own registry, so several workers can share a process,
// as in tests), served on an optional port by serveMetrics(). prom-client, as the HTTP server uses.
import { createServer, type Server } from 'node:http';

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import { addProcessMetrics } from '../server/metrics.js';

export class StreamMetrics {
  readonly registry = new Registry();
  /** Input messages settled, by outcome: scored (result published, then acked) or dlq. */
  readonly messages: Counter<'outcome'>;
  /** Rows scored (an `instances` body holds several). */
  readonly rows: Counter;
  readonly frauds: Counter;
  /** Rows per native scoring call: one call per pulled batch. */
  readonly batchRows: Histogram;
  /** Messages left in the consumer after the last one received (JetStream's num_pending). */
  readonly lag: Gauge;
  /** Batches pulled and not yet acked (bounded by maxInFlight). */
  readonly inFlight: Gauge;
  /** Time from a message's arrival at the worker to its ack (score + publish + publish ack). */
  readonly ackLatency: Histogram;
  /** Result or dead-letter publishes that failed (the message is left unacked: redelivered). */
  readonly publishErrors: Counter;

  constructor() {
    const registers = [this.registry];
    this.messages = new Counter({
      name: 'fraudscore_stream_messages_total',
      help: 'Input messages settled, by outcome (scored: result published then acked; dlq: dead-lettered then acked).',
      labelNames: ['outcome'],
      registers,
    });
    this.rows = new Counter({ name: 'fraudscore_stream_rows_total', help: 'Rows scored.', registers });
    this.frauds = new Counter({
      name: 'fraudscore_stream_frauds_total',
      help: 'Rows flagged as fraud (score above the threshold).',
      registers,
    });
    this.batchRows = new Histogram({
      name: 'fraudscore_stream_batch_rows',
      help: 'Rows per native scoring call (one per pulled batch).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384],
      registers,
    });
    this.lag = new Gauge({
      name: 'fraudscore_stream_lag_messages',
      help: 'Messages waiting in the durable consumer, as of the last message received.',
      registers,
    });
    this.inFlight = new Gauge({
      name: 'fraudscore_stream_in_flight_batches',
      help: 'Pulled batches not yet settled.',
      registers,
    });
    this.ackLatency = new Histogram({
      name: 'fraudscore_stream_ack_latency_seconds',
      help: 'Time from a message arriving at the worker to its ack.',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.publishErrors = new Counter({
      name: 'fraudscore_stream_publish_errors_total',
      help: 'Result or dead-letter publishes that failed; their messages are left for redelivery.',
      registers,
    });
    addProcessMetrics(this.registry);
  }
}

/**
 * [async] Serves `GET /metrics` of `metrics` on host:port (port 0 picks one).
 * @returns the listening server (close it to stop) and the port it got
 */
export async function serveMetrics(
  metrics: StreamMetrics,
  port: number,
  host = '127.0.0.1',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
