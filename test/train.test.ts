// Training: the native Trainer binding (argument checks with exact messages, async epochs that leave
// the event loop free, cancellation, determinism across thread counts) and the train() pipeline on a
// synthetic file (run directory, early stopping keeping the best weights, abort), plus the quality
// target on the real sample when it is present.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { mulberry32 } from '../src/data/random.js';
import { createModel, loadModel, toAddonSpec } from '../src/model.js';
import { addon } from '../src/native.js';
import { cudaStatus, Scorer } from '../src/scorer.js';
import { applyOverrides, DEFAULT_CONFIG, loadConfig, type TrainConfig } from '../src/train/config.js';
import { type EpochRecord, train } from '../src/train/train.js';
import { realDataPath, testSeed } from './helpers.js';

const Trainer = addon.Trainer;

/** Rows near a rank-3 subspace of R^d (what an autoencoder can learn), frauds off it. */
function lowRankData(n: number, d: number, fraudRate: number, seed: number) {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const A = Array.from({ length: d * 3 }, gauss);
  const rows = new Float32Array(n * d);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const fraud = rand() < fraudRate;
    labels[i] = fraud ? 1 : 0;
    const z = [gauss(), gauss(), gauss()];
    for (let j = 0; j < d; j++) {
      const clean = A[j * 3]! * z[0]! + A[j * 3 + 1]! * z[1]! + A[j * 3 + 2]! * z[2]!;
      rows[i * d + j] = 5 + 2 * clean + (fraud ? 3 * gauss() : 0.1 * gauss());
    }
  }
  return { rows, labels };
}

