import { flopsPerRow, layerSizes, loadModel } from '../../model.js';
import { backendInfo } from '../../scorer.js';
import { type Command, requireString } from '../command.js';

export const info: Command = {
  name: 'info',
  summary: 'Describe a model (features, layers, threshold, provenance) and the backends here',
  help: `Usage: fraudscore info --model DIR [--json]

Prints the model's name, features, layer sizes, preprocessing, threshold, provenance and metrics,
and which native backends this machine runs.

Options:
  --model DIR   model directory (model.json + weights.safetensors); 'default': the shipped model
  --json        print JSON instead of text`,
  options: { model: { type: 'string' }, json: { type: 'boolean' } },
  async run(values) {
    const dir = requireString(values, 'model');
    const model = await loadModel(dir);
    const backends = backendInfo();
    const { layers: _l, quantization, ...meta } = model;
    const summary = {
      ...meta,
      layerSizes: layerSizes(model),
      flopsPerRow: flopsPerRow(model),
      quantized: quantization
        ? { scheme: quantization.scheme, activations: quantization.activations, outOfRange: quantization.outOfRange }
        : null,
      backends,
    };
    if (values.json) {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    console.log(`model      ${model.name} v${model.version} (format ${model.formatVersion})`);
    console.log(`features   ${model.features.length}: ${model.features.join(', ')}`);
    const logs = model.features.filter((_, j) => model.preprocessing.transform[j] === 'log1p');
    console.log(`preprocess log1p on [${logs.join(', ')}], then standardized (mean/std stored)`);
    console.log(`layers     ${layerSizes(model).join(' -> ')} (${flopsPerRow(model)} FLOPs/row)`);
    if (model.kind === 'hybrid' && model.head) {
      const h = model.training?.hybrid as
        | { labelledFrauds?: number; validation?: { frauds: number; available: { frauds: number } } }
        | undefined;
      const stopped = h?.validation
        ? `, stopped early on ${h.validation.frauds} of ${h.validation.available.frauds} validation frauds`
        : '';
      console.log(
        `kind       hybrid: head ${layerSizes(model.head).join(' -> ')} -> sigmoid (scores are fraud probabilities${h?.labelledFrauds === undefined ? '' : `; trained on ${h.labelledFrauds} labelled frauds${stopped}`})`,
      );
    }
    console.log(
      `threshold  ${model.threshold ? `${model.threshold.value} (${model.threshold.strategy})` : 'none (scores only)'}`,
    );
    console.log(
      `int8       ${quantization ? `${quantization.scheme}, ${quantization.activations} activations${quantization.outOfRange ? `, out of range: ${quantization.outOfRange}` : ''}` : 'no'}`,
    );
    console.log(`created    ${model.provenance.createdAt} by fraudscore ${model.provenance.libraryVersion}`);
    if (model.provenance.dataFingerprint) console.log(`data       sha256 ${model.provenance.dataFingerprint}`);
    if (model.metrics) console.log(`metrics    ${JSON.stringify(model.metrics)}`);
    console.log(
      `backends   cpu ${backends.cpu.simd} x${backends.cpu.threads}; cuda ${backends.cuda.available ? 'available' : `unavailable (${backends.cuda.reason})`}`,
    );
  },
};
