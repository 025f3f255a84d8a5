// validateModel: the checks every model passes before it is saved, loaded or scored (shapes,
// finite values, preprocessing, quantization and the hybrid head), each failure naming its field.
import { ModelError } from './errors.js';
import { headProblem } from './hybrid/head.js';
import type { Model } from './model.js';

/** [sync] Checks shapes and values. @throws ModelError naming the field. */
export function validateModel(model: Model, file = 'model'): void {
  const fail = (msg: string): never => {
    throw new ModelError(`${file}: ${msg}`, file);
  };
  const d = model.features?.length ?? 0;
  if (!Array.isArray(model.features) || d === 0) fail('features must be a non-empty array of names');
  const seen = new Set<string>();
  model.features.forEach((f, j) => {
    if (typeof f !== 'string' || f === '') fail(`features[${j}] must be a non-empty string, got ${JSON.stringify(f)}`);
    if (seen.has(f)) fail(`features[${j}] repeats the name ${JSON.stringify(f)}`);
    seen.add(f);
  });
  const p = model.preprocessing;
  if (!p) fail('preprocessing is missing');
  for (const key of ['transform', 'mean', 'std'] as const) {
    if (!Array.isArray(p[key]) || p[key].length !== d) {
      fail(`preprocessing.${key} must have ${d} entries (one per feature), got ${p[key]?.length}`);
    }
  }
  p.transform.forEach((t, j) => {
    if (t !== 'none' && t !== 'log1p') fail(`preprocessing.transform[${j}] is '${t}', expected 'none' or 'log1p'`);
  });
  p.mean.forEach((m, j) => {
    if (!Number.isFinite(m)) fail(`preprocessing.mean[${j}] (${model.features[j]}) is not finite`);
  });
  p.std.forEach((s, j) => {
    if (!Number.isFinite(s) || s <= 0)
      fail(`preprocessing.std[${j}] (${model.features[j]}) must be finite and > 0, got ${s}`);
  });
  if (!Array.isArray(model.layers) || model.layers.length === 0) fail('layers is empty');
  const q = model.quantization;
  if (q?.outOfRange !== undefined) {
    if (q.outOfRange !== 'fp32' && q.outOfRange !== 'clamp') {
      fail(`quantization.outOfRange must be 'fp32' or 'clamp', got ${JSON.stringify(q.outOfRange)}`);
    }
    if (q.activations !== 'static') fail(`quantization.outOfRange is for static activations, got '${q.activations}'`);
  }
  let prev = d;
  model.layers.forEach((l, i) => {
    if (l.in !== prev) fail(`layers[${i}].in is ${l.in}, expected ${prev}`);
    if (!(l.weight instanceof Float32Array) || l.weight.length !== l.in * l.out) {
      fail(`layers[${i}].weight must be a Float32Array of ${l.in * l.out} values, got ${l.weight?.length}`);
    }
    if (!(l.bias instanceof Float32Array) || l.bias.length !== l.out) {
      fail(`layers[${i}].bias must be a Float32Array of ${l.out} values, got ${l.bias?.length}`);
    }
    for (const [name, arr] of [
      ['weight', l.weight],
      ['bias', l.bias],
    ] as const) {
      for (let k = 0; k < arr.length; k++) {
        if (!Number.isFinite(arr[k]!)) fail(`layers[${i}].${name}[${k}] is not finite (${arr[k]})`);
      }
    }
    prev = l.out;
  });
  if (prev !== d) fail(`the last layer outputs ${prev} values, expected ${d} (one per feature)`);
  if (model.kind !== undefined && model.kind !== 'autoencoder' && model.kind !== 'hybrid') {
    fail(`kind must be 'autoencoder' or 'hybrid', got ${JSON.stringify(model.kind)}`);
  }
  if (model.kind === 'hybrid') {
    const problem = headProblem(model.head, d);
    if (problem) fail(problem);
  } else if (model.head !== undefined) {
    fail("head is set but kind is not 'hybrid'");
  }
  if (model.threshold !== null && model.threshold !== undefined && !Number.isFinite(model.threshold.value)) {
    fail('threshold.value must be a finite number');
  }
}
