// The model artifact: round trips, and a clear error for every way a file can be wrong.
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createModel, loadModel, type Model, ModelError, saveModel, Scorer } from '../src/index.js';
import { decodeSafetensors } from '../src/safetensors.js';
import { randomRows, testSeed } from './helpers.js';

const seed = testSeed();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fraudscore-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function savedCopy(name: string, model?: Model): Promise<string> {
  const d = join(dir, name);
  await saveModel(model ?? createModel({ features: 5, hidden: [4, 3, 4], seed }), d);
  return d;
}

describe('createModel', () => {
  it('is deterministic for a seed and validates its arguments', () => {
    const a = createModel({ features: 7, seed: 3 });
    const b = createModel({ features: 7, seed: 3 });
    const c = createModel({ features: 7, seed: 4 });
    expect(a.layers[0]!.weight).toEqual(b.layers[0]!.weight);
    expect(a.layers[0]!.weight).not.toEqual(c.layers[0]!.weight);
    expect(a.layers.map((l) => [l.in, l.out])).toEqual([
      [7, 32],
      [32, 16],
      [16, 32],
      [32, 7],
    ]);
    expect(() => createModel({ features: 0 })).toThrow('Expected `features` to name at least one feature');
    expect(() => createModel({ features: ['a', 'a'] })).toThrow('distinct');
    expect(() => createModel({ features: 3, hidden: [4, 0] })).toThrow(
      'Expected `hidden[1]` to be a positive integer, got 0',
    );
  });
});

describe('saveModel / loadModel', () => {
  it('round-trips weights, preprocessing, threshold and metadata, and scores identically', async () => {
    const m = createModel({ features: ['V1', 'V2', 'Amount'], hidden: [8, 2, 8], seed, name: 'rt' });
    m.preprocessing = { transform: ['none', 'none', 'log1p'], mean: [0.5, -1, 3], std: [1.5, 2, 0.7] };
    m.threshold = { value: 0.42, strategy: 'max-f1', params: { split: 'validation' } };
    const d = await savedCopy('rt', m);
    const back = await loadModel(d);
    expect(back.features).toEqual(m.features);
    expect(back.preprocessing).toEqual(m.preprocessing);
    expect(back.threshold).toEqual(m.threshold);
    expect(back.layers.map((l) => l.weight)).toEqual(m.layers.map((l) => l.weight));
    const rows = randomRows(50, 3, seed, [2]);
    expect(new Scorer(back, { backend: 'cpu' }).score(rows)).toEqual(new Scorer(m, { backend: 'cpu' }).score(rows));
    const json = JSON.parse(await readFile(join(d, 'model.json'), 'utf8'));
    expect(json.layerSizes).toEqual([3, 8, 2, 8, 3]);
    expect(json.weights.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('writes standard safetensors (8-byte aligned data, PyTorch layout names)', async () => {
    const d = await savedCopy('st');
    const buf = await readFile(join(d, 'weights.safetensors'));
    const headerLen = Number(buf.readBigUInt64LE(0));
    expect((8 + headerLen) % 8).toBe(0);
    const { tensors } = decodeSafetensors(buf);
    expect(tensors['layers.0.weight']!.shape).toEqual([4, 5]);
    expect(tensors['layers.3.bias']!.dtype).toBe('F32');
  });

  it('names a missing directory or file', async () => {
    await expect(loadModel(join(dir, 'nope'))).rejects.toThrow(
      /model\.json not found: is .*nope a fraudscore model directory/,
    );
    const d = await savedCopy('missing-w');
    await rm(join(d, 'weights.safetensors'));
    await expect(loadModel(d)).rejects.toThrow(/weights\.safetensors: not found/);
  });

  it('detects truncated and corrupted weights', async () => {
    const d = await savedCopy('trunc');
    const w = join(d, 'weights.safetensors');
    await truncate(w, 100);
    await expect(loadModel(d)).rejects.toThrow(/weights\.safetensors is truncated or was replaced: 100 bytes/);
    const d2 = await savedCopy('corrupt');
    const w2 = join(d2, 'weights.safetensors');
    const buf = await readFile(w2);
    buf[buf.length - 3] ^= 0xff;
    await writeFile(w2, buf);
    await expect(loadModel(d2)).rejects.toThrow(/weights\.safetensors is corrupted: sha256/);
    const err = await loadModel(d2).catch((e) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err.code).toBe('ERR_FRAUDSCORE_MODEL');
  });

  it('rejects a truncated model.json, a wrong format version and mismatched shapes', async () => {
    const d = await savedCopy('json');
    const p = join(d, 'model.json');
    const text = await readFile(p, 'utf8');
    await writeFile(p, text.slice(0, text.length / 2));
    await expect(loadModel(d)).rejects.toThrow(/model\.json is not valid JSON \(truncated or corrupted\?\)/);
    const j = JSON.parse(text);
    await writeFile(p, JSON.stringify({ ...j, formatVersion: 99 }));
    await expect(loadModel(d)).rejects.toThrow('format version 99 is not supported (this fraudscore reads version 1)');
    await writeFile(p, JSON.stringify({ ...j, layerSizes: [5, 6, 3, 4, 5] }));
    await expect(loadModel(d)).rejects.toThrow(/layers\.0\.weight has shape \[4,5\] F32, expected \[6,5\] F32/);
    await writeFile(p, JSON.stringify({ ...j, features: ['a', 'b'] }));
    await expect(loadModel(d)).rejects.toThrow(/preprocessing\.transform must have 2 entries/);
  });

  it('rejects non-finite weights and bad preprocessing on save and load', async () => {
    const m = createModel({ features: 4, seed });
    m.layers[1]!.weight[5] = Number.NaN;
    await expect(saveModel(m, join(dir, 'nan'))).rejects.toThrow('layers[1].weight[5] is not finite (NaN)');
    const m2 = createModel({ features: 4, seed });
    m2.preprocessing.std[2] = 0;
    await expect(saveModel(m2, join(dir, 'std'))).rejects.toThrow(
      'preprocessing.std[2] (f2) must be finite and > 0, got 0',
    );
  });
});
