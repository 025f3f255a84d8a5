// The machine's fp32 FMA peak, measured (not looked up): the addon runs independent FMA chains on
// the widest vectors this CPU has, on 1 thread and on all cores. Kernels are then reported as a
// fraction of it, which says how much of the hardware they use whatever the machine.
import { addon } from '../../src/native.js';

export interface PeakReport {
  seconds: number;
  /** GFLOP/s on one thread and on `threads` threads. */
  singleThread: number;
  allThreads: number;
  threads: number;
  simd: string;
}

/** [sync] Measures the FMA peak (blocks for about 2 * seconds). */
export function measurePeak(threads: number, seconds: number): PeakReport {
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`Expected \`threads\` to be a positive integer, got ${threads}`);
  if (!(seconds > 0 && seconds <= 60)) throw new RangeError(`Expected \`seconds\` to be in (0, 60], got ${seconds}`);
  // Best of two: the shared machine can only make a peak look lower, never higher.
  const best = (t: number) =>
    Math.max(addon.measurePeakGflops(t, seconds / 2), addon.measurePeakGflops(t, seconds / 2));
  return {
    seconds,
    singleThread: best(1),
    allThreads: best(threads),
    threads,
    simd: addon.cpuInfo().simd,
  };
}
