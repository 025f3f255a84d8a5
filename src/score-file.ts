// Streaming batch scoring of files at any size: read a chunk, score it off the event loop while the
// next chunk is parsed, write the scores; memory stays bounded by a few chunks whatever the file's
// size. Output goes to a temporary name and is renamed only when everything succeeded, so a failed
// run never leaves a file that looks complete. Input may also be a stream of CSV bytes (stdin) or
// of rows, and output a Writable (stdout), for pipelines.
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';

import { CsvTableWriter } from './data/csv-writer.js';
import { type DataFormat, formatFromPath, openTableWriter, readBatches } from './data/load.js';
import { DataError } from './data/errors.js';
import { type RowItem, type RowSource, rowSourceBatches } from './data/row-source.js';
import { flagScores } from './decision.js';
import { NonFiniteError } from './errors.js';
import type { Table } from './data/table.js';
import type { TableSchema, TableWriter } from './data/writer.js';
import { loadModel, type Model } from './model.js';
import { type Backend, type NonFinitePolicy, type Precision, Scorer } from './scorer.js';

export interface ScoreFileProgress {
  rows: number;
  flagged: number;
  seconds: number;
  /** A CSV(.gz) input file: bytes of it read so far and its size (for a percentage and an ETA). */
  inputBytes?: { read: number; total: number };
}

export interface ScoreFileOptions {
  /** A loaded model or a model directory. */
  model: Model | string;
  /**
   * A file path; or a stream of CSV bytes (a Readable such as `process.stdin`, or any async iterable
   * of Uint8Array/string chunks); or an iterable / async iterable of rows (an object-mode Readable,
   * a generator, an array): each an array of the model's features in order, a Float32Array of one or
   * more such rows, or an object keyed by feature name.
   */
  input: string | AsyncIterable<Uint8Array | string> | RowSource;
  /** What errors call a non-path input (e.g. 'stdin'). @default 'input stream' */
  inputName?: string;
  /**
   * A file path; or a Writable (e.g. `process.stdout`) that gets CSV and is left open. A stream
   * cannot be taken back: a run that fails midway leaves the rows written so far in it.
   */
  output: string | Writable;
  /** @default from the input's extension; 'csv' for a byte stream */
  inputFormat?: DataFormat;
  /** @default from the output's extension (.csv, .csv.gz, .arrow/.feather, .arrows, .parquet); 'csv' for a stream */
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
  /** The output path, or 'stream' for a Writable. */
  output: string;
  threshold: number | null;
  /** int8 with quantization.outOfRange 'fp32': rows rescored with the fp32 weights (0 otherwise). */
  fp32FallbackRows: number;
}

/**
 * [async] Scores every row of `input` and writes `score,is_fraud` per row to `output` (`score` alone
 * when the model has no threshold). A hybrid model's columns are `fraud_probability,
 * reconstruction_error,is_fraud` (is_fraud = fraud_probability > threshold), as `/predict` names
 * them: its score is a probability, not an error.
 * @throws DataError naming the file, line/row and column of bad input; nothing is left at `output`.
 */
