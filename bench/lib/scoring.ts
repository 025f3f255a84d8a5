// Scoring throughput and latency: every engine at every batch size on the same rows and model.
// Before timing, each engine's scores are checked against the float64 reference, so a fast but
// wrong engine cannot post a figure unnoticed.
import { flopsPerRow, toAddonSpec } from '../../src/model.js';
import { addon } from '../../src/native.js';
import type { BenchData } from './data.js';
import type { Engine, EngineContext, EngineRun } from './engines/types.js';
import { type Timing, type TimingOptions, timeAsync, timeSync } from './timing.js';

export interface ScoringCell {
  batch: number;
  mode: 'sync' | 'async';
  /** Median seconds per call. */
  secondsPerCall: number;
  /** Fastest and slowest sample, seconds per call. */
  minSecondsPerCall: number;
  maxSecondsPerCall: number;
  rowsPerSecond: number;
  gflops: number;
  callsPerSample: number;
  samples: number;
}

export interface Accuracy {
  rows: number;
  /** Relative error per row against the float64 reference of the fp32 model, denominator floored at 1e-3. */
  medianRelErr: number;
  maxRelErr: number;
}

export interface EngineReport {
  id: string;
  label: string;
  precision: Engine['precision'];
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  reason?: string;
  detail: Record<string, unknown>;
  accuracy?: Accuracy;
  cells: ScoringCell[];
}

export interface ScoringOptions {
  data: BenchData;
  engines: readonly Engine[];
  batches: readonly number[];
  timing: TimingOptions;
  threads: number;
  tmpDir: string;
  /** Called with a line of progress (stderr in the CLI). */
  log?: (line: string) => void;
}

/** Relative errors of `got` against `want` (denominator floored at 1e-3, as the tests do). */
export function relativeErrors(got: ArrayLike<number>, want: ArrayLike<number>): Accuracy {
  if (got.length !== want.length) throw new RangeError(`Expected ${want.length} scores, got ${got.length}`);
  const errs = new Float64Array(want.length);
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), 1e-3);
    errs[i] = Number.isNaN(e) ? Number.POSITIVE_INFINITY : e;
  }
  errs.sort();
  return { rows: want.length, medianRelErr: errs[errs.length >> 1] ?? 0, maxRelErr: errs[errs.length - 1] ?? 0 };
}

function cell(batch: number, mode: 'sync' | 'async', t: Timing, flops: number): ScoringCell {
  const rowsPerSecond = batch / t.medianSeconds;
  return {
    batch,
    mode,
    secondsPerCall: t.medianSeconds,
    minSecondsPerCall: t.minSeconds,
    maxSecondsPerCall: t.maxSeconds,
    rowsPerSecond,
    gflops: (rowsPerSecond * flops) / 1e9,
    callsPerSample: t.callsPerSample,
    samples: t.samples,
  };
}

/** Scores the first rows with the engine and compares them with the float64 reference. */
async function checkAccuracy(run: EngineRun, o: ScoringOptions, refs: Map<number, Float64Array>): Promise<Accuracy> {
  const d = o.data.model.features.length;
  // The largest prepared batch up to 4,096 rows.
  const b = [...o.batches].filter((x) => x <= 4096).pop() ?? o.batches[0]!;
  let ref = refs.get(b);
  if (!ref) {
    ref = addon.referenceScore(toAddonSpec(o.data.model), o.data.rows.subarray(0, b * d)).scores;
    refs.set(b, ref);
  }
  await run.activate?.();
  const got = run.sync ? run.sync(b) : await run.async!(b);
  return relativeErrors(Float32Array.from(got), ref);
}

/** Times one engine at one batch size: its sync call, its async call, or both. */
async function measureCell(
  run: EngineRun,
  engine: Engine,
  b: number,
  o: ScoringOptions,
  report: EngineReport,
): Promise<void> {
  const flops = flopsPerRow(o.data.model);
  const syncOk = run.sync !== undefined && b <= (engine.syncUpTo ?? Number.POSITIVE_INFINITY);
  const asyncOk = run.async !== undefined && (b >= (engine.asyncFrom ?? 1) || !syncOk);
  await run.activate?.();
  if (syncOk) {
    report.cells.push(
      cell(
        b,
        'sync',
        timeSync(() => run.sync!(b), o.timing),
        flops,
      ),
    );
    o.log?.(`  ${engine.id} sync  batch ${b}: ${fmtLine(report.cells.at(-1)!)}`);
  }
  if (asyncOk) {
    report.cells.push(cell(b, 'async', await timeAsync(() => run.async!(b), o.timing), flops));
    o.log?.(`  ${engine.id} async batch ${b}: ${fmtLine(report.cells.at(-1)!)}`);
  }
}

function fmtLine(c: ScoringCell): string {
  return `${(c.secondsPerCall * 1e6).toPrecision(4)} us/call, ${Math.round(c.rowsPerSecond).toLocaleString('en-US')} rows/s`;
}

function fail(report: EngineReport, e: unknown, o: ScoringOptions): void {
  report.status = 'failed';
  report.reason = (e as Error).message;
  o.log?.(`  ${report.id} FAILED: ${(e as Error).stack ?? e}`);
}

/**
 * [async] Measures every engine; an engine that cannot run here is reported as skipped, with why.
 * All engines are built first, then measured batch size by batch size, engine after engine within
 * a batch: the figures a ratio compares are taken seconds apart, so a burst of other work on this
 * shared machine is less likely to land on one side of a comparison only.
 */
export async function runScoring(o: ScoringOptions): Promise<EngineReport[]> {
  const ctx: EngineContext = { data: o.data, batches: o.batches, threads: o.threads, tmpDir: o.tmpDir };
  const reports: EngineReport[] = [];
  const live: { engine: Engine; run: EngineRun; report: EngineReport }[] = [];
  const refs = new Map<number, Float64Array>();
  try {
    for (const engine of o.engines) {
      const report: EngineReport = {
        id: engine.id,
        label: engine.label,
        precision: engine.precision,
        status: 'ok',
        detail: {},
        cells: [],
      };
      reports.push(report);
      o.log?.(`scoring: ${engine.label}`);
      try {
        const setup = await engine.create(ctx);
        if ('skip' in setup) {
          report.status = 'skipped';
          report.reason = setup.skip;
          o.log?.(`  skipped: ${setup.skip}`);
          continue;
        }
        report.detail = setup.detail;
        live.push({ engine, run: setup, report });
        report.accuracy = await checkAccuracy(setup, o, refs);
      } catch (e) {
        fail(report, e, o);
      }
    }
    for (const b of o.batches) {
      for (const { engine, run, report } of live) {
        if (report.status !== 'ok') continue;
        try {
          await measureCell(run, engine, b, o, report);
        } catch (e) {
          fail(report, e, o);
        }
      }
    }
  } finally {
    for (const { run } of live) await run.dispose();
  }
  return reports;
}
