// exportOnnx: the model as a self-contained ONNX graph, preprocessing included, so any ONNX runtime
// gives the same scores as the native engines from the same raw rows.
//
//   input [N, d] raw features
//     -> t = input with its log1p columns replaced by Log(x + 1) (Gather, Log, ScatterElements;
//        ONNX has no Log1p op; see accuracy note)
//     -> standardized z = (t - mean) * (1 / std)          (the fp32 reciprocal, as the engines use)
//     -> dense layers: Gemm(transB=1) + Relu ... last Gemm linear   (fp32)
//        or the int8 forms below; with quantization.outOfRange 'fp32', both the int8 and the fp32
//        layers, and per row the fp32 reconstruction where the int8 inputs left their range
//     -> reconstruction y [N, d] (standardized space)
//     -> feature_errors = (y - z)^2 [N, d], score = ReduceMean(feature_errors, axis 1) [N]
//
// Log(X + 1) vs log1p: X + 1 is rounded to fp32 (relative error <= 2^-24 of 1 + X), so the result
// is off by at most ~6e-8 absolute from log1p(X), the size of one fp32 ulp of values near 1. It is
// lossy only for |X| well below 1e-7 (log1p(X) ~ X is then absorbed into 1), where t is ~0 anyway
// and the standardized value is dominated by the mean; test/onnx.test.ts measures it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { describeValue } from '../errors.js';
import { type Model, validateModel } from '../model.js';
import { VERSION } from '../version.js';
import { denseLayers, outOfRangeRows, reducer } from './dense.js';
import { GraphBuilder } from './graph.js';
import { appendHead, ONNX_PROBABILITY } from './head.js';
import { DataType, encodeModel, type ValueInfoProto } from './proto.js';

/**
 * - 'fp32': Gemm layers, bit-for-bit the arithmetic of the native fp32 engines up to summation order.
 * - 'int8': the model's static int8 quantization (model.quantization, see quant.h's contract) run
 *   with integer kernels: QuantizeLinear (uint8) -> Clip -> MatMulInteger (int32, the zero points
 *   subtracted; u8 x u8 for the signed first layer, u8 x s8 after it, so no CPU kernel saturates)
 *   -> Cast -> Mul by sx*sw[o] -> Add bias. QuantizeLinear
 *   rounds x / sx (computed in fp32) half to even where the contract rounds half away from zero:
 *   an exact tie can land one step away (test/onnx-int8.test.ts measures how rarely).
 *   With `model.quantization.outOfRange` 'fp32', the graph also holds the fp32 Gemm layers and
 *   takes, per row, their reconstruction (so their feature errors and score) when any layer input
 *   of the int8 layers leaves the calibrated range, max_i |x[i]| * fp32(1 / sx[l]) >= 127.5 (quant.h's
 *   fp32 fallback; ReduceMax -> Mul -> GreaterOrEqual -> Where). Both paths run for every row.
 *   Layer 0's test is the engines' fp32 arithmetic; a later layer's input within fp32 rounding of
 *   the limit can fall on the other side (the engines compute y / sx as one FMA with the scales
 *   folded). 'clamp' or absent: the plain int8 graph, which clamps.
 * - 'int8-dynamic': what onnxruntime.quantization.quantize_dynamic produces for these layers
 *   (DynamicQuantizeLinear: per-batch uint8 activations with a zero point, MatMulInteger with
 *   per-channel int8 weights, Cast, Mul by a_scale * b_scale, Add bias). ORT's quantizer is
 *   Python-only, so this reproduces its graph form in order for the benchmark to time ORT's own
 *   int8 kernels on our model. It is NOT the fraudscore int8 contract: its scores differ from
 *   precision 'int8' by the dynamic quantization's error, and because DynamicQuantizeLinear takes
 *   one scale over the whole [N, in] tensor, a row's score depends on the other rows of its batch.
 */
export type OnnxPrecision = 'fp32' | 'int8' | 'int8-dynamic';

