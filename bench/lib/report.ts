// The result of one run (written as JSON) and its text form (one table, then the targets). Every
// ratio compares figures from the same run: the machine is shared, so figures from different runs
// are not comparable, but two engines measured minutes apart in one quiet-enough run are.
import type { FileReport } from './files.js';
import type { StartupReport } from './startup.js';
import type { StreamReport } from './stream.js';
import type { PeakReport } from './gflops.js';
import type { MachineInfo } from './machine.js';
import type { Accuracy, EngineReport, ScoringCell } from './scoring.js';
import type { TimingOptions } from './timing.js';
import type { PYTORCH_BASELINE, TrainingReport } from './training.js';

export const RESULT_FORMAT_VERSION = 1;

export interface TargetResult {
  id: string;
  /** What is compared, in words. */
  what: string;
  /** The bound, e.g. '>= 1.5x' or '<= 2 us'. */
  want: string;
  value: number | null;
  status: 'PASS' | 'MISS' | 'SKIP';
  /** The figures the value came from, or why it was skipped. */
  detail: string;
}

export interface RatioRow {
  batch: number;
  /** fraudscore fp32 / onnxruntime fp32 rows/s (null when either is missing). */
  nativeVsOrt: number | null;
  /** fraudscore fp32 / onnxruntime fp32 on the graph without log1p (log1p applied to its rows beforehand). */
  nativeVsOrtNoLog1p: number | null;
  /** fraudscore int8 / onnxruntime int8. */
  int8VsOrtInt8: number | null;
  /** fraudscore int8 / fraudscore fp32. */
  int8VsFp32: number | null;
  /** fraudscore fp32 / plain TypeScript. */
  nativeVsTs: number | null;
}

export interface BenchResult {
  formatVersion: number;
  date: string;
  command: string;
  quick: boolean;
  sections: string[];
  machine: MachineInfo;
  model: { layerSizes: number[]; flopsPerRow: number; data: string; rows: number };
  timing: TimingOptions;
  peak?: PeakReport;
  scoring?: EngineReport[];
  ratios?: RatioRow[];
  training?: { reports: TrainingReport[]; pytorch: typeof PYTORCH_BASELINE };
  files?: FileReport[];
  stream?: StreamReport;
  startup?: StartupReport;
  targets: TargetResult[];
  notes: string[];
}

// ---- picking figures ---------------------------------------------------------------------------

/**
 * The figure that counts for an engine at a batch: the sync call up to 256 rows (what a service
 * scoring one request calls), the async call above (what a batch job calls); whichever exists
 * otherwise.
 */
export function primaryCell(r: EngineReport | undefined, batch: number): ScoringCell | undefined {
  if (r?.status !== 'ok') return undefined;
  const at = r.cells.filter((c) => c.batch === batch);
  const prefer = batch <= 256 ? 'sync' : 'async';
  return at.find((c) => c.mode === prefer) ?? at[0];
}

function ratio(a: ScoringCell | undefined, b: ScoringCell | undefined): number | null {
  return a && b ? a.rowsPerSecond / b.rowsPerSecond : null;
}

export function computeRatios(scoring: EngineReport[], batches: readonly number[]): RatioRow[] {
  const get = (id: string) => scoring.find((r) => r.id === id);
  const [fp32, int8, ort, ortInt8, ts, ortNoLog] = [
    'native-fp32',
    'native-int8',
    'ort-fp32',
    'ort-int8',
    'ts-loop',
    'ort-fp32-nolog1p',
  ].map(get);
  return batches.map((b) => ({
    batch: b,
    nativeVsOrt: ratio(primaryCell(fp32, b), primaryCell(ort, b)),
    nativeVsOrtNoLog1p: ratio(primaryCell(fp32, b), primaryCell(ortNoLog, b)),
    int8VsOrtInt8: ratio(primaryCell(int8, b), primaryCell(ortInt8, b)),
    int8VsFp32: ratio(primaryCell(int8, b), primaryCell(fp32, b)),
    nativeVsTs: ratio(primaryCell(fp32, b), primaryCell(ts, b)),
  }));
}

