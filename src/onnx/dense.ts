// The graph pieces exportOnnx assembles (export.ts): the dense layers in each precision's
// arithmetic (fp32 Gemm, the int8 contract's integer kernels, ORT's dynamic form), the per-row
// out-of-range test of the fp32 fallback, and ReduceMean/ReduceMax at any opset.
import type { Model } from '../model.js';
import { quantizeWeightMatrix } from '../quantize.js';
import type { OnnxPrecision } from './export.js';
import type { GraphBuilder } from './graph.js';
import { DataType } from './proto.js';

/** Quantized weights transposed to [in][out] (MatMulInteger computes A[N, in] x B[in, out]). */
function transposeInt8(w: ArrayLike<number>, out: number, inn: number): Int8Array {
  const t = new Int8Array(inn * out);
  for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) t[i * out + o] = w[o * inn + i]!;
  return t;
}

/** ReduceMean / ReduceMax over axis 1 at `opset`: axes is an attribute before opset 18, an input from 18. */
export type Reduce = (
  op: 'ReduceMean' | 'ReduceMax',
  x: string,
  keepdims: 0 | 1,
  output: string,
  exact?: boolean,
) => string;

export function reducer(g: GraphBuilder, opset: number): Reduce {
  let axes: string | undefined; // one shared constant, made on first use
  return (op, x, keepdims, output, exact = false) => {
    const keep = { keepdims: { type: 'int', value: keepdims } } as const;
    if (opset >= 18) {
      axes ??= g.constant('reduce_axes', DataType.INT64, [1], [1]);
      return g.op(op, [x, axes], { outputs: [output], exact, attributes: keep })[0]!;
    }
    return g.op(op, [x], {
      outputs: [output],
      exact,
      attributes: { axes: { type: 'ints', value: [1] }, ...keep },
    })[0]!;
  };
}

export interface DenseChain {
  /** The last layer's output [N, d]. */
  output: string;
  /** Per layer, its input: z for layer 0, the previous layer's ReLU output after it. */
  inputs: string[];
}

/**
 * The dense layers from `z` in one of the precisions' arithmetic (see OnnxPrecision). The last
 * layer's output is named `last.name` (a reserved graph output when `last.exact`); every other
 * name gets `prefix`, so that two chains can share a graph.
 */
