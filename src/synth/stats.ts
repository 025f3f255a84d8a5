// The committed statistics the synthetic generator draws from (data/synth-stats.json): per class, a
// Gaussian mixture over V1..V28 and log1p(Amount), fitted on the real sample by
// scripts/fit-synth-stats.ts. Statistics only: no row of the real data is in the file.
import { readFileSync } from 'node:fs';

import type { GaussianComponent } from './gmm.js';

export const SYNTH_STATS_VERSION = 1;

export interface ClassStats {
  /** Rows of this class the mixture was fitted on. */
  rows: number;
  components: GaussianComponent[];
  /** Mean log-likelihood per row of the fit (for comparing fits). */
  logLikelihood: number;
}

export interface SynthStats {
  version: number;
  /** Column names of the modelled vector, in order; the last is Amount, modelled as log1p(Amount). */
  features: string[];
  amount: { transform: 'log1p'; min: number; max: number };
  /** Time is drawn uniformly over [0, span) seconds and written in increasing order. */
  time: { span: number };
  /** Fraud share of the sample (for reference; the generator takes fraudRate as an option). */
  sampleFraudRate: number;
  normal: ClassStats;
  fraud: ClassStats;
  /** Where the statistics came from. */
  source: { file: string; sha256: string; rows: number; fitted: string; script: string };
}

/** data/synth-stats.json, resolved from this module (works from src/ and from dist/). */
export const DEFAULT_STATS_URL = new URL('../../data/synth-stats.json', import.meta.url);

/**
 * Reads and checks a statistics file.
 * @throws {Error} naming the file and the field that is missing or inconsistent.
 */
export function loadSynthStats(file: string | URL = DEFAULT_STATS_URL): SynthStats {
  const where = typeof file === 'string' ? file : file.pathname;
  let s: SynthStats;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as SynthStats;
  } catch (err) {
    throw new Error(`Cannot read synthetic-data statistics from ${where}: ${(err as Error).message}`, { cause: err });
  }
  if (s.version !== SYNTH_STATS_VERSION) {
    throw new Error(
      `${where}: unsupported synthetic-data statistics version ${s.version} (expected ${SYNTH_STATS_VERSION})`,
    );
  }
  const d = s.features?.length ?? 0;
  if (d === 0) throw new Error(`${where}: \`features\` is missing or empty`);
  for (const cls of ['normal', 'fraud'] as const) {
    const comps = s[cls]?.components;
    if (!Array.isArray(comps) || comps.length === 0)
      throw new Error(`${where}: \`${cls}.components\` is missing or empty`);
    for (const [k, c] of comps.entries()) {
      if (!(c.weight > 0) || c.mean?.length !== d || c.cov?.length !== d * d) {
        throw new Error(
          `${where}: \`${cls}.components[${k}]\` needs weight > 0, ${d} means and a ${d}x${d} covariance`,
        );
      }
    }
  }
  return s;
}
