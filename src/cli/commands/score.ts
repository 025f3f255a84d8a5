import { constants } from 'node:os';

import { formatFromPath, type DataFormat } from '../../data/load.js';
import { loadModel } from '../../model.js';
import { scoreFile } from '../../score-file.js';
import { type Command, requireString, UsageError } from '../command.js';
import { createProgress } from '../progress.js';

/** A --input-format / --output-format value, or the format of `path`, or a UsageError naming the flag. */
function formatOf(flag: string, value: unknown, path: string): DataFormat | undefined {
  if (value !== undefined) {
    if (value !== 'csv' && value !== 'arrow' && value !== 'parquet')
      throw new UsageError(`--${flag} must be csv, arrow or parquet, got '${value}'`);
    return value;
  }
  if (path === '-') return undefined;
  try {
    formatFromPath(path, `--${flag} csv|arrow|parquet`);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return undefined;
}

export const score: Command = {
  name: 'score',
  summary: 'Score a CSV(.gz)/Arrow/Parquet file of transactions, streaming, with bounded memory',
  help: `Usage: fraudscore score --model DIR --input FILE --output FILE [options]

Reads transactions (a header naming the model's features in any order; extra columns such as Class
or Time are ignored), scores them in chunks on all cores and writes one row per transaction:
score,is_fraud (is_fraud = score > the model's threshold; only score when the model has none).
A hybrid model (model.kind hybrid) writes fraud_probability,reconstruction_error,is_fraud instead
(is_fraud = fraud_probability > its threshold; reconstruction_error is the autoencoder's score).
Formats follow the extensions: .csv, .csv.gz, .arrow/.feather (Arrow IPC file), .arrows (Arrow IPC
stream), .parquet, or --input-format / --output-format. The output appears only when the whole input
was scored. \`-\` reads CSV from stdin or writes CSV to stdout (a failure midway leaves the rows
already written there: a pipe cannot be taken back).

Options:
  --model DIR        model directory
  --input FILE       transactions to score (- for CSV on stdin)
  --output FILE      where to write the scores (- for CSV on stdout)
  --input-format F   csv, arrow or parquet, whatever the input's extension
  --output-format F  csv, arrow or parquet, whatever the output's extension
  --precision P      fp32 (default) or int8 (needs a quantized model)
  --backend B        cpu (default), cuda or auto
  --batch-rows N     rows per chunk (default 65536)
  --non-finite M     error (default: stop at the first NaN/Inf, naming line and column) or nan
  --quiet            no progress bar

Examples:
  fraudscore score --model default --input transactions.csv.gz --output scores.arrow
  zcat transactions.csv.gz | fraudscore score --model default --input - --output - > scores.csv`,
  options: {
    model: { type: 'string' },
    input: { type: 'string' },
    output: { type: 'string' },
    'input-format': { type: 'string' },
    'output-format': { type: 'string' },
    precision: { type: 'string' },
    backend: { type: 'string' },
    'batch-rows': { type: 'string' },
    'non-finite': { type: 'string' },
    quiet: { type: 'boolean' },
  },
  async run(values) {
    const modelDir = requireString(values, 'model');
    const input = requireString(values, 'input');
    const output = requireString(values, 'output');
    const inputFormat = formatOf('input-format', values['input-format'], input);
    const outputFormat = formatOf('output-format', values['output-format'], output);
    if (input === '-' && (inputFormat ?? 'csv') !== 'csv') throw new UsageError('--input - reads CSV only');
    if (output === '-' && (outputFormat ?? 'csv') !== 'csv') throw new UsageError('--output - writes CSV only');
    const model = await loadModel(modelDir);
    const batchRows = values['batch-rows'] === undefined ? undefined : Number(values['batch-rows']);
    if (batchRows !== undefined && !(Number.isInteger(batchRows) && batchRows > 0)) {
      throw new UsageError(`--batch-rows must be a positive integer, got '${values['batch-rows']}'`);
    }
    const precision = (values.precision as string | undefined) ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'int8')
      throw new UsageError(`--precision must be fp32 or int8, got '${precision}'`);
    const backend = (values.backend as string | undefined) ?? 'cpu';
    if (!['cpu', 'cuda', 'auto'].includes(backend))
      throw new UsageError(`--backend must be cpu, cuda or auto, got '${backend}'`);
    const nonFinite = (values['non-finite'] as string | undefined) ?? 'error';
    if (nonFinite !== 'error' && nonFinite !== 'nan')
      throw new UsageError(`--non-finite must be error or nan, got '${nonFinite}'`);
    const bar = createProgress('score', { quiet: values.quiet === true });
    // SIGINT/SIGTERM stop at the next chunk and remove the temporary file (a second one kills at
    // once, as usual); SIGKILL cannot be caught: the next run into the same output removes it.
    const stop = new AbortController();
    let exitCode = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      exitCode = 128 + (constants.signals[sig] ?? 0);
      stop.abort(new Error(`interrupted by ${sig}; nothing was written to ${output}`));
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const res = await scoreFile({
        signal: stop.signal,
        model,
        input: input === '-' ? process.stdin : input,
        inputName: 'stdin',
        inputFormat,
        output: output === '-' ? process.stdout : output,
        outputFormat,
        batchRows,
        precision,
        backend: backend as 'cpu',
        nonFinite,
        onProgress: (p) =>
          bar.update(
            p.inputBytes?.read ?? p.rows,
            p.inputBytes?.total ?? 0,
            `${p.rows.toLocaleString('en-US')} rows, ${Math.round(p.rows / Math.max(p.seconds, 1e-9)).toLocaleString('en-US')} rows/s, ${p.flagged} flagged`,
          ),
      });
      bar.stop();
      const rate = Math.round(res.rows / Math.max(res.seconds, 1e-9));
      console.error(
        `scored ${res.rows} rows in ${res.seconds.toFixed(2)} s (${rate} rows/s); ` +
          (res.threshold === null
            ? 'the model has no threshold'
            : `${res.flagged} flagged (threshold ${res.threshold})`) +
          (res.fp32FallbackRows > 0
            ? `; ${res.fp32FallbackRows} rows (${((100 * res.fp32FallbackRows) / res.rows).toFixed(2)}%) beyond the int8 range, scored in fp32`
            : '') +
          ` -> ${output === '-' ? 'stdout' : res.output}`,
      );
    } catch (e) {
      bar.stop();
      if (stop.signal.aborted) {
        console.error(`fraudscore score: ${(stop.signal.reason as Error).message}`);
        return exitCode;
      }
      throw e;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
};
