// Prints the Markdown summary of a results file (what bench/README.md's "Latest figures" holds):
//   node --import tsx bench/markdown.ts bench/results/<date>-<host>.json
import { readFileSync } from 'node:fs';

import { type BenchResult, formatMarkdown, RESULT_FORMAT_VERSION } from './lib/report.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx bench/markdown.ts <results.json>');
  process.exit(2);
}
const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
if (r.formatVersion !== RESULT_FORMAT_VERSION) {
  console.error(`${file}: results format ${r.formatVersion}, this script reads ${RESULT_FORMAT_VERSION}`);
  process.exit(1);
}
process.stdout.write(formatMarkdown(r));
