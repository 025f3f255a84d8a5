#!/usr/bin/env node
// Stands in for node-gyp when prebuildify calls `node-gyp rebuild --target=... --release`: configures
// (so changed options apply) and builds the addon with cmake-js. scripts/prebuildify.mjs passes the
// cmake-js arguments (source directory, build directory, CMake options) as JSON in
// FRAUDSCORE_CMAKE_JS_ARGS; the build directory is <cwd>/build, where prebuildify looks for the .node.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = JSON.parse(process.env.FRAUDSCORE_CMAKE_JS_ARGS ?? '[]');
for (const step of ['configure', 'build']) {
  const res = spawnSync(process.execPath, [cmakeJs, step, ...args], { stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}
