// `fraudscore serve` on SIGTERM with connections that would hold it open: 50 idle keep-alive
// sockets, 50 sockets that connected and sent nothing, and (second case) one upload that never
// finishes. Before the fix one silent socket kept the server and the log flush up for as long as
// the client held it. Exit 0, and every prediction answered 200 is in the log.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_FEATURES } from '../src/data/table.js';
import { createModel, saveModel } from '../src/model.js';
import { testSeed } from './helpers.js';

const CLI = resolve(import.meta.dirname, '../src/cli.ts');
const FEATURES = [...DEFAULT_FEATURES];

async function startServer(modelDir: string, log: string, graceMs: number) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--model', modelDir, '--port', '0', '--log', log, '--grace-ms', String(graceMs)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const deadline = Date.now() + 60_000;
  while (!/on http:\/\/[^:]+:(\d+)/.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = Number(/on http:\/\/[^:]+:(\d+)/.exec(err)![1]);
  return { child, port, stderr: () => err };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

describe('serve: SIGTERM has a deadline', () => {
  const seed = testSeed();
  const dir = mkdtempSync(join(tmpdir(), 'fraudscore-shutdown-'));
  const modelDir = join(dir, 'model');
  const sockets: net.Socket[] = [];

  beforeAll(async () => {
    await saveModel(
      createModel({ features: FEATURES, seed, name: 'm', threshold: { value: 1.5, strategy: 't' } }),
      modelDir,
    );
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('50 idle keep-alive sockets and 50 silent ones: exit 0 well within the grace, every answered row logged', async () => {
    const log = join(dir, 'a.sqlite');
    const graceMs = 8000;
    const { child, port, stderr } = await startServer(modelDir, log, graceMs);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const transaction = Object.fromEntries(FEATURES.map((f, j) => [f, (j % 5) * 0.3]));
    const statuses = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          new Promise<number>((res, rej) => {
            const r = http.request(
              { port, method: 'POST', path: '/predict', agent, headers: { 'content-type': 'application/json' } },
              (s) => {
                s.resume();
                s.on('end', () => res(s.statusCode!));
              },
            );
            r.on('error', rej);
            r.end(JSON.stringify({ transaction }));
          }),
      ),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (let i = 0; i < 50; i++) sockets.push(net.connect(port).on('error', () => {}));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const done = exited(child);
    child.kill('SIGTERM');
    const code = await done;
    const ms = performance.now() - t0;
    agent.destroy();
    expect({ code, stderr: stderr().split('\n').at(-2) }).toEqual({
      code: 0,
      stderr: `fraudscore: stopped; 50 predictions logged to ${log}`,
    });
    // Idle connections go at once: far below the grace even on a loaded machine.
    expect(ms).toBeLessThan(graceMs / 2);
    const db = new Database(log, { readonly: true });
    expect((db.prepare('SELECT COUNT(*) AS n FROM predictions').get() as { n: number }).n).toBe(50);
    db.close();
  });

  it('an upload that never finishes is cut when the grace ends, then the server exits 0', async () => {
    const log = join(dir, 'b.sqlite');
    const graceMs = 1500;
    const { child, port } = await startServer(modelDir, log, graceMs);
    const slow = net.connect(port).on('error', () => {});
    sockets.push(slow);
    await new Promise((r) => slow.once('connect', r));
    slow.write(
      `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"transaction":`,
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const done = exited(child);
    child.kill('SIGTERM');
    const code = await done;
    const ms = performance.now() - t0;
    expect(code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(graceMs - 100);
    // Generous upper bound: the grace, then the log flush and exit of a loaded machine.
    expect(ms).toBeLessThan(graceMs + 8000);
  });
});
