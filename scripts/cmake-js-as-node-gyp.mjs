#!/usr/bin/env node
// Stands in for node-gyp when prebuildify calls `node-gyp rebuild --target=... --release`: builds
// the addon with cmake-js into build/Release, where prebuildify looks for the .node file.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const extra = (process.env.FRAUDSCORE_CMAKE_JS_ARGS ?? '').split(' ').filter(Boolean);
const res = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build', ...extra], { stdio: 'inherit' });
process.exit(res.status ?? 1);
