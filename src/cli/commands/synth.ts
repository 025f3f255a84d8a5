import { formatFromPath } from '../../data/load.js';
import { FULL_DATA_FRAUD_RATE, writeSynth } from '../../synth/synth.js';
import { type Command, requireString, UsageError } from '../command.js';

function numberOption(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  check: (v: number) => boolean,
  what: string,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!check(v)) throw new UsageError(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

export const synth: Command = {
  name: 'synth',
  summary: 'Write synthetic transactions drawn from statistics fitted on the real data (no download)',
  help: `Usage: fraudscore synth --rows N --output FILE [--fraud-rate R] [--seed S]

Draws rows from the per-class Gaussian mixtures in data/synth-stats.json (fitted on the real sample;
the statistics are committed, the rows never are). Same seed, same rows. Columns: Time, V1..V28,
Amount, Class. The format follows the extension: .csv, .csv.gz, .arrow, .arrows, .parquet. The file
appears only when complete.

Options:
  --rows N          number of rows
  --output FILE     where to write
  --fraud-rate R    share of fraud rows in [0, 1] (default ${FULL_DATA_FRAUD_RATE.toFixed(5)}, the full data's)
  --seed S          random seed (default 42)

Example:
  fraudscore synth --rows 10000000 --fraud-rate 0.002 --seed 1 --output synth.arrow`,
  options: {
    rows: { type: 'string' },
    output: { type: 'string' },
    'fraud-rate': { type: 'string' },
    seed: { type: 'string' },
  },
  async run(values) {
    const output = requireString(values, 'output');
    try {
      formatFromPath(output);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const rows = numberOption(values, 'rows', Number.NaN, (v) => Number.isInteger(v) && v > 0, 'a positive integer');
    if (Number.isNaN(rows)) throw new UsageError('missing required option --rows');
    const fraudRate = numberOption(values, 'fraud-rate', FULL_DATA_FRAUD_RATE, (v) => v >= 0 && v <= 1, 'in [0, 1]');
    const seed = numberOption(values, 'seed', 42, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
    const started = performance.now();
    const res = await writeSynth(output, { rows, fraudRate, seed });
    const s = (performance.now() - started) / 1000;
    console.error(`wrote ${res.rows} rows (${res.frauds} frauds) to ${output} in ${s.toFixed(2)} s`);
  },
};
