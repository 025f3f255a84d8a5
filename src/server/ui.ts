// Assets and data of the web page at GET /ui: the static files (plain HTML/CSS/JS, no build step)
// and a few sample transactions for its "normal" / "fraud" buttons.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import type { ModelState } from './model-state.js';
import { mulberry32 } from '../data/random.js';

const ASSETS = new Set(['index.html', 'app.js', 'style.css']);

/**
 * The folder of the page's files: next to this module (src/server/ui when run from source), or
 * the source tree from the compiled dist/server/ (tsc copies no HTML/JS).
 */
function uiDir(): string {
  const here = fileURLToPath(new URL('./ui/', import.meta.url));
  if (existsSync(`${here}index.html`)) return here;
  return fileURLToPath(new URL('../../src/server/ui/', import.meta.url));
}

const cache = new Map<string, string>();

/** [async] The text of one of the page's files (read once, then cached). */
export async function uiAsset(name: string): Promise<string> {
  if (!ASSETS.has(name)) throw new Error(`unknown UI asset ${name}`);
  let text = cache.get(name);
  if (text === undefined) {
    text = await readFile(`${uiDir()}${name}`, 'utf8');
    cache.set(name, text);
  }
  return text;
}

export interface Samples {
  normal: number[][];
  fraud: number[][];
  source: { normal: string; fraud: string };
}

const perModel = new WeakMap<ModelState, Promise<Samples>>();

/**
 * [async] Up to 5 normal and 5 fraud transactions in the model's feature order: normal ones from
 * the reference sample (real training rows) when there is one; otherwise, and for frauds, drawn
 * from the synthetic generator's committed statistics when the model uses its features (V1..V28,
 * Amount); as a last resort the normal sample is the model's mean transaction. A sample must show
 * what its button says: frauds are chosen among candidates this model scores above its threshold,
 * normal ones among those it scores below (a fraud the model misses would show LEGIT).
 */
export function sampleTransactions(s: ModelState): Promise<Samples> {
  let p = perModel.get(s);
  if (!p) {
    p = buildSamples(s);
    perModel.set(s, p);
  }
  return p;
}

async function buildSamples(s: ModelState): Promise<Samples> {
  const feats = s.model.features;
  const d = feats.length;
  const out: Samples = { normal: [], fraud: [], source: { normal: 'none', fraud: 'none' } };
  if ('table' in s.reference) {
    const t = s.reference.table;
    const rand = mulberry32(t.n);
    const candidates: number[][] = [];
    for (let k = 0; k < Math.min(CANDIDATES, t.n); k++) {
      const i = Math.floor(rand() * t.n);
      candidates.push(Array.from(t.rows.subarray(i * d, (i + 1) * d)));
    }
    out.normal = onSide(s, candidates, 'below');
    out.source.normal = `reference sample (${s.reference.file})`;
  }
  try {
    const { synthesize } = await import('../synth/synth.js');
    const pick = (fraudRate: number) => {
      const t = synthesize({ rows: CANDIDATES, fraudRate, seed: 7 });
      const cols = feats.map((f) => t.features.indexOf(f));
      if (cols.some((c) => c < 0)) return null;
      const rows: number[][] = [];
      for (let i = 0; i < t.n; i++) rows.push(cols.map((c) => t.rows[i * t.features.length + c]!));
      return rows;
    };
    const fraud = pick(1);
    if (fraud) {
      out.fraud = onSide(s, fraud, 'above');
      out.source.fraud = 'synthetic (fitted per-class statistics of the real data), scored above the threshold';
      if (out.normal.length === 0) {
        out.normal = onSide(s, pick(0)!, 'below');
        out.source.normal = 'synthetic (fitted per-class statistics of the real data)';
      }
    }
  } catch {
    // No synthetic statistics in this installation: fall through to the mean transaction.
  }
  if (out.normal.length === 0) {
    const p = s.model.preprocessing;
    out.normal.push(feats.map((_, j) => (p.transform[j] === 'log1p' ? Math.expm1(p.mean[j]!) : p.mean[j]!)));
    out.source.normal = "the model's mean transaction (preprocessing means)";
  }
  return out;
}

/** Candidate transactions drawn per class before keeping 5 the model decides as labelled. */
const CANDIDATES = 400;

/**
 * [sync] Up to 5 of `rows` on the given side of the model's threshold, spread over that side's
 * range of scores (not only the most extreme ones). Empty when none is (the button is disabled).
 */
function onSide(s: ModelState, rows: number[][], side: 'above' | 'below'): number[][] {
  if (rows.length === 0) return [];
  const scores = s.fp32.scorer.score(Float32Array.from(rows.flat()));
  const t = s.threshold;
  const keep = rows
    .map((r, i) => ({ r, score: scores[i]! }))
    .filter((x) => (side === 'above' ? x.score > t : x.score <= t))
    .sort((a, b) => a.score - b.score);
  if (keep.length <= 5) return keep.map((x) => x.r);
  return Array.from({ length: 5 }, (_, k) => keep[Math.floor(((k + 0.5) * keep.length) / 5)]!.r);
}