function why(scoring: EngineReport[], ids: string[], batch: number): string {
  const parts = ids.map((id) => {
    const r = scoring.find((x) => x.id === id);
    if (!r) return `${id} not run`;
    if (r.status !== 'ok') return `${id} ${r.status}: ${r.reason}`;
    return primaryCell(r, batch) ? '' : `${id} not measured at batch ${batch}`;
  });
  return parts.filter(Boolean).join('; ');
}

/** The issue's targets, each PASS, MISS or SKIP (with the reason). */
export function evaluateTargets(scoring: EngineReport[], peak?: PeakReport): TargetResult[] {
  const get = (id: string) => scoring.find((r) => r.id === id);
  const targets: TargetResult[] = [];
  const ratioTarget = (id: string, what: string, a: string, b: string, batch: number, min: number) => {
    const ca = primaryCell(get(a), batch);
    const cb = primaryCell(get(b), batch);
    const value = ratio(ca, cb);
    targets.push({
      id,
      what,
      want: `>= ${min}x`,
      value,
      status: value === null ? 'SKIP' : value >= min ? 'PASS' : 'MISS',
      detail:
        value === null
          ? why(scoring, [a, b], batch)
          : `${fmtRate(ca!.rowsPerSecond)} (${ca!.mode}) vs ${fmtRate(cb!.rowsPerSecond)} (${cb!.mode}) rows/s`,
    });
  };
  ratioTarget(
    'fp32-vs-ort-65536',
    'fraudscore fp32 vs onnxruntime fp32, batch 65,536',
    'native-fp32',
    'ort-fp32',
    65536,
    1.5,
  );
  ratioTarget('fp32-vs-ort-256', 'fraudscore fp32 vs onnxruntime fp32, batch 256', 'native-fp32', 'ort-fp32', 256, 3);
  const b1 = get('native-fp32')?.cells.find((c) => c.batch === 1 && c.mode === 'sync');
  targets.push({
    id: 'fp32-batch1-latency',
    what: 'fraudscore fp32 sync call, batch 1',
    want: '<= 2 us',
    value: b1 ? b1.secondsPerCall * 1e6 : null,
    status: b1 ? (b1.secondsPerCall <= 2e-6 ? 'PASS' : 'MISS') : 'SKIP',
    detail: b1 ? `${fmtTime(b1.secondsPerCall)} per call (median)` : why(scoring, ['native-fp32'], 1),
  });
  ratioTarget('fp32-vs-ort-1', 'fraudscore fp32 (sync) vs onnxruntime fp32, batch 1', 'native-fp32', 'ort-fp32', 1, 10);
  const ratioTargetsBefore = targets.length;
  ratioTarget(
    'int8-vs-fp32-65536',
    'fraudscore int8 vs fraudscore fp32, batch 65,536',
    'native-int8',
    'native-fp32',
    65536,
    1.8,
  );
  ratioTarget(
    'int8-vs-ort-int8-65536',
    'fraudscore int8 vs onnxruntime int8, batch 65,536',
    'native-int8',
    'ort-int8',
    65536,
    2,
  );
  // int8's batch-1 sync call must cost no more than fp32's (a latency-bound service would otherwise
  // pay for int8's accuracy loss with nothing back).
  const i1 = get('native-int8')?.cells.find((c) => c.batch === 1 && c.mode === 'sync');
  targets.push({
    id: 'int8-batch1-vs-fp32',
    what: 'fraudscore int8 sync call vs fp32 sync call, batch 1',
    want: '<= 1x',
    value: i1 && b1 ? i1.secondsPerCall / b1.secondsPerCall : null,
    status: i1 && b1 ? (i1.secondsPerCall <= b1.secondsPerCall ? 'PASS' : 'MISS') : 'SKIP',
    detail:
      i1 && b1
        ? `${fmtTime(i1.secondsPerCall)} vs ${fmtTime(b1.secondsPerCall)} per call (median)`
        : why(scoring, ['native-int8', 'native-fp32'], 1),
  });
  // fp32 against the FMA peak measured in the same run (both on all threads, both wall clock, so
  // a busy machine lowers both).
  const big = primaryCell(get('native-fp32'), 65536);
  targets.push({
    id: 'fp32-peak-65536',
    what: 'fraudscore fp32 at batch 65,536, share of the measured FMA peak',
    want: '>= 60%',
    value: big && peak ? (100 * big.gflops) / peak.allThreads : null,
    status: big && peak ? (big.gflops >= 0.6 * peak.allThreads ? 'PASS' : 'MISS') : 'SKIP',
    detail:
      big && peak
        ? `${big.gflops.toFixed(1)} of ${peak.allThreads.toFixed(1)} GFLOP/s (${peak.threads} threads, ${peak.simd})`
        : peak
          ? why(scoring, ['native-fp32'], 65536)
          : 'the FMA peak was not measured (add --only gflops,scoring)',
  });
  // The int8 figures include the fp32 fallback of out-of-range rows: say how many rows it took.
  const share = get('native-int8')?.detail.fp32FallbackShare;
  if (typeof share === 'number') {
    for (const t of targets.slice(ratioTargetsBefore)) {
      if (t.status !== 'SKIP' && t.id.startsWith('int8-'))
        t.detail += `; ${(100 * share).toFixed(2)}% of rows rescored in fp32`;
    }
  }
  return targets;
}

