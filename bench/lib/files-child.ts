// Runs one scoreFile() in a fresh process so that its peak RSS is the file scoring's own, not the
// bench's (which holds tfjs, onnxruntime and 65k-row buffers). Prints one JSON line on stdout.
// Usage: node --import tsx bench/lib/files-child.ts <modelDir> <input> <output>
import { loadModel } from '../../src/model.js';
import { scoreFile } from '../../src/score-file.js';

const [modelDir, input, output] = process.argv.slice(2);
if (!modelDir || !input || !output) {
  console.error('usage: files-child.ts <modelDir> <input> <output>');
  process.exit(2);
}
const model = await loadModel(modelDir);
// Peak RSS with the modules and model loaded, before any row is read: the floor the run starts from.
const baselineKiB = process.resourceUsage().maxRSS;
const t0 = performance.now();
const r = await scoreFile({ model, input, output });
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(
  `${JSON.stringify({ rows: r.rows, flagged: r.flagged, seconds, baselineKiB, peakKiB: process.resourceUsage().maxRSS })}\n`,
);