async function writeCsv(path: string, rows: Float32Array, labels: Uint8Array, d: number): Promise<void> {
  const names = Array.from({ length: d }, (_, j) => `f${j}`);
  const lines = [[...names, 'Class'].join(',')];
  for (let i = 0; i < labels.length; i++) {
    lines.push([...Array.from(rows.subarray(i * d, i * d + d), (x) => String(x)), String(labels[i])].join(','));
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

function smallSpec(d: number, hidden: number[], seed: number) {
  return toAddonSpec(createModel({ features: d, hidden, seed }));
}

describe('native Trainer binding', () => {
  const d = 6;
  const spec = smallSpec(d, [8, 3, 8], 1);

  it('checks its arguments with messages naming them', async () => {
    expect(() => new Trainer(spec, { lr: -1 })).toThrow('Expected `options.lr` to be a number in (0, 1000], got -1');
    expect(() => new Trainer(spec, { dropout: 1 })).toThrow(
      'Expected `options.dropout` to be a number in [0, 1), got 1',
    );
    expect(() => new Trainer(spec, { batchSize: 2.5 })).toThrow(
      'Expected `options.batchSize` to be an integer in [1, 16777216], got 2.5',
    );
    expect(() => new Trainer(spec, { seed: 'x' as unknown as number })).toThrow(
      'Expected `options.seed` to be an integer, got string',
    );
    expect(() => new Trainer({ ...spec, features: 5 })).toThrow(/Expected `model` to be valid, but/);
    const t = new Trainer(spec, { seed: 3 });
    await expect(async () => t.trainEpoch([1, 2, 3] as unknown as Float32Array)).rejects.toThrow(
      'Expected `rows` to be a Float32Array, got Array',
    );
    await expect(async () => t.trainEpoch(new Float32Array(7))).rejects.toThrow(
      'Expected `rows` to be a Float32Array of n*6 values, got 7 values',
    );
    await expect(async () => t.evalLoss(new Float32Array(0))).rejects.toThrow(
      'Expected `rows` to hold at least one row, got 0 values',
    );
    expect(() => t.setWeights(smallSpec(d, [8, 4, 8], 2).layers)).toThrow(
      /Expected `model` to be valid, but layers\[1\]\.out|Expected `layers` to be valid, but/,
    );
    const rows = new Float32Array(d * 10).fill(1);
    rows[4 * d + 2] = Number.NaN;
    await expect(t.trainEpoch(rows)).rejects.toMatchObject({
      code: 'ERR_FRAUDSCORE_NON_FINITE',
      row: 4,
      column: 2,
      message: 'Expected `rows` to hold finite values after preprocessing, got a non-finite value at row 4, column 2',
    });
    expect(t.steps).toBe(0);
    t.dispose();
    t.dispose();
    expect(() => t.getWeights()).toThrow('Expected `trainer` to be usable, got a disposed trainer');
  });

  it('trains off the event loop, one call at a time, and can be cancelled', async () => {
    const n = 300000; // an epoch of tens of milliseconds: longer than a timer turn
    const { rows } = lowRankData(n, d, 0, testSeed());
    const t = new Trainer(spec, { batchSize: 32, threads: 1, seed: 5 });
    let settled = false;
    let pendingAtFirstTick: boolean | null = null;
    const timer = setInterval(() => {
      pendingAtFirstTick ??= !settled;
    }, 1);
    const p = t.trainEpoch(rows).finally(() => {
      settled = true;
    });
    expect(() => t.getWeights()).toThrow(/Expected `trainer` to be idle for getWeights\(\)/);
    await expect(async () => t.evalLoss(rows)).rejects.toThrow(/to be idle for evalLoss\(\)/);
    const r = await p;
    clearInterval(timer);
    expect(r).toMatchObject({ rows: n, batches: Math.ceil(n / 32), cancelled: false });
    expect(Number.isFinite(r.loss)).toBe(true);
    // A timer fired while the epoch was still running: the event loop was not blocked.
    expect(pendingAtFirstTick).toBe(true);
    // cancel() stops the epoch in flight after its current minibatch.
    const q = t.trainEpoch(rows);
    t.cancel();
    const c = await q;
    expect(c.cancelled).toBe(true);
    expect(c.rows).toBeLessThan(n);
    expect(c.rows % 32).toBe(0);
    // A later epoch is not affected by the earlier cancel().
    expect((await t.trainEpoch(rows.subarray(0, d * 100))).cancelled).toBe(false);
    // dispose() during an epoch stops it; the epoch still settles.
    const last = t.trainEpoch(rows);
    t.dispose();
    expect((await last).cancelled).toBe(true);
    expect(() => t.steps).toThrow('Expected `trainer` to be usable, got a disposed trainer');
  });

  it('gives the same weights for the same seed on any thread count, and learns', async () => {
    const { rows } = lowRankData(5000, d, 0, testSeed());
    const run = async (threads: number, seed: number) => {
      const t = new Trainer(spec, { batchSize: 100, threads, seed, dropout: 0.1, weightDecay: 1e-4, lr: 0.003 });
      const before = await t.evalLoss(rows);
      for (let e = 0; e < 3; e++) await t.trainEpoch(rows);
      const after = await t.evalLoss(rows);
      const w = t.getWeights();
      t.dispose();
      return { w, before, after };
    };
    const a = await run(1, 9);
    const b = await run(2, 9);
    const c = await run(2, 10);
    expect(b.w).toEqual(a.w);
    expect(c.w).not.toEqual(a.w);
    expect(a.after).toBeLessThan(0.5 * a.before);
  });

  it('evalLoss is the mean score, and setWeights restores a snapshot', async () => {
    const model = createModel({ features: d, hidden: [8, 3, 8], seed: 4 });
    const { rows } = lowRankData(700, d, 0, testSeed());
    const t = new Trainer(toAddonSpec(model), { seed: 1, batchSize: 64 });
    const snapshot = t.getWeights();
    const scorer = new Scorer(model, { backend: 'cpu' });
    const scores = scorer.score(rows);
    scorer.dispose();
    const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
    expect(await t.evalLoss(rows)).toBeCloseTo(mean, 5);
    await t.trainEpoch(rows);
    expect(t.getWeights()).not.toEqual(snapshot);
    t.setWeights(snapshot);
    expect(t.getWeights()).toEqual(snapshot);
    expect(t.steps).toBe(Math.ceil(700 / 64));
    t.dispose();
  });
});

describe('train()', () => {
  const d = 8;

  async function fixture(seed: number) {
    const dir = await mkdtemp(join(tmpdir(), 'fs-train-'));
    const { rows, labels } = lowRankData(6000, d, 0.03, seed);
    const path = join(dir, 'data.csv');
    await writeCsv(path, rows, labels, d);
    const cfg: TrainConfig = applyOverrides(structuredClone(DEFAULT_CONFIG), [
      `data.path=${path}`,
      `data.features=[${Array.from({ length: d }, (_, j) => `f${j}`).join(',')}]`,
      'data.log1p=[]',
      'data.normal_weight=1',
      'model.hidden=[16,4,16]',
      'training.batch_size=128',
      'training.epochs=40',
      'training.patience=3',
      'training.threads=2',
      `output.runs_dir=${join(dir, 'runs')}`,
      'output.name=test-run',
    ]);
    return { dir, path, cfg };
  }

  it('writes a complete run directory and keeps the best epoch', async () => {
    const { path, cfg } = await fixture(testSeed());
    const seen: EpochRecord[] = [];
    const r = await train(cfg, { onEpoch: (e) => seen.push(e) });
    expect(seen).toEqual(r.history);
    expect(r.runDir).toMatch(/runs\/\d{8}T\d{6}Z-test-run$/);
    const runDir = r.runDir as string;

    // Early stopping: the best epoch has the lowest validation loss, and a stop came `patience`
    // epochs after it.
    const losses = r.history.map((h) => h.valLoss);
    expect(r.history[r.bestEpoch - 1]!.valLoss).toBe(Math.min(...losses));
    if (r.stoppedEarly) {
      expect(r.history.length).toBe(r.bestEpoch + 3);
      expect(r.history.slice(-3).every((h) => !h.best)).toBe(true);
    } else {
      expect(r.history.length).toBe(40);
    }
    expect(losses[losses.length - 1]!).toBeLessThan(r.history[0]!.trainLoss);

    // The model holds the best epoch's weights: its mean score on the validation normal rows is
    // that epoch's validation loss (re-derived here from the same split).
    const { loadTable } = await import('../src/data/load.js');
    const { splitTable } = await import('../src/data/split.js');
    const { rowsWithLabel } = await import('../src/data/table.js');
    const table = await loadTable(path, { features: cfg.data.features });
    const valNormal = rowsWithLabel(
      splitTable(table, { ratios: cfg.data.split.ratios, seed: cfg.data.split.seed }).validation,
      0,
    );
    const scorer = new Scorer(r.model, { backend: 'cpu' });
    const s = scorer.score(valNormal.rows);
    scorer.dispose();
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    expect(mean).toBeCloseTo(r.history[r.bestEpoch - 1]!.valLoss, 5);

    // Off-manifold frauds are easy: the pipeline must find them.
    expect(r.test.rocAuc).toBeGreaterThan(0.95);
    expect(r.model.threshold?.value).toBeGreaterThan(0);
    expect(r.model.threshold?.strategy).toBe('max-f1 on the validation split');

    const run = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
    const sha = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
    expect(run).toMatchObject({ status: 'completed', name: 'test-run', bestEpoch: r.bestEpoch, data: { sha256: sha } });
    expect(r.model.provenance.dataFingerprint).toBe(sha);
    const lines = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(JSON.parse(JSON.stringify(r.history)));
    expect(await loadConfig(join(runDir, 'config.yaml'))).toEqual(cfg);
    const saved = await loadModel(join(runDir, 'model'));
    expect(saved.layers).toEqual(r.model.layers);
    expect(saved.threshold?.value).toBe(r.model.threshold?.value);
    expect(saved.preprocessing).toEqual(r.model.preprocessing);
    const ev = JSON.parse(await readFile(join(runDir, 'eval.json'), 'utf8'));
    expect(ev.test.auprc).toBeCloseTo(r.test.auprc, 12);
  });

  it('fits preprocessing on the training split normal rows only', async () => {
    const { path, cfg } = await fixture(testSeed());
    const r = await train({ ...cfg, training: { ...cfg.training, epochs: 1 } }, { noRunDir: true });
    const { loadTable } = await import('../src/data/load.js');
    const { splitTable } = await import('../src/data/split.js');
    const { rowsWithLabel } = await import('../src/data/table.js');
    const { fitPreprocessing } = await import('../src/data/preprocess.js');
    const table = await loadTable(path, { features: cfg.data.features });
    const split = splitTable(table, { ratios: cfg.data.split.ratios, seed: cfg.data.split.seed });
    expect(r.model.preprocessing).toEqual(fitPreprocessing(rowsWithLabel(split.train, 0), { log1p: [] }));
    expect(r.runDir).toBeNull();
  });

  it('is cancellable: rejects with the reason and removes the run directory (kept and marked on request)', async () => {
    const { cfg } = await fixture(testSeed());
    const ac = new AbortController();
    const reason = new Error('stop now');
    const before: string[] = await readdir(cfg.output.runs_dir).catch(() => []);
    const gone = train(
      { ...cfg, training: { ...cfg.training, patience: 0 } },
      { signal: ac.signal, onEpoch: (e) => e.epoch === 2 && ac.abort(reason) },
    );
    await expect(gone).rejects.toBe(reason);
    expect(await readdir(cfg.output.runs_dir)).toEqual(before);
    const ac2 = new AbortController();
    const p = train(
      { ...cfg, training: { ...cfg.training, patience: 0 } },
      { signal: ac2.signal, keepFailedRun: true, onEpoch: (e) => e.epoch === 2 && ac2.abort(reason) },
    );
    await expect(p).rejects.toBe(reason);
    const runs = (await readdir(cfg.output.runs_dir)).filter((r) => !before.includes(r));
    const runDir = join(cfg.output.runs_dir, runs[0]!);
    expect(JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')).status).toBe('cancelled');
    expect((await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
    await expect(train(cfg, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  // The CUDA path of train(): same splits, shuffles and batches as the CPU, steps on the device.
  // Without dropout the two runs differ only by float rounding, so their curves agree closely.
  it.runIf(cudaStatus().available)("backend 'cuda' trains like the CPU (GPU)", async () => {
    const { cfg } = await fixture(testSeed());
    const short = applyOverrides(cfg, ['training.epochs=3', 'training.patience=0', 'model.dropout=0']);
    const cpu = await train(short, { noRunDir: true });
    const gpu = await train(applyOverrides(short, ['training.backend=cuda']), { noRunDir: true });
    expect(gpu.history).toHaveLength(3);
    for (let e = 0; e < 3; e++) {
      const a = cpu.history[e]!;
      const b = gpu.history[e]!;
      expect(Math.abs(b.trainLoss - a.trainLoss) / a.trainLoss, `epoch ${e + 1} train`).toBeLessThan(1e-3);
      expect(Math.abs(b.valLoss - a.valLoss) / a.valLoss, `epoch ${e + 1} validation`).toBeLessThan(1e-3);
    }
    expect(Math.abs(gpu.test.rocAuc - cpu.test.rocAuc)).toBeLessThan(0.01);
  });

  it('names what is wrong with unusable data or options', async () => {
    const { dir, cfg } = await fixture(testSeed());
    const unlabeled = join(dir, 'nolabels.csv');
    await writeFile(unlabeled, 'f0,f1\n1,2\n3,4\n');
    await expect(
      train(applyOverrides(cfg, [`data.path=${unlabeled}`, 'data.features=[f0,f1]']), { noRunDir: true }),
    ).rejects.toThrow(/has no Class column/);
    if (!cudaStatus().available) {
      await expect(train(applyOverrides(cfg, ['training.backend=cuda']))).rejects.toThrow(
        /Config key "training.backend" is 'cuda', but CUDA is not available: \S/,
      );
      await expect(readdir(cfg.output.runs_dir)).rejects.toThrow(/ENOENT/); // failed before any run dir
    }
    await expect(train(applyOverrides(cfg, ['output.name=a/b']))).rejects.toThrow(/Expected `output.name` to use only/);
    await expect(train({ ...cfg, training: { ...cfg.training, lr: -1 } }, { noRunDir: true })).rejects.toThrow(
      /Config key "training.lr" \(from train\(\) config\) must be a number in \(0, 1000\], got -1/,
    );
  });
});

describe.skipIf(!realDataPath())('default config on the real sample', () => {
  it('meets the quality targets on the test split (weighted AUPRC >= 0.55, ROC-AUC >= 0.95)', async () => {
    const cfg = applyOverrides(await loadConfig(join(import.meta.dirname, '../configs/default.yaml')), [
      `data.path=${realDataPath()}`,
    ]);
    const r = await train(cfg, { noRunDir: true });
    console.log(
      `default config: test AUPRC ${r.test.auprc.toFixed(4)}, ROC-AUC ${r.test.rocAuc.toFixed(4)} (best epoch ${r.bestEpoch})`,
    );
    expect(r.test.auprc).toBeGreaterThanOrEqual(0.55);
    expect(r.test.rocAuc).toBeGreaterThanOrEqual(0.95);
  }, 120_000);
});
