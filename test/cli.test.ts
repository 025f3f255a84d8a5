// The CLI in-process: help, usage errors (exit 2), user errors (exit 1, message without stack),
// and the synth -> evaluate -> score -> info chain on a model built in code.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli-helpers.js';
import { loadTable } from '../src/data/load.js';
import { createModel, loadModel, saveModel, Scorer } from '../src/index.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';

let dir: string;
let out: string[];
let err: string[];

async function run(...argv: string[]): Promise<number> {
  let code: number;
  ({ code, out, err } = await runCli(argv));
  return code;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fraudscore-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fraudscore CLI', () => {
  it('lists commands and prints help for each', async () => {
    expect(await run('--help')).toBe(0);
    for (const c of ['score', 'info', 'export-onnx', 'evaluate', 'synth']) expect(out.join('\n')).toContain(`  ${c}`);
    for (const c of ['score', 'info', 'evaluate', 'synth']) {
      expect(await run(c, '--help')).toBe(0);
      expect(out.join('\n')).toMatch(new RegExp(`^Usage: fraudscore ${c} `));
    }
  });

  it('exits 2 on usage errors, naming the problem', async () => {
    expect(await run('nope')).toBe(2);
    expect(err[0]).toContain("unknown command 'nope'");
    expect(await run('score', '--model')).toBe(2);
    expect(await run('score', '--input', 'x.csv')).toBe(2);
    expect(err[0]).toBe('fraudscore score: missing required option --model');
    expect(await run('info', '--bogus')).toBe(2);
    expect(err[0]).toContain("Unknown option '--bogus'");
    expect(err[0]).not.toContain('Did you mean');
    // Typos get the closest command or flag.
    expect(await run('trian')).toBe(2);
    expect(err[0]).toContain("unknown command 'trian'. Did you mean 'train'?");
    expect(await run('score', '--modle', 'm', '--input', 'x.csv')).toBe(2);
    expect(err[0]).toContain("Unknown option '--modle'. Did you mean --model?");
    expect(await run('synth', '--rows', '10', '--output', join(dir, 'x.txt'))).toBe(2);
    expect(err[0]).toContain('Cannot tell the format of');
  });

  it('names a missing input file and what to check, not a raw errno message', async () => {
    const m = join(dir, 'm-missing-input');
    await saveModel(createModel({ features: [...DEFAULT_FEATURES], hidden: [8, 4, 8], seed: 3 }), m);
    const input = join(dir, 'no-such-input.csv');
    expect(await run('score', '--model', m, '--input', input, '--output', join(dir, 'o.csv'))).toBe(1);
    expect(err.join('\n')).toContain(`cannot open ${input}: no such file or directory (check the path`);
    expect(err.join('\n')).not.toContain('ENOENT:');
  });

  it('exits 130 when Ctrl-C (SIGINT) cancels train', async () => {
    const data = join(dir, 'sigint.arrow');
    expect(await run('synth', '--rows', '50000', '--fraud-rate', '0.01', '--seed', '4', '--output', data)).toBe(0);
    // The command's own SIGINT handler runs (process.emit does not kill the test process).
    const timer = setInterval(() => process.emit('SIGINT'), 100);
    try {
      const code = await run(
        'train',
        `data.path=${data}`,
        'training.epochs=500',
        `output.runs_dir=${join(dir, 'sigint-runs')}`,
      );
      expect(code).toBe(130);
    } finally {
      clearInterval(timer);
    }
    expect(err.join('\n')).toContain('fraudscore train: cancelled by SIGINT');
  });

  it("takes --model default (the shipped model), as the help's examples do", async () => {
    expect(await run('info', '--model', 'default')).toBe(0);
    expect(out.join('\n')).toContain('V1');
    expect(await run('score', '--help')).toBe(0);
    expect(out.join('\n')).toContain('--model default');
  });

  it('exits 1 with a one-line message for a missing model', async () => {
    expect(await run('info', '--model', join(dir, 'missing'))).toBe(1);
    expect(err[0]).toMatch(/model\.json not found/);
    expect(err[0]).not.toContain('    at ');
  });

  it('runs synth -> evaluate -> score -> info', async () => {
    const data = join(dir, 'synth.csv.gz');
    expect(await run('synth', '--rows', '20000', '--fraud-rate', '0.02', '--seed', '5', '--output', data)).toBe(0);
    const table = await loadTable(data);
    expect(table.n).toBe(20000);
    expect(table.labels!.reduce((a, b) => a + b, 0)).toBe(400);

    const model = createModel({ features: [...DEFAULT_FEATURES], seed: 1 });
    model.preprocessing.transform[28] = 'log1p';
    model.preprocessing.mean[28] = 3;
    const scores = new Scorer(model, { backend: 'cpu' }).score(table.rows);
    const sorted = Float32Array.from(scores).sort();
    model.threshold = { value: sorted[Math.floor(sorted.length * 0.9)]!, strategy: 'percentile' };
    const modelDir = join(dir, 'model');
    await saveModel(model, modelDir);

    const report = join(dir, 'report');
    expect(await run('evaluate', '--model', modelDir, '--data', data, '--output', report, '--json')).toBe(0);
    const metrics = JSON.parse(out.join('\n'));
    expect(metrics.n).toBe(20000);
    expect(metrics.positives).toBe(400);
    expect(metrics.rocAuc).toBeGreaterThan(0);
    expect(existsSync(join(report, 'report.html'))).toBe(true);
    // A random model cannot reach a ROC-AUC of 1: the CI gate fails it.
    expect(await run('evaluate', '--model', modelDir, '--data', data, '--min-roc-auc', '0.9999')).toBe(1);

    const scored = join(dir, 'scores.csv');
    expect(await run('score', '--model', modelDir, '--input', data, '--output', scored, '--quiet')).toBe(0);
    const lines = (await readFile(scored, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('score,is_fraud');
    expect(lines).toHaveLength(20001);
    expect(Math.fround(Number(lines[1]!.split(',')[0]))).toBe(scores[0]);

    expect(await run('info', '--model', modelDir)).toBe(0);
    expect(out.join('\n')).toContain('29 -> 32 -> 16 -> 32 -> 29');
    expect(await run('info', '--model', modelDir, '--json')).toBe(0);
    expect(JSON.parse(out.join('\n')).layerSizes).toEqual([29, 32, 16, 32, 29]);
  });

  it('quantizes a model from calibration rows, and scores with --precision int8', async () => {
    const data = join(dir, 'calib.csv.gz');
    expect(await run('synth', '--rows', '6000', '--fraud-rate', '0.01', '--seed', '9', '--output', data)).toBe(0);
    const table = await loadTable(data);
    const model = createModel({ features: [...DEFAULT_FEATURES], seed: 2 });
    model.preprocessing.transform[28] = 'log1p';
    model.preprocessing.mean[28] = 3;
    model.threshold = { value: 5, strategy: 'fixed' };
    const fp32Dir = join(dir, 'q-fp32');
    await saveModel(model, fp32Dir);
    await writeFile(join(fp32Dir, 'MODEL_CARD.md'), 'card\n');
    const int8Dir = join(dir, 'q-int8');
    expect(
      await run('quantize', '--model', fp32Dir, '--calibration', data, '--out', int8Dir, '--max-rows', '4000'),
    ).toBe(0);
    const log = err.join('\n');
    expect(log).toContain(`calibration: 4000 rows of ${data}`);
    expect(log).toMatch(/decisions agree on \d+\.\d+%; \d+\.\d+% rescored in fp32/);
    const q = await loadModel(int8Dir);
    expect(q.quantization).toMatchObject({ activations: 'static', outOfRange: 'fp32' });
    expect(q.quantization!.calibration).toMatchObject({ percentile: 99.95, rows: 4000 });
    expect(existsSync(join(int8Dir, 'MODEL_CARD.md'))).toBe(true);
    // The fp32 weights are kept; the int8 engine scores the file.
    expect(q.layers[0]!.weight).toEqual(model.layers[0]!.weight);
    const scored = join(dir, 'q-scores.csv');
    expect(
      await run('score', '--model', int8Dir, '--input', data, '--output', scored, '--precision', 'int8', '--quiet'),
    ).toBe(0);
    // The fraud rows leave the range a normal-row calibration sets; the summary counts the rescored rows.
    expect(err.join('\n')).toMatch(/; \d+ rows \(\d+\.\d+%\) beyond the int8 range, scored in fp32 -> /);
    const lines = (await readFile(scored, 'utf8')).trim().split('\n');
    const int8 = new Scorer(q, { backend: 'cpu', precision: 'int8' });
    expect(Math.fround(Number(lines[1]!.split(',')[0]))).toBe(int8.score(table.rows.subarray(0, 29))[0]);
    int8.dispose();
    expect(await run('info', '--model', int8Dir)).toBe(0);
    expect(out.join('\n')).toContain('static activations, out of range: fp32');
    // Dynamic needs no calibration; pruning in place and bad flags are usage errors.
    expect(await run('quantize', '--model', int8Dir, '--activations', 'dynamic')).toBe(0);
    expect((await loadModel(int8Dir)).quantization!.activations).toBe('dynamic');
    expect(await run('quantize', '--model', int8Dir, '--calibration', data, '--prune', '0.2')).toBe(2);
    expect(err[0]).toContain('--prune changes the fp32 weights');
    expect(await run('quantize', '--model', int8Dir)).toBe(2);
    expect(err[0]).toContain('missing required option --calibration');
    expect(await run('quantize', '--model', int8Dir, '--calibration', data, '--out-of-range', 'wrap')).toBe(2);
    expect(err[0]).toContain("--out-of-range must be fp32 or clamp, got 'wrap'");
  });

  it('runs the pipeline end to end on synthetic data and rejects a bad override', async () => {
    const runs = join(dir, 'runs');
    const code = await run(
      'pipeline',
      '--rows',
      '20000',
      '--fraud-rate',
      '0.02',
      'training.epochs=4',
      `output.runs_dir=${runs}`,
    );
    expect(err.join('\n')).toContain('3/3 evaluate');
    expect(code).toBe(0);
    const report = out.find((l) => l.startsWith('report: '))!.slice('report: '.length);
    expect(existsSync(report)).toBe(true);
    expect(out.join('\n')).toMatch(/test: ROC-AUC 0\.\d+/);
    expect(await run('train', 'training.learning_rate=0.1')).toBe(1);
    expect(err[0]).toMatch(/training\.learning_rate/);
  });
});
