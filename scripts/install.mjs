// The package's `install` script. A prebuilt addon that loads (prebuilds/<platform>-<arch>/, or a
// build/Release left by an earlier build) means nothing to do: a service installs in seconds with
// no compiler. Otherwise, or when a source build is asked for (`npm install --build-from-source`,
// or FRAUDSCORE_BUILD_FROM_SOURCE=1), the addon alone is compiled with cmake-js; the C++ tests and
// benches are built only by the repository's `npm test` (FRAUDSCORE_BUILD_TESTS).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
// The repository itself (native/tests is not in the package) always builds, so its tests never run
// against a prebuild left in prebuilds/ by an earlier `npm pack`.
const inRepo = existsSync(join(root, 'native', 'tests'));
const wantSource =
  inRepo ||
  process.env.npm_config_build_from_source === 'true' ||
  /^(1|true)$/i.test(process.env.FRAUDSCORE_BUILD_FROM_SOURCE ?? '');

/** Loads the addon in a child process (a crash there must not fail this script's own checks). */
function addonLoads() {
  const probe = `require(${JSON.stringify(require.resolve('node-gyp-build'))})(${JSON.stringify(root)})`;
  const res = spawnSync(process.execPath, ['-e', probe], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const line = (res.stderr ?? '').split('\n').find((l) => /^\w*Error: /.test(l)) ?? '';
  return { ok: res.status === 0, error: line.replace(/^\w*Error: /, '') };
}

/** An executable `cmd` (a name looked up on PATH, or a path). */
function found(cmd) {
  if (cmd.includes('/')) return existsSync(cmd);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, cmd)));
}

const target = `${process.platform}-${process.arch}, Node-API 8`;
if (!wantSource) {
  const probe = addonLoads();
  if (probe.ok) process.exit(0);
  console.error(
    `fraudscore: no prebuilt addon loads on ${target} (${probe.error || 'none shipped'}); building from source`,
  );
}

const missing = [];
if (!found('cmake')) missing.push('cmake >= 3.18');
const cxx = process.env.CXX?.split(' ')[0];
if (cxx ? !found(cxx) : !['c++', 'g++', 'clang++'].some(found)) {
  missing.push('a C++17 compiler (g++ >= 10 or clang++; or set CXX)');
}
if (missing.length) {
  console.error(
    `fraudscore: building the native addon from source needs ${missing.join(' and ')}, not found on PATH.\n` +
      'Install them (Debian/Ubuntu: `apt-get install cmake g++`) and run `npm rebuild fraudscore`, ' +
      `or install on a platform that has a prebuilt addon (linux-x64, glibc).`,
  );
  process.exit(1);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const extra = (process.env.FRAUDSCORE_CMAKE_ARGS ?? '').split(' ').filter(Boolean);
const res = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build', ...extra], {
  cwd: root,
  stdio: 'inherit',
});
if (res.status !== 0) {
  console.error(
    'fraudscore: the source build of the native addon failed (see above). ' +
      'FRAUDSCORE_CMAKE_ARGS passes options to cmake-js, e.g. FRAUDSCORE_CMAKE_ARGS=--CDWITH_CUDA=OFF.',
  );
}
process.exit(res.status ?? 1);
