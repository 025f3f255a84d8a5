import { join } from 'node:path';

import { loadModel } from '../../model.js';
import {
  exportOnnx,
  ONNX_DEFAULT_OPSET,
  ONNX_MAX_OPSET,
  ONNX_MIN_OPSET,
  type OnnxPrecision,
} from '../../onnx/index.js';
import { type Command, requireString, UsageError } from '../command.js';

/** The artifact's conventional file names (docs: DESIGN.md, "Artifact"). */
const DEFAULT_FILE: Record<OnnxPrecision, string> = {
  fp32: 'model.onnx',
  int8: 'model.int8.onnx',
  'int8-dynamic': 'model.int8-dynamic.onnx',
};

export const exportOnnxCommand: Command = {
  name: 'export-onnx',
  summary: 'Write a model as an ONNX graph (preprocessing included) for onnxruntime, fp32 or int8',
  help: `Usage: fraudscore export-onnx --model DIR [--output FILE] [--int8 | --precision P] [--opset N]

Writes the model as one ONNX file that scores raw rows: input 'input' [N, d] float32 (features in
the model's order, untransformed), outputs 'score' [N] (mean squared reconstruction error) and
'reconstruction', 'feature_errors', 'standardized' [N, d], all in standardized space. The
preprocessing (log1p, standardization) is part of the graph.

Options:
  --model DIR      model directory
  --output FILE    where to write (default: DIR/model.onnx, DIR/model.int8.onnx, ...)
  --int8           the model's static int8 quantization, run with integer kernels
                   (QuantizeLinear -> MatMulInteger); the model must be quantized
  --precision P    fp32 (default), int8 (same as --int8), or int8-dynamic: onnxruntime's own
                   dynamic quantization form (DynamicQuantizeLinear + MatMulInteger), for benchmarks
  --opset N        ai.onnx opset, ${ONNX_MIN_OPSET} to ${ONNX_MAX_OPSET} (default ${ONNX_DEFAULT_OPSET})

Example:
  fraudscore export-onnx --model default --int8`,
  options: {
    model: { type: 'string' },
    output: { type: 'string' },
    int8: { type: 'boolean' },
    precision: { type: 'string' },
    opset: { type: 'string' },
  },
  async run(values) {
    const dir = requireString(values, 'model');
    const named = values.precision as string | undefined;
    if (named !== undefined && !['fp32', 'int8', 'int8-dynamic'].includes(named)) {
      throw new UsageError(`--precision must be fp32, int8 or int8-dynamic, got '${named}'`);
    }
    if (values.int8 && named !== undefined && named !== 'int8') {
      throw new UsageError(`--int8 contradicts --precision ${named}`);
    }
    const precision = (values.int8 ? 'int8' : (named ?? 'fp32')) as OnnxPrecision;
    let opset: number | undefined;
    if (values.opset !== undefined) {
      opset = Number(values.opset);
      if (!Number.isInteger(opset) || opset < ONNX_MIN_OPSET || opset > ONNX_MAX_OPSET) {
        throw new UsageError(
          `--opset must be an integer from ${ONNX_MIN_OPSET} to ${ONNX_MAX_OPSET}, got '${values.opset}'`,
        );
      }
    }
    const model = await loadModel(dir);
    if (precision === 'int8' && !model.quantization) {
      throw new UsageError(
        `${dir} holds no int8 quantization: quantize the model first, or export --precision int8-dynamic`,
      );
    }
    const output = (values.output as string | undefined) ?? join(dir, DEFAULT_FILE[precision]);
    const res = await exportOnnx(model, output, { precision, opset });
    console.error(
      `wrote ${res.path} (${res.precision}, opset ${res.opset}, IR ${res.irVersion}, ${res.bytes} bytes, sha256 ${res.sha256})`,
    );
  },
};