// ---- text --------------------------------------------------------------------------------------

export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x >= 1e9) return `${(x / 1e9).toPrecision(3)}G`;
  if (x >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (x >= 1e3) return `${(x / 1e3).toPrecision(3)}k`;
  return x.toPrecision(3);
}

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  if (s < 1e-6) return `${(s * 1e9).toPrecision(3)}ns`;
  if (s < 1e-3) return `${(s * 1e6).toPrecision(3)}us`;
  if (s < 1) return `${(s * 1e3).toPrecision(3)}ms`;
  return `${s.toPrecision(3)}s`;
}

const fmtAccuracy = (a: Accuracy) => `${a.medianRelErr.toExponential(0)}/${a.maxRelErr.toExponential(0)}`;
const fmtX = (r: number | null) => (r === null ? '-' : `${r.toFixed(r >= 100 ? 0 : 2)}x`);
const fmtInt = (n: number) => n.toLocaleString('en-US');
const pad = (s: string, w: number) => s.padEnd(w);
const lpad = (s: string, w: number) => s.padStart(w);

function table(header: string[], rows: string[][], rightFrom: number): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= rightFrom ? lpad(c, widths[i]!) : pad(c, widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The printed form: one table of scoring figures, then ratios, training, files, peak, targets. */
export function formatResult(r: BenchResult): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `fraudscore bench  ${r.date}  ${r.quick ? '(quick) ' : ''}${m.cpuModel} [${m.cpuFamily?.label ?? 'family unknown'}], ${m.cores} cores, SIMD ${m.addon.simd}, Node ${m.node}, load ${m.loadAverage.atStart.join(' ')}`,
  );
  const busy = Object.entries(m.contention ?? {}).map(([k, c]) => `${k} ${Math.round(c.othersShare * 100)}%`);
  if (busy.length > 0) out.push(`CPU taken by other processes while measuring: ${busy.join(', ')}`);
  out.push(
    `model [${r.model.layerSizes.join(', ')}] = ${fmtInt(r.model.flopsPerRow)} FLOPs/row; rows: ${r.model.data}`,
  );
  const peak = r.peak?.allThreads;

  if (r.scoring) {
    const batches = [...new Set(r.scoring.flatMap((e) => e.cells.map((c) => c.batch)))].sort((a, b) => a - b);
    const big = batches.at(-1);
    out.push('', 'Scoring: rows/s and time per call (median), by batch size');
    const rows: string[][] = [];
    for (const e of r.scoring) {
      for (const mode of ['sync', 'async'] as const) {
        const cells = e.cells.filter((c) => c.mode === mode);
        if (e.status !== 'ok' || cells.length === 0) continue;
        const atBig = cells.find((c) => c.batch === big);
        rows.push([
          e.label,
          mode,
          ...batches.map((b) => {
            const c = cells.find((x) => x.batch === b);
            return c ? `${fmtRate(c.rowsPerSecond)} ${fmtTime(c.secondsPerCall)}` : '';
          }),
          atBig ? atBig.gflops.toFixed(1) : '',
          // int8 engines do integer work: a share of the fp32 FMA peak would mean nothing.
          atBig && peak && e.precision !== 'int8' ? `${((100 * atBig.gflops) / peak).toFixed(0)}%` : '',
          e.accuracy ? fmtAccuracy(e.accuracy) : '',
        ]);
      }
    }
    const header = [
      'engine',
      'mode',
      ...batches.map((b) => `batch ${fmtInt(b)}`),
      `GFLOP/s@${big ? fmtInt(big) : ''}`,
      '% peak',
      'rel err med/max',
    ];
    out.push(...table(header, rows, 2));
    for (const e of r.scoring) if (e.status !== 'ok') out.push(`${e.label}: ${e.status}: ${e.reason ?? ''}`);
    out.push(
      'rel err: per-row |score - float64 reference| / max(|reference|, 1e-3) over the first 4,096 rows, median and max (int8 engines: against the fp32 model)',
    );
  }

  if (r.ratios && r.ratios.length > 0) {
    out.push('', 'Ratios (rows/s, same run; sync call up to batch 256, async above)');
    out.push(
      ...table(
        ['batch', 'fp32 / ORT fp32', 'fp32 / ORT no-log1p', 'int8 / ORT int8', 'int8 / fp32', 'fp32 / TS loop'],
        r.ratios.map((x) => [
          fmtInt(x.batch),
          fmtX(x.nativeVsOrt),
          fmtX(x.nativeVsOrtNoLog1p),
          fmtX(x.int8VsOrtInt8),
          fmtX(x.int8VsFp32),
          fmtX(x.nativeVsTs),
        ]),
        0,
      ),
    );
  }

  if (r.training) {
    out.push('', `Training: one epoch, batch 256, Adam (median of timed epochs)`);
    const rows = r.training.reports.map((t) =>
      t.status === 'ok'
        ? [t.label, fmtInt(Math.round(t.rowsPerSecond!)), fmtInt(t.rows), String(t.detail.threads ?? '')]
        : [t.label, `${t.status}: ${t.reason}`, '', ''],
    );
    const pt = r.training.pytorch;
    rows.push([pt.label, fmtInt(pt.rowsPerSecond), '-', '2  (not measured: from the issue)']);
    out.push(...table(['trainer', 'rows/s', 'rows/epoch', 'threads'], rows, 1));
  }

  if (r.stream?.status === 'ok') {
    out.push(
      '',
      `Stream (NATS JetStream ${r.stream.nats}, ${r.stream.storage} streams): published -> result acked, closed loop, ${r.stream.measureSeconds} s per cell after ${r.stream.warmupSeconds} s warm-up`,
    );
    out.push(...streamLines(r.stream));
  }
  if (r.startup?.status === 'ok') {
    out.push('', "Startup: import('fraudscore') + loadModel(default) + first score, fresh node process, median ms");
    out.push(...startupLines(r.startup));
  }
  if (r.files) {
    out.push('', 'File scoring: scoreFile(), synthetic rows, separate process');
    out.push(
      ...table(
        ['format', 'rows', 'input MiB', 'seconds', 'rows/s', 'peak RSS MiB', 'RSS before MiB'],
        r.files.map((f) =>
          f.status === 'ok'
            ? [
                f.format,
                fmtInt(f.rows),
                String(f.inputMiB),
                f.seconds!.toFixed(2),
                fmtInt(Math.round(f.rowsPerSecond!)),
                String(f.peakRssMiB),
                String(f.baselineRssMiB),
              ]
            : [f.format, fmtInt(f.rows), `${f.status}: ${f.reason}`],
        ),
        1,
      ),
    );
  }

  if (r.peak) {
    out.push(
      '',
      `FMA peak (measured, ${r.peak.simd}): ${r.peak.allThreads.toFixed(1)} GFLOP/s on ${r.peak.threads} threads, ${r.peak.singleThread.toFixed(1)} on 1`,
    );
  }

  if (r.targets.length > 0) {
    out.push('', 'Targets');
    out.push(
      ...table(
        ['', 'target', 'want', 'got', 'from'],
        r.targets.map((t) => [
          t.status,
          t.what,
          t.want,
          t.value === null
            ? '-'
            : t.want.endsWith('us')
              ? `${t.value.toFixed(2)} us`
              : t.want.endsWith('%')
                ? `${t.value.toFixed(0)}%`
                : t.want.endsWith('ms')
                  ? `${t.value.toFixed(0)} ms`
                  : `${t.value.toFixed(2)}x`,
          t.detail,
        ]),
        99,
      ),
    );
  }
  if (r.notes.length > 0) out.push('', ...r.notes.map((n) => `note: ${n}`));
  return `${out.join('\n')}\n`;
}

