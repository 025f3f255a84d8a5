// End-to-end file scoring: scoreFile() (src/score-file.ts) reads a synthetic file in chunks,
// scores them and writes `score,is_fraud`, for CSV and Arrow IPC. Each run is a child process so
// that the peak RSS is the scoring's own. Input files are generated once into a scratch directory
// and removed with it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { saveModel } from '../../src/model.js';
import { packageRoot } from '../../src/native.js';
import { writeSynth } from '../../src/synth/synth.js';
import type { BenchData } from './data.js';

const run = promisify(execFile);

export interface FileReport {
  format: 'csv' | 'arrow';
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  rows: number;
  inputMiB?: number;
  seconds?: number;
  rowsPerSecond?: number;
  /** Peak resident memory of the scoring process, and what it was before the first row. */
  peakRssMiB?: number;
  baselineRssMiB?: number;
}

export interface FilesOptions {
  data: BenchData;
  rows: number;
  formats: readonly ('csv' | 'arrow')[];
  tmpDir: string;
  seed: number;
  log?: (line: string) => void;
}

async function writeInput(path: string, rows: number, seed: number): Promise<void> {
  await writeSynth(path, { rows, seed });
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

/** [async] Scores a `rows`-row file per format; skips with the reason when scoreFile is missing. */
export async function runFiles(o: FilesOptions): Promise<FileReport[]> {
  if (!existsSync(join(packageRoot, 'src/score-file.ts'))) {
    return o.formats.map((format) => ({
      format,
      status: 'skipped',
      reason: 'src/score-file.ts not found',
      rows: o.rows,
    }));
  }
  const modelDir = join(o.tmpDir, 'model');
  await saveModel(o.data.model, modelDir);
  const child = join(packageRoot, 'bench/lib/files-child.ts');
  const reports: FileReport[] = [];
  for (const format of o.formats) {
    const ext = format === 'csv' ? 'csv' : 'arrow';
    const input = join(o.tmpDir, `input.${ext}`);
    const output = join(o.tmpDir, `scores.${ext}`);
    const report: FileReport = { format, status: 'ok', rows: o.rows };
    reports.push(report);
    try {
      o.log?.(`files: writing ${o.rows.toLocaleString('en-US')} rows to ${format}`);
      await writeInput(input, o.rows, o.seed);
      report.inputMiB = Math.round(((await stat(input)).size / 2 ** 20) * 10) / 10;
      o.log?.(`files: scoring ${format} (${report.inputMiB} MiB)`);
      const { stdout } = await run(process.execPath, ['--import', 'tsx', child, modelDir, input, output], {
        cwd: packageRoot,
        maxBuffer: 1 << 20,
      });
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
        rows: number;
        seconds: number;
        baselineKiB: number;
        peakKiB: number;
      };
      if (r.rows !== o.rows) throw new Error(`scoreFile scored ${r.rows} rows of ${o.rows}`);
      report.seconds = r.seconds;
      report.rowsPerSecond = r.rows / r.seconds;
      report.peakRssMiB = mib(r.peakKiB);
      report.baselineRssMiB = mib(r.baselineKiB);
      o.log?.(
        `  ${Math.round(report.rowsPerSecond).toLocaleString('en-US')} rows/s, peak RSS ${report.peakRssMiB} MiB`,
      );
    } catch (e) {
      report.status = 'failed';
      const err = e as Error & { stderr?: string };
      report.reason = (err.stderr?.trim().split('\n').slice(-3).join(' | ') || err.message).slice(0, 500);
      o.log?.(`  FAILED: ${report.reason}`);
    }
  }
  return reports;
}
