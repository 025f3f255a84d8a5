// The hybrid model's head in the ONNX graph (native/include/fraudscore/head.h's contract), after
// the autoencoder's outputs:
//   head_input = Concat(z, Log(feature_errors + 1), Log(score + 1)) [N, 2d + 1]
//     -> Gemm(transB=1) + Relu ... last Gemm [N, 1] -> Sigmoid -> Reshape [N] = fraud_probability
// Log(x + 1) stands for log1p as in the preprocessing (see export.ts's accuracy note): errors are
// >= 0, so x + 1 >= 1 and the rounding of the sum is at most one fp32 ulp of the result.
import type { Model } from '../model.js';
import type { GraphBuilder } from './graph.js';
import { DataType } from './proto.js';

export const ONNX_PROBABILITY = 'fraud_probability';

/**
 * Appends the head to `g`: `z` and `fe` are [N, d], `scoreKeep` the AE score [N, 1]. The output
 * (reserved by the caller) is named ONNX_PROBABILITY.
 */
export function appendHead(g: GraphBuilder, model: Model, z: string, fe: string, scoreKeep: string): string {
  const layers = model.head!.layers;
  const one = g.scalar('head_one', DataType.FLOAT, 1);
  const logFe = g.op1('Log', [g.op1('Add', [fe, one], { outputs: ['head_fe_plus_1'] })], {
    outputs: ['head_log1p_fe'],
  });
  const logScore = g.op1('Log', [g.op1('Add', [scoreKeep, one], { outputs: ['head_score_plus_1'] })], {
    outputs: ['head_log1p_score'],
  });
  let h = g.op1('Concat', [z, logFe, logScore], {
    outputs: ['head_input'],
    attributes: { axis: { type: 'int', value: 1 } },
  });
  layers.forEach((layer, i) => {
    const w = g.constant(`head${i}_weight`, DataType.FLOAT, [layer.out, layer.in], layer.weight);
    const b = g.constant(`head${i}_bias`, DataType.FLOAT, [layer.out], layer.bias);
    const y = g.op1('Gemm', [h, w, b], {
      outputs: [`head${i}_linear`],
      attributes: { transB: { type: 'int', value: 1 } },
    });
    h = i + 1 < layers.length ? g.op1('Relu', [y], { outputs: [`head${i}_relu`] }) : y;
  });
  const p = g.op1('Sigmoid', [h], { outputs: ['head_probability_2d'] });
  const flat = g.constant('head_flat_shape', DataType.INT64, [1], [-1]);
  return g.op('Reshape', [p, flat], { outputs: [ONNX_PROBABILITY], exact: true })[0]!;
}
