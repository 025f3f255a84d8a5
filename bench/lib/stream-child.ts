// One worker process of the stream bench: `score` runs fraudscore's stream worker, `bare` the
// ceiling it is compared with: the same client and pull loop (one fetch of `batch` at a time),
// each message republished as it is and acked after JetStream's publish ack, no parsing, no scoring.
// Prints "ready" when pulling; SIGTERM stops it.
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { createStreamScorer } from '../../src/stream/index.js';

const [mode, url, stream, subject, out, dlq, durable, batchArg, modelDir] = process.argv.slice(2);
const batch = Number(batchArg);

async function bare(): Promise<void> {
  const nc = await connect({ servers: url!, maxReconnectAttempts: -1 });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream!, durable!);
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
  });
  const pending = new Set<Promise<void>>();
  console.log('ready');
  while (!stopping) {
    const messages = await consumer.fetch({ max_messages: batch, expires: 1000 });
    for await (const m of messages) {
      const p = js.publish(out!, m.data, { msgID: `${m.seq}` }).then(
        () => m.ack(),
        () => m.nak(),
      );
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }
  await Promise.allSettled([...pending]);
  await nc.drain();
}

async function score(): Promise<void> {
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  const worker = await createStreamScorer({
    model: modelDir!,
    servers: url!,
    stream: stream!,
    subject: subject!,
    outputSubject: out!,
    dlqSubject: dlq!,
    durable: durable!,
    batch,
    backend: 'cpu',
    signal: stop.signal,
  });
  console.log('ready');
  await worker.done;
}

await (mode === 'bare' ? bare() : score());
