// Arrow request bodies decoded as they arrive (issue 16: the server buffered whole bodies): the
// same rows whatever the chunking, the row cap and the byte limit enforced before the rest of the
// body is read, and the checks of the whole-body decoder kept (ipc-verify, nulls, columns).
import { Readable } from 'node:stream';

import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';

import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel } from '../src/model.js';
import { ArrowBodyStream, decodeArrowBody, decodeArrowBodyStream } from '../src/server/arrow-body.js';
import { createServer } from '../src/server/server.js';
import { mulberry32 } from '../src/data/random.js';

const feats = ['a', 'b', 'c'];
const pass = (v: number) => v;

/** An IPC stream of `batches` record batches of `rows` rows each (float64 columns a, b, c). */
function ipc(batches: number, rows: number, seed = 1): { bytes: Uint8Array; values: number[] } {
  const rand = mulberry32(seed);
  const values: number[] = [];
  let table = null as ReturnType<typeof tableFromArrays> | null;
  for (let b = 0; b < batches; b++) {
    const cols = { a: new Float64Array(rows), b: new Float64Array(rows), c: new Float64Array(rows) };
    for (let i = 0; i < rows; i++) {
      for (const k of ['a', 'b', 'c'] as const) cols[k][i] = Math.fround(rand() * 10 - 5);
      values.push(cols.a[i]!, cols.b[i]!, cols.c[i]!);
    }
    const t = tableFromArrays(cols);
    table = table === null ? t : table.concat(t);
  }
  return { bytes: tableToIPC(table!, 'stream'), values };
}

/** `bytes` in chunks of 1..`max` bytes, counting how many bytes were pulled. */
function chunked(bytes: Uint8Array, max: number, seed = 2) {
  const rand = mulberry32(seed);
  const state = { pulled: 0 };
  async function* gen() {
    for (let o = 0; o < bytes.length; ) {
      const n = 1 + Math.floor(rand() * max);
      const c = bytes.subarray(o, o + n);
      o += c.length;
      state.pulled = o;
      yield c;
    }
  }
  return { source: gen(), state };
}

describe('decodeArrowBodyStream', () => {
  it('decodes the same rows as the whole-body decoder, whatever the chunking', async () => {
    const { bytes, values } = ipc(4, 37);
    const whole = decodeArrowBody(bytes, feats, 1000, pass);
    expect(whole.n).toBe(148);
    expect([...whole.rows]).toEqual(values);
    for (const max of [1, 7, 64, 4096]) {
      const { source } = chunked(bytes, max, max);
      const got = await decodeArrowBodyStream(new ArrowBodyStream(source), feats, 1000, 1 << 20, pass);
      expect(got.n).toBe(148);
      expect([...got.rows]).toEqual(values);
    }
  });

  it('refuses a batch over the row cap on its header, before reading its body', async () => {
    const { bytes } = ipc(1, 50_000);
    const { source, state } = chunked(bytes, 256);
    const p = decodeArrowBodyStream(new ArrowBodyStream(source), feats, 1000, 1 << 30, pass);
    await expect(p).rejects.toMatchObject({ statusCode: 413, message: expect.stringMatching(/more than 1000/) });
    // 50,000 rows x 3 float64 columns is 1.2 MB of body: almost none of it was read.
    expect(state.pulled).toBeLessThan(4096);
    expect(bytes.length).toBeGreaterThan(1_000_000);
  });

  it('refuses a body over the byte limit as it arrives, and at once on its Content-Length', async () => {
    const { bytes } = ipc(3, 500);
    const { source, state } = chunked(bytes, 512);
    await expect(decodeArrowBodyStream(new ArrowBodyStream(source), feats, 1e6, 10_000, pass)).rejects.toMatchObject({
      statusCode: 413,
      message: 'Request body is too large',
    });
    expect(state.pulled).toBeLessThan(10_000 + 512);
    const never = chunked(bytes, 512);
    await expect(
      decodeArrowBodyStream(new ArrowBodyStream(never.source, bytes.length), feats, 1e6, 10_000, pass),
    ).rejects.toMatchObject({ statusCode: 413 });
    expect(never.state.pulled).toBe(0);
  });

  it('names a truncated stream, a missing column and an Arrow file sent as a stream', async () => {
    const { bytes } = ipc(2, 20);
    const cut = chunked(bytes.subarray(0, bytes.length - 100), 33);
    await expect(decodeArrowBodyStream(new ArrowBodyStream(cut.source), feats, 1e6, 1 << 20, pass)).rejects.toThrow(
      /not a readable Arrow IPC stream: message \d+ claims a \d+-byte body, the stream has \d+ left/,
    );
    await expect(
      decodeArrowBodyStream(new ArrowBodyStream(chunked(bytes, 50).source), ['a', 'zz'], 1e6, 1 << 20, pass),
    ).rejects.toThrow('The Arrow stream lacks feature column(s): zz');
    const file = tableToIPC(tableFromArrays({ a: new Float64Array(3) }), 'file');
    await expect(
      decodeArrowBodyStream(new ArrowBodyStream(chunked(file, 4).source), feats, 1e6, 1 << 20, pass),
    ).rejects.toThrow('The body is an Arrow IPC file');
  });
});

describe('POST /predict with an Arrow body streamed in', () => {
  const model = createModel({ features: [...DEFAULT_FEATURES], hidden: [8, 4, 8], seed: 3 });
  model.threshold = { value: 1, strategy: 'percentile', params: { q: 95 } };
  const app = createServer({ model, backend: 'cpu', log: false, arrowBodyLimit: 64 * 1024, maxArrowRows: 200 });
  afterAll(() => app.close());
  const body = (rows: number) => {
    const cols: Record<string, Float64Array> = {};
    for (const f of DEFAULT_FEATURES) cols[f] = new Float64Array(rows).fill(0.25);
    return Buffer.from(tableToIPC(tableFromArrays(cols), 'stream'));
  };
  const post = (payload: Buffer | Readable) =>
    app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'application/vnd.apache.arrow.stream' },
      payload,
    });

  it('scores a body sent in small chunks, and refuses one over the row cap or the byte limit', async () => {
    await app.fraudscore.loaded;
    const ok = await post(Readable.from(chunked(body(100), 300).source));
    expect(ok.statusCode).toBe(200);
    const tooMany = await post(body(201));
    expect(tooMany.statusCode).toBe(413);
    expect(tooMany.json().detail).toMatch(/more than 200/);
    const tooBig = await post(Readable.from(chunked(body(400), 1000).source));
    expect(tooBig.statusCode).toBe(413);
  });
});
