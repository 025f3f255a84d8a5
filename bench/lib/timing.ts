// A careful timing loop: warm up, calibrate how many calls one sample needs so the clock's
// resolution and the loop's own cost vanish, time several samples, keep the median. The median
// (not the mean) because this machine is shared: a compile job landing on one sample must not move
// the figure. Sync functions are timed in a plain loop, async ones awaited one after another (the
// latency a caller sees; the engines parallelize inside one call, not across calls).

export interface TimingOptions {
  /** Seconds of warm-up calls before anything is recorded (JIT, caches, thread pool wake-up). */
  warmupSeconds: number;
  /** Target seconds per sample; the calls per sample are chosen to fill it. */
  sampleSeconds: number;
  /** Samples to take (at least `minSamples` whatever the budget). */
  samples: number;
  /** Fewest samples, even for a call slower than the budget allows. @default 3 */
  minSamples?: number;
  /** Stop taking samples once this many seconds were spent on this measurement. */
  budgetSeconds: number;
}

export interface Timing {
  /** Median seconds per call over the samples. */
  medianSeconds: number;
  /** Fastest and slowest sample, seconds per call (how noisy the measurement was). */
  minSeconds: number;
  maxSeconds: number;
  /** Calls per sample. */
  callsPerSample: number;
  samples: number;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('Expected at least one value for a median, got none');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function check(o: TimingOptions): number {
  for (const k of ['warmupSeconds', 'sampleSeconds', 'budgetSeconds'] as const) {
    if (!(o[k] >= 0) || !Number.isFinite(o[k]))
      throw new RangeError(`Expected \`${k}\` to be a finite number >= 0, got ${o[k]}`);
  }
  if (!Number.isInteger(o.samples) || o.samples < 1) {
    throw new RangeError(`Expected \`samples\` to be a positive integer, got ${o.samples}`);
  }
  const minSamples = o.minSamples ?? 3;
  if (!Number.isInteger(minSamples) || minSamples < 1) {
    throw new RangeError(`Expected \`minSamples\` to be a positive integer, got ${o.minSamples}`);
  }
  return Math.min(minSamples, o.samples);
}

function summarize(perCall: number[], calls: number): Timing {
  return {
    medianSeconds: median(perCall),
    minSeconds: Math.min(...perCall),
    maxSeconds: Math.max(...perCall),
    callsPerSample: calls,
    samples: perCall.length,
  };
}

/** Calls per sample so that one sample lasts about `sampleSeconds` (at least one call). */
function callsFor(perCall: number, sampleSeconds: number): number {
  return Math.max(1, Math.min(1e7, Math.round(sampleSeconds / Math.max(perCall, 1e-9))));
}

/** [sync] Times `fn` (a synchronous call); see TimingOptions. */
export function timeSync(fn: () => unknown, o: TimingOptions): Timing {
  const minSamples = check(o);
  const start = now();
  // Warm-up doubles as calibration: the last batch of calls gives the per-call estimate.
  let estimate = Number.POSITIVE_INFINITY;
  let batch = 1;
  do {
    const t0 = now();
    for (let i = 0; i < batch; i++) fn();
    estimate = (now() - t0) / batch;
    batch = Math.min(batch * 4, callsFor(estimate, o.sampleSeconds / 4));
  } while (now() - start < o.warmupSeconds);
  const calls = callsFor(estimate, o.sampleSeconds);
  const perCall: number[] = [];
  const measuring = now();
  while (perCall.length < o.samples) {
    const t0 = now();
    for (let i = 0; i < calls; i++) fn();
    perCall.push((now() - t0) / calls);
    if (perCall.length >= minSamples && now() - measuring > o.budgetSeconds) break;
  }
  return summarize(perCall, calls);
}

/** [async] Times `fn` (each call awaited before the next starts); see TimingOptions. */
export async function timeAsync(fn: () => Promise<unknown>, o: TimingOptions): Promise<Timing> {
  const minSamples = check(o);
  const start = now();
  let estimate = Number.POSITIVE_INFINITY;
  let batch = 1;
  do {
    const t0 = now();
    for (let i = 0; i < batch; i++) await fn();
    estimate = (now() - t0) / batch;
    batch = Math.min(batch * 4, callsFor(estimate, o.sampleSeconds / 4));
  } while (now() - start < o.warmupSeconds);
  const calls = callsFor(estimate, o.sampleSeconds);
  const perCall: number[] = [];
  const measuring = now();
  while (perCall.length < o.samples) {
    const t0 = now();
    for (let i = 0; i < calls; i++) await fn();
    perCall.push((now() - t0) / calls);
    if (perCall.length >= minSamples && now() - measuring > o.budgetSeconds) break;
  }
  return summarize(perCall, calls);
}
