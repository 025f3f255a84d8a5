import { constants } from 'node:os';

import { SingleBar } from 'cli-progress';

import { loadModel } from '../../model.js';
import { scoreFile } from '../../score-file.js';
import { type Command, requireString, UsageError } from '../command.js';

export const score: Command = {
  name: 'score',
  summary: 'Score a CSV(.gz)/Arrow/Parquet file of transactions, streaming, with bounded memory',
  help: `Usage: fraudscore score --model DIR --input FILE --output FILE [options]

Reads transactions (a header naming the model's features in any order; extra columns such as Class
or Time are ignored), scores them in chunks on all cores and writes one row per transaction:
score,is_fraud (is_fraud = score > the model's threshold; only score when the model has none).
Formats follow the extensions: .csv, .csv.gz, .arrow/.feather (Arrow IPC file), .arrows (Arrow IPC
stream), .parquet. The output appears only when the whole input was scored.

Options:
  --model DIR        model directory
  --input FILE       transactions to score
  --output FILE      where to write the scores
  --precision P      fp32 (default) or int8 (needs a quantized model)
  --backend B        cpu (default), cuda or auto
  --batch-rows N     rows per chunk (default 65536)
  --non-finite M     error (default: stop at the first NaN/Inf, naming line and column) or nan
  --quiet            no progress bar

Example:
  fraudscore score --model default --input transactions.csv.gz --output scores.arrow`,
  options: {
    model: { type: 'string' },
    input: { type: 'string' },
    output: { type: 'string' },
    precision: { type: 'string' },
    backend: { type: 'string' },
    'batch-rows': { type: 'string' },
    'non-finite': { type: 'string' },
    quiet: { type: 'boolean' },
  },
  async run(values) {
    const model = await loadModel(requireString(values, 'model'));
    const input = requireString(values, 'input');
    const output = requireString(values, 'output');
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
    const bar =
      !values.quiet && process.stderr.isTTY
        ? new SingleBar({ format: 'scoring {value} rows | {rate} rows/s | {flagged} flagged', stream: process.stderr })
        : null;
    bar?.start(0, 0, { rate: 0, flagged: 0 });
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
        input,
        output,
        batchRows,
        precision,
        backend: backend as 'cpu',
        nonFinite,
        onProgress: (p) =>
          bar?.update(p.rows, { rate: Math.round(p.rows / Math.max(p.seconds, 1e-9)), flagged: p.flagged }),
      });
      bar?.stop();
      const rate = Math.round(res.rows / Math.max(res.seconds, 1e-9));
      console.error(
        `scored ${res.rows} rows in ${res.seconds.toFixed(2)} s (${rate} rows/s); ` +
          (res.threshold === null
            ? 'the model has no threshold'
            : `${res.flagged} flagged (threshold ${res.threshold})`) +
          (res.fp32FallbackRows > 0
            ? `; ${res.fp32FallbackRows} rows (${((100 * res.fp32FallbackRows) / res.rows).toFixed(2)}%) beyond the int8 range, scored in fp32`
            : '') +
          ` -> ${res.output}`,
      );
    } catch (e) {
      bar?.stop();
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