export function denseLayers(
  g: GraphBuilder,
  model: Model,
  z: string,
  precision: OnnxPrecision,
  last: { name: string; exact: boolean },
  prefix = '',
): DenseChain {
  const nl = model.layers.length;
  const q = model.quantization;
  const dyn =
    precision === 'int8-dynamic'
      ? model.layers.map((l) => (q ? null : quantizeWeightMatrix(l.weight, l.out, l.in)))
      : [];
  const inputs: string[] = [];
  let h = z;
  model.layers.forEach((layer, i) => {
    inputs.push(h);
    const base = `${prefix}layer${i}`;
    const isLast = i === nl - 1;
    const outName = isLast ? last.name : `${prefix}hidden${i}`;
    const exact = isLast && last.exact;
    const b = g.constant(`${base}_bias`, DataType.FLOAT, [layer.out], layer.bias);
    let y: string;
    if (precision === 'fp32') {
      const w = g.constant(`${base}_weight`, DataType.FLOAT, [layer.out, layer.in], layer.weight);
      y = g.op1('Gemm', [h, w, b], {
        outputs: [isLast ? outName : `${base}_linear`],
        exact,
        attributes: { transB: { type: 'int', value: 1 } },
      });
    } else {
      const wq = q ? q.weights[i]! : dyn[i]!.q;
      const sw = q ? q.weightScales[i]! : dyn[i]!.scale;
      const wtInt8 = transposeInt8(wq, layer.out, layer.in);
      let acc: string;
      let scale: string;
      if (precision === 'int8') {
        // The engines take the scales as fp32 (Float32Array), so the graph does too.
        const sx = Math.fround(q!.inputScales[i]!);
        const sxC = g.scalar(`${base}_input_scale`, DataType.FLOAT, sx);
        // The integer sums must be exact on every CPU onnxruntime runs on. Its u8 x s8 kernel
        // multiplies with vpmaddubsw on AVX2 CPUs without VNNI, which saturates each pair of
        // products to int16: a u8 activation up to 255 against int8 weights overflows (measured on
        // an AVX2-only AMD machine: scores off by up to 33%), while activations in [0, 127] cannot
        // (2 * 127 * 127 < 32768). So:
        // - layers after the first take ReLU outputs: uint8 with zero point 0, clipped to 127 as the
        //   contract clamps, against the int8 weights (the fast u8 x s8 kernel, exact);
        // - the first layer's input is signed: uint8 with zero point 128 against weights stored as
        //   uint8 with zero point 128 too (u8 x u8, which onnxruntime widens to int16 first: exact).
        // Either way MatMulInteger sums sum((xq - zx) * (wq - zw)) = sum(q * w) in int32.
        // QuantizeLinear computes saturate(round_half_even(x / sx) + zero point); the contract
        // clamps q to [-127, 127]: the first layer's -128 (stored 0) is clipped to 1, a later
        // layer's 128..255 to 127.
        const first = i === 0;
        const zx = g.scalar(`${base}_input_zero_point`, DataType.UINT8, first ? 128 : 0);
        let xq = g.op1('QuantizeLinear', [h, sxC, zx], { outputs: [`${base}_input_uint8`] });
        const lo = g.scalar(`${base}_input_uint8_min`, DataType.UINT8, first ? 1 : 0);
        const hi = g.scalar(`${base}_input_uint8_max`, DataType.UINT8, first ? 255 : 127);
        xq = g.op1('Clip', [xq, lo, hi], { outputs: [`${base}_input_uint8_clipped`] });
        if (first) {
          const wt = g.constant(
            `${base}_weight_uint8`,
            DataType.UINT8,
            [layer.in, layer.out],
            Uint8Array.from(wtInt8, (w) => w + 128),
          );
          acc = g.op1('MatMulInteger', [xq, wt, zx, zx], { outputs: [`${base}_acc_int32`] });
        } else {
          const wt = g.constant(`${base}_weight_int8`, DataType.INT8, [layer.in, layer.out], wtInt8);
          acc = g.op1('MatMulInteger', [xq, wt, zx], { outputs: [`${base}_acc_int32`] });
        }
        // y = acc * (sx * sw[o]) + b: one fp32 scale per output channel, as the engines fold it.
        scale = g.constant(
          `${base}_output_scale`,
          DataType.FLOAT,
          [layer.out],
          Array.from(sw, (s) => sx * s),
        );
      } else {
        const [xq, xs, xzp] = g.op('DynamicQuantizeLinear', [h], {
          outputs: [`${base}_input_quantized`, `${base}_input_scale`, `${base}_input_zero_point`],
        });
        // Symmetric int8 weights: zero point 0, so MatMulInteger's b_zero_point input is left out.
        const wt = g.constant(`${base}_weight_int8`, DataType.INT8, [layer.in, layer.out], wtInt8);
        acc = g.op1('MatMulInteger', [xq!, wt, xzp!], { outputs: [`${base}_acc_int32`] });
        const swC = g.constant(`${base}_weight_scale`, DataType.FLOAT, [layer.out], sw);
        scale = g.op1('Mul', [xs!, swC], { outputs: [`${base}_output_scale`] });
      }
      const accF = g.op1('Cast', [acc], {
        outputs: [`${base}_acc_float`],
        attributes: { to: { type: 'int', value: DataType.FLOAT } },
      });
      const scaled = g.op1('Mul', [accF, scale], { outputs: [`${base}_scaled`] });
      y = g.op1('Add', [scaled, b], { outputs: [isLast ? outName : `${base}_linear`], exact });
    }
    h = isLast ? y : g.op1('Relu', [y], { outputs: [outName] });
  });
  return { output: h, inputs };
}

/**
 * quantization.outOfRange 'fp32' (quant.h's fp32 fallback): [N, 1] bool, true for the rows some
 * layer input of the int8 chain (`inputs`) leaves the calibrated range in,
 * max_i |x[i]| * fp32(1 / sx[l]) >= 127.5, the engines' fp32 test. The maximum is taken before
 * the multiplication, which is the same value: rounding is monotonic and 1 / sx > 0.
 */
export function outOfRangeRows(g: GraphBuilder, inputs: string[], inputScales: number[], reduce: Reduce): string {
  const ratios = inputs.map((x, l) => {
    // Layers after the first take ReLU outputs, >= 0 already.
    const abs = l === 0 ? g.op1('Abs', [x], { outputs: [`layer${l}_input_abs`] }) : x;
    const mx = reduce('ReduceMax', abs, 1, `layer${l}_input_max_abs`);
    const inv = g.scalar(`layer${l}_input_inv_scale`, DataType.FLOAT, Math.fround(1 / Math.fround(inputScales[l]!)));
    return g.op1('Mul', [mx, inv], { outputs: [`layer${l}_input_range`] });
  });
  const worst = ratios.length === 1 ? ratios[0]! : g.op1('Max', ratios, { outputs: ['input_range'] });
  const limit = g.scalar('input_range_limit', DataType.FLOAT, 127.5);
  return g.op1('GreaterOrEqual', [worst, limit], { outputs: ['out_of_range'] });
}
