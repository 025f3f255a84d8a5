// `npm run prebuildify` (and `prepack`, so every `npm pack`/`npm publish` carries it): the Node-API
// addon for this platform in prebuilds/<platform>-<arch>/fraudscore.glibc.node, which node-gyp-build
// loads before any compile is tried. prebuildify drives node-gyp; PREBUILD_NODE_GYP points it at a
// shim that builds with cmake-js instead, in build-prebuild/ so the repository's own build/ (tests,
// local CUDA architectures) is left alone and the release build stays incremental.
//
// The release addon has the CUDA backend compiled in (cudart linked statically, SASS for sm_80,
// sm_86, sm_89, sm_90 and PTX for compute_90, which newer GPUs JIT), so one file serves CPU-only and
// GPU machines. It needs nvcc; FRAUDSCORE_PREBUILD_CUDA=OFF makes a CPU-only prebuild (not for a release).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const staging = join(root, 'build-prebuild');
const shim = fileURLToPath(new URL('./cmake-js-as-node-gyp.mjs', import.meta.url));
const bin = require.resolve('prebuildify/bin.js');

const cuda = process.env.FRAUDSCORE_PREBUILD_CUDA === 'OFF' ? 'OFF' : 'ON';
const args = [
  `--directory=${root}`,
  `--out=${join(staging, 'build')}`,
  '--CDFRAUDSCORE_BUILD_TESTS=OFF',
  `--CDWITH_CUDA=${cuda}`,
  '--CDFRAUDSCORE_CUDA_ARCHS=80-real;86-real;89-real;90',
  ...process.argv.slice(2),
];

// prebuildify reads the name from <cwd>/package.json and takes the .node file from <cwd>/build/Release.
mkdirSync(staging, { recursive: true });
writeFileSync(join(staging, 'package.json'), `${JSON.stringify({ name: 'fraudscore', private: true })}\n`);
const platformDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
rmSync(platformDir, { recursive: true, force: true });

const res = spawnSync(process.execPath, [bin, '--napi', '--strip', '--tag-libc', `--cwd=${staging}`, `--out=${root}`], {
  stdio: 'inherit',
  env: { ...process.env, PREBUILD_NODE_GYP: shim, FRAUDSCORE_CMAKE_JS_ARGS: JSON.stringify(args) },
});
if (res.status !== 0) process.exit(res.status ?? 1);

// The prebuild must load here and report the backend it was built with.
const files = readdirSync(platformDir).filter((f) => f.endsWith('.node'));
if (files.length !== 1) throw new Error(`expected one addon in ${platformDir}, found ${files.join(', ') || 'none'}`);
const addon = require(join(platformDir, files[0]));
const hasCuda = addon.cudaInfo?.().built === true;
if ((cuda === 'ON') !== hasCuda)
  throw new Error(`prebuild ${files[0]}: CUDA backend ${hasCuda ? 'present' : 'missing'}`);
console.log(`prebuild: prebuilds/${process.platform}-${process.arch}/${files[0]} (CUDA backend ${cuda})`);
