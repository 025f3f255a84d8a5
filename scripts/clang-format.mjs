// Runs the clang-format shipped in the `clang-format` npm package over native/ and bindings/.
// --check: fail when a file is not formatted (CI, pre-commit); --fix: rewrite files in place.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const mode = process.argv.includes('--fix') ? 'fix' : 'check';
const exts = /\.(h|hpp|cpp|cc|cu|cuh)$/;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : exts.test(name) ? [p] : [];
  });
}

const files = ['native', 'bindings'].flatMap((d) => walk(d));
// The package resolves the platform binary it ships (no download).
const bin = join(
  require.resolve('clang-format/package.json'),
  '..',
  'bin',
  `${process.platform}_${process.arch}`,
  'clang-format',
);
const args = mode === 'fix' ? ['-i', ...files] : ['--dry-run', '--Werror', ...files];
try {
  execFileSync(bin, args, { stdio: 'inherit' });
} catch {
  console.error('clang-format: some files need formatting; run `npm run format`');
  process.exit(1);
}
