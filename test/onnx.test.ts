// ONNX export (fp32): the hand-written protobuf encoding, the graph's contract (names, shapes,
// doc strings, opsets), and onnxruntime scoring the exported file like the native fp32 Scorer.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { main } from '../src/cli.js';
import { fitPreprocessing } from '../src/data/preprocess.js';
import { loadTable } from '../src/data/load.js';
import { takeRows } from '../src/data/table.js';
import {
  buildOnnx,
  createModel,
  exportOnnx,
  inspectOnnx,
  type Model,
  ModelError,
  saveModel,
  Scorer,
} from '../src/index.js';
import { decodeMessage, ProtoWriter } from '../src/onnx/protobuf.js';
import { maxRelErr, model29 as model29Of, randomRows, realDataPath, testSeed } from './helpers.js';

const seed = testSeed();
const D = 29;
const AMOUNT = 28;

const model29 = (s = seed): Model => model29Of(s, { name: 'onnx-test', threshold: { value: 1.25, strategy: 'test' } });

/** One thread: the CI machines have two cores shared by everything. */
async function session(bytesOrPath: Uint8Array | string, level: 'disabled' | 'all' = 'all') {
  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, graphOptimizationLevel: level };
  return typeof bytesOrPath === 'string'
    ? ort.InferenceSession.create(bytesOrPath, opts)
    : ort.InferenceSession.create(bytesOrPath, opts);
}

