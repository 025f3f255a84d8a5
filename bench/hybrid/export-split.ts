// Writes the split that train() uses (configs/hybrid.yaml's data section) as three CSV files, so
// the Python baseline (baseline.py) trains and tests on exactly the same rows. The files hold the
// real sample's rows: write them outside the repository (default: the OS temp directory).
//
//   node --import tsx bench/hybrid/export-split.ts [--config configs/hybrid.yaml] [--out DIR]
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { loadTable } from '../../src/data/load.js';
import { splitTable } from '../../src/data/split.js';
import type { Table } from '../../src/data/table.js';
import { loadConfig } from '../../src/train/config.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'configs/hybrid.yaml' },
    out: { type: 'string', default: join(tmpdir(), 'fraudscore-hybrid-split') },
  },
});
const config = await loadConfig(values.config);
const table = await loadTable(config.data.path, { features: config.data.features });
const splits = splitTable(table, {
  strategy: config.data.split.strategy,
  ratios: config.data.split.ratios,
  seed: config.data.split.seed,
});
await mkdir(values.out!, { recursive: true });
const d = config.data.features.length;
async function write(name: string, t: Table): Promise<void> {
  const lines = [[...config.data.features, 'Class'].join(',')];
  for (let i = 0; i < t.n; i++) {
    lines.push(`${Array.from(t.rows.subarray(i * d, (i + 1) * d)).join(',')},${t.labels![i]}`);
  }
  await writeFile(join(values.out!, `${name}.csv`), `${lines.join('\n')}\n`);
}
await Promise.all([write('train', splits.train), write('validation', splits.validation), write('test', splits.test)]);
console.log(values.out);
