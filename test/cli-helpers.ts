// Running the CLI in-process in tests: the exit code and what it printed, console captured.
import { vi } from 'vitest';

import { main } from '../src/cli.js';

/** Runs `fraudscore ARGV` with console.log / console.error captured: the exit code and the lines. */
export async function runCli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { code: await main(argv), out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