export async function scoreFile(options: ScoreFileOptions): Promise<ScoreFileResult> {
  const output = options.output;
  const outputName = typeof output === 'string' ? output : 'stream';
  // Checked before anything is loaded or created, naming the output and the option to pass.
  if (typeof output === 'string' && options.outputFormat === undefined) formatFromPath(output, '`outputFormat`');
  if (typeof output !== 'string' && (options.outputFormat ?? 'csv') !== 'csv') {
    throw new TypeError(`Expected \`outputFormat\` 'csv' for a stream output, got '${options.outputFormat}'`);
  }
  const model = typeof options.model === 'string' ? await loadModel(options.model) : options.model;
  const batchRows = options.batchRows ?? 65_536;
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`Expected \`batchRows\` to be a positive integer, got ${batchRows}`);
  }
  const input = await openInput(options, model.features, batchRows);
  const scorer = new Scorer(model, {
    backend: options.backend ?? 'cpu',
    precision: options.precision ?? 'fp32',
    nonFinite: options.nonFinite ?? 'error',
  });
  const threshold = scorer.threshold;
  const hybrid = scorer.kind === 'hybrid';
  let fp32FallbackRows = 0;
  const scoreColumns: TableSchema['extra'] = hybrid
    ? { fraud_probability: 'float32', reconstruction_error: 'float32' }
    : { score: 'float32' };
  const schema: TableSchema = {
    features: [],
    labels: false,
    time: false,
    extra: threshold === null ? scoreColumns : { ...scoreColumns, is_fraud: 'uint8' },
  };
  // Same extension as the output so the writer picks the same format (.gz included).
  const tmp = typeof output === 'string' ? join(dirname(output), `.partial-${process.pid}-${basename(output)}`) : null;
  let sink: TableWriter;
  if (tmp !== null && typeof output === 'string') {
    await removeStalePartials(output);
    sink = openTableWriter(tmp, schema, { format: options.outputFormat ?? formatFromPath(output).format });
  } else {
    sink = new CsvTableWriter(output as Writable, schema, false);
  }
  const started = performance.now();
  const progress: ScoreFileProgress = { rows: 0, flagged: 0, seconds: 0 };
  let pendingWrite: Promise<void> = Promise.resolve();
  try {
    for await (const batch of input.batches) {
      options.signal?.throwIfAborted();
      if (batch.n === 0) continue;
      const firstRow = progress.rows;
      let scores: Float32Array;
      let aeScores: Float32Array | undefined;
      try {
        ({ scores, aeScores } = await scorer.scoreAsync(batch.rows, { aeScores: hybrid }));
      } catch (e) {
        if (e instanceof NonFiniteError) {
          // Name the place in the file the way DataError does (CSV: 1-based line, header = line 1;
          // Arrow/Parquet: 0-based row over the whole file).
          const row = firstRow + e.row;
          throw new DataError(
            input.lines
              ? { file: input.name, line: row + 2, column: e.feature }
              : { file: input.name, row, column: e.feature },
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
      const columns: Record<string, Float32Array | Uint8Array> = hybrid
        ? { fraud_probability: scores, reconstruction_error: aeScores! }
        : { score: scores };
      if (flags) columns.is_fraud = flags;
      pendingWrite = sink.write(part, columns);
      // It may fail (disk full) while the next chunk is scored, before anything awaits it: mark it
      // handled now so that is not an unhandled rejection (fatal); the next await still throws it.
      pendingWrite.catch(() => {});
      progress.rows += scores.length;
      progress.flagged += flagged;
      progress.seconds = (performance.now() - started) / 1000;
      options.onProgress?.({ ...progress, ...(input.bytes ? { inputBytes: { ...input.bytes } } : {}) });
    }
    await pendingWrite;
    await sink.close();
    if (tmp !== null) await rename(tmp, outputName);
  } catch (e) {
    await pendingWrite.catch(() => {});
    sink.abort();
    if (tmp !== null) await rm(tmp, { force: true });
    throw namingOutput(e, outputName);
  } finally {
    fp32FallbackRows = scorer.fp32FallbackRows;
    scorer.dispose();
  }
  progress.seconds = (performance.now() - started) / 1000;
  return { ...progress, output: outputName, threshold, fp32FallbackRows };
}

interface OpenInput {
  batches: AsyncIterable<Table>;
  /** Progress through a CSV file, updated as it is read. */
  bytes?: { read: number; total: number };
  /** What errors call the input. */
  name: string;
  /** Whether places are CSV lines (1-based, header = line 1) rather than 0-based rows. */
  lines: boolean;
}

/** The input's batches: a file by its format, a byte stream as CSV, anything else as rows. */
async function openInput(
  options: ScoreFileOptions,
  features: readonly string[],
  batchRows: number,
): Promise<OpenInput> {
  const input = options.input;
  if (typeof input === 'string') {
    const format = options.inputFormat ?? formatFromPath(input, '`inputFormat`').format;
    let onBytes: ((read: number) => void) | undefined;
    if (format === 'csv' && options.onProgress) {
      // A missing file is reported by the reader, with its own message.
      const total = await stat(input).then(
        (st) => st.size,
        () => 0,
      );
      onBytes = (read) => {
        bytes.read = read;
        bytes.total = total;
      };
    }
    const bytes = { read: 0, total: 0 };
    return {
      bytes: onBytes ? bytes : undefined,
      batches: readBatches(input, { features, batchRows, format: options.inputFormat, onBytes }),
      name: input,
      lines: format === 'csv',
    };
  }
  const name = options.inputName ?? 'input stream';
  if (input === null || typeof input !== 'object' || !(Symbol.asyncIterator in input || Symbol.iterator in input)) {
    throw new TypeError(
      `Expected \`input\` to be a path, a Readable or an (async) iterable, got ${input === null ? 'null' : typeof input}`,
    );
  }
  const stream = input as { readableObjectMode?: boolean };
  if (typeof stream.readableObjectMode === 'boolean' && !stream.readableObjectMode) {
    return {
      batches: csvStream(name, input as AsyncIterable<Uint8Array>, features, batchRows, options.inputFormat),
      name,
      lines: true,
    };
  }
  // Anything else: look at the first item to tell bytes from rows.
  const { first, rest } = await peek(input as AsyncIterable<unknown>);
  const items = rest as AsyncIterable<Uint8Array | string | RowItem>;
  if (first !== undefined && (typeof first === 'string' || first instanceof Uint8Array)) {
    return {
      batches: csvStream(name, items as AsyncIterable<Uint8Array>, features, batchRows, options.inputFormat),
      name,
      lines: true,
    };
  }
  if (options.inputFormat !== undefined) {
    throw new TypeError(`Expected no \`inputFormat\` for an input of rows, got '${options.inputFormat}'`);
  }
  return { batches: rowSourceBatches(name, items as RowSource, features, batchRows), name, lines: false };
}

function csvStream(
  name: string,
  bytes: AsyncIterable<Uint8Array | string>,
  features: readonly string[],
  batchRows: number,
  format: DataFormat | undefined,
): AsyncIterable<Table> {
  if ((format ?? 'csv') !== 'csv') {
    throw new TypeError(`Expected \`inputFormat\` 'csv' for a byte stream, got '${format}'`);
  }
  return readBatches(bytes, { features, batchRows, name });
}

/** The first item of an (async) iterable and an async iterable of every item, the first included. */
async function peek(
  src: AsyncIterable<unknown> | Iterable<unknown>,
): Promise<{ first: unknown; rest: AsyncIterable<unknown> }> {
  const it: AsyncIterator<unknown> | Iterator<unknown> =
    Symbol.asyncIterator in src
      ? (src as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (src as Iterable<unknown>)[Symbol.iterator]();
  const head = await it.next();
  async function* all(): AsyncGenerator<unknown> {
    if (head.done) return;
    yield head.value;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { first: head.done ? undefined : head.value, rest: all() };
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
