// Hostile request bodies against POST /predict, in a child process (test/probes/arrow-body.ts) so
// that a hang or a V8 heap abort of the server is a failed test rather than a dead vitest. Before the
// fix, a 100-row Arrow stream whose row counts were patched to 1e6 answered 200 with 1M fabricated
// rows (all logged) and patched to 1e8 blocked the server for minutes; one flipped byte in the
// schema's field count did the same.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { testSeed } from './helpers.js';

const PROBE = resolve(import.meta.dirname, 'probes/arrow-body.ts');

interface Answer {
  name: string;
  status: number;
  ms: number;
  logged: number;
  detail?: string;
}

describe('POST /predict with hostile Arrow IPC bodies', () => {
  const seed = testSeed();
  const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE], {
    env: { ...process.env, FRAUDSCORE_TEST_SEED: String(seed), PROBE_MUTATIONS: '400' },
    encoding: 'utf8',
    // Generous for a loaded machine; the 400 bodies take about 2 s on an idle one.
    timeout: 120_000,
  });
  const answers = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Answer);
  const byName = new Map(answers.map((a) => [a.name, a]));

  it('the server process lives through every body and finishes', () => {
    expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toMatchObject({
      status: 0,
      signal: null,
    });
    expect(answers.at(-1)?.name).toBe('done');
  });

  it('row counts patched past what the buffers hold: 400 within 1 s, naming the mismatch, nothing logged', () => {
    const good = byName.get('good')!;
    expect(good).toMatchObject({ status: 200, logged: 100 });
    const patched = byName.get('length-1e6')!;
    expect(patched.status).toBe(400);
    expect(patched.detail).toBe(
      'Arrow record batch 0 claims 1000000 rows but column V1 holds 100 value(s) (1000000 declared): the length fields disagree with the buffers',
    );
    expect(patched.ms).toBeLessThan(1000);
    expect(patched.logged).toBe(100);
    for (const name of ['length-1e8', 'length-2^53', 'length-negative']) {
      const a = byName.get(name)!;
      expect([400, 413], name).toContain(a.status);
      expect(a.ms, name).toBeLessThan(1000);
      expect(a.logged, name).toBe(100);
    }
    expect(byName.get('length-1e8')!.detail).toMatch(/^Too many rows: the Arrow stream holds more than 1048576/);
  });

  it('random byte mutations: every answer is 200/400/413 within 1 s and never logs more rows than the body holds', () => {
    const mutated = answers.filter((a) => a.name.startsWith('mutation-'));
    expect(mutated.length).toBe(400);
    let prev = byName.get('length-less')!.logged;
    for (const a of mutated) {
      expect([200, 400, 413], `${a.name}: ${a.detail}`).toContain(a.status);
      expect(a.ms, a.name).toBeLessThan(1000);
      const added = a.logged - prev;
      prev = a.logged;
      expect(added, a.name).toBe(a.status === 200 ? added : 0);
      expect(added, a.name).toBeLessThanOrEqual(100);
    }
    // The mutator must reach the metadata, not only the values: most bodies are refused.
    expect(mutated.filter((a) => a.status === 400).length).toBeGreaterThan(200);
  });
});