export interface ExportOnnxOptions {
  /** @default 'fp32' */
  precision?: OnnxPrecision;
  /**
   * ai.onnx opset to stamp (13 to 23); the IR version follows it (ONNX's own release table).
   * @default 21 (IR 10: onnxruntime >= 1.18 and onnxruntime-node 1.30 run it)
   */
  opset?: number;
}

export interface OnnxExportResult {
  /** Absolute path of the written file. */
  path: string;
  bytes: number;
  sha256: string;
  precision: OnnxPrecision;
  opset: number;
  irVersion: number;
}

export const ONNX_DEFAULT_OPSET = 21;
export const ONNX_MIN_OPSET = 13;
export const ONNX_MAX_OPSET = 23;

/** The lowest IR version that defines each opset (onnx/helper.py VERSION_TABLE). */
function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

/** Graph input/output names: a stable contract for consumers (the server, the benchmark). */
export const ONNX_NAMES = {
  input: 'input',
  score: 'score',
  reconstruction: 'reconstruction',
  featureErrors: 'feature_errors',
  standardized: 'standardized',
} as const;

/** @throws RangeError naming the quantization field that cannot be exported. */
function checkQuantization(model: Model, precision: OnnxPrecision): void {
  const q = model.quantization;
  if (precision === 'fp32' || (precision === 'int8-dynamic' && !q)) return;
  if (!q) {
    throw new RangeError(
      "Expected `model.quantization` for precision 'int8' (quantize the model first), got undefined; " +
        "precision 'int8-dynamic' needs none",
    );
  }
  const nl = model.layers.length;
  if (q.scheme !== 'int8-symmetric-per-channel') {
    throw new RangeError(
      `Expected \`model.quantization.scheme\` to be 'int8-symmetric-per-channel', got '${q.scheme}'`,
    );
  }
  if (precision === 'int8') {
    if (q.activations !== 'static') {
      throw new RangeError(
        `Expected \`model.quantization.activations\` to be 'static' for precision 'int8', got '${q.activations}' ` +
          "(export dynamic activations with precision 'int8-dynamic')",
      );
    }
    if (!Array.isArray(q.inputScales) || q.inputScales.length !== nl) {
      throw new RangeError(
        `Expected \`model.quantization.inputScales\` to hold ${nl} scales (one per layer), got ${q.inputScales?.length}`,
      );
    }
    q.inputScales.forEach((s, l) => {
      if (!(Number.isFinite(s) && s > 0)) {
        throw new RangeError(`Expected \`model.quantization.inputScales[${l}]\` to be finite and > 0, got ${s}`);
      }
    });
  }
  if (q.weights?.length !== nl || q.weightScales?.length !== nl) {
    throw new RangeError(
      `Expected \`model.quantization.weights\` and \`weightScales\` to hold ${nl} layers, got ${q.weights?.length} and ${q.weightScales?.length}`,
    );
  }
  model.layers.forEach((l, i) => {
    const w = q.weights[i];
    const s = q.weightScales[i];
    if (!(w instanceof Int8Array) || w.length !== l.in * l.out) {
      throw new RangeError(
        `Expected \`model.quantization.weights[${i}]\` to be an Int8Array of ${l.in * l.out} values, got ${describeValue(w)} of ${w?.length}`,
      );
    }
    const bad = w.indexOf(-128);
    if (bad >= 0)
      throw new RangeError(`Expected \`model.quantization.weights[${i}][${bad}]\` in [-127, 127], got -128`);
    if (!(s instanceof Float32Array) || s.length !== l.out) {
      throw new RangeError(
        `Expected \`model.quantization.weightScales[${i}]\` to be a Float32Array of ${l.out} values, got ${describeValue(s)} of ${s?.length}`,
      );
    }
    s.forEach((v, o) => {
      if (!(Number.isFinite(v) && v > 0)) {
        throw new RangeError(`Expected \`model.quantization.weightScales[${i}][${o}]\` to be finite and > 0, got ${v}`);
      }
    });
  });
}

