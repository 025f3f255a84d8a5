import { type Command, requireString, UsageError } from '../command.js';
import { serveMetrics, StreamMetrics } from '../../stream/metrics.js';
import { createStreamScorer } from '../../stream/worker.js';

function intOption(values: Record<string, unknown>, name: string, min: number): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

export const stream: Command = {
  name: 'stream',
  summary: 'Score transactions from a NATS JetStream stream; results and dead letters to JetStream subjects',
  help: `Usage: fraudscore stream --model DIR --servers nats://HOST:PORT --stream NAME --subject IN
                         --output-subject OUT --dlq-subject DLQ --durable NAME [options]

Pulls messages from the durable pull consumer NAME on the stream (created when missing: explicit
ack, filtered on IN), scores each pulled batch in one native call and publishes one result per
transaction on OUT, {"id","score","is_fraud","threshold","model"}, with Nats-Msg-Id = id; a message
is acked only once JetStream has acknowledged its results. Bodies: {"id","features":[...]},
{"id","transaction":{...}}, {"id","instances":[...]} (one result per row, ids "<id>:<row>"), and
"explain": true adds per-feature errors. A malformed message goes to DLQ with the reason and is
acked. Streams capturing OUT and DLQ must exist. Run as many workers as you like on one --durable:
each message goes to one of them. SIGTERM/SIGINT stop pulling, finish and ack what is held, exit 0.

Options:
  --model DIR            model directory (model.json with a threshold, weights.safetensors)
  --servers URL          NATS server URL(s), comma-separated (nats://127.0.0.1:4222)
  --stream NAME          JetStream stream holding the input subject
  --subject IN           input subject (the consumer's filter)
  --output-subject OUT   subject of the results
  --dlq-subject DLQ      subject of malformed messages and why
  --durable NAME         durable consumer shared by the workers
  --batch N              messages per pull and per native call (default 64)
  --max-wait-ms N        how long a partly filled batch waits for more, ms (default 5)
  --precision P          fp32 (default) or int8 (a quantized model)
  --metrics-port P       serve Prometheus metrics on 127.0.0.1:P/metrics (0 picks a port)
  --metrics-host H       interface for the metrics port (default 127.0.0.1)
  --backend B            auto (default), cpu or cuda
  --threads N            native threads per scoring call (default 1)
  --max-in-flight N      pulled batches scored/published at once (default 4)
  --ack-wait-ms N        ack wait of a consumer created here (default 30000): redelivery delay
                         of a message a dead worker held

Example:
  fraudscore stream --model default --servers nats://127.0.0.1:4222 --stream TX \\
    --subject tx.in --output-subject tx.scored --dlq-subject tx.dlq --durable scorers --batch 256`,
  options: {
    model: { type: 'string' },
    servers: { type: 'string' },
    stream: { type: 'string' },
    subject: { type: 'string' },
    'output-subject': { type: 'string' },
    'dlq-subject': { type: 'string' },
    durable: { type: 'string' },
    batch: { type: 'string' },
    'max-wait-ms': { type: 'string' },
    precision: { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    'max-in-flight': { type: 'string' },
    'ack-wait-ms': { type: 'string' },
  },
  async run(values) {
    const precision = (values.precision as string | undefined) ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'int8')
      throw new UsageError(`--precision must be fp32 or int8, got '${precision}'`);
    const backend = (values.backend as string | undefined) ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(backend))
      throw new UsageError(`--backend must be auto, cpu or cuda, got '${backend}'`);
    const metricsPort = intOption(values, 'metrics-port', 0);
    if (metricsPort !== undefined && metricsPort > 65535)
      throw new UsageError(`--metrics-port must be at most 65535, got ${metricsPort}`);
    const servers = requireString(values, 'servers')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const metrics = new StreamMetrics();
    const stop = new AbortController();
    let signalled = '';
    const onSignal = (signal: string) => {
      signalled = signal;
      console.error(`fraudscore: ${signal}: stopping pulls, finishing and acking the messages held`);
      stop.abort();
    };
    // Installed before connecting, so a SIGTERM during start-up also ends in a clean stop.
    const term = () => onSignal('SIGTERM');
    const int = () => onSignal('SIGINT');
    process.once('SIGTERM', term);
    process.once('SIGINT', int);
    try {
      const worker = await createStreamScorer({
        model: requireString(values, 'model'),
        servers,
        stream: requireString(values, 'stream'),
        subject: requireString(values, 'subject'),
        outputSubject: requireString(values, 'output-subject'),
        dlqSubject: requireString(values, 'dlq-subject'),
        durable: requireString(values, 'durable'),
        batch: intOption(values, 'batch', 1),
        maxWaitMs: intOption(values, 'max-wait-ms', 0),
        precision,
        backend: backend as 'auto',
        threads: intOption(values, 'threads', 0),
        maxInFlight: intOption(values, 'max-in-flight', 1),
        ackWaitMs: intOption(values, 'ack-wait-ms', 1),
        metrics,
        signal: stop.signal,
        onEvent: (m) => console.error(`fraudscore: ${m}`),
      });
      const http =
        metricsPort === undefined
          ? null
          : await serveMetrics(metrics, metricsPort, (values['metrics-host'] as string | undefined) ?? '127.0.0.1');
      console.error(
        `fraudscore: ${worker.engine} scoring ${values.stream}/${values.subject} as ${values.durable} -> ${values['output-subject']}` +
          (http ? ` · metrics http://127.0.0.1:${http.port}/metrics` : ''),
      );
      try {
        await worker.done;
      } finally {
        http?.server.close();
      }
      const { scored, dlq } = worker.counts;
      console.error(
        `fraudscore: stopped${signalled ? ` on ${signalled}` : ''}; ${scored} scored, ${dlq} dead-lettered`,
      );
    } finally {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
    }
  },
};
