// Scoring throughput and latency: every engine at every batch size on the same rows and model,
// engine after engine (an engine's setup, e.g. a tfjs backend switch, happens once). Before timing,
// each engine's scores are checked against the float64 reference, so a fast but wrong engine
// cannot post a figure unnoticed.
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

async function measureEngine(run: EngineRun, engine: Engine, o: ScoringOptions, report: EngineReport): Promise<void> {
  const { data, batches, timing } = o;
  const flops = flopsPerRow(data.model);
  const d = data.model.features.length;
  // Accuracy on the largest prepared batch up to 4096 rows.
  const accBatch = [...batches].filter((b) => b <= 4096).pop() ?? batches[0]!;
  const ref = addon.referenceScore(toAddonSpec(data.model), data.rows.subarray(0, accBatch * d)).scores;
  const got = run.sync ? run.sync(accBatch) : await run.async!(accBatch);
  report.accuracy = relativeErrors(Float32Array.from(got), ref);

  for (const b of batches) {
    const syncOk = run.sync && b <= (engine.syncUpTo ?? Number.POSITIVE_INFINITY);
    const asyncOk = run.async && b >= (engine.asyncFrom ?? 1);
    if (syncOk) {
      const t = timeSync(() => run.sync!(b), timing);
      report.cells.push(cell(b, 'sync', t, flops));
      o.log?.(`  ${engine.id} sync  batch ${b}: ${fmtLine(report.cells.at(-1)!)}`);
    }
    if (asyncOk || (!syncOk && run.async)) {
      const t = await timeAsync(() => run.async!(b), timing);
      report.cells.push(cell(b, 'async', t, flops));
      o.log?.(`  ${engine.id} async batch ${b}: ${fmtLine(report.cells.at(-1)!)}`);
    }
  }
}

function fmtLine(c: ScoringCell): string {
  return `${(c.secondsPerCall * 1e6).toPrecision(4)} us/call, ${Math.round(c.rowsPerSecond).toLocaleString('en-US')} rows/s`;
}

/** [async] Measures every engine; an engine that cannot run here is reported as skipped, with why. */
export async function runScoring(o: ScoringOptions): Promise<EngineReport[]> {
  const ctx: EngineContext = { data: o.data, batches: o.batches, threads: o.threads, tmpDir: o.tmpDir };
  const reports: EngineReport[] = [];
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
    let run: EngineRun | null = null;
    try {
      const setup = await engine.create(ctx);
      if ('skip' in setup) {
        report.status = 'skipped';
        report.reason = setup.skip;
        o.log?.(`  skipped: ${setup.skip}`);
        continue;
      }
      run = setup;
      report.detail = setup.detail;
      await measureEngine(setup, engine, o, report);
    } catch (e) {
      report.status = 'failed';
      report.reason = (e as Error).message;
      o.log?.(`  FAILED: ${(e as Error).stack ?? e}`);
    } finally {
      await run?.dispose();
    }
  }
  return reports;
}