// ---- Markdown (bench/README.md's figures) -------------------------------------------------------

/** A Markdown summary of a result: the machine, the command, scoring, ratios, training, files, targets. */
export function formatMarkdown(r: BenchResult): string {
  const m = r.machine;
  const o: string[] = [];
  o.push(
    `${m.cpuModel} [${m.cpuFamily?.label ?? 'family unknown'}], ${m.cores} cores (SIMD ${m.addon.simd}), Node ${m.node}, commit ${m.git.commit ?? '?'}${m.git.dirty ? ' (dirty)' : ''}; ` +
      `${r.date.slice(0, 16).replace('T', ' ')} UTC; CPU taken by other processes while measuring: ${
        Object.entries(m.contention ?? {})
          .map(([k, c]) => `${k} ${Math.round(c.othersShare * 100)}%`)
          .join(', ') || 'not measured'
      }.`,
    `Command: \`${r.command}\`. Rows: ${r.model.data}.`,
  );
  if (r.scoring) {
    const batches = [...new Set(r.scoring.flatMap((e) => e.cells.map((c) => c.batch)))].sort((a, b) => a - b);
    o.push('', `| engine | mode | ${batches.map(fmtInt).join(' | ')} | rel err med/max |`);
    o.push(`| --- | --- | ${batches.map(() => '---:').join(' | ')} | ---: |`);
    for (const e of r.scoring) {
      if (e.status !== 'ok') continue;
      for (const mode of ['sync', 'async'] as const) {
        const cells = e.cells.filter((c) => c.mode === mode);
        if (cells.length === 0) continue;
        const row = batches.map((b) => {
          const c = cells.find((x) => x.batch === b);
          return c
            ? `${fmtRate(c.rowsPerSecond)}/s, ${fmtTime(c.secondsPerCall)
                .replace('us', ' µs')
                .replace(/([0-9])(ns|ms|s)$/, '$1 $2')}`
            : '';
        });
        o.push(`| ${e.label} | ${mode} | ${row.join(' | ')} | ${e.accuracy ? fmtAccuracy(e.accuracy) : ''} |`);
      }
    }
    const skipped = r.scoring.filter((e) => e.status !== 'ok');
    if (skipped.length > 0) o.push('', `Not measured: ${skipped.map((e) => `${e.label} (${e.reason})`).join('; ')}.`);
  }
  if (r.peak) {
    const big = r.scoring
      ?.find((e) => e.id === 'native-fp32')
      ?.cells.filter((c) => c.mode === 'async')
      .at(-1);
    o.push(
      '',
      `FMA peak measured: ${r.peak.allThreads.toFixed(1)} GFLOP/s on ${r.peak.threads} threads (${r.peak.singleThread.toFixed(1)} on 1)` +
        (big
          ? `; fraudscore fp32 at batch ${fmtInt(big.batch)}: ${big.gflops.toFixed(1)} GFLOP/s = ${((100 * big.gflops) / r.peak.allThreads).toFixed(0)}% of it.`
          : '.'),
    );
  }
  if (r.ratios) {
    o.push(
      '',
      '| batch | fp32 / ORT fp32 | fp32 / ORT no-log1p | int8 / ORT int8 | int8 / fp32 | fp32 / TS loop |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const x of r.ratios) {
      o.push(
        `| ${fmtInt(x.batch)} | ${fmtX(x.nativeVsOrt)} | ${fmtX(x.nativeVsOrtNoLog1p)} | ${fmtX(x.int8VsOrtInt8)} | ${fmtX(x.int8VsFp32)} | ${fmtX(x.nativeVsTs)} |`,
      );
    }
  }
  if (r.training) {
    o.push(
      '',
      `Training (batch 256, Adam): ${r.training.reports
        .map((t) =>
          t.status === 'ok' ? `${t.label} ${fmtInt(Math.round(t.rowsPerSecond!))} rows/s` : `${t.label} ${t.status}`,
        )
        .join(
          '; ',
        )}; PyTorch (original project, 2 threads) ~${fmtInt(r.training.pytorch.rowsPerSecond)} rows/s quoted by the issue, not measured here.`,
    );
  }
  if (r.startup?.status === 'ok') {
    const [head, , ...body] = startupRows(r.startup);
    o.push(
      '',
      "Startup (import('fraudscore') + loadModel(default) + first score in a fresh node process, median ms; eager = the root's module graph before it became lazy):",
      '',
      `| ${head!.join(' | ')} |`,
      `|${' --- |'.repeat(head!.length)}`,
      ...body.map((row) => `| ${row.join(' | ')} |`),
    );
  }
  if (r.files) {
    o.push(
      '',
      `File scoring, ${fmtInt(r.files[0]?.rows ?? 0)} synthetic rows: ${r.files
        .map((f) =>
          f.status === 'ok'
            ? `${f.format} ${fmtInt(Math.round(f.rowsPerSecond!))} rows/s, peak RSS ${f.peakRssMiB} MiB (${f.baselineRssMiB} before the first row)`
            : `${f.format} ${f.status}`,
        )
        .join('; ')}.`,
    );
  }
  if (r.stream?.status === 'ok') {
    const [head, , ...body] = streamLines(r.stream);
    const cells = (line: string) =>
      `| ${line
        .trim()
        .split(/\s{2,}/)
        .join(' | ')} |`;
    o.push(
      '',
      `Stream (NATS JetStream ${r.stream.nats}, ${r.stream.storage} streams; published -> scored result acked by JetStream, closed loop):`,
      '',
      cells(head!),
      `|${' --- |'.repeat(8)}`,
      ...body.map(cells),
    );
  }
  if (r.targets.length > 0) {
    o.push('', '| target | want | got | |', '| --- | --- | --- | --- |');
    for (const t of r.targets) {
      const got =
        t.value === null
          ? '-'
          : t.want.endsWith('us')
            ? `${t.value.toFixed(2)} µs`
            : t.want.endsWith('%')
              ? `${t.value.toFixed(0)}%`
              : t.want.endsWith('ms')
                ? `${t.value.toFixed(0)} ms`
                : `${t.value.toFixed(2)}x`;
      o.push(
        `| ${t.what} | ${t.want.replace('us', 'µs')} | ${got} | **${t.status}** ${t.status === 'SKIP' ? t.detail : ''} |`,
      );
    }
  }
  if (r.notes.length > 0) o.push('', ...r.notes.map((n) => `Note: ${n}.`));
  return `${o.join('\n')}\n`;
}

