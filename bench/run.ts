// `npm run bench -- [options]`: fraudscore against its peers, side by side in one run. Progress
// goes to stderr, the table to stdout, every figure to bench/results/<date>-<host>.json.
// See bench/README.md for how to read it.
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { dirname, join, relative } from 'node:path';

import { packageRoot } from '../src/native.js';
import { runBench } from './lib/bench.js';
import { type BenchConfig, parseArgs, SECTIONS, USAGE, UsageError } from './lib/config.js';
import { formatResult } from './lib/report.js';

function defaultOut(config: BenchConfig, date: string): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_') || 'host';
  const partial = config.sections.length < SECTIONS.length ? `-${config.sections.join('+')}` : '';
  const tag = `${partial}${config.quick ? '-quick' : ''}`;
  return join(packageRoot, 'bench', 'results', `${date.slice(0, 10)}-${host}${tag}.json`);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let config: BenchConfig | 'help';
  try {
    config = parseArgs(argv, availableParallelism());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const started = performance.now();
  const result = await runBench(config, command, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`\n${formatResult(result)}`);
  if (config.out !== null) {
    const file = config.out ?? defaultOut(config, result.date);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nwrote ${relative(process.cwd(), file)}\n`);
  }
  process.stderr.write(`bench: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

process.exitCode = await main();
