// Fits the synthetic generator's statistics on the real sample and writes data/synth-stats.json.
// Only means, covariances and mixture weights are written, never rows.
//
//   node --import tsx scripts/fit-synth-stats.ts [CSV] [OUT] [--normal-components 4] [--fraud-components 2]
//
// CSV defaults to $FRAUDSCORE_DATA or ../shared/data/creditcard-sample.csv.gz.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createGunzip } from 'node:zlib';

import { loadTable } from '../src/data/load.js';
import { DEFAULT_FEATURES } from '../src/data/table.js';
import { fitGmm } from '../src/synth/gmm.js';
import { type ClassStats, SYNTH_STATS_VERSION, type SynthStats } from '../src/synth/stats.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args.splice(i, 2)[1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
};
const normalK = flag('--normal-components', 4);
const fraudK = flag('--fraud-components', 2);
const csv = resolve(args[0] ?? process.env.FRAUDSCORE_DATA ?? '../shared/data/creditcard-sample.csv.gz');
const out = resolve(args[1] ?? 'data/synth-stats.json');

/** sha256 of the uncompressed CSV text (the figure ../shared/data/README.md quotes). */
async function sha256Uncompressed(file: string): Promise<string> {
  const h = createHash('sha256');
  const src = file.endsWith('.gz') ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  for await (const chunk of src) h.update(chunk as Buffer);
  return h.digest('hex');
}

const table = await loadTable(csv, { features: DEFAULT_FEATURES });
if (!table.labels || !table.time) throw new Error(`${csv} needs Class and Time columns`);
const d = table.features.length;
const amountCol = d - 1;
let amountMin = Infinity;
let amountMax = -Infinity;
let tMin = Infinity;
let tMax = -Infinity;
for (let i = 0; i < table.n; i++) {
  const a = table.rows[i * d + amountCol];
  amountMin = Math.min(amountMin, a);
  amountMax = Math.max(amountMax, a);
  tMin = Math.min(tMin, table.time[i]);
  tMax = Math.max(tMax, table.time[i]);
}

function fitClass(label: 0 | 1, K: number): ClassStats {
  const idx: number[] = [];
  for (let i = 0; i < table.n; i++) if (table.labels?.[i] === label) idx.push(i);
  const x = new Float64Array(idx.length * d);
  for (const [r, i] of idx.entries()) {
    for (let j = 0; j < d; j++) {
      const v = table.rows[i * d + j];
      x[r * d + j] = j === amountCol ? Math.log1p(v) : v;
    }
  }
  const t0 = performance.now();
  const fit = fitGmm(x, idx.length, d, { components: K, seed: 42 + label, regularization: 1e-3 });
  console.log(
    `class ${label}: ${idx.length} rows, ${K} components, ${fit.iterations} EM iterations, ` +
      `mean log-likelihood ${fit.logLikelihood.toFixed(3)} (${(performance.now() - t0).toFixed(0)} ms)`,
  );
  const round = (v: number) => Number(v.toPrecision(8));
  return {
    rows: idx.length,
    logLikelihood: round(fit.logLikelihood),
    components: fit.components.map((c) => ({
      weight: round(c.weight),
      mean: c.mean.map(round),
      cov: c.cov.map(round),
    })),
  };
}

const normal = fitClass(0, normalK);
const fraud = fitClass(1, fraudK);
const stats: SynthStats = {
  version: SYNTH_STATS_VERSION,
  features: [...table.features],
  // Bounds for clipping generated amounts, rounded outward so that no single real value is stored.
  amount: { transform: 'log1p', min: Math.floor(amountMin), max: Math.ceil(amountMax / 1000) * 1000 },
  // The Kaggle file covers two days; the sample's own span is a slightly shorter estimate of it.
  time: { span: Math.max(172800, Math.ceil(tMax - tMin)) },
  sampleFraudRate: Number((fraud.rows / table.n).toPrecision(6)),
  normal,
  fraud,
  source: {
    file: 'creditcard-sample.csv.gz',
    sha256: await sha256Uncompressed(csv),
    rows: table.n,
    fitted: new Date().toISOString().slice(0, 10),
    script: 'scripts/fit-synth-stats.ts',
  },
};
await writeFile(out, `${JSON.stringify(stats)}\n`);
console.log(`wrote ${out}`);