/** The issue 11 target: the stream worker at >= 0.7x the bare consume-ack-republish loop at batch 1,024. */
export function streamTarget(r: StreamReport): TargetResult {
  const at = r.ratios.filter((x) => x.batch === 1024);
  const worst = at.length > 0 ? Math.min(...at.map((x) => x.ratio)) : null;
  return {
    id: 'stream-vs-bare-1024',
    what: 'fraudscore stream msg/s / bare consume-ack-republish msg/s, pull batch 1,024 (worst of 1 and 2 workers)',
    want: '>= 0.7x',
    value: worst,
    status: worst === null ? 'SKIP' : worst >= 0.7 ? 'PASS' : 'MISS',
    detail: at.map((x) => `${x.workers} worker(s) ${x.ratio.toFixed(2)}x`).join(', '),
  };
}

/** The stream section as table lines (printed and Markdown share it). */
export function streamLines(r: StreamReport): string[] {
  const rows = r.cells
    .filter((c) => c.mode === 'fraudscore')
    .map((f) => {
      const b = r.cells.find((c) => c.mode === 'bare' && c.workers === f.workers && c.batch === f.batch)!;
      return [
        String(f.workers),
        fmtInt(f.batch),
        fmtInt(Math.round(f.messagesPerSecond)),
        `${f.latencyMs.p50.toFixed(1)} / ${f.latencyMs.p99.toFixed(1)}`,
        fmtInt(Math.round(b.messagesPerSecond)),
        `${b.latencyMs.p50.toFixed(1)} / ${b.latencyMs.p99.toFixed(1)}`,
        `${(f.messagesPerSecond / b.messagesPerSecond).toFixed(2)}x`,
        fmtInt(f.window),
      ];
    });
  return table(
    ['workers', 'batch', 'fraudscore msg/s', 'p50/p99 ms', 'bare loop msg/s', 'p50/p99 ms', 'ratio', 'in flight'],
    rows,
    0,
  );
}

