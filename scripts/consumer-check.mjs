// `npm run test:consumer` (CI runs it after `npm test`): installs the package the way a service does
// and checks that it works there. `npm pack` (prepack builds the prebuilt addon), then in a fresh
// directory `npm install <tarball>`: no compiler may run (no build/ appears in
// node_modules/fraudscore), the install takes < 90 s, and the service can `import` and `require` it,
// type-check against it (tsc --module nodenext --strict), load the default model, score, start
// `fraudscore/server` and run `npx fraudscore --help`.
//
// better-sqlite3 (optional, only the server's prediction log) is left out with --omit=optional: its
// install downloads a prebuilt binary from GitHub, which CI cannot reach, and would then compile for
// minutes. So this also checks that the package works without it, and that asking for a log file
// names what is missing.
//
// FRAUDSCORE_TARBALL=<file.tgz> checks that tarball instead of packing; KEEP=1 keeps the directory.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const work = mkdtempSync(join(tmpdir(), 'fraudscore-consumer-'));
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' };
const failures = [];

function step(name, fn) {
  const t0 = performance.now();
  try {
    const note = fn();
    console.log(`ok   ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)${note ? `: ${note}` : ''}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}: ${e.message}`);
  }
}

function run(cmd, args, options = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', env, ...options });
  if (res.status !== 0) {
    const out = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited with ${res.status ?? res.signal}\n${out}`);
  }
  return res.stdout;
}

// ---- the tarball ------------------------------------------------------------------------------
let tarball = process.env.FRAUDSCORE_TARBALL ? resolve(process.env.FRAUDSCORE_TARBALL) : '';
if (!tarball) {
  step('npm pack (prepack builds the prebuilt addon)', () => {
    run('npm', ['pack', '--pack-destination', work], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    tarball = join(
      work,
      readdirSync(work).find((f) => f.endsWith('.tgz')),
    );
  });
}
if (!tarball) process.exit(1);

const prebuildDir = `package/prebuilds/${process.platform}-${process.arch}/`;
step('tarball contents', () => {
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const problems = [];
  if (!files.some((f) => f.startsWith(prebuildDir) && f.endsWith('.node'))) problems.push(`no ${prebuildDir}*.node`);
  if (!files.includes('package/LICENSE')) problems.push('no LICENSE');
  if (!files.includes('package/models/default/model.json')) problems.push('no models/default');
  const bad = files.filter((f) => /\.map$|^package\/(native\/tests|test|src|build)\/|\.test\.[cm]?js$/.test(f));
  if (bad.length) problems.push(`should not ship: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', ...' : ''}`);
  if (problems.length) throw new Error(problems.join('; '));
  return `${files.length} files, ${(statSync(tarball).size / 1024).toFixed(0)} KiB packed`;
});

// ---- a fresh service installs it --------------------------------------------------------------
const svc = join(work, 'service');
mkdirSync(svc);
writeFileSync(join(svc, 'package.json'), `${JSON.stringify({ name: 'service', private: true, type: 'module' })}\n`);
step('npm install <tarball> in a fresh service (< 90 s, nothing compiled)', () => {
  const t0 = performance.now();
  run('npm', ['install', tarball, '--omit=optional', '--no-audit', '--no-fund'], { cwd: svc });
  const seconds = (performance.now() - t0) / 1000;
  const pkg = join(svc, 'node_modules', 'fraudscore');
  if (existsSync(join(pkg, 'build'))) throw new Error(`${pkg}/build exists: the addon was compiled on install`);
  if (seconds >= 90) throw new Error(`install took ${seconds.toFixed(1)} s (limit 90 s)`);
  return `${seconds.toFixed(1)} s`;
});

const ROW = 'new Float32Array(model.features.length)';
const files = {
  'esm.mjs': `
import { backendInfo, defaultModelPath, loadModel, Scorer } from 'fraudscore';
const model = await loadModel('default');
const again = await loadModel(defaultModelPath);
if (again.version !== model.version) throw new Error('defaultModelPath and "default" differ');
const scorer = new Scorer(model, { backend: 'cpu' });
const scores = scorer.score(${ROW});
if (!(scores.length === 1 && Number.isFinite(scores[0]))) throw new Error('bad score ' + scores[0]);
const info = backendInfo();
scorer.dispose();
console.log('score', scores[0].toFixed(4), 'cuda compiled in:', info.cuda?.built);
`,
  'cjs.cjs': `
const { loadModel, Scorer, defaultModelPath } = require('fraudscore');
const server = require('fraudscore/server');
if (typeof server.createServer !== 'function') throw new Error('fraudscore/server has no createServer');
loadModel(defaultModelPath).then((model) => {
  const scorer = new Scorer(model, { backend: 'cpu' });
  console.log('score', scorer.score(${ROW})[0].toFixed(4));
});
`,
  'consumer.ts': `
import { defaultModelPath, loadModel, type Model, Scorer, type ScoreResult } from 'fraudscore';
import { createServer, type ServerOptions } from 'fraudscore/server';
const model: Model = await loadModel(defaultModelPath);
const scorer = new Scorer(model, { backend: 'auto' });
const scores: Float32Array = scorer.score(new Float32Array(model.features.length));
const result: ScoreResult = await scorer.scoreAsync(new Float32Array(model.features.length), { explain: true });
const options: ServerOptions = { model: 'default', log: false };
const app = createServer(options);
await app.fraudscore.loaded;
console.log(scores[0], result.scores[0]);
`,
  'server.mjs': `
import { createServer } from 'fraudscore/server';
const app = createServer({ model: 'default' });
await app.fraudscore.loaded;
const address = await app.listen({ port: 0, host: '127.0.0.1' });
const health = await (await fetch(address + '/health')).json();
const body = { features: new Array(app.fraudscore.state.model.features.length).fill(0) };
const res = await fetch(address + '/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const prediction = await res.json();
await app.close();
if (res.status !== 200 || !Number.isFinite(prediction.reconstruction_error)) {
  throw new Error('POST /predict ' + res.status + ' ' + JSON.stringify(prediction));
}
let named = '';
try {
  createServer({ model: 'default', log: 'predictions.sqlite' });
} catch (e) {
  named = e.message;
}
if (!/better-sqlite3/.test(named)) throw new Error('a log file without better-sqlite3 should name it, got: ' + named);
console.log('health', health.status, 'score', prediction.reconstruction_error.toFixed(4));
`,
};
for (const [name, text] of Object.entries(files)) writeFileSync(join(svc, name), text.trimStart());

step('import (ESM): loadModel("default"), defaultModelPath, score', () =>
  run('node', ['esm.mjs'], { cwd: svc }).trim(),
);
step("require('fraudscore') (CommonJS)", () => run('node', ['cjs.cjs'], { cwd: svc }).trim());
step('tsc --module nodenext --strict on a consumer file', () => {
  // The service has no @types/node of its own: the repository's (the version it pins) stands in.
  const tsc = require.resolve('typescript/bin/tsc');
  const typeRoots = join(root, 'node_modules', '@types');
  const args = ['--module', 'nodenext', '--target', 'es2022', '--strict', '--noEmit'];
  run(process.execPath, [tsc, ...args, '--typeRoots', typeRoots, '--types', 'node', 'consumer.ts'], { cwd: svc });
});
step('fraudscore/server: /health, POST /predict; a log file names better-sqlite3', () =>
  run('node', ['server.mjs'], { cwd: svc }).trim(),
);
step('npx fraudscore --help', () => {
  const out = run('npx', ['--no-install', 'fraudscore', '--help'], { cwd: svc });
  if (!/serve/.test(out)) throw new Error(`unexpected help:\n${out}`);
  return `${out.split('\n').length} lines`;
});

if (process.env.KEEP) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
if (failures.length) {
  console.log(`consumer check: ${failures.length} failed: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('consumer check: all passed');
