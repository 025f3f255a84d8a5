// Lifetime probes of the native addon, each in a child process (a SIGSEGV or an abort there is the
// failure being tested, and must not take vitest down): a buffer detached by a transfer or shrunk by
// resize() while scoreAsync runs, and a worker thread ended with scoreAsync in flight. The child is
// test/probes/addon-lifetime.ts; before the fix these cases died with SIGSEGV (rc 139) or
// "terminate called after throwing an instance of 'Napi::Error'" (rc 134).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { testSeed } from './helpers.js';

const PROBE = resolve(import.meta.dirname, 'probes/addon-lifetime.ts');
const seed = testSeed();

function probe(name: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', PROBE], {
    env: { ...process.env, PROBE_CASE: name, FRAUDSCORE_TEST_SEED: String(seed) },
    encoding: 'utf8',
    // Generous: 400k rows scored a few times on a loaded 2-core machine.
    timeout: 60_000,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toMatchObject({
    status: 0,
    signal: null,
  });
  expect(lines.at(-1)).toEqual({ name: 'done' });
  const got = lines.find((l) => l.name === name);
  expect(got).toBeDefined();
  return got!;
}

describe('scoreAsync survives its buffers going away', () => {
  it('rows detached by a transfer mid-call: resolves with the right scores (the worker copied them)', () => {
    expect(probe('detach-rows')).toEqual({ name: 'detach-rows', detached: true, resolved: true, correct: true });
  });
  it('rows of a resizable buffer shrunk to 0 mid-call: resolves with the right scores', () => {
    expect(probe('resize-rows')).toEqual({ name: 'resize-rows', shrunk: true, resolved: true, correct: true });
  });
  it('`out` detached or shrunk mid-call: rejects with ERR_FRAUDSCORE_DETACHED naming `out`', () => {
    for (const name of ['detach-out', 'resize-out']) {
      const r = probe(name);
      expect(r).toMatchObject({ resolved: false, code: 'ERR_FRAUDSCORE_DETACHED' });
      expect(r.message).toBe(
        'Scorer.scoreAsync: `out` was detached or shrunk before the call settled; nothing was written',
      );
    }
  });
  it('SharedArrayBuffer-backed rows and out are read and written in place', () => {
    expect(probe('shared-rows')).toEqual({ name: 'shared-rows', resolved: true, correct: true, inPlace: true });
  });
});

describe('a worker thread ended with scoreAsync in flight', () => {
  it('worker.terminate(): the process lives and its own scorer still works', () => {
    expect(probe('worker-terminate')).toEqual({
      name: 'worker-terminate',
      workerExit: 1,
      resolved: true,
      correct: true,
    });
  });
  it('process.exit() inside the worker: the process lives and its own scorer still works', () => {
    expect(probe('worker-exit')).toEqual({ name: 'worker-exit', workerExit: 3, resolved: true, correct: true });
  });
});
