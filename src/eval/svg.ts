// Minimal SVG line/step charts for the evaluation report: no dependency, no script, renders in any
// browser, in GitHub's Markdown view and in a headless screenshot.
import { escapeHtml } from '../html.js';

export interface Series {
  label: string;
  color: string;
  x: readonly number[];
  y: readonly number[];
  /** Draw as a step line (histograms) instead of straight segments. */
  step?: boolean;
  /** Fill the area under the line with this opacity. */
  fill?: number;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xLog?: boolean;
  xRange?: [number, number];
  yRange?: [number, number];
  /** Vertical marker lines, e.g. the threshold. */
  markers?: { x: number; label: string; color: string }[];
  width?: number;
  height?: number;
}

const esc = escapeHtml;

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(0).replace('e+', 'e');
  return Number(v.toPrecision(3)).toString();
}

/** 1, 2 or 5 times a power of ten, >= x: readable tick spacing. */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  const f = x / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Rounds an axis maximum up to a multiple of its tick step. */
function niceCeil(x: number): number {
  const step = niceStep(x / 5);
  return Math.ceil(x / step) * step;
}

/** Renders a chart as a standalone <svg> element. */
export function chart(o: ChartOptions): string {
  const W = o.width ?? 500;
  const H = o.height ?? 360;
  const m = { l: 62, r: 16, t: 34, b: 48 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = o.series.flatMap((s) => s.x).filter((v) => Number.isFinite(v) && (!o.xLog || v > 0));
  const ys = o.series.flatMap((s) => s.y).filter(Number.isFinite);
  let [x0, x1] = o.xRange ?? [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = o.yRange ?? [0, niceCeil(Math.max(...ys, 0) * 1.05 || 1)];
  if (!(x1 > x0)) [x0, x1] = o.xLog ? [x0 / 10 || 1e-3, x0 * 10 || 1] : [x0 - 1, x0 + 1];
  if (!(y1 > y0)) y1 = y0 + 1;
  const tx = o.xLog ? (v: number) => Math.log10(Math.max(v, 1e-300)) : (v: number) => v;
  const X = (v: number) => m.l + ((tx(v) - tx(x0)) / (tx(x1) - tx(x0))) * pw;
  const Y = (v: number) => m.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12" role="img" aria-label="${esc(o.title)}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${esc(o.title)}</text>`,
  );
  // Grid and ticks.
  const xticks: number[] = [];
  if (o.xLog) {
    for (let e = Math.floor(Math.log10(x0)); e <= Math.ceil(Math.log10(x1)); e++) {
      const v = 10 ** e;
      if (v >= x0 * 0.999 && v <= x1 * 1.001) xticks.push(v);
    }
  } else {
    for (let i = 0; i <= 5; i++) xticks.push(x0 + ((x1 - x0) * i) / 5);
  }
  const ystep = niceStep((y1 - y0) / 5);
  const yticks: number[] = [];
  for (let v = Math.ceil(y0 / ystep) * ystep; v <= y1 + ystep * 1e-9; v += ystep)
    yticks.push(Number(v.toPrecision(12)));
  for (const v of xticks) {
    const x = X(v).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="#e5e7eb"/>`,
      `<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle" fill="#374151">${fmtTick(v)}</text>`,
    );
  }
  for (const v of yticks) {
    const y = Y(v).toFixed(1);
    parts.push(
      `<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#e5e7eb"/>`,
      `<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#374151">${fmtTick(v)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle" fill="#111827">${esc(o.xLabel)}</text>`,
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#111827">${esc(o.yLabel)}</text>`,
    `<clipPath id="c${W}x${H}"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath>`,
  );
  for (const s of o.series) {
    const pts: string[] = [];
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.y[i]) || (o.xLog && !(s.x[i] > 0))) continue;
      const x = X(s.x[i]).toFixed(1);
      const y = Y(s.y[i]).toFixed(1);
      if (s.step && pts.length > 0) pts.push(`${x},${pts[pts.length - 1].split(',')[1]}`);
      pts.push(`${x},${y}`);
    }
    if (pts.length === 0) continue;
    if (s.fill) {
      const first = pts[0].split(',')[0];
      const last = pts[pts.length - 1].split(',')[0];
      parts.push(
        `<polygon clip-path="url(#c${W}x${H})" points="${first},${Y(y0).toFixed(1)} ${pts.join(' ')} ${last},${Y(y0).toFixed(1)}" fill="${s.color}" fill-opacity="${s.fill}" stroke="none"/>`,
      );
    }
    parts.push(
      `<polyline clip-path="url(#c${W}x${H})" points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
    );
  }
  for (const mk of o.markers ?? []) {
    if (!Number.isFinite(mk.x) || (o.xLog && !(mk.x > 0))) continue;
    const x = X(Math.min(Math.max(mk.x, x0), x1)).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="${mk.color}" stroke-width="2" stroke-dasharray="6 3"/>`,
      `<text x="${x}" y="${m.t + ph - 8}" dx="4" fill="${mk.color}" font-weight="600">${esc(mk.label)}</text>`,
    );
  }
  // Legend.
  o.series.forEach((s, i) => {
    const y = m.t + 14 + i * 16;
    const x = m.l + pw - 150;
    parts.push(
      `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
      `<text x="${x + 24}" y="${y}" dominant-baseline="middle" fill="#111827">${esc(s.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
