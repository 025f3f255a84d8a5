// The package root loads only what scoring needs: apache-arrow, hyparquet, yaml and the training
// code load on first use (issue 16). A child process lists every module the ESM loader resolved
// for the import (test/probes/loaded-modules.mjs); the lazy entry points still work once called.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ConfigError,
  DEFAULT_FEATURES,
  loadConfig,
  loadTable,
  openTableWriter,
  train,
  writeTable,
} from '../src/index.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

/** Module paths (relative to the package root, node_modules/<pkg>/... for packages) loaded by importing `entry`. */
async function loadedBy(entry: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/probes/loaded-modules.mjs', entry], {
    cwd: root,
  });
  return (JSON.parse(stdout) as string[])
    .filter((u) => u.startsWith('file:'))
    .map((u) => relative(root, fileURLToPath(u)).split('\\').join('/'));
}

const HEAVY_PACKAGES = ['apache-arrow', 'hyparquet', 'hyparquet-writer', 'yaml', 'flatbuffers'];
const packagesIn = (paths: string[]) =>
  [...new Set(paths.filter((p) => p.startsWith('node_modules/')).map((p) => p.split('/')[1]!))].sort();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fraudscore-lazy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the root import', () => {
  it('loads no Arrow, Parquet, YAML or training module', async () => {
    const loaded = await loadedBy('./src/index.ts');
    expect(loaded).toContain('src/scorer.ts');
    expect(loaded).toContain('src/model.ts');
    expect(packagesIn(loaded).filter((p) => HEAVY_PACKAGES.includes(p))).toEqual([]);
    const lazyFiles = loaded.filter(
      (p) =>
        p === 'src/data/arrow.ts' ||
        p === 'src/data/parquet.ts' ||
        (p.startsWith('src/train/') && p !== 'src/train/config-error.ts'),
    );
    expect(lazyFiles).toEqual([]);
  });

  it('the probe does see them where they are imported (fraudscore/server loads apache-arrow)', async () => {
    const loaded = await loadedBy('./src/server/index.ts');
    expect(packagesIn(loaded)).toContain('apache-arrow');
  });
});

describe('lazy entry points', () => {
  it('loadConfig and train load their code on the first call and keep their errors', async () => {
    const cfg = await loadConfig(undefined, ['training.epochs=3']);
    expect(cfg.training.epochs).toBe(3);
    await expect(loadConfig(undefined, ['training.epoch=3'])).rejects.toBeInstanceOf(ConfigError);
    await expect(train({ training: { epochs: -1 } } as never)).rejects.toBeInstanceOf(ConfigError);
  });

  it('reads and writes Arrow and Parquet through the lazily loaded modules', async () => {
    const features = DEFAULT_FEATURES.slice(0, 3);
    const rows = Float32Array.from({ length: 12 }, (_, i) => i / 4);
    for (const ext of ['arrow', 'parquet']) {
      const file = join(dir, `t.${ext}`);
      await writeTable(file, { features, rows, n: 4 });
      const t = await loadTable(file, { features });
      expect(t.n).toBe(4);
      expect([...t.rows]).toEqual([...rows]);
    }
  });

  it('an Arrow writer aborted before its module loaded never creates the file', async () => {
    const file = join(dir, 'aborted.arrow');
    const w = openTableWriter(file, { features: ['a'], labels: false, time: false });
    w.abort();
    await expect(w.write({ features: ['a'], rows: new Float32Array(1), n: 1 })).rejects.toThrow('aborted');
    expect(existsSync(file)).toBe(false);
    expect((await readdir(dir)).filter((n) => n.startsWith('aborted'))).toEqual([]);
  });
});
