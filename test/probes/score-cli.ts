// Runs `fraudscore score ARGS...` in this process (test/hostile-files.test.ts spawns it), after
// pointing the output's temporary file at /dev/full when PROBE_FULL=1: every write then fails with
// ENOSPC, as on a full disk, with no privileges needed. PROBE_SIGNAL=SIGINT sends that signal to
// this process while the second chunk is scored.
import { symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { main } from '../../src/cli.js';
import { Scorer } from '../../src/scorer.js';

const args = process.argv.slice(2);
const output = args[args.indexOf('--output') + 1]!;
if (process.env.PROBE_FULL === '1') {
  symlinkSync('/dev/full', join(dirname(output), `.partial-${process.pid}-${basename(output)}`));
}
const signal = process.env.PROBE_SIGNAL as NodeJS.Signals | undefined;
if (signal) {
  // Deterministic timing: the signal arrives while the second chunk is scored, when the temporary
  // file is open and the first chunk is being written to it.
  const scoreAsync = Scorer.prototype.scoreAsync;
  let calls = 0;
  Scorer.prototype.scoreAsync = function (this: Scorer, ...a: Parameters<Scorer['scoreAsync']>) {
    if (++calls === 2) process.kill(process.pid, signal);
    return scoreAsync.apply(this, a);
  };
}
process.exitCode = await main(['score', ...args]);
