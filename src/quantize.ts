// Int8 quantization and magnitude pruning of a model. The arithmetic is the one every int8 engine
// implements (native/include/fraudscore/quant.h):
//   weights     w_q[o][i] = round(w[o][i] / sw[o]),  sw[o] = max_i |w[o][i]| / 127  (per output)
//   activations q[i] = clamp(round(x[i] / sx[l]), -127, 127)                        (per layer)
//   output      y[o] = (sum_i q[i] * w_q[o][i]) * (sx[l] * sw[o]) + b[o]
// round() is half away from zero; an all-zero weight row gets sw = 1, a layer whose calibrated
// inputs are all zero gets sx = 1. quantize() computes sw and w_q, and with static activations
// the sx from calibration rows (their fp32 forward pass, computed here in float64). With
// outOfRange 'fp32' (the default), a row any of whose layer inputs reaches |x| / sx >= 127.5 is
// scored by the fp32 weights instead of clamping.
import { validateModel, type Model, type Quantization } from './model.js';

export type ActivationScales = 'static' | 'dynamic';

export interface QuantizeOptions {
  /**
   * Raw rows (n * features values, the layout Scorer.score takes) whose activations set the static
   * input scale of every layer. Rows holding a non-finite value (after log1p and standardization)
   * are skipped. Required for 'static' activations; a few thousand normal rows are plenty.
   */
  calibration?: Float32Array;
  /**
   * 'static': one input scale per layer from `calibration`: nothing to measure while scoring (the
   * fastest int8 path, and the form the int8 ONNX export takes). 'dynamic': each block of 16
   * consecutive rows of a call is scaled by its own max |activation| at scoring time: no
   * calibration, and scores that depend slightly on the rows scored together.
   * On the real sample's heavy tails (normal rows reach ~50 standard deviations) one scale set by
   * the maximum leaves the bulk of rows a few steps and loses ~0.015 ROC-AUC; static scales at the
   * 99.95th percentile with the fp32 fallback (the defaults) stay within ~0.0015 of fp32 with ~2% of
   * rows rescored (test/int8-accuracy.test.ts prints every variant).
   * @default 'static'
   */
  activations?: ActivationScales;
  /**
   * Static activations: what a row gets when one of its layer inputs leaves the calibrated range
   * (|x| / scale >= 127.5). 'fp32': the row is scored by the fp32 weights (score and feature errors
   * exactly fp32's), so tight scales cost no accuracy on outliers, which are the rows fraud
   * detection is about; the CPU int8 engine does this, the CUDA int8 engine does not (a Scorer on
   * 'auto' then runs on the CPU). 'clamp': the values clamp to +-127, as plain static
   * quantization does.
   * @default 'fp32'
   */
  outOfRange?: 'fp32' | 'clamp';
  /**
   * The calibrated range of a layer's input is this percentile of |activation| over the
   * calibration rows (nearest rank); 100 is the maximum. Values beyond it go to fp32 or clamp (see
   * `outOfRange`): lower means finer steps for the bulk and more rows beyond the range.
   * @default 99.95 with outOfRange 'fp32', 100 with 'clamp'
   */
  percentile?: number;
}

export interface PruneOptions {
  /** Fraction of each layer's weights set to zero, the smallest |w| first, in [0, 1). */
  amount: number;
}

/** Round half away from zero, as C's round() (Math.round rounds -2.5 to -2). */
function roundAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** [sync] Per-output-channel symmetric int8 weights of one [out][in] matrix (fp32 scales). */
export function quantizeWeightMatrix(w: Float32Array, out: number, inn: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(out * inn);
  const scale = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let mx = 0;
    for (let i = 0; i < inn; i++) mx = Math.max(mx, Math.abs(w[o * inn + i]!));
    const sw = mx > 0 ? Math.fround(mx / 127) : 1;
    scale[o] = sw;
    for (let i = 0; i < inn; i++) {
      // |w / sw| <= 127 up to the rounding of sw; the clamp keeps an ulp over from reaching 128.
      const v = roundAway(Math.fround(w[o * inn + i]! / sw));
      q[o * inn + i] = Math.min(127, Math.max(-127, v));
    }
  }
  return { q, scale };
}

