// The machine's fp32 FMA peak, measured (not looked up): the addon runs independent FMA chains on
// the widest vectors this CPU has, on 1 thread and on all cores. Kernels are then reported as a
// fraction of it, which says how much of the hardware they use whatever the machine.
import { addon } from '../../src/native.js';

export interface PeakReport {
  /** Seconds spent per measurement. */
  seconds: number;
  /** Best GFLOP/s seen on one thread and on `threads` threads. */
  singleThread: number;
  allThreads: number;
  threads: number;
  simd: string;
  /** Every all-threads measurement (the best is kept: other work can only make a peak look lower). */
  allThreadsSamples: number[];
}

function checkArgs(threads: number, seconds: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Expected \`threads\` to be a positive integer, got ${threads}`);
  }
  if (!(seconds > 0 && seconds <= 60)) throw new RangeError(`Expected \`seconds\` to be in (0, 60], got ${seconds}`);
}

/** [sync] Measures the FMA peak (blocks for about 2 * seconds). */
export function measurePeak(threads: number, seconds: number): PeakReport {
  checkArgs(threads, seconds);
  const single = Math.max(addon.measurePeakGflops(1, seconds / 4), addon.measurePeakGflops(1, seconds / 4));
  const all = [addon.measurePeakGflops(threads, seconds / 2), addon.measurePeakGflops(threads, seconds / 2)];
  return {
    seconds,
    singleThread: single,
    allThreads: Math.max(...all),
    threads,
    simd: addon.cpuInfo().simd,
    allThreadsSamples: all,
  };
}

/**
 * [sync] Measures the all-threads peak again (e.g. after the scoring section) and keeps the best:
 * on a shared machine one moment's measurement can land on a burst of someone else's work.
 */
export function remeasurePeak(p: PeakReport): void {
  checkArgs(p.threads, p.seconds);
  const again = addon.measurePeakGflops(p.threads, p.seconds / 2);
  p.allThreadsSamples.push(again);
  p.allThreads = Math.max(p.allThreads, again);
}
