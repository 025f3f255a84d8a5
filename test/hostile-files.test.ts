// `fraudscore score` when its output cannot be written or it is interrupted, in child processes
// (test/probes/score-cli.ts): a full disk (the temporary file pointed at /dev/full, so every write
// fails with ENOSPC without needing a tmpfs), SIGINT/SIGTERM mid-run, and the temporary file a
// SIGKILLed run left. Before the fix a full disk under .csv/.arrow was an unhandled rejection
// (a stack trace, the .partial-* file left) and a signal left the .partial-* file too.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeTable } from '../src/data/load.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel, saveModel } from '../src/model.js';
import { scoreFile } from '../src/score-file.js';
import { randomRows, testSeed } from './helpers.js';

const PROBE = resolve(import.meta.dirname, 'probes/score-cli.ts');
const FEATURES = [...DEFAULT_FEATURES];
const N = 40_000;

describe('score: full disk, signals, leftovers', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-files-'));
  const modelDir = join(dir, 'model');
  const input = join(dir, 'in.csv');
  let k = 0;

  beforeAll(async () => {
    const model = createModel({ features: FEATURES, seed, name: 'm', threshold: { value: 1.5, strategy: 't' } });
    await saveModel(model, modelDir);
    await writeTable(input, { features: FEATURES, rows: randomRows(N, FEATURES.length, seed, [28]), n: N });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const outDir = () => {
    const d = join(dir, `out-${k++}`);
    mkdirSync(d);
    return d;
  };
  const args = (output: string) => ['--model', modelDir, '--input', input, '--output', output, '--quiet'];

  it.each(['csv', 'arrow', 'arrows', 'csv.gz', 'parquet'])(
    'a full disk under .%s: exit 1, one line naming the output and ENOSPC, no file left',
    (ext) => {
      const d = outDir();
      const output = join(d, `scores.${ext}`);
      const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE, ...args(output)], {
        env: { ...process.env, PROBE_FULL: '1' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
        status: 1,
        stderr: `fraudscore score: could not write ${output}: ENOSPC: no space left on device, write; nothing was written there`,
      });
      expect(readdirSync(d)).toEqual([]);
    },
  );

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s mid-run: exit %i, says so, no file left', (signal, code) => {
    const d = outDir();
    const output = join(d, 'scores.csv');
    const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE, ...args(output), '--batch-rows', '1000'], {
      env: { ...process.env, PROBE_SIGNAL: signal },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
      status: code,
      stderr: `fraudscore score: interrupted by ${signal}; nothing was written to ${output}`,
    });
    expect(readdirSync(d)).toEqual([]);
  });

  it("removes a SIGKILLed run's temporary file on the next run into the same output, not a live one's", async () => {
    const d = outDir();
    const output = join(d, 'scores.csv');
    // A SIGKILLed run: its partial file stays (nothing can catch SIGKILL).
    const killed = spawn(process.execPath, ['--import', 'tsx', PROBE, ...args(output), '--batch-rows', '1000'], {
      env: { ...process.env, PROBE_SIGNAL: 'SIGKILL' },
    });
    await new Promise((r) => killed.on('exit', r));
    const left = readdirSync(d);
    expect(left).toEqual([`.partial-${killed.pid}-scores.csv`]);
    // A live process's temporary file (this process's parent is alive) must survive.
    const live = join(d, `.partial-${process.ppid}-scores.csv`);
    writeFileSync(live, 'in progress');
    const other = join(d, `.partial-${killed.pid}-other.csv`);
    writeFileSync(other, 'another output');
    const res = await scoreFile({ model: modelDir, input, output });
    expect(res.rows).toBe(N);
    expect(readdirSync(d).sort()).toEqual(
      [`.partial-${killed.pid}-other.csv`, `.partial-${process.ppid}-scores.csv`, 'scores.csv'].sort(),
    );
    expect(existsSync(live)).toBe(true);
  });
});
