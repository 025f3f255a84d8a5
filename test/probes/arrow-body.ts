// Child-process probe of POST /predict with hostile Arrow IPC bodies (run by
// test/hostile-server.test.ts): a 100-row stream whose row-count fields are patched, then seeded
// random byte mutations. Prints one JSON line per body: status, milliseconds, rows logged so far.
// A crash or hang of this process is what the parent test detects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { tableFromArrays, tableToIPC } from 'apache-arrow';

import { mulberry32 } from '../../src/data/random.js';
import { DEFAULT_FEATURES } from '../../src/data/table.js';
import { createModel, saveModel } from '../../src/model.js';
import { createServer } from '../../src/server/server.js';

const seed = Number(process.env.FRAUDSCORE_TEST_SEED ?? 1);
const mutations = Number(process.env.PROBE_MUTATIONS ?? 200);
const FEATURES = [...DEFAULT_FEATURES];
const dir = mkdtempSync(join(tmpdir(), 'fraudscore-arrow-probe-'));
const model = createModel({ features: FEATURES, seed, name: 'probe', threshold: { value: 1.5, strategy: 'test' } });
await saveModel(model, join(dir, 'model'));
const app = createServer({
  model: join(dir, 'model'),
  backend: 'cpu',
  log: join(dir, 'log.sqlite'),
  logFlushIntervalMs: 10,
});
await app.fraudscore.loaded;

const rand = mulberry32(seed);
const N = 100;
const cols: Record<string, Float32Array> = {};
for (const f of FEATURES) cols[f] = Float32Array.from({ length: N }, () => rand() * 2);
const good = Buffer.from(tableToIPC(tableFromArrays(cols), 'stream'));

/** Every 8-byte-aligned little-endian int64 equal to `from` replaced by `to` (the length fields). */
function patchLengths(buf: Buffer, from: number, to: number): Buffer {
  const out = Buffer.from(buf);
  let hits = 0;
  for (let o = 0; o + 8 <= out.length; o += 8) {
    if (out.readBigInt64LE(o) === BigInt(from)) {
      out.writeBigInt64LE(BigInt(to), o);
      hits++;
    }
  }
  if (hits === 0) throw new Error('no length field found to patch');
  return out;
}

const logged = () => app.fraudscore.log?.written ?? 0;
async function post(name: string, body: Buffer) {
  const t0 = performance.now();
  const res = await app.inject({
    method: 'POST',
    url: '/predict',
    payload: body,
    headers: { 'content-type': 'application/vnd.apache.arrow.stream' },
  });
  await app.fraudscore.log?.flushed();
  const ms = performance.now() - t0;
  const detail = res.statusCode === 200 ? undefined : (res.json() as { detail?: string }).detail;
  console.log(JSON.stringify({ name, status: res.statusCode, ms, logged: logged(), detail }));
}

await post('good', good);
await post('length-1e6', patchLengths(good, N, 1e6));
await post('length-1e8', patchLengths(good, N, 1e8));
await post('length-2^53', patchLengths(good, N, 2 ** 53));
await post('length-negative', patchLengths(good, N, -5));
await post('length-less', patchLengths(good, N, 7));
for (let m = 0; m < mutations; m++) {
  const body = Buffer.from(good);
  const flips = 1 + Math.floor(rand() * 8);
  for (let k = 0; k < flips; k++) {
    const o = Math.floor(rand() * Math.min(body.length, 2048)); // the metadata lives up front
    body[o] = rand() < 0.5 ? Math.floor(rand() * 256) : body[o]! ^ (1 << Math.floor(rand() * 8));
  }
  const cut = rand() < 0.2 ? Math.floor(rand() * body.length) : body.length;
  await post(`mutation-${m}`, body.subarray(0, cut));
}
await app.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ name: 'done' }));
