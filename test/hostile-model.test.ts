// Model directories that are hostile or broken: model.json as a FIFO, weights pointing at
// /dev/zero or outside the directory (each loaded in a child process, so a hang or an unbounded
// read fails the test instead of hanging vitest), hand-crafted artifacts, and a mutator over
// model.json fields and the safetensors header: every failure is a ModelError naming the file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mulberry32 } from '../src/data/random.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';
import { ModelError } from '../src/errors.js';
import { createModel, loadModel, saveModel } from '../src/model.js';
import { testSeed } from './helpers.js';

const PROBE = resolve(import.meta.dirname, 'probes/load-model.ts');

function loadInChild(dir: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE, dir], {
    encoding: 'utf8',
    timeout: 30_000,
    // A read of /dev/zero that is not refused dies here instead of swapping the machine.
    env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=512' },
  });
  expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-1000) }).toMatchObject({
    status: 0,
    signal: null,
  });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    name: string;
    file?: string;
    message: string;
    ms: number;
  };
}

/** model.json and the weights, rewritten by `edit`; the weights' sha256/bytes follow so checks pass. */
function variant(
  base: string,
  to: string,
  edit: (meta: Record<string, unknown>, weights: Buffer) => Buffer | undefined | void,
) {
  rmSync(to, { recursive: true, force: true });
  cpSync(base, to, { recursive: true });
  const meta = JSON.parse(readFileSync(join(base, 'model.json'), 'utf8')) as Record<string, unknown>;
  const w = readFileSync(join(base, 'weights.safetensors'));
  const nw = edit(meta, w);
  if (nw) {
    writeFileSync(join(to, 'weights.safetensors'), nw);
    const wm = meta.weights as Record<string, unknown>;
    wm.sha256 = createHash('sha256').update(nw).digest('hex');
    wm.bytes = nw.length;
  }
  writeFileSync(join(to, 'model.json'), JSON.stringify(meta));
}

/** A safetensors file with its header replaced by `header` (any JSON text). */
function withHeader(w: Buffer, header: (h: Record<string, unknown>) => unknown): Buffer {
  const len = Number(w.readBigUInt64LE(0));
  const h = JSON.parse(w.subarray(8, 8 + len).toString('utf8')) as Record<string, unknown>;
  const text = Buffer.from(JSON.stringify(header(h)));
  const out = Buffer.alloc(8 + text.length + (w.length - 8 - len));
  out.writeBigUInt64LE(BigInt(text.length), 0);
  text.copy(out, 8);
  w.copy(out, 8 + text.length, 8 + len);
  return out;
}

