// Smoke test of the benchmark harness (bench/): its helpers run on a tiny configuration and give
// finite figures, its TS baseline computes the real scores, and its target logic says PASS, MISS
// and SKIP where it should. No timing is asserted: speed is for `npm run bench`, not for tests.
import { describe, expect, it } from 'vitest';

import { runBench } from '../bench/lib/bench.js';
import { parseArgs, USAGE, UsageError } from '../bench/lib/config.js';
import { makeTsScorer } from '../bench/lib/engines/ts-loop.js';
import { cpuFamily } from '../bench/lib/machine.js';
import { evaluateTargets, formatMarkdown, formatResult, primaryCell } from '../bench/lib/report.js';
import type { EngineReport, ScoringCell } from '../bench/lib/scoring.js';
import { relativeErrors } from '../bench/lib/scoring.js';
import { median, timeAsync, timeSync } from '../bench/lib/timing.js';
import { createModel, toAddonSpec } from '../src/model.js';
import { addon } from '../src/native.js';
import { maxRelErr, randomRows, testSeed } from './helpers.js';

const seed = testSeed();
const tiny = { warmupSeconds: 0, sampleSeconds: 0.002, samples: 3, minSamples: 2, budgetSeconds: 0.05 };

describe('bench options', () => {
  it('defaults to every section and the five batch sizes', () => {
    const c = parseArgs([], 2);
    if (c === 'help') throw new Error('unexpected help');
    expect(c.sections).toEqual(['scoring', 'training', 'files', 'gflops', 'stream', 'startup']);
    expect(c.batches).toEqual([1, 16, 256, 4096, 65536]);
    expect(c.fileRows).toBe(1_000_000);
    expect(c.dataRows).toBeGreaterThanOrEqual(65536);
  });

  it('reads --only, --quick, --engines and --batches', () => {
    const c = parseArgs(
      ['--only', 'scoring,gflops', '--quick', '--engines=native-fp32,ts-loop', '--batches', '16,1'],
      2,
    );
    if (c === 'help') throw new Error('unexpected help');
    expect(c.sections).toEqual(['scoring', 'gflops']);
    expect(c.quick).toBe(true);
    expect(c.engines.map((e) => e.id)).toEqual(['native-fp32', 'ts-loop']);
    expect(c.batches).toEqual([1, 16]);
    expect(c.fileRows).toBe(100_000);
  });

  it('names the bad option', () => {
    expect(() => parseArgs(['--only', 'scoring,speed'], 2)).toThrow(
      new UsageError("--only: unknown 'speed' (expected scoring, training, files, gflops, stream, startup)"),
    );
    expect(() => parseArgs(['--fast'], 2)).toThrow(new UsageError("unknown option '--fast'"));
    expect(() => parseArgs(['--batches', '0'], 2)).toThrow(/--batches needs a positive integer/);
    expect(() => parseArgs(['--out'], 2)).toThrow(new UsageError('--out needs a value'));
    expect(() => parseArgs(['--engines', '--quick'], 2)).toThrow(new UsageError('--engines needs a value'));
    expect(parseArgs(['--help'], 2)).toBe('help');
    expect(USAGE).toContain('--only');
  });
});

