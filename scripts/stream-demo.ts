// The README's stream example, without the `nats` CLI (Debian packages nats-server only):
//   node --import tsx scripts/stream-demo.ts setup   [nats://127.0.0.1:4222]  streams TX, SCORES, DLQ
//   node --import tsx scripts/stream-demo.ts publish [url] N                  N transactions + 2 bad ones
//   node --import tsx scripts/stream-demo.ts read    [url]                    results and dead letters
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { DEFAULT_FEATURES } from '../src/data/table.js';
import { mulberry32 } from '../src/data/random.js';

const [cmd = '', url = 'nats://127.0.0.1:4222', nArg = '1000'] = process.argv.slice(2);
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);

async function read(stream: string): Promise<void> {
  const total = (await jsm.streams.info(stream)).state.messages;
  console.log(`${stream}: ${total} message(s)`);
  if (total === 0) return;
  const it = await (await js.consumers.get(stream)).fetch({ max_messages: Math.min(total, 5), expires: 2000 });
  for await (const m of it) console.log(`  ${m.string()}`);
}

if (cmd === 'setup') {
  await jsm.streams.add({ name: 'TX', subjects: ['tx.in'] });
  // The duplicate window drops a result published again after a redelivery (Nats-Msg-Id = id).
  await jsm.streams.add({ name: 'SCORES', subjects: ['tx.scored'], duplicate_window: 10 * 60 * 1e9 });
  await jsm.streams.add({ name: 'DLQ', subjects: ['tx.dlq'] });
  console.log('streams TX (tx.in), SCORES (tx.scored), DLQ (tx.dlq) ready');
} else if (cmd === 'publish') {
  const n = Number(nArg);
  const rand = mulberry32(7);
  const acks = [];
  for (let i = 0; i < n; i++) {
    const features = DEFAULT_FEATURES.map((f) =>
      f === 'Amount' ? Math.round(rand() * 20000) / 100 : (rand() - 0.5) * 3,
    );
    acks.push(js.publish('tx.in', JSON.stringify({ id: `tx-${i}`, features })));
  }
  acks.push(js.publish('tx.in', '{"id": "bad-json", "features": [1, 2'));
  acks.push(js.publish('tx.in', JSON.stringify({ id: 'short', features: [1, 2, 3] })));
  await Promise.all(acks);
  console.log(`published ${n} transactions and 2 malformed messages on tx.in`);
} else if (cmd === 'read') {
  await read('SCORES');
  await read('DLQ');
} else {
  console.error('usage: node --import tsx scripts/stream-demo.ts setup|publish|read [nats://HOST:PORT] [N]');
  process.exitCode = 2;
}
await nc.close();
