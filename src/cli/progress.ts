// Progress for long CLI commands: a bar with a percentage and an ETA on a terminal (cli-progress),
// plain lines at most every few seconds when stderr is a pipe or a file (logs stay readable), and
// nothing with --quiet. Every command reports the same way through this one helper.
import { SingleBar } from 'cli-progress';

export interface Progress {
  /** `value` of `total` done (total 0: unknown, no percentage or ETA), with a short status text. */
  update(value: number, total: number, status: string): void;
  /** Removes the bar (a terminal) before the command prints its result. */
  stop(): void;
}

/** Seconds between two plain lines in a pipe. */
const PLAIN_EVERY_S = 5;

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * @param label what is being done ('train', 'score', ...), the first word of each line.
 * @param opts.stream where progress goes. @default process.stderr
 */
export function createProgress(label: string, opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { update() {}, stop() {} };
  if (stream.isTTY) {
    // The format is picked on the first update: a bar, a percentage and an ETA when the total is
    // known, the status alone otherwise (an Arrow input's rows are counted as they come).
    let bar: SingleBar | null = null;
    return {
      update(value, total, status) {
        if (bar === null) {
          bar = new SingleBar({
            format:
              total > 0 ? `${label} [{bar}] {percentage}% | ETA {eta_formatted} | {status}` : `${label} | {status}`,
            stream,
            etaBuffer: 20,
            hideCursor: true,
          });
          bar.start(Math.max(total, 1), total > 0 ? value : 0, { status });
        }
        if (total > 0) bar.setTotal(total);
        bar.update(total > 0 ? value : 0, { status });
      },
      stop() {
        bar?.stop();
      },
    };
  }
  const t0 = performance.now();
  let last = Number.NEGATIVE_INFINITY;
  return {
    update(value, total, status) {
      const now = (performance.now() - t0) / 1000;
      if (now - last < PLAIN_EVERY_S) return;
      last = now;
      const share = total > 0 ? value / total : 0;
      const pct = total > 0 ? ` ${(100 * share).toFixed(0)}%` : '';
      const left = total > 0 && share > 0 ? `, ETA ${eta((now * (1 - share)) / share)}` : '';
      stream.write(`${label}:${pct} ${status}${left}\n`);
    },
    stop() {},
  };
}