describe('bench helpers', () => {
  it('timing loops give finite, positive per-call times', async () => {
    let x = 0;
    const s = timeSync(() => {
      x += Math.sqrt(x + 1);
    }, tiny);
    expect(s.medianSeconds).toBeGreaterThan(0);
    expect(Number.isFinite(s.medianSeconds)).toBe(true);
    expect(s.samples).toBeGreaterThanOrEqual(2);
    const a = await timeAsync(() => Promise.resolve(x), tiny);
    expect(a.medianSeconds).toBeGreaterThan(0);
    expect(a.minSeconds).toBeLessThanOrEqual(a.maxSeconds);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('relativeErrors floors the denominator and sees NaN as infinitely wrong', () => {
    const r = relativeErrors([1.1, 0.0005, Number.NaN], [1, 0, 2]);
    expect(r.maxRelErr).toBe(Number.POSITIVE_INFINITY);
    expect(r.medianRelErr).toBeCloseTo(0.5, 6); // |0.0005 - 0| / 1e-3
  });

  it('the plain TypeScript baseline computes the same scores as the float64 reference', () => {
    const features = [...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount'];
    const model = createModel({ features, hidden: [32, 16, 32], seed });
    model.preprocessing.transform[28] = 'log1p';
    model.preprocessing.mean[28] = 3;
    model.preprocessing.std = features.map((_, j) => 0.5 + (j % 4) * 0.25);
    const rows = randomRows(37, 29, seed, [28]);
    const got = makeTsScorer(model)(rows, 37, new Float32Array(37));
    const want = addon.referenceScore(toAddonSpec(model), rows).scores;
    expect(maxRelErr(got, want)).toBeLessThan(1e-6);
  });
});

describe('targets', () => {
  const cell = (batch: number, mode: 'sync' | 'async', rowsPerSecond: number): ScoringCell => ({
    batch,
    mode,
    secondsPerCall: batch / rowsPerSecond,
    minSecondsPerCall: batch / rowsPerSecond,
    maxSecondsPerCall: batch / rowsPerSecond,
    rowsPerSecond,
    gflops: (rowsPerSecond * 5760) / 1e9,
    callsPerSample: 1,
    samples: 3,
  });
  const engine = (id: string, cells: ScoringCell[], status: EngineReport['status'] = 'ok'): EngineReport => ({
    id,
    label: id,
    precision: 'fp32',
    status,
    reason: status === 'ok' ? undefined : 'not built',
    detail: {},
    cells,
  });

  it('prefers the sync call up to batch 256 and the async call above', () => {
    const e = engine('native-fp32', [
      cell(256, 'sync', 3e6),
      cell(256, 'async', 2e6),
      cell(4096, 'sync', 9e6),
      cell(4096, 'async', 5e6),
    ]);
    expect(primaryCell(e, 256)?.mode).toBe('sync');
    expect(primaryCell(e, 4096)?.mode).toBe('async');
  });

  it('says PASS, MISS or SKIP with the figures', () => {
    const scoring = [
      engine('native-fp32', [cell(1, 'sync', 1e6), cell(256, 'sync', 2e6), cell(65536, 'async', 3e6)]),
      engine('ort-fp32', [cell(1, 'async', 1.5e5), cell(256, 'async', 1e6), cell(65536, 'async', 1e6)]),
      engine('native-int8', [], 'skipped'),
    ];
    const t = Object.fromEntries(evaluateTargets(scoring).map((x) => [x.id, x]));
    expect(t['fp32-vs-ort-65536']).toMatchObject({ status: 'PASS', value: 3 });
    expect(t['fp32-vs-ort-256']).toMatchObject({ status: 'MISS', value: 2 });
    expect(t['fp32-batch1-latency']).toMatchObject({ status: 'PASS' });
    expect(t['fp32-batch1-latency']!.value).toBeCloseTo(1, 9);
    expect(t['fp32-vs-ort-1']).toMatchObject({ status: 'MISS' });
    expect(t['int8-vs-fp32-65536']).toMatchObject({ status: 'SKIP', value: null });
    expect(t['int8-vs-fp32-65536']!.detail).toContain('native-int8 skipped: not built');
    expect(t['int8-vs-ort-int8-65536']!.detail).toContain('ort-int8 not run');
    expect(t['int8-batch1-vs-fp32']).toMatchObject({ status: 'SKIP', value: null });
    expect(t['fp32-peak-65536']).toMatchObject({ status: 'SKIP', value: null });
    expect(t['fp32-peak-65536']!.detail).toContain('peak was not measured');
  });

  it('checks int8 against fp32 (1.8x, batch-1 latency) and fp32 against the peak of the same run', () => {
    // cell(batch, mode, rowsPerSecond): at batch 65,536, 3e6 rows/s of the 2,880-MAC model.
    const scoring = [
      engine('native-fp32', [cell(1, 'sync', 1e6), cell(65536, 'async', 3e6)]),
      engine('native-int8', [cell(1, 'sync', 0.5e6), cell(65536, 'async', 5.7e6)]),
    ];
    const fp32 = primaryCell(scoring[0], 65536)!;
    const peakAt = (share: number) => ({
      seconds: 1,
      singleThread: 1,
      allThreads: fp32.gflops / share,
      threads: 2,
      simd: 'avx512',
      allThreadsSamples: [],
    });
    let t = Object.fromEntries(evaluateTargets(scoring, peakAt(0.7)).map((x) => [x.id, x]));
    expect(t['int8-vs-fp32-65536']).toMatchObject({ status: 'PASS', value: 1.9 });
    expect(t['int8-batch1-vs-fp32']).toMatchObject({ status: 'MISS', value: 2 });
    expect(t['fp32-peak-65536']!.status).toBe('PASS');
    expect(t['fp32-peak-65536']!.value).toBeCloseTo(70, 6);
    t = Object.fromEntries(evaluateTargets(scoring, peakAt(0.5)).map((x) => [x.id, x]));
    expect(t['fp32-peak-65536']!.status).toBe('MISS');
    scoring[1] = engine('native-int8', [cell(1, 'sync', 2e6), cell(65536, 'async', 5.1e6)]);
    t = Object.fromEntries(evaluateTargets(scoring).map((x) => [x.id, x]));
    expect(t['int8-vs-fp32-65536']).toMatchObject({ status: 'MISS', value: 1.7 });
    expect(t['int8-batch1-vs-fp32']).toMatchObject({ status: 'PASS', value: 0.5 });
  });

  it('names the CPU family, by features for Intel (VMs hide the model) and by CPUID family for AMD', () => {
    const info = (vendor: string, family: number, model: number, flags: string) =>
      `processor\t: 0\nvendor_id\t: ${vendor}\ncpu family\t: ${family}\nmodel\t\t: ${model}\nflags\t\t: ${flags}\n\nprocessor\t: 1\n`;
    expect(cpuFamily(info('GenuineIntel', 6, 167, 'fpu avx2 avx512f avx512_vnni amx_tile amx_int8'))).toEqual({
      vendor: 'GenuineIntel',
      family: 6,
      model: 167,
      label: 'Intel Sapphire Rapids+ (AVX-512, AMX)',
    });
    expect(cpuFamily(info('AuthenticAMD', 25, 17, 'avx2 avx512f avx512_vnni')).label).toBe('AMD Zen 4');
    expect(cpuFamily(info('AuthenticAMD', 25, 33, 'avx2')).label).toBe('AMD Zen 3');
    expect(cpuFamily(info('GenuineIntel', 6, 85, 'avx2 avx512f')).label).toBe('Intel AVX-512 (Skylake-SP)');
    expect(cpuFamily('').label).toBe('unknown');
  });
});

describe('runBench on a tiny configuration', () => {
  it('produces finite figures for every section', async () => {
    const c = parseArgs(
      ['--quick', '--engines', 'native-fp32,tfjs-cpu,ts-loop', '--batches', '1,16', '--trainers', 'native,tfjs-cpu'],
      2,
    );
    if (c === 'help') throw new Error('unexpected help');
    Object.assign(c, {
      timing: tiny,
      dataRows: 4096,
      nativeTrainRows: 1024,
      tfjsTrainRows: 512,
      trainEpochs: 1,
      fileRows: 3000,
      fileFormats: ['csv'],
      peakSeconds: 0.02,
      threads: 1,
    });
    const r = await runBench(c, 'test');
    const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

    expect(r.scoring?.map((e) => [e.id, e.status, e.reason])).toEqual([
      ['native-fp32', 'ok', undefined],
      ['tfjs-cpu', 'ok', undefined],
      ['ts-loop', 'ok', undefined],
    ]);
    for (const e of r.scoring!) {
      expect(e.cells.length).toBeGreaterThanOrEqual(2);
      for (const x of e.cells) {
        expect(
          finite(x.rowsPerSecond) && finite(x.secondsPerCall) && finite(x.gflops),
          `${e.id} ${x.mode} ${x.batch}`,
        ).toBe(true);
      }
      // Every engine computes the model's scores (float32 engines within float32 rounding).
      expect(e.accuracy!.maxRelErr, e.id).toBeLessThan(1e-4);
    }
    expect(r.ratios?.find((x) => x.batch === 16)?.nativeVsTs).toSatisfy(finite);

    expect(r.training?.reports.map((t) => [t.id, t.status, t.reason])).toEqual([
      ['native', 'ok', undefined],
      ['tfjs-cpu', 'ok', undefined],
    ]);
    for (const t of r.training!.reports) expect(t.rowsPerSecond).toSatisfy(finite);

    expect(r.files).toHaveLength(1);
    expect(r.files![0]).toMatchObject({ format: 'csv', status: 'ok', rows: 3000 });
    expect(r.files![0]!.rowsPerSecond).toSatisfy(finite);
    expect(r.files![0]!.peakRssMiB).toSatisfy(finite);

    expect(r.peak?.allThreads).toSatisfy(finite);
    expect(r.machine.cores).toBeGreaterThan(0);
    if (process.platform === 'linux') {
      const share = r.machine.contention.scoring?.othersShare;
      expect(share !== undefined && share >= 0 && share <= 1, `othersShare ${share}`).toBe(true);
    }

    const text = formatResult(r);
    expect(text).toContain('fraudscore fp32');
    expect(text).toContain('plain TypeScript loop');
    expect(text).toMatch(/SKIP\s+fraudscore int8 vs fraudscore fp32/);
    expect(formatMarkdown(r)).toContain('| fraudscore fp32 | sync |');
    expect(() => JSON.parse(JSON.stringify(r))).not.toThrow();
  });
});
