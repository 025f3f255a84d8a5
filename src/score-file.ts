// Streaming batch scoring of files at any size: read a chunk, score it off the event loop while the
// next chunk is parsed, write the scores; memory stays bounded by a few chunks whatever the file's
// size. Output goes to a temporary name and is renamed only when everything succeeded, so a failed
// run never leaves a file that looks complete.
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { type DataFormat, formatFromPath, openTableWriter, readBatches } from './data/load.js';
import { DataError } from './data/errors.js';
import { flagScores } from './decision.js';
import { NonFiniteError } from './errors.js';
import type { Table } from './data/table.js';
import { loadModel, type Model } from './model.js';
import { type Backend, type NonFinitePolicy, type Precision, Scorer } from './scorer.js';

export interface ScoreFileProgress {
  rows: number;
  flagged: number;
  seconds: number;
}

export interface ScoreFileOptions {
  /** A loaded model or a model directory. */
  model: Model | string;
  input: string;
  output: string;
  /** @default from the input's extension */
  inputFormat?: DataFormat;
  /** @default from the output's extension (.csv, .csv.gz, .arrow/.feather, .arrows, .parquet) */
  outputFormat?: DataFormat;
  /** Rows per chunk. @default 65536 */
  batchRows?: number;
  /** @default 'cpu' */
  backend?: Backend;
  /** @default 'fp32' */
  precision?: Precision;
  /** @default 'error' (the first NaN/Inf names its line and column and nothing is written) */
  nonFinite?: NonFinitePolicy;
  /** Called after each chunk. */
  onProgress?: (p: ScoreFileProgress) => void;
  signal?: AbortSignal;
}

export interface ScoreFileResult extends ScoreFileProgress {
  output: string;
  threshold: number | null;
  /** int8 with quantization.outOfRange 'fp32': rows rescored with the fp32 weights (0 otherwise). */
  fp32FallbackRows: number;
}

/**
 * [async] Scores every row of `input` and writes `score,is_fraud` per row to `output` (`score` alone
 * when the model has no threshold).
 * @throws DataError naming the file, line/row and column of bad input; nothing is left at `output`.
 */
export async function scoreFile(options: ScoreFileOptions): Promise<ScoreFileResult> {
  const model = typeof options.model === 'string' ? await loadModel(options.model) : options.model;
  const inputFormat = options.inputFormat ?? formatFromPath(options.input).format;
  const batchRows = options.batchRows ?? 65_536;
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`Expected \`batchRows\` to be a positive integer, got ${batchRows}`);
  }
  const scorer = new Scorer(model, {
    backend: options.backend ?? 'cpu',
    precision: options.precision ?? 'fp32',
    nonFinite: options.nonFinite ?? 'error',
  });
  const threshold = scorer.threshold;
  let fp32FallbackRows = 0;
  // Same extension as the output so the writer picks the same format (.gz included).
  const tmp = join(dirname(options.output), `.partial-${process.pid}-${basename(options.output)}`);
  await removeStalePartials(options.output);
  const sink = openTableWriter(
    tmp,
    {
      features: [],
      labels: false,
      time: false,
      extra: threshold === null ? { score: 'float32' } : { score: 'float32', is_fraud: 'uint8' },
    },
    { format: options.outputFormat },
  );
  const started = performance.now();
  const progress: ScoreFileProgress = { rows: 0, flagged: 0, seconds: 0 };
  let pendingWrite: Promise<void> = Promise.resolve();
  try {
    for await (const batch of readBatches(options.input, {
      features: model.features,
      batchRows,
      format: inputFormat,
    })) {
      options.signal?.throwIfAborted();
      if (batch.n === 0) continue;
      const firstRow = progress.rows;
      let scores: Float32Array;
      try {
        ({ scores } = await scorer.scoreAsync(batch.rows));
      } catch (e) {
        if (e instanceof NonFiniteError) {
          // Name the place in the file the way DataError does (CSV: 1-based line, header = line 1;
          // Arrow/Parquet: 0-based row over the whole file).
          const row = firstRow + e.row;
          throw new DataError(
            inputFormat === 'csv'
              ? { file: options.input, line: row + 2, column: e.feature }
              : { file: options.input, row, column: e.feature },
            `value ${e.problem}`,
          );
        }
        throw e;
      }
      const flags = threshold === null ? null : new Uint8Array(scores.length);
      const flagged = flags && threshold !== null ? flagScores(scores, threshold, flags) : 0;
      // Write chunk k while chunk k+1 is read and scored; keep at most one write in flight.
      await pendingWrite;
      const part: Table = { features: [], rows: new Float32Array(0), n: scores.length };
      pendingWrite = sink.write(part, flags ? { score: scores, is_fraud: flags } : { score: scores });
      // It may fail (disk full) while the next chunk is scored, before anything awaits it: mark it
      // handled now so that is not an unhandled rejection (fatal); the next await still throws it.
      pendingWrite.catch(() => {});
      progress.rows += scores.length;
      progress.flagged += flagged;
      progress.seconds = (performance.now() - started) / 1000;
      options.onProgress?.({ ...progress });
    }
    await pendingWrite;
    await sink.close();
    await rename(tmp, options.output);
  } catch (e) {
    await pendingWrite.catch(() => {});
    sink.abort();
    await rm(tmp, { force: true });
    throw namingOutput(e, options.output);
  } finally {
    fp32FallbackRows = scorer.fp32FallbackRows;
    scorer.dispose();
  }
  progress.seconds = (performance.now() - started) / 1000;
  return { ...progress, output: options.output, threshold, fp32FallbackRows };
}

/** A failed write (ENOSPC, EIO, ...) says which output it was writing; other errors pass as they are. */
function namingOutput(e: unknown, output: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (err instanceof Error && typeof err.code === 'string' && err.syscall !== undefined && err.path === undefined) {
    return new Error(`could not write ${output}: ${err.message}; nothing was written there`, { cause: err });
  }
  return e;
}

/**
 * Removes the temporary files of earlier runs into the same output whose process is gone (killed
 * with SIGKILL, or the machine lost power): their pid is in the name. A live process's file stays.
 */
async function removeStalePartials(output: string): Promise<void> {
  const dir = dirname(output);
  const suffix = `-${basename(output)}`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // the writer reports a missing directory with its own message
  }
  for (const name of names) {
    if (!name.startsWith('.partial-') || !name.endsWith(suffix)) continue;
    const pid = Number(name.slice('.partial-'.length, name.length - suffix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    await rm(join(dir, name), { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