/** The issue 16 target: a consumer's cold start (import + loadModel + first score) under 100 ms. */
export function startupTarget(r: StartupReport): TargetResult {
  const lazy = r.variants.find((v) => v.variant === 'lazy');
  const eager = r.variants.find((v) => v.variant === 'eager');
  const value = lazy?.totalMs ?? null;
  return {
    id: 'startup-import-load-score',
    what: "import('fraudscore') + loadModel(default) + first score, fresh process, median",
    want: `<= ${r.targetMs} ms`,
    value,
    status: value === null ? 'SKIP' : value <= r.targetMs ? 'PASS' : 'MISS',
    detail: `lazy ${lazy?.totalMs.toFixed(0)} ms, old eager graph ${eager?.totalMs.toFixed(0)} ms`,
  };
}

/** The startup section as a header row, an empty row and one row per variant. */
function startupRows(r: StartupReport): string[][] {
  return [
    ['root import', 'import', 'loadModel', 'first score', 'total', 'process spawn-exit', 'runs'],
    [],
    ...r.variants.map((v) => [
      v.variant === 'lazy' ? 'lazy (now)' : 'eager (before)',
      v.importMs.toFixed(1),
      v.loadModelMs.toFixed(1),
      v.firstScoreMs.toFixed(1),
      v.totalMs.toFixed(1),
      v.processMs.toFixed(0),
      String(v.runs),
    ]),
  ];
}

/** The startup section as table lines. */
export function startupLines(r: StartupReport): string[] {
  const [head, , ...body] = startupRows(r);
  return table(head!, body, 1);
}
