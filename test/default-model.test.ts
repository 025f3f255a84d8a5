// The shipped default model: it loads, its artifact is complete, and it separates synthetic frauds
// (drawn from statistics fitted on the real data) from normal rows. No real data needed.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { evaluateScores } from '../src/eval/metrics.js';
import { defaultModelPath, loadModel, Scorer } from '../src/index.js';
import { synthesize } from '../src/synth/synth.js';

const dir = resolve(import.meta.dirname, '../models/default');

describe('models/default', () => {
  it('loads with its threshold, int8 weights, ONNX export and drift reference', async () => {
    const model = await loadModel(dir);
    expect(model.features).toHaveLength(29);
    expect(model.features[28]).toBe('Amount');
    expect(model.preprocessing.transform[28]).toBe('log1p');
    expect(model.threshold?.value).toBeGreaterThan(0);
    expect(model.threshold?.strategy).toMatch(/validation/);
    expect(model.quantization?.weights).toHaveLength(model.layers.length);
    for (const f of ['model.onnx', 'reference.arrow', 'MODEL_CARD.md']) expect(existsSync(resolve(dir, f))).toBe(true);
  });

  it("is reachable from an installed package: defaultModelPath and loadModel('default')", async () => {
    expect(defaultModelPath).toBe(dir);
    const [byName, byPath] = await Promise.all([loadModel('default'), loadModel(defaultModelPath)]);
    expect(byName.version).toBe(byPath.version);
    expect(byName.layers[0].weight).toEqual(byPath.layers[0].weight);
  });

  it('scores synthetic transactions in fp32 and int8 and ranks frauds above normal rows', async () => {
    const model = await loadModel(dir);
    const t = synthesize({ rows: 20_000, fraudRate: 0.02, seed: 11 });
    const fp32 = new Scorer(model, { backend: 'cpu' });
    const int8 = new Scorer(model, { backend: 'cpu', precision: 'int8' });
    const s = (await fp32.scoreAsync(t.rows)).scores;
    const q = (await int8.scoreAsync(t.rows)).scores;
    const m = evaluateScores(s, t.labels!, { threshold: model.threshold!.value });
    const mq = evaluateScores(q, t.labels!, { threshold: model.threshold!.value });
    expect(m.rocAuc).toBeGreaterThan(0.9);
    expect(Math.abs(mq.rocAuc - m.rocAuc)).toBeLessThan(0.01);
    expect(s.every(Number.isFinite)).toBe(true);
    fp32.dispose();
    int8.dispose();
  });
});