function checkOptions(options: ExportOnnxOptions): { precision: OnnxPrecision; opset: number } {
  const { precision = 'fp32', opset = ONNX_DEFAULT_OPSET } = options;
  if (precision !== 'fp32' && precision !== 'int8' && precision !== 'int8-dynamic') {
    throw new RangeError(`Expected \`precision\` to be 'fp32', 'int8' or 'int8-dynamic', got '${precision}'`);
  }
  if (!Number.isInteger(opset) || opset < ONNX_MIN_OPSET || opset > ONNX_MAX_OPSET) {
    throw new RangeError(`Expected \`opset\` to be an integer in [${ONNX_MIN_OPSET}, ${ONNX_MAX_OPSET}], got ${opset}`);
  }
  return { precision, opset };
}

/**
 * [sync] The ONNX ModelProto bytes of `model` (see exportOnnx for the graph's contract).
 * @throws ModelError for an invalid model, RangeError naming a bad option or quantization field
 */
export function buildOnnx(model: Model, options: ExportOnnxOptions = {}): Uint8Array {
  const { precision, opset } = checkOptions(options);
  validateModel(model);
  const hybrid = model.kind === 'hybrid';
  if (hybrid && precision !== 'fp32') {
    throw new RangeError(`Expected \`precision\` 'fp32' for a hybrid model (model.kind 'hybrid'), got '${precision}'`);
  }
  checkQuantization(model, precision);
  const d = model.features.length;
  const g = new GraphBuilder();
  const input = g.reserve(ONNX_NAMES.input);
  // Output names are reserved up front so no intermediate value can take them.
  for (const n of [ONNX_NAMES.score, ONNX_NAMES.reconstruction, ONNX_NAMES.featureErrors, ONNX_NAMES.standardized]) {
    g.reserve(n);
  }
  if (hybrid) g.reserve(ONNX_PROBABILITY);

  // ---- preprocessing: raw -> transformed -> standardized ----
  const { transform, mean, std } = model.preprocessing;
  let t = input;
  const log1pCols = transform.flatMap((tr, j) => (tr === 'log1p' ? [j] : []));
  if (log1pCols.length > 0) {
    const one = g.scalar('one', DataType.FLOAT, 1);
    if (log1pCols.length === d) {
      t = g.op1('Log', [g.op1('Add', [input, one], { outputs: ['input_plus_1'] })], { outputs: ['log1p_input'] });
    } else {
      // Only the log1p columns go through Log (a transcendental per element is most of the
      // preprocessing's cost: Where over Log of every column took ~40% of ORT's time at batch
      // 65,536): gather them, log them, scatter them back into a copy of the input.
      const k = log1pCols.length;
      const cols = g.constant('log1p_cols', DataType.INT64, [k], log1pCols);
      const picked = g.op1('Gather', [input, cols], {
        outputs: ['log1p_picked'],
        attributes: { axis: { type: 'int', value: 1 } },
      });
      const logged = g.op1('Log', [g.op1('Add', [picked, one], { outputs: ['log1p_plus_1'] })], {
        outputs: ['log1p_values'],
      });
      const colsRow = g.constant('log1p_cols_row', DataType.INT64, [1, k], log1pCols);
      const where = g.op1('Expand', [colsRow, g.op1('Shape', [logged], { outputs: ['log1p_shape'] })], {
        outputs: ['log1p_index'],
      });
      t = g.op1('ScatterElements', [input, where, logged], {
        outputs: ['transformed'],
        attributes: { axis: { type: 'int', value: 1 } },
      });
    }
  }
  const meanC = g.constant('mean', DataType.FLOAT, [d], mean);
  // The engines multiply by fp32(1 / std) computed in double (native/src/model.cpp); so do we.
  const invStd = g.constant(
    'inv_std',
    DataType.FLOAT,
    [d],
    std.map((s) => 1 / Math.fround(s)),
  );
  const centered = g.op1('Sub', [t, meanC], { outputs: ['centered'] });
  const z = g.op('Mul', [centered, invStd], { outputs: [ONNX_NAMES.standardized], exact: true })[0]!;

  // ---- dense layers ----
  const q = model.quantization;
  const fallback = precision === 'int8' && q?.outOfRange === 'fp32';
  const reduce = reducer(g, opset);
  let h: string;
  if (fallback) {
    // Both chains from the same z; per row, the fp32 one's reconstruction where the int8 one's
    // inputs left the calibrated range. Errors and score follow from the selected reconstruction,
    // so for those rows every output is the fp32 graph's, bit for bit.
    const int8 = denseLayers(g, model, z, 'int8', { name: 'reconstruction_int8', exact: false });
    const fp32 = denseLayers(g, model, z, 'fp32', { name: 'reconstruction_fp32', exact: false }, 'fp32_');
    const over = outOfRangeRows(g, int8.inputs, q!.inputScales, reduce);
    h = g.op('Where', [over, fp32.output, int8.output], { outputs: [ONNX_NAMES.reconstruction], exact: true })[0]!;
  } else {
    h = denseLayers(g, model, z, precision, { name: ONNX_NAMES.reconstruction, exact: true }).output;
  }

  // ---- errors ----
  const diff = g.op1('Sub', [h, z], { outputs: ['residual'] });
  const fe = g.op('Mul', [diff, diff], { outputs: [ONNX_NAMES.featureErrors], exact: true })[0]!;
  reduce('ReduceMean', fe, 0, ONNX_NAMES.score, true);
  // Hybrid: the head after the decoder, in the same graph (src/onnx/head.ts).
  if (hybrid) appendHead(g, model, z, fe, reduce('ReduceMean', fe, 1, 'score_2d'));

  const rowsDim = 'N';
  const logNames = log1pCols.map((j) => model.features[j]).join(', ');
  const io = (name: string, shape: (number | string)[], docString: string): ValueInfoProto => ({
    name,
    elemType: DataType.FLOAT,
    shape,
    docString,
  });
  const inputs = [
    io(
      input,
      [rowsDim, d],
      `Raw transactions, one row per transaction, features in this order: ${model.features.join(', ')}. ` +
        'Untransformed and unscaled: the graph applies the preprocessing.',
    ),
  ];
  const space =
    'in standardized space (z = (t(x) - mean) / std, t = log1p for log1p features), NOT in raw feature units';
  const outputs = [
    ...(hybrid
      ? [
          io(
            ONNX_PROBABILITY,
            [rowsDim],
            "The supervised head's fraud probability per row (hybrid model); flag as fraud above the threshold.",
          ),
        ]
      : []),
    io(
      ONNX_NAMES.score,
      [rowsDim],
      hybrid
        ? "Mean squared reconstruction error per row, in standardized space (the autoencoder's score; the head reads it)."
        : 'Mean squared reconstruction error per row, in standardized space; flag as fraud above the threshold.',
    ),
    io(ONNX_NAMES.reconstruction, [rowsDim, d], `The autoencoder's reconstruction of each row, ${space}.`),
    io(
      ONNX_NAMES.featureErrors,
      [rowsDim, d],
      `(reconstruction - standardized)^2 per feature, ${space}: what drove the score.`,
    ),
    io(
      ONNX_NAMES.standardized,
      [rowsDim, d],
      `The preprocessed input z that the reconstruction is compared with, ${space}.`,
    ),
  ];
  const precisionDoc =
    precision === 'fp32'
      ? 'fp32 Gemm layers.'
      : precision === 'int8'
        ? 'int8 layers with static input scales (QuantizeLinear to uint8 -> Clip -> MatMulInteger, u8 x u8 in the first layer and u8 x s8 after -> ' +
          'Cast -> Mul(sx*sw) -> Add bias); ' +
          "QuantizeLinear rounds half to even where fraudscore's engines round half away from zero, so an exact tie can differ by one step." +
          (fallback
            ? ' Rows beyond the calibrated range (some layer input with |x| * fp32(1/sx) >= 127.5) are scored by the fp32 Gemm layers ' +
              "instead (quantization.outOfRange 'fp32'): Where selects their fp32 reconstruction, hence errors and score."
            : '')
        : 'int8 layers with dynamic uint8 activations (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul -> Add bias), ' +
          "onnxruntime quantize_dynamic's form; not fraudscore's int8 contract: activation scales are per batch, " +
          "so a row's score depends on the rows scored with it.";
  const threshold = model.threshold?.value;
  const graphDoc =
    `fraudscore autoencoder '${model.name}' version ${model.version} (${precisionDoc}) ` +
    `Input '${input}' [N, ${d}] holds raw features; the graph applies the preprocessing itself` +
    (log1pCols.length > 0 ? ` (log1p on ${logNames}, computed as Log(x + 1))` : '') +
    ` and standardization. Output '${ONNX_NAMES.score}' [N] is the mean over features of ` +
    `(reconstruction - standardized)^2. Outputs '${ONNX_NAMES.reconstruction}', '${ONNX_NAMES.featureErrors}' and ` +
    `'${ONNX_NAMES.standardized}' [N, ${d}] are ${space}. ` +
    (hybrid
      ? `Output '${ONNX_PROBABILITY}' [N] is the hybrid head's probability, from the standardized features, Log(feature_errors + 1) and Log(score + 1). `
      : '') +
    (threshold === undefined
      ? 'The model has no threshold.'
      : `${hybrid ? ONNX_PROBABILITY : 'Scores'} above ${threshold} are flagged as fraud.`);

  const graph = g.build(`fraudscore_${precision.replace('-', '_')}`, inputs, outputs, graphDoc);
  const metadata: Record<string, string> = {
    'fraudscore.model_name': model.name,
    'fraudscore.model_version': model.version,
    'fraudscore.precision': precision,
    'fraudscore.features': JSON.stringify(model.features),
    'fraudscore.reconstruction_space': 'standardized',
  };
  if (hybrid) metadata['fraudscore.kind'] = 'hybrid';
  if (fallback) metadata['fraudscore.out_of_range'] = 'fp32';
  if (model.threshold) metadata['fraudscore.threshold'] = JSON.stringify(model.threshold);
  return encodeModel({
    irVersion: irVersionFor(opset),
    opsetImports: [{ domain: '', version: opset }],
    producerName: 'fraudscore',
    producerVersion: VERSION,
    domain: 'ai.fraudscore',
    modelVersion: Number.isSafeInteger(Number(model.version)) ? Number(model.version) : undefined,
    docString: graphDoc,
    graph,
    metadata,
  });
}

/**
 * [async] Writes `model` as an ONNX file that onnxruntime (and other ONNX runtimes) score from raw
 * rows: input `input` [N, d] float32 (N dynamic), outputs `score` [N], `reconstruction`,
 * `feature_errors` and `standardized` [N, d] (all in standardized space). The file is written to a
 * temporary name and renamed, so a crash never leaves half a model.
 * @throws ModelError for an invalid model, RangeError naming a bad option or quantization field
 */
export async function exportOnnx(
  model: Model,
  path: string,
  options: ExportOnnxOptions = {},
): Promise<OnnxExportResult> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(`Expected \`path\` to be a non-empty string, got ${describeValue(path)}`);
  }
  const { precision, opset } = checkOptions(options);
  const bytes = buildOnnx(model, { precision, opset });
  const abs = resolve(path);
  await mkdir(dirname(abs), { recursive: true });
  const tmp = join(dirname(abs), `.${basename(abs)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, abs);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return {
    path: abs,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    precision,
    opset,
    irVersion: irVersionFor(opset),
  };
}
