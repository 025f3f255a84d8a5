// Loads the model directory argv[2] in a child process (test/hostile-model.test.ts) and prints
// {name, file, message, ms}: a model directory that hangs the load or fills memory is a failed
// test, not a hung vitest.
import { loadModel } from '../../src/model.js';

const t0 = performance.now();
try {
  await loadModel(process.argv[2]!);
  console.log(JSON.stringify({ name: 'loaded', ms: performance.now() - t0 }));
} catch (e) {
  const err = e as Error & { file?: string };
  console.log(JSON.stringify({ name: err.name, file: err.file, message: err.message, ms: performance.now() - t0 }));
}
