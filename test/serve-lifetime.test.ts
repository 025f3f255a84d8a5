// `fraudscore serve` never outlives its parent (issue 16: SIGTERM sent to `npx fraudscore serve`
// orphaned the server, npx does not forward it): it exits when its parent is killed outright, and
// shuts down cleanly on SIGHUP as on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'fraudscore-serve-life-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SERVE_ARGS = ['--model', 'default', '--port', '0', '--backend', 'cpu', '--no-log'];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `check` until it holds or `ms` pass (a bound on waiting, not a timing assertion). */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

const serving = (log: string) => () => {
  try {
    return /on http:\/\/[\d.:]+/.test(readFileSync(log, 'utf8'));
  } catch {
    return false;
  }
};

describe('fraudscore serve lifetime', () => {
  it('exits when its parent is killed with SIGKILL (no signal reaches it)', async () => {
    const log = join(dir, 'orphan.log');
    const parent = spawn(process.execPath, ['test/probes/serve-parent.mjs', log, ...SERVE_ARGS], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((ok) => parent.stdout!.once('data', (b: Buffer) => ok(Number(b.toString()))));
    try {
      expect(await until(serving(log), 30_000)).toBe(true);
      parent.kill('SIGKILL');
      expect(await until(() => !alive(pid), 20_000)).toBe(true);
      expect(readFileSync(log, 'utf8')).toMatch(/parent process \d+ is gone: finishing in-flight requests/);
      expect(readFileSync(log, 'utf8')).toContain('fraudscore: stopped');
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      parent.kill('SIGKILL');
    }
  }, 60_000);

  it('shuts down cleanly on SIGHUP', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', ...SERVE_ARGS], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const exited = new Promise<number | null>((ok) => child.on('exit', ok));
    try {
      expect(await until(() => /on http:\/\//.test(stderr), 30_000)).toBe(true);
      child.kill('SIGHUP');
      expect(await exited).toBe(0);
      expect(stderr).toContain('SIGHUP: finishing in-flight requests');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
