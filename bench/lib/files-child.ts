// Runs one scoreFile() in a fresh process so that its peak RSS is the file scoring's own, not the
// bench's (which holds tfjs, onnxruntime and 65k-row buffers). Prints one JSON line on stdout.
// Usage: node --import tsx bench/lib/files-child.ts <modelDir> <input> <output>
import { readFileSync } from 'node:fs';

import { loadModel } from '../../src/model.js';
import { scoreFile } from '../../src/score-file.js';

const [modelDir, input, output] = process.argv.slice(2);
if (!modelDir || !input || !output) {
  console.error('usage: files-child.ts <modelDir> <input> <output>');
  process.exit(2);
}
/**
 * Peak resident memory of this process, KiB. On Linux from VmHWM: getrusage's maxrss (what
 * process.resourceUsage() reports) carries over the high-water mark of the process that forked us
 * (the bench, with tfjs and onnxruntime loaded) across exec, so it would report the parent's size.
 */
function peakKiB(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS;
}

const model = await loadModel(modelDir);
// Peak RSS with the modules and model loaded, before any row is read: the floor the run starts from.
const baselineKiB = peakKiB();
const t0 = performance.now();
const r = await scoreFile({ model, input, output });
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(
  `${JSON.stringify({ rows: r.rows, flagged: r.flagged, seconds, baselineKiB, peakKiB: peakKiB() })}\n`,
);
