// CLI input/output and cleanup (issue 16): `-` for stdin/stdout in score, format flags and the
// messages for an extension it cannot read, no temporary file or run directory left by a failure,
// and progress as plain lines when stderr is not a terminal. One test per error case.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli-helpers.js';
import { createProgress } from '../src/cli/progress.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel, saveModel, Scorer } from '../src/index.js';

const root = resolve(import.meta.dirname, '..');
let dir: string;
let modelDir: string;
let err: string[];
const header = `Time,${DEFAULT_FEATURES.join(',')},Class`;
const csvRow = (k: number) => `${k},${DEFAULT_FEATURES.map((_, j) => ((j * 7 + k) % 11) / 10).join(',')},0`;

async function run(...argv: string[]): Promise<number> {
  let code: number;
  ({ code, err } = await runCli(argv));
  return code;
}

/** The CLI in a child process (stdin, stdout and stderr are pipes there). */
function child(args: string[], stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      { cwd: root, maxBuffer: 1 << 24 },
      (e, stdout, stderr) => done({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    p.stdin!.end(stdin);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fraudscore-cli-io-'));
  modelDir = join(dir, 'model');
  const model = createModel({ features: [...DEFAULT_FEATURES], hidden: [8, 4, 8], seed: 7 });
  model.threshold = { value: 0.5, strategy: 'percentile', params: { q: 95 } };
  await saveModel(model, modelDir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fraudscore score with - (stdin/stdout)', () => {
  it('reads CSV on stdin and writes score,is_fraud CSV on stdout, the summary on stderr', async () => {
    const lines = [header, ...Array.from({ length: 300 }, (_, k) => csvRow(k))];
    const r = await child(['score', '--model', modelDir, '--input', '-', '--output', '-'], `${lines.join('\n')}\n`);
    expect(r.stderr).toContain('scored 300 rows');
    expect(r.code).toBe(0);
    const got = r.stdout.trim().split('\n');
    expect(got[0]).toBe('score,is_fraud');
    expect(got).toHaveLength(301);
    // The same scores as the in-process Scorer on the same rows.
    const rows = new Float32Array(300 * 29);
    for (let k = 0; k < 300; k++) for (let j = 0; j < 29; j++) rows[k * 29 + j] = ((j * 7 + k) % 11) / 10;
    const { loadModel } = await import('../src/model.js');
    const want = new Scorer(await loadModel(modelDir), { backend: 'cpu' }).score(rows);
    expect(got.slice(1).map((l) => Math.fround(Number(l.split(',')[0])))).toEqual([...want]);
  });

  it('names stdin, the line and the column of a bad cell, and exits 1', async () => {
    const bad = [header, csvRow(0), csvRow(1).replace(/^1,0/, '1,abc')].join('\n');
    const r = await child(['score', '--model', modelDir, '--input', '-', '--output', '-'], `${bad}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('stdin:3 column "V1"');
  });

  it('exits 2 for - with a non-CSV format', async () => {
    expect(await run('score', '--model', modelDir, '--input', '-', '--input-format', 'arrow', '--output', '-')).toBe(2);
    expect(err[0]).toContain('--input - reads CSV only');
    expect(await run('score', '--model', modelDir, '--input', '-', '--output', '-', '--output-format', 'parquet')).toBe(
      2,
    );
    expect(err[0]).toContain('--output - writes CSV only');
  });
});

describe('fraudscore score formats and cleanup', () => {
  it('a bad output extension names the output and --output-format, and leaves no file', async () => {
    const input = join(dir, 'in.csv');
    await writeFile(input, `${header}\n${csvRow(1)}\n`);
    const sub = join(dir, 'bad-ext');
    await rm(sub, { recursive: true, force: true });
    await import('node:fs/promises').then((f) => f.mkdir(sub));
    const output = join(sub, 's.xlsx');
    expect(await run('score', '--model', modelDir, '--input', input, '--output', output)).toBe(2);
    expect(err[0]).toContain(`Cannot tell the format of "${output}"`);
    expect(err[0]).toContain('--output-format csv|arrow|parquet');
    expect(err[0]).not.toContain('.partial-');
    expect(err[0]).not.toContain('`format`');
    expect(await readdir(sub)).toEqual([]);
  });

  it('--output-format writes that format whatever the extension', async () => {
    const input = join(dir, 'in2.csv');
    await writeFile(input, `${header}\n${csvRow(1)}\n${csvRow(2)}\n`);
    const output = join(dir, 'scores.out');
    expect(
      await run('score', '--model', modelDir, '--input', input, '--output', output, '--output-format', 'csv'),
    ).toBe(0);
    expect((await readFile(output, 'utf8')).split('\n')[0]).toBe('score,is_fraud');
  });

  it('exits 2 for an unknown --output-format and for an input extension it cannot read', async () => {
    const input = join(dir, 'in.csv');
    expect(
      await run(
        'score',
        '--model',
        modelDir,
        '--input',
        input,
        '--output',
        join(dir, 'o.csv'),
        '--output-format',
        'xlsx',
      ),
    ).toBe(2);
    expect(err[0]).toContain("--output-format must be csv, arrow or parquet, got 'xlsx'");
    expect(
      await run('score', '--model', modelDir, '--input', join(dir, 'in.xlsx'), '--output', join(dir, 'o.csv')),
    ).toBe(2);
    expect(err[0]).toContain('--input-format csv|arrow|parquet');
  });

  it('a bad cell in the input leaves neither the output nor a temporary file', async () => {
    const sub = await mkdtemp(join(dir, 'bad-cell-'));
    const input = join(sub, 'in.csv');
    await writeFile(input, `${header}\n${csvRow(1)}\n${csvRow(2).replace(/^2,0/, '2,x')}\n`);
    expect(await run('score', '--model', modelDir, '--input', input, '--output', join(sub, 'o.arrow'))).toBe(1);
    expect(err.join('\n')).toContain(`${input}:3 column "V1"`);
    expect(await readdir(sub)).toEqual(['in.csv']);
  });
});

describe('fraudscore train cleanup', () => {
  it('a failed train (bad data) exits 1 and leaves no run directory', async () => {
    const data = join(dir, 'train-bad.csv');
    await writeFile(data, `${header}\n${csvRow(1)}\n${csvRow(2).replace(/^2,0/, '2,oops')}\n`);
    const runs = join(dir, 'failed-runs');
    expect(await run('train', `data.path=${data}`, `output.runs_dir=${runs}`, '--quiet')).toBe(1);
    expect(err.join('\n')).toContain(`${data}:3 column "V1"`);
    expect(await readdir(runs).catch(() => [])).toEqual([]);
  });

  it('a cancelled train (SIGINT) exits 130 and leaves no run directory', async () => {
    const data = join(dir, 'sigint.arrow');
    expect(await run('synth', '--rows', '20000', '--fraud-rate', '0.01', '--seed', '4', '--output', data)).toBe(0);
    const runs = join(dir, 'sigint-runs');
    const timer = setInterval(() => process.emit('SIGINT'), 100);
    try {
      expect(await run('train', `data.path=${data}`, 'training.epochs=500', `output.runs_dir=${runs}`)).toBe(130);
    } finally {
      clearInterval(timer);
    }
    expect(await readdir(runs)).toEqual([]);
  });
});

describe('progress', () => {
  it('draws a bar with a percentage and an ETA on a terminal, the status alone when the total is unknown', async () => {
    const { PassThrough } = await import('node:stream');
    const tty = Object.assign(new PassThrough(), {
      isTTY: true,
      columns: 120,
      cursorTo: (_x: number, _y?: unknown, cb?: () => void) => {
        cb?.();
        return true;
      },
      clearLine: () => true,
      moveCursor: () => true,
      clearScreenDown: () => true,
      getWindowSize: () => [120, 40],
    });
    let text = '';
    tty.on('data', (b: Buffer) => {
      text += b.toString();
    });
    const bar = createProgress('train', { stream: tty as unknown as NodeJS.WriteStream });
    bar.update(5, 10, 'epoch 5/10');
    bar.stop();
    expect(text).toMatch(/train \[=+-+\] 50% \| ETA \S+ \| epoch 5\/10/);
    text = '';
    const rows = createProgress('score', { stream: tty as unknown as NodeJS.WriteStream });
    rows.update(1000, 0, '1,000 rows');
    rows.stop();
    expect(text).toContain('score | 1,000 rows');
    expect(text).not.toContain('%');
  });

  it('writes plain lines with a percentage and an ETA when the stream is not a terminal', () => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const p = createProgress('score', { stream });
    p.update(50, 200, '1,000 rows');
    p.update(60, 200, 'throttled: a few seconds between lines');
    p.stop();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^score: 25% 1,000 rows, ETA \d+ s\n$/);
    const quiet: string[] = [];
    createProgress('score', {
      quiet: true,
      stream: { isTTY: false, write: (s: string) => quiet.push(s) } as never,
    }).update(1, 2, 'x');
    expect(quiet).toEqual([]);
  });
});
