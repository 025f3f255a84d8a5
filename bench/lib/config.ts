// What one run measures, and the command-line options that choose it.
import { cudaFp32, cudaInt8, nativeFp32, nativeInt8 } from './engines/native.js';
import { ortFp32, ortFp32NoLog1p, ortInt8, ortInt8Static } from './engines/onnx.js';
import { tfjsCpu, tfjsWasm } from './engines/tfjs.js';
import { tsLoop } from './engines/ts-loop.js';
import type { Engine } from './engines/types.js';
import type { TimingOptions } from './timing.js';
import { TRAINERS } from './training.js';

export const SECTIONS = ['scoring', 'training', 'files', 'gflops', 'stream', 'startup'] as const;
export type Section = (typeof SECTIONS)[number];

/** Every scoring engine, in table order. */
export const ENGINES: readonly Engine[] = [
  nativeFp32,
  nativeInt8,
  cudaFp32,
  cudaInt8,
  ortFp32,
  ortFp32NoLog1p,
  ortInt8,
  ortInt8Static,
  tfjsCpu,
  tfjsWasm,
  tsLoop,
];

export const DEFAULT_BATCHES = [1, 16, 256, 4096, 65536] as const;

export interface BenchConfig {
  sections: Section[];
  quick: boolean;
  engines: Engine[];
  batches: number[];
  timing: TimingOptions;
  /** Rows generated for scoring (at least the largest batch) and training. */
  dataRows: number;
  seed: number;
  threads: number;
  trainers: string[];
  nativeTrainRows: number;
  tfjsTrainRows: number;
  trainEpochs: number;
  fileRows: number;
  fileFormats: ('csv' | 'arrow')[];
  peakSeconds: number;
  /** Cold starts timed per variant by the startup section. */
  startupRuns: number;
  /** Where the JSON goes: a path, or null for none. Undefined: bench/results/<date>-<host>[-tag].json. */
  out?: string | null;
}

export const USAGE = `Usage: npm run bench -- [options]

  --only LIST        sections to run, comma-separated: ${SECTIONS.join(', ')} (default: all)
  --quick            short timings and small files (< 60 s in all); figures are rougher
  --engines LIST     scoring engines: ${ENGINES.map((e) => e.id).join(', ')}
  --batches LIST     batch sizes (default ${DEFAULT_BATCHES.join(',')})
  --trainers LIST    ${TRAINERS.join(', ')} (default native,tfjs-cpu)
  --file-rows N      rows of the synthetic files (default 1000000, quick 100000)
  --seed N           data and weights seed (default 42)
  --out FILE         write the JSON here (default bench/results/<date>-<host>.json;
                     quick or partial runs add -quick / -<sections> so they never replace a full run)
  --no-save          print only
  -h, --help         this text`;

export class UsageError extends Error {
  override name = 'UsageError';
}

function list<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  if (value === undefined || value === '')
    throw new UsageError(`${flag} needs a value (one or more of ${allowed.join(', ')})`);
  const items = value.split(',').map((s) => s.trim());
  for (const it of items) {
    if (!allowed.includes(it as T)) throw new UsageError(`${flag}: unknown '${it}' (expected ${allowed.join(', ')})`);
  }
  return items as T[];
}

function positiveInt(flag: string, value: string | undefined, max = 1e9): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < 1 || n > max) {
    throw new UsageError(
      `${flag} needs a positive integer up to ${max}, got ${value === undefined ? 'nothing' : `'${value}'`}`,
    );
  }
  return n;
}

/** The configuration for these options (defaults, then --quick, then explicit flags). */
export function parseArgs(argv: readonly string[], threads: number): BenchConfig | 'help' {
  const flags = new Map<string, string | undefined>();
  const takesValue = new Set(['--only', '--engines', '--batches', '--trainers', '--file-rows', '--seed', '--out']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return 'help';
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (takesValue.has(name)) {
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '' || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
      flags.set(name, value);
    } else if (name === '--quick' || name === '--no-save') flags.set(name, undefined);
    else throw new UsageError(`unknown option '${a}'`);
  }
  const quick = flags.has('--quick');
  const batches = flags.has('--batches')
    ? flags
        .get('--batches')!
        .split(',')
        .map((b) => positiveInt('--batches', b.trim(), 1 << 24))
    : [...DEFAULT_BATCHES];
  const engineIds = flags.has('--engines')
    ? list(
        '--engines',
        flags.get('--engines'),
        ENGINES.map((e) => e.id),
      )
    : null;
  const config: BenchConfig = {
    sections: flags.has('--only') ? list('--only', flags.get('--only'), SECTIONS) : [...SECTIONS],
    quick,
    engines: engineIds ? ENGINES.filter((e) => engineIds.includes(e.id)) : [...ENGINES],
    batches: [...new Set(batches)].sort((a, b) => a - b),
    timing: quick
      ? { warmupSeconds: 0.05, sampleSeconds: 0.03, samples: 5, minSamples: 3, budgetSeconds: 0.3 }
      : { warmupSeconds: 0.3, sampleSeconds: 0.15, samples: 11, minSamples: 3, budgetSeconds: 3 },
    dataRows: 0,
    seed: flags.has('--seed') ? positiveInt('--seed', flags.get('--seed'), 2 ** 31) : 42,
    threads,
    trainers: flags.has('--trainers') ? list('--trainers', flags.get('--trainers'), TRAINERS) : ['native', 'tfjs-cpu'],
    nativeTrainRows: quick ? 16_384 : 65_536,
    tfjsTrainRows: quick ? 2_048 : 16_384,
    trainEpochs: quick ? 2 : 3,
    fileRows: flags.has('--file-rows')
      ? positiveInt('--file-rows', flags.get('--file-rows'))
      : quick
        ? 100_000
        : 1_000_000,
    fileFormats: ['csv', 'arrow'],
    peakSeconds: quick ? 0.4 : 2,
    startupRuns: quick ? 3 : 9,
    out: flags.has('--no-save') ? null : flags.get('--out'),
  };
  config.dataRows = Math.max(config.batches.at(-1)!, config.nativeTrainRows, 4096);
  return config;
}