/**
 * [sync] Per layer, the |input| values of the fp32 forward pass over the finite calibration rows
 * (z standardized as the engines do in fp32, the layers in float64).
 */
function collectActivations(model: Model, rows: Float32Array): { abs: Float32Array[]; used: number; skipped: number } {
  const d = model.features.length;
  const n = rows.length / d;
  const { transform, mean, std } = model.preprocessing;
  const inv = std.map((s) => Math.fround(1 / s));
  const mean32 = mean.map((m) => Math.fround(m));
  const abs = model.layers.map((l) => new Float32Array(n * l.in));
  const width = Math.max(d, ...model.layers.map((l) => l.out));
  let a = new Float64Array(width);
  let b = new Float64Array(width);
  let used = 0;
  for (let r = 0; r < n; r++) {
    let ok = true;
    for (let j = 0; j < d; j++) {
      let x = rows[r * d + j]!;
      if (transform[j] === 'log1p') x = Math.fround(Math.log1p(x));
      const z = Math.fround(Math.fround(x - mean32[j]!) * inv[j]!);
      if (!Number.isFinite(z)) ok = false;
      a[j] = z;
    }
    if (!ok) continue;
    model.layers.forEach((L, l) => {
      const dst = abs[l]!;
      const base = used * L.in;
      for (let i = 0; i < L.in; i++) dst[base + i] = Math.abs(a[i]!);
      const last = l + 1 === model.layers.length;
      for (let o = 0; o < L.out; o++) {
        let s = L.bias[o]!;
        const w = o * L.in;
        for (let i = 0; i < L.in; i++) s += L.weight[w + i]! * a[i]!;
        b[o] = !last && s < 0 ? 0 : s;
      }
      [a, b] = [b, a];
    });
    used++;
  }
  return { abs: abs.map((v, l) => v.subarray(0, used * model.layers[l]!.in)), used, skipped: n - used };
}