describe('hostile model directories', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-hostile-model-'));
  const base = join(dir, 'base');
  let k = 0;
  const next = () => join(dir, `v${k++}`);

  beforeAll(async () => {
    await saveModel(createModel({ features: [...DEFAULT_FEATURES], seed, name: 'm' }), base);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('model.json as a FIFO: a ModelError within 1 s, not a hang', () => {
    const d = next();
    mkdirSync(d);
    expect(spawnSync('mkfifo', [join(d, 'model.json')]).status).toBe(0);
    const r = loadInChild(d);
    expect(r).toMatchObject({ name: 'ModelError', file: join(d, 'model.json') });
    expect(r.message).toBe(`${join(d, 'model.json')} is a FIFO, expected a regular file`);
    expect(r.ms).toBeLessThan(1000);
  });

  it('weights.file "/dev/zero", an absolute path or ../: refused before reading, naming the field', () => {
    for (const file of ['/dev/zero', join(base, 'weights.safetensors'), '../base/weights.safetensors']) {
      const d = next();
      variant(base, d, (meta) => {
        (meta.weights as Record<string, unknown>).file = file;
      });
      const r = loadInChild(d);
      expect(r.name, file).toBe('ModelError');
      expect(r.message).toBe(
        `${join(d, 'model.json')}: weights.file is ${JSON.stringify(file)}, expected a file inside the model directory ${d}`,
      );
      expect(r.ms).toBeLessThan(1000);
    }
  });

  it('weights.safetensors a symlink to /dev/zero: a ModelError within 1 s', () => {
    const d = next();
    variant(base, d, () => {});
    rmSync(join(d, 'weights.safetensors'));
    spawnSync('ln', ['-s', '/dev/zero', join(d, 'weights.safetensors')]);
    const r = loadInChild(d);
    expect(r.message).toBe(`${join(d, 'weights.safetensors')} is a character device, expected a regular file`);
    expect(r.ms).toBeLessThan(1000);
  });

  const crafted: [string, (m: Record<string, unknown>, w: Buffer) => Buffer | void, RegExp][] = [
    ['model.json = null', () => {}, /model\.json must hold a JSON object, got null$/],
    [
      'formatVersion "1"',
      (m) => {
        m.formatVersion = '1';
      },
      /model\.json: formatVersion must be the number 1, got the string "1"$/,
    ],
    [
      'duplicate feature names',
      (m) => {
        (m.features as string[])[1] = (m.features as string[])[0]!;
      },
      /model\.json: features\[1\] repeats the name "V1"$/,
    ],
    [
      'a non-string feature name',
      (m) => {
        (m.features as unknown[])[2] = 7;
      },
      /model\.json: features\[2\] must be a non-empty string, got 7$/,
    ],
    [
      'safetensors header null',
      (_m, w) => withHeader(w, () => null),
      /weights\.safetensors is corrupted: its header must be a JSON object, got null$/,
    ],
    [
      'data_offsets: 5',
      (_m, w) =>
        withHeader(w, (h) => ({ ...h, 'layers.0.weight': { ...(h['layers.0.weight'] as object), data_offsets: 5 } })),
      /weights\.safetensors: tensor layers\.0\.weight data_offsets must be \[begin, end\] integers, got 5$/,
    ],
    [
      'shape: "abc"',
      (_m, w) => withHeader(w, (h) => ({ ...h, 'layers.0.bias': { ...(h['layers.0.bias'] as object), shape: 'abc' } })),
      /weights\.safetensors: tensor layers\.0\.bias shape must be an array of non-negative integers, got "abc"$/,
    ],
  ];
  it.each(crafted)('%s: a ModelError naming the file and field', async (_name, edit, want) => {
    const d = next();
    variant(base, d, edit);
    if (_name === 'model.json = null') writeFileSync(join(d, 'model.json'), 'null');
    const err = await loadModel(d).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(want);
    expect((err as ModelError).file?.startsWith(d)).toBe(true);
  });

  it('mutator: 300 random edits of model.json fields and the safetensors header never give anything but a ModelError naming a file', async () => {
    const rand = mulberry32(seed);
    const junk = () =>
      [null, 'abc', -1, 0, 1e308, 2 ** 53, [], {}, [1, 2], { a: 1 }, true, '', 'x'.repeat(1000), [null]][
        Math.floor(rand() * 14)
      ];
    /** Replaces one random value somewhere inside `v` (an object or array) by junk. */
    const mutate = (v: unknown): unknown => {
      if (typeof v !== 'object' || v === null || rand() < 0.25) return junk();
      const keys = Object.keys(v);
      if (keys.length === 0) return junk();
      const key = keys[Math.floor(rand() * keys.length)]!;
      const copy = (Array.isArray(v) ? [...v] : { ...v }) as Record<string, unknown>;
      copy[key] = mutate(copy[key]);
      return copy;
    };
    let loaded = 0;
    for (let m = 0; m < 300; m++) {
      const d = join(dir, 'mut');
      const inHeader = rand() < 0.5;
      variant(base, d, (meta, w) => {
        if (inHeader) return withHeader(w, (h) => mutate(h));
        Object.assign(meta, mutate(meta));
      });
      try {
        await loadModel(d);
        loaded++;
      } catch (e) {
        expect(e, `mutation ${m}: ${(e as Error).message}`).toBeInstanceOf(ModelError);
        // The file is model.json, the weights or whatever weights.file names: always inside the directory.
        expect((e as ModelError).file?.startsWith(d), `mutation ${m}: ${(e as Error).message}`).toBe(true);
        expect((e as Error).message.startsWith(d), `mutation ${m}: ${(e as Error).message}`).toBe(true);
      }
    }
    // The mutations must mostly break something, or the test tests nothing.
    expect(loaded).toBeLessThan(150);
  });
});
