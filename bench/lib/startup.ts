// Cold start of a consumer service: `import('fraudscore')` + loadModel('default') + one score, each
// run in a fresh plain-node process on the built package (dist/). Two variants side by side:
// `lazy` is the package as it is; `eager` first imports the modules the root import loaded before
// it became lazy (the Arrow and Parquet readers, the training code and yaml), i.e. the old module
// graph, so the before/after comparison comes from one run on one machine.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { packageRoot } from '../../src/native.js';

const run = promisify(execFile);

/** What the root import loaded eagerly before issue 16 (their own imports follow). */
export const EAGER_MODULES = ['dist/data/arrow.js', 'dist/data/parquet.js', 'dist/train/sweep.js'] as const;

export interface StartupVariant {
  variant: 'lazy' | 'eager';
  /** Medians over the runs, milliseconds, measured inside the child from before the first import. */
  importMs: number;
  loadModelMs: number;
  firstScoreMs: number;
  totalMs: number;
  /** Spawn to exit, median, ms: Node's own boot and teardown included. */
  processMs: number;
  runs: number;
}

export interface StartupReport {
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  variants: StartupVariant[];
  /** The issue 16 goal for `totalMs` of the lazy variant. */
  targetMs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** [async] Times `runs` cold starts per variant, alternating them so drift in machine load hits both. */
export async function runStartup(o: { runs: number; log?: (line: string) => void }): Promise<StartupReport> {
  const entry = join(packageRoot, 'dist/index.js');
  const report: StartupReport = { status: 'ok', variants: [], targetMs: 100 };
  if (!existsSync(entry)) {
    return { ...report, status: 'skipped', reason: 'dist/index.js not found: run `npm run build:ts` first' };
  }
  const child = join(packageRoot, 'bench/lib/startup-child.mjs');
  const eager = EAGER_MODULES.map((m) => join(packageRoot, m));
  const samples = { lazy: [] as Record<string, number>[], eager: [] as Record<string, number>[] };
  try {
    for (let i = 0; i < o.runs + 1; i++) {
      for (const variant of ['lazy', 'eager'] as const) {
        const started = performance.now();
        const { stdout } = await run(process.execPath, [child, entry, ...(variant === 'eager' ? eager : [])], {
          cwd: packageRoot,
        });
        const processMs = performance.now() - started;
        // The first round warms the OS file cache for both variants and is not kept.
        if (i > 0) samples[variant].push({ ...JSON.parse(stdout.trim()), processMs });
      }
    }
  } catch (e) {
    const err = e as Error & { stderr?: string };
    return { ...report, status: 'failed', reason: (err.stderr?.trim() || err.message).slice(0, 500) };
  }
  for (const variant of ['lazy', 'eager'] as const) {
    const s = samples[variant];
    const m = (k: string) => median(s.map((x) => x[k]!));
    const v: StartupVariant = {
      variant,
      importMs: m('importMs'),
      loadModelMs: m('loadModelMs'),
      firstScoreMs: m('firstScoreMs'),
      totalMs: m('totalMs'),
      processMs: m('processMs'),
      runs: s.length,
    };
    report.variants.push(v);
    o.log?.(`  ${variant}: import ${v.importMs.toFixed(0)} ms, total ${v.totalMs.toFixed(0)} ms (median of ${v.runs})`);
  }
  return report;
}