async function runOnnx(s: ort.InferenceSession, rows: Float32Array, d = D) {
  const out = await s.run({ input: new ort.Tensor('float32', rows, [rows.length / d, d]) });
  return {
    score: out.score!.data as Float32Array,
    reconstruction: out.reconstruction!,
    featureErrors: out.feature_errors!,
    standardized: out.standardized!,
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('protobuf writer', () => {
  it('encodes the wire format of the protobuf documentation examples', () => {
    // https://protobuf.dev/programming-guides/encoding/: field 1 = 150 is 08 96 01, field 2 =
    // "testing" is 12 07 74 65 73 74 69 6e 67.
    expect(hex(new ProtoWriter().int(1, 150).finish())).toBe('089601');
    expect(hex(new ProtoWriter().string(2, 'testing').finish())).toBe('120774657374696e67');
    expect(hex(new ProtoWriter().int(1, 0).int(1, 127).int(1, 128).finish())).toBe('0800087f088001');
    // int64 -1 is ten bytes of two's complement
    expect(hex(new ProtoWriter().int(3, -1).finish())).toBe('18ffffffffffffffffff01');
    // 2^40 (past 32 bits): five zero groups of 7 bits, then 2^5
    expect(hex(new ProtoWriter().int(1, 2 ** 40).finish())).toBe('08808080808020');
    expect(hex(new ProtoWriter().float(2, 1).finish())).toBe('150000803f');
    // field 20 needs a two-byte tag: (20 << 3 | 0) = 160 -> a0 01
    expect(hex(new ProtoWriter().int(20, 2).finish())).toBe('a00102');
    expect(hex(new ProtoWriter().message(3, (m) => m.int(1, 150)).finish())).toBe('1a03089601');
  });

  it('reads back what it wrote, and names the offset of a truncated field', () => {
    const bytes = new ProtoWriter()
      .int(1, -5)
      .string(2, 'héllo')
      .float(3, 0.5)
      .message(4, (m) => m.int(1, 7))
      .finish();
    const f = decodeMessage(bytes);
    expect(f.map((x) => x.field)).toEqual([1, 2, 3, 4]);
    expect(BigInt.asIntN(64, f[0]!.varint!)).toBe(-5n);
    expect(new TextDecoder().decode(f[1]!.bytes)).toBe('héllo');
    expect(new DataView(f[2]!.bytes!.buffer, f[2]!.bytes!.byteOffset).getFloat32(0, true)).toBe(0.5);
    expect(decodeMessage(f[3]!.bytes!)[0]!.varint).toBe(7n);
    expect(() => decodeMessage(bytes.subarray(0, bytes.length - 1))).toThrow(/field at byte \d+ runs past the end/);
    expect(() => new ProtoWriter().int(0, 1)).toThrow('Expected a protobuf field number in [1, 2^29 - 1], got 0');
    expect(() => new ProtoWriter().int(1, 0.5)).toThrow('Expected a safe integer for a varint, got 0.5');
  });
});

describe('exportOnnx (fp32)', () => {
  const model = model29();
  let dir: string;
  let bytes: Uint8Array;
  let native: Scorer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraudscore-onnx-'));
    bytes = buildOnnx(model);
    native = new Scorer(model, { backend: 'cpu', threads: 1 });
  });
  afterAll(async () => {
    native.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('scores 10,000 fresh random rows like the native fp32 Scorer, with graph optimizations on and off', async () => {
    const n = 10_000;
    const rows = randomRows(n, D, seed + 1, [AMOUNT]);
    const want = native.explain(rows);
    for (const level of ['all', 'disabled'] as const) {
      const got = await runOnnx(await session(bytes, level), rows);
      // Relative error with the denominator floored at 1e-3 (helpers.maxRelErr): a row the model
      // reconstructs almost perfectly has a score near 0 whose last bits are fp32 rounding noise in
      // both engines; 1e-3 is far below any decision threshold, so absolute differences there
      // under 1e-8 are not errors.
      expect(maxRelErr(got.score, want.scores), level).toBeLessThan(1e-5);
      // feature errors, relative to the row's total error (as test/scorer.test.ts checks them)
      const fe = got.featureErrors.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < D; j++) {
          const e = Math.abs(fe[i * D + j]! - want.featureErrors[i * D + j]!) / Math.max(want.scores[i]! * D, 1e-3);
          worst = Math.max(worst, e);
        }
      }
      expect(worst, level).toBeLessThan(1e-5);
    }
  });

  it('returns reconstruction, feature_errors and standardized as [N, d], score as [N], consistent with each other', async () => {
    const s = await session(bytes);
    expect(s.inputNames).toEqual(['input']);
    expect(s.outputNames).toEqual(['score', 'reconstruction', 'feature_errors', 'standardized']);
    const n = 37;
    const rows = randomRows(n, D, seed + 2, [AMOUNT]);
    const got = await runOnnx(s, rows);
    expect(got.score).toHaveLength(n);
    for (const t of [got.reconstruction, got.featureErrors, got.standardized]) {
      expect(t.dims).toEqual([n, D]);
      expect(t.type).toBe('float32');
    }
    const y = got.reconstruction.data as Float32Array;
    const z = got.standardized.data as Float32Array;
    const fe = got.featureErrors.data as Float32Array;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0; j < D; j++) {
        const k = i * D + j;
        expect(fe[k]).toBe(Math.fround(Math.fround(y[k]! - z[k]!) ** 2));
        sum += fe[k]!;
      }
      expect(Math.abs(got.score[i]! - sum / D) / (sum / D)).toBeLessThan(1e-6);
    }
  });

  it('scores a single-row batch like the same row inside a large batch', async () => {
    const s = await session(bytes);
    const rows = randomRows(500, D, seed + 3, [AMOUNT]);
    const all = (await runOnnx(s, rows)).score;
    for (const i of [0, 123, 499]) {
      const one = await runOnnx(s, rows.slice(i * D, (i + 1) * D));
      expect(one.score).toHaveLength(1);
      expect(one.reconstruction.dims).toEqual([1, D]);
      expect(maxRelErr(one.score, [all[i]!])).toBeLessThan(1e-6);
      expect(maxRelErr(one.score, native.score(rows.slice(i * D, (i + 1) * D)))).toBeLessThan(1e-5);
    }
  });

  it('computes log1p as Log(x + 1) within 1e-7 * (1 + |log1p(x)|) of float64 log1p over its whole domain', async () => {
    // The flagged column gets values across log1p's domain: near -1, tiny, zero, cents, typical
    // amounts and huge ones; the standardized output is compared with float64 arithmetic.
    const probes = [
      -0.999_999, -0.9, -0.5, -1e-3, -1e-7, -1e-30, 0, 1e-30, 1e-9, 1e-7, 1e-5, 1e-3, 0.01, 0.5, 0.99, 1, 1.5, 7.77,
      100, 2_500.5, 25_691.16, 1e6, 3e38,
    ];
    const rows = randomRows(probes.length, D, seed + 4, [AMOUNT]);
    probes.forEach((p, i) => {
      rows[i * D + AMOUNT] = p;
    });
    const got = await runOnnx(await session(bytes), rows);
    const z = got.standardized.data as Float32Array;
    const mean = model.preprocessing.mean[AMOUNT]!;
    const std = model.preprocessing.std[AMOUNT]!;
    probes.forEach((_, i) => {
      const x = rows[i * D + AMOUNT]!;
      const t = Math.log1p(x);
      // back out t from z to compare in the log's own units
      const tOnnx = z[i * D + AMOUNT]! * std + mean;
      // Log(x + 1): rounding x + 1 costs <= 2^-24 absolute (exact for x <= -0.5), Log and the
      // standardization a few fp32 ulps of |t| and of |t - mean|.
      expect(Math.abs(tOnnx - t), `x = ${x}`).toBeLessThan(1e-7 * (1 + Math.abs(t) + Math.abs(t - mean)) * 2);
    });
    // and the scores of those rows still agree with the native log1pf path
    expect(maxRelErr(got.score, native.score(rows))).toBeLessThan(1e-5);
  });

  it('passes non-finite inputs through to a non-finite score instead of a plausible number', async () => {
    const rows = randomRows(4, D, seed + 5, [AMOUNT]);
    rows[0 * D + 3] = Number.NaN;
    rows[1 * D + 7] = Number.POSITIVE_INFINITY;
    rows[2 * D + AMOUNT] = -2; // outside log1p's domain: native reports it, ONNX yields NaN
    const got = await runOnnx(await session(bytes), rows);
    expect(Number.isFinite(got.score[0])).toBe(false);
    expect(Number.isFinite(got.score[1])).toBe(false);
    expect(Number.isFinite(got.score[2])).toBe(false);
    expect(Number.isFinite(got.score[3])).toBe(true);
    // a non-log1p column may be <= -1: Where keeps the raw value, Log's NaN there never leaks
    const ok = randomRows(1, D, seed + 6, [AMOUNT]);
    ok[0] = -5;
    expect(maxRelErr((await runOnnx(await session(bytes), ok)).score, native.score(ok))).toBeLessThan(1e-5);
  });

  it('declares IR version, opset, names, shapes and documents the standardized space', async () => {
    const s = inspectOnnx(bytes);
    expect(s.irVersion).toBe(10);
    expect(s.opsetImports).toEqual([{ domain: '', version: 21 }]);
    expect(s.producerName).toBe('fraudscore');
    expect(s.graph.inputs.map((v) => v.name)).toEqual(['input']);
    expect(s.graph.inputs[0]!.docString).toContain('V1, V2');
    expect(s.graph.outputs.map((v) => v.name)).toEqual(['score', 'reconstruction', 'feature_errors', 'standardized']);
    for (const o of s.graph.outputs.slice(1)) expect(o.docString).toContain('standardized space');
    expect(s.graph.docString).toContain('standardized space');
    expect(s.graph.docString).toContain('log1p on Amount');
    expect(s.graph.docString).toContain('Scores above 1.25 are flagged');
    expect(s.metadata['fraudscore.reconstruction_space']).toBe('standardized');
    expect(JSON.parse(s.metadata['fraudscore.features']!)).toEqual(model.features);
    expect(JSON.parse(s.metadata['fraudscore.threshold']!)).toEqual(model.threshold);
    const ops = s.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'Gemm')).toHaveLength(4);
    expect(ops.filter((o) => o === 'Relu')).toHaveLength(3);
    expect(ops).toEqual(expect.arrayContaining(['Gather', 'Log', 'ScatterElements', 'ReduceMean']));
    expect(ops).not.toContain('Where'); // only the log1p columns are logged
    // Weights are stored [out][in] as the model holds them (Gemm transB=1).
    expect(s.graph.initializers.find((t) => t.name === 'layer0_weight')).toEqual({
      name: 'layer0_weight',
      dataType: 1,
      dims: [32, D],
    });
    // ORT reports the dynamic batch dimension and the fixed feature count
    const sess = await session(bytes);
    const meta = sess.inputMetadata[0]!;
    expect(meta.isTensor).toBe(true);
    if (meta.isTensor) {
      expect(meta.type).toBe('float32');
      expect(meta.shape).toEqual(['N', D]);
    }
    const scoreMeta = sess.outputMetadata[0]!;
    expect(scoreMeta.isTensor && scoreMeta.shape).toEqual(['N']);
  });

  it('writes opsets 13 to 23, each with its IR version, and ORT scores them all the same', async () => {
    const rows = randomRows(200, D, seed + 7, [AMOUNT]);
    const want = native.score(rows);
    const ir: Record<number, number> = { 13: 7, 17: 8, 18: 8, 19: 9, 21: 10, 22: 10, 23: 11 };
    for (const [opset, irVersion] of Object.entries(ir).map(([k, v]) => [Number(k), v] as const)) {
      const b = buildOnnx(model, { opset });
      const s = inspectOnnx(b);
      expect(s.irVersion, `opset ${opset}`).toBe(irVersion);
      // ReduceMean takes axes as an input from opset 18, as an attribute before
      const reduce = s.graph.nodes.find((n) => n.opType === 'ReduceMean')!;
      expect(reduce.inputs.length, `opset ${opset}`).toBe(opset >= 18 ? 2 : 1);
      expect(maxRelErr((await runOnnx(await session(b), rows)).score, want), `opset ${opset}`).toBeLessThan(1e-5);
    }
  });

  it('exports a model without log1p features (no Log node) and one with all features log1p (no Where)', async () => {
    const plain = createModel({ features: 5, hidden: [4], seed });
    const ops = inspectOnnx(buildOnnx(plain)).graph.nodes.map((n) => n.opType);
    expect(ops).not.toContain('Log');
    const rows = randomRows(64, 5, seed + 8);
    const s1 = new Scorer(plain, { backend: 'cpu' });
    expect(maxRelErr((await runOnnx(await session(buildOnnx(plain)), rows, 5)).score, s1.score(rows))).toBeLessThan(
      1e-5,
    );
    s1.dispose();
    const allLog = createModel({ features: 3, hidden: [2], seed });
    allLog.preprocessing.transform = ['log1p', 'log1p', 'log1p'];
    const ops2 = inspectOnnx(buildOnnx(allLog)).graph.nodes.map((n) => n.opType);
    expect(ops2).toContain('Log');
    expect(ops2).not.toContain('Where');
    const rows2 = randomRows(64, 3, seed + 9, [0, 1, 2]);
    const s2 = new Scorer(allLog, { backend: 'cpu' });
    expect(maxRelErr((await runOnnx(await session(buildOnnx(allLog)), rows2, 3)).score, s2.score(rows2))).toBeLessThan(
      1e-5,
    );
    s2.dispose();
  });

  it('writes the file atomically and ORT loads it from the path', async () => {
    const path = join(dir, 'sub', 'model.onnx');
    const res = await exportOnnx(model, path);
    expect(res).toMatchObject({ path, precision: 'fp32', opset: 21, irVersion: 10 });
    const onDisk = await readFile(path);
    expect(onDisk.length).toBe(res.bytes);
    expect(hex(onDisk)).toBe(hex(bytes));
    const rows = randomRows(100, D, seed + 10, [AMOUNT]);
    expect(maxRelErr((await runOnnx(await session(path), rows)).score, native.score(rows))).toBeLessThan(1e-5);
  });

  it('rejects bad options and invalid models with messages naming the problem', async () => {
    expect(() => buildOnnx(model, { precision: 'fp16' as 'fp32' })).toThrow(
      "Expected `precision` to be 'fp32', 'int8' or 'int8-dynamic', got 'fp16'",
    );
    expect(() => buildOnnx(model, { opset: 12 })).toThrow('Expected `opset` to be an integer in [13, 23], got 12');
    expect(() => buildOnnx(model, { opset: 21.5 })).toThrow('Expected `opset` to be an integer in [13, 23], got 21.5');
    const broken = model29();
    broken.preprocessing.std[4] = 0;
    expect(() => buildOnnx(broken)).toThrow(ModelError);
    expect(() => buildOnnx(broken)).toThrow('preprocessing.std[4] (V5) must be finite and > 0, got 0');
    await expect(exportOnnx(model, '')).rejects.toThrow('Expected `path` to be a non-empty string, got string');
    await expect(exportOnnx(model, join(dir, 'x.onnx'), { opset: 99 })).rejects.toThrow(/opset/);
    await expect(stat(join(dir, 'x.onnx'))).rejects.toThrow(/ENOENT/);
  });
});