/** The p-th percentile (nearest rank) of non-negative values; p = 100 is the maximum. */
function percentileOf(values: Float32Array, p: number): number {
  if (values.length === 0) return 0;
  if (p >= 100) {
    let mx = 0;
    for (let k = 0; k < values.length; k++) mx = Math.max(mx, values[k]!);
    return mx;
  }
  const sorted = Float32Array.from(values).sort();
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/**
 * [sync] An int8 form of `model` for `new Scorer(model, { precision: 'int8' })`: symmetric
 * per-output-channel int8 weights and per-layer input scales (static, from `calibration`, or
 * dynamic). Returns a new model; the fp32 weights are kept (the fp32 engines and the exports use
 * them), and model.json records how the quantization was made.
 * @throws TypeError/RangeError naming the option that is wrong.
 */
export function quantize(model: Model, options: QuantizeOptions = {}): Model {
  validateModel(model);
  const { calibration, activations = 'static', outOfRange = 'fp32' } = options;
  if (activations !== 'static' && activations !== 'dynamic') {
    throw new RangeError(`Expected \`activations\` to be 'static' or 'dynamic', got '${String(activations)}'`);
  }
  if (outOfRange !== 'fp32' && outOfRange !== 'clamp') {
    throw new RangeError(`Expected \`outOfRange\` to be 'fp32' or 'clamp', got '${String(outOfRange)}'`);
  }
  if (activations === 'dynamic' && options.outOfRange !== undefined) {
    throw new RangeError('Expected no `outOfRange` with dynamic activations: their range is each block’s maximum');
  }
  const percentile = options.percentile ?? (outOfRange === 'fp32' ? 99.95 : 100);
  if (typeof percentile !== 'number' || !(percentile > 0 && percentile <= 100)) {
    throw new RangeError(`Expected \`percentile\` to be a number in (0, 100], got ${String(percentile)}`);
  }
  const d = model.features.length;
  const weights: Int8Array[] = [];
  const weightScales: Float32Array[] = [];
  for (const l of model.layers) {
    const { q, scale } = quantizeWeightMatrix(l.weight, l.out, l.in);
    weights.push(q);
    weightScales.push(scale);
  }
  let inputScales: number[] = [];
  let calibrationInfo: Record<string, unknown>;
  if (activations === 'static') {
    if (!(calibration instanceof Float32Array)) {
      const value: unknown = calibration;
      const got =
        value === undefined || value === null
          ? String(value)
          : ((value as { constructor?: { name?: string } }).constructor?.name ?? typeof value);
      throw new TypeError(
        `Expected \`calibration\` to be a Float32Array of raw rows for static activations, got ${got}`,
      );
    }
    if (calibration.length === 0 || calibration.length % d !== 0) {
      throw new RangeError(
        `Expected \`calibration\` to be a Float32Array of n*${d} values (n >= 1), got ${calibration.length} values`,
      );
    }
    const { abs, used, skipped } = collectActivations(model, calibration);
    if (used === 0) {
      throw new RangeError(
        `Expected \`calibration\` to hold at least one finite row, got ${skipped} rows with non-finite values`,
      );
    }
    inputScales = abs.map((v) => {
      const range = percentileOf(v, percentile);
      return range > 0 ? Math.fround(range / 127) : 1;
    });
    calibrationInfo = {
      method: percentile >= 100 ? 'max' : 'percentile',
      percentile,
      rows: used,
      skippedRows: skipped,
    };
  } else {
    if (options.percentile !== undefined) {
      throw new RangeError('Expected no `percentile` with dynamic activations: their range is each block’s maximum');
    }
    calibrationInfo = { method: 'dynamic', blockRows: 16 };
  }
  const pruning = model.extra?.pruning as Record<string, unknown> | undefined;
  const quantization: Quantization = {
    scheme: 'int8-symmetric-per-channel',
    activations,
    weights,
    weightScales,
    inputScales,
    ...(activations === 'static' ? { outOfRange } : {}),
    calibration: calibrationInfo,
    ...(pruning ? { pruning } : {}),
  };
  return { ...model, quantization };
}

/**
 * [sync] Magnitude pruning: in each layer, the `amount` fraction of weights with the smallest |w|
 * (ties broken by position) set to zero; biases are kept. Returns a new model (the input is not
 * changed) and records the pruning in `extra.pruning`, which quantize() carries into model.json.
 * Prune before quantizing: pruning a quantized model would leave its int8 weights stale.
 * @throws RangeError when `amount` is outside [0, 1) or the model is already quantized.
 */
export function prune(model: Model, options: PruneOptions): Model {
  validateModel(model);
  const amount = options?.amount;
  if (typeof amount !== 'number' || !(amount >= 0 && amount < 1)) {
    throw new RangeError(`Expected \`amount\` to be a number in [0, 1), got ${String(amount)}`);
  }
  if (model.quantization) {
    throw new RangeError('Expected a model without `quantization`: prune first, then quantize()');
  }
  let zeroed = 0;
  let total = 0;
  const layers = model.layers.map((l) => {
    const weight = Float32Array.from(l.weight);
    const k = Math.floor(amount * weight.length);
    if (k > 0) {
      const order = Array.from({ length: weight.length }, (_, i) => i);
      order.sort((x, y) => Math.abs(weight[x]!) - Math.abs(weight[y]!) || x - y);
      for (let t = 0; t < k; t++) weight[order[t]!] = 0;
    }
    zeroed += k;
    total += weight.length;
    return { ...l, weight, bias: Float32Array.from(l.bias) };
  });
  const previous = model.extra?.pruning as { zeroed?: number } | undefined;
  return {
    ...model,
    layers,
    extra: {
      ...model.extra,
      pruning: {
        method: 'magnitude-per-layer',
        amount,
        zeroedWeights: zeroed,
        totalWeights: total,
        ...(previous ? { previous } : {}),
      },
    },
  };
}
