// `npm run prebuildify`: N-API prebuilt binaries in prebuilds/<platform>-<arch>/ for node-gyp-build.
// prebuildify drives node-gyp; this points it (PREBUILD_NODE_GYP) at a shim that builds with
// cmake-js instead, passing any extra arguments (e.g. --CDWITH_CUDA=OFF) through.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const shim = fileURLToPath(new URL('./cmake-js-as-node-gyp.mjs', import.meta.url));
const bin = require.resolve('prebuildify/bin.js');
const extra = process.argv.slice(2).join(' ');
const res = spawnSync(process.execPath, [bin, '--napi', '--strip'], {
  stdio: 'inherit',
  env: { ...process.env, PREBUILD_NODE_GYP: shim, FRAUDSCORE_CMAKE_JS_ARGS: extra },
  shell: false,
});
process.exit(res.status ?? 1);