describe('fraudscore export-onnx', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraudscore-onnx-cli-'));
    await saveModel(model29(), join(dir, 'm'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes DIR/model.onnx by default and FILE with --output; usage errors exit 2 naming the flag', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['export-onnx', '--model', join(dir, 'm')])).toBe(0);
      expect(err.mock.calls.at(-1)?.[0]).toMatch(
        /wrote .*model\.onnx \(fp32, opset 21, IR 10, \d+ bytes, sha256 [0-9a-f]{64}\)/,
      );
      const s = await session(join(dir, 'm', 'model.onnx'));
      expect(s.outputNames[0]).toBe('score');

      const out = join(dir, 'dyn.onnx');
      expect(
        await main([
          'export-onnx',
          '--model',
          join(dir, 'm'),
          '--output',
          out,
          '--precision',
          'int8-dynamic',
          '--opset',
          '17',
        ]),
      ).toBe(0);
      const summary = inspectOnnx(await readFile(out));
      expect(summary.opsetImports[0]!.version).toBe(17);
      expect(summary.graph.nodes.map((n) => n.opType)).toContain('DynamicQuantizeLinear');

      expect(await main(['export-onnx', '--model', join(dir, 'm'), '--int8'])).toBe(2);
      expect(err.mock.calls.at(-1)?.[0]).toContain('holds no int8 quantization: quantize the model first');
      expect(await main(['export-onnx', '--model', join(dir, 'm'), '--opset', '9'])).toBe(2);
      expect(err.mock.calls.at(-1)?.[0]).toContain("--opset must be an integer from 13 to 23, got '9'");
      expect(await main(['export-onnx', '--model', join(dir, 'm'), '--int8', '--precision', 'fp32'])).toBe(2);
      expect(err.mock.calls.at(-1)?.[0]).toContain('--int8 contradicts --precision fp32');
      expect(await main(['export-onnx'])).toBe(2);
      expect(err.mock.calls.at(-1)?.[0]).toContain('missing required option --model');
      expect(await main(['export-onnx', '--model', join(dir, 'missing')])).toBe(1);
      expect(err.mock.calls.at(-1)?.[0]).toContain('is ' + join(dir, 'missing') + ' a fraudscore model directory?');
    } finally {
      err.mockRestore();
    }
  });
});

describe.skipIf(!realDataPath())('exportOnnx on the real sample', () => {
  it('scores every real row (zero and cent amounts included) like the native fp32 Scorer', async () => {
    const table = await loadTable(realDataPath()!);
    const normal = takeRows(
      table,
      Array.from(table.labels!.keys()).filter((i) => table.labels![i] === 0),
    );
    const pre = fitPreprocessing(normal, { log1p: ['Amount'] });
    const model = createModel({ features: table.features, seed, preprocessing: pre });
    const scorer = new Scorer(model, { backend: 'cpu', threads: 1 });
    const got = await runOnnx(await session(buildOnnx(model)), table.rows);
    expect(got.score).toHaveLength(table.n);
    expect(maxRelErr(got.score, scorer.score(table.rows))).toBeLessThan(1e-5);
    scorer.dispose();
  });
});
