// Training configs: the shipped YAML files, dotted overrides typed by the schema, and errors that
// name the dotted key and where it came from.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

import type { SchemaNode } from '../src/train/config-schema.js';

import {
  applyOverrides,
  ConfigError,
  configToYaml,
  DEFAULT_CONFIG,
  loadConfig,
  parseConfig,
  resolveConfig,
  type TrainConfig,
} from '../src/train/config.js';
import { parseSweepSpec, sweepPoints } from '../src/train/sweep.js';

const configs = resolve(import.meta.dirname, '../configs');

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('shipped configs', () => {
  it('default.yaml spells out the built-in defaults (with the real sample weight)', async () => {
    const cfg = await loadConfig(join(configs, 'default.yaml'));
    expect(cfg.data.normal_weight).toBe(9.742);
    expect({ ...cfg, data: { ...cfg.data, normal_weight: 1 } }).toEqual(DEFAULT_CONFIG);
  });

  it("seed.yaml reproduces the original project's setup", async () => {
    const cfg = await loadConfig(join(configs, 'seed.yaml'));
    expect(cfg.data.features).toEqual([...Array.from({ length: 27 }, (_, i) => `V${i + 2}`), 'Amount']);
    expect(cfg.data.log1p).toEqual([]);
    expect(cfg.model).toMatchObject({ kind: 'autoencoder', hidden: [32, 16, 32], dropout: 0.1 });
    expect(cfg.training).toMatchObject({
      epochs: 30,
      batch_size: 1024,
      lr: 0.001,
      weight_decay: 1e-5,
      patience: 5,
      seed: 42,
    });
    expect(cfg.threshold).toEqual({ strategy: 'percentile', value: 95 });
  });

  it('sweep.yaml is a valid sweep over valid keys', async () => {
    const { readFile } = await import('node:fs/promises');
    const spec = parseSweepSpec(await readFile(join(configs, 'sweep.yaml'), 'utf8'), 'sweep.yaml');
    const points = sweepPoints(spec);
    expect(points.length).toBe(3 * 2 * 2 * 3);
    for (const p of points) applyOverrides(structuredClone(DEFAULT_CONFIG), p);
    expect(points[0]).toEqual([
      'training.batch_size=128',
      'training.lr=0.001',
      'model.dropout=0',
      'model.hidden=[32,16,32]',
    ]);
  });
});

describe('overrides', () => {
  it('parses values with the key type', () => {
    const cfg = applyOverrides(structuredClone(DEFAULT_CONFIG), [
      'training.lr=0.005',
      'training.batch_size=512',
      'model.hidden=[64, 8, 64]',
      'data.features=V1,V2,Amount',
      'data.log1p=[]',
      'threshold.strategy=percentile',
      'threshold.value=99',
      'output.name=2024',
    ]);
    expect(cfg.training.lr).toBe(0.005);
    expect(cfg.training.batch_size).toBe(512);
    expect(cfg.model.hidden).toEqual([64, 8, 64]);
    expect(cfg.data.features).toEqual(['V1', 'V2', 'Amount']);
    expect(cfg.data.log1p).toEqual([]);
    expect(cfg.threshold).toEqual({ strategy: 'percentile', value: 99 });
    expect(cfg.output.name).toBe('2024');
    // The base is not modified.
    expect(DEFAULT_CONFIG.training.lr).toBe(0.003);
  });

  it('later overrides win and null is accepted where allowed', () => {
    const cfg = applyOverrides(structuredClone(DEFAULT_CONFIG), [
      'threshold.strategy=percentile',
      'threshold.value=90',
      'threshold.strategy=max-f1',
      'threshold.value=null',
    ]);
    expect(cfg.threshold).toEqual({ strategy: 'max-f1', value: null });
  });

  it.each([
    ['training.lrr=0.1', 'training.lrr', /Unknown config key "training.lrr"/],
    [
      'training.lr=abc',
      'training.lr',
      /"training.lr" \(from command line\) must be a number in \(0, 1000\], got "abc"/,
    ],
    ['training.lr=', 'training.lr', /must be a number/],
    [
      'training.batch_size=1.5',
      'training.batch_size',
      /"training.batch_size" .* must be an integer in \[1, 16777216\], got 1.5/,
    ],
    ['training.epochs=0', 'training.epochs', /"training.epochs"/],
    ['model.hidden=[32,x]', 'model.hidden', /"model.hidden" .* list of integers/],
    ['model.dropout=1', 'model.dropout', /"model.dropout" .* in \[0, 1\)/],
    ['training.backend=tpu', 'training.backend', /one of 'cpu', 'cuda'/],
    ['training=3', 'training', /is a section/],
    ['training.lr.x=3', 'training.lr.x', /Unknown config key/],
    ['data.split.ratios=[0.5,0.5]', 'data.split.ratios', /list of 3 numbers/],
    ['data.split.ratios=[0.5,0.4,0.2]', 'data.split.ratios', /must sum to 1/],
    ['threshold.strategy=percentile', 'threshold.value', /required for strategy 'percentile'/],
    ['data.log1p=[Time]', 'data.log1p', /not in data.features/],
  ])('%s is an error naming %s', (override, key, message) => {
    const e = configError(() => applyOverrides(structuredClone(DEFAULT_CONFIG), [override]));
    expect(e.key).toBe(key);
    expect(e.message).toMatch(message);
    expect(e.code).toBe('ERR_FRAUDSCORE_CONFIG');
  });

  it('rejects a malformed override', () => {
    const e = configError(() => applyOverrides(structuredClone(DEFAULT_CONFIG), ['training.lr']));
    expect(e.message).toBe('Expected an override like training.lr=0.005, got "training.lr"');
  });
});

describe('config files', () => {
  it('merges a partial file over the defaults', () => {
    const cfg = parseConfig('training:\n  lr: 0.01\nmodel:\n  hidden: [8]\n', 'x.yaml');
    expect(cfg.training.lr).toBe(0.01);
    expect(cfg.model.hidden).toEqual([8]);
    expect(cfg.training.batch_size).toBe(DEFAULT_CONFIG.training.batch_size);
  });

  it.each([
    [
      'training:\n  lrr: 0.1\n',
      'training.lrr',
      /Unknown config key "training.lrr" \(from x.yaml:2\); known keys here: training.epochs/,
    ],
    ['training:\n  lr: "0.1"\n', 'training.lr', /"training.lr" \(from x.yaml:2\) must be a number .* got "0.1"/],
    ['training: 3\n', 'training', /must be a mapping, got 3/],
    ['model:\n  hidden: 32\n', 'model.hidden', /"model.hidden" .* got 32/],
    ['data:\n  features: []\n', 'data.features', /non-empty list of strings/],
    ['bogus: 1\n', 'bogus', /Unknown config key "bogus"/],
    ['- a\n- b\n', '', /document \(from x.yaml:1\) must be a mapping/],
    ['training:\n  lr: 1\n  lr: 2\n', '', /not valid YAML/],
    [
      'training:\n  lr: .nan\n',
      'training.lr',
      /"training.lr" \(from x.yaml:2\) must be a number in \(0, 1000\], got NaN/,
    ],
    [
      '# c\ndata:\n  split:\n    ratios: [0.5, 0.5]\n',
      'data.split.ratios',
      /\(from x.yaml:4\) must be a list of 3 numbers/,
    ],
    [
      'model:\n  hidden: [1, 2.5]\n',
      'model.hidden',
      /\(from x.yaml:2\) must be a non-empty list of integers in \[1, 4096\], got \[1, 2.5\]/,
    ],
  ])('%j is an error naming %j', (text, key, message) => {
    const e = configError(() => parseConfig(text, 'x.yaml'));
    expect(e.key).toBe(key);
    expect(e.source).toBe('x.yaml');
    expect(e.message).toMatch(message);
  });

  it('an empty file gives the defaults; a missing file names the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-config-'));
    await writeFile(join(dir, 'empty.yaml'), '');
    expect(await loadConfig(join(dir, 'empty.yaml'))).toEqual(DEFAULT_CONFIG);
    await expect(loadConfig(join(dir, 'nope.yaml'))).rejects.toThrow(/Cannot read config file .*nope.yaml/);
  });

  it('configToYaml round-trips', () => {
    const cfg: TrainConfig = applyOverrides(structuredClone(DEFAULT_CONFIG), [
      'training.lr=0.0001',
      'threshold.strategy=target-fpr',
      'threshold.value=0.01',
    ]);
    const yaml = configToYaml(cfg);
    expect(yaml).toContain('hidden: [64, 16, 64]');
    expect(parseConfig(yaml, 'round-trip')).toEqual(cfg);
  });
});

describe('the shipped JSON Schema (configs/fraudscore.schema.json)', () => {
  const root = join(import.meta.dirname, '..');
  it('is what the configs name for editors, and they validate against it', async () => {
    const { configSchema } = await import('../src/train/config-schema.js');
    const { validate } = configSchema();
    for (const f of ['default.yaml', 'seed.yaml']) {
      const text = await readFile(join(root, 'configs', f), 'utf8');
      expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./fraudscore.schema.json');
      expect(validate(YAML.parse(text)), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('gives every key a description and its default (DEFAULT_CONFIG)', async () => {
    const { configSchema, isSection } = await import('../src/train/config-schema.js');
    const walk = (node: SchemaNode, value: unknown, key: string) => {
      expect(node.description, key).toBeTruthy();
      if (isSection(node)) {
        expect(Object.keys(node.properties!).sort(), key).toEqual(Object.keys(value as object).sort());
        for (const [k, sub] of Object.entries(node.properties!))
          walk(sub, (value as Record<string, unknown>)[k], key ? `${key}.${k}` : k);
      } else expect(node.default, key).toEqual(value);
    };
    const { schema } = configSchema();
    for (const [k, sub] of Object.entries(schema.properties!)) walk(sub, DEFAULT_CONFIG[k as keyof TrainConfig], k);
  });
});

describe('resolveConfig', () => {
  it('fills a partial object with the defaults and checks what is given', () => {
    const cfg = resolveConfig({ training: { lr: 0.01 }, data: { path: 'x.csv' } });
    expect(cfg.training.lr).toBe(0.01);
    expect(cfg.data.path).toBe('x.csv');
    expect(cfg.model).toEqual(DEFAULT_CONFIG.model);
    const e = configError(() => resolveConfig({ training: { batch_size: 0 } }, 'train() config'));
    expect(e.message).toMatch(/"training.batch_size" \(from train\(\) config\) must be an integer/);
    expect(() => resolveConfig({ training: { lrate: 1 } } as never)).toThrow(/Unknown config key "training.lrate"/);
  });
});

describe('sweep specs', () => {
  it('grid and seeded random points', () => {
    const spec = parseSweepSpec(
      'mode: grid\nparams:\n  training.lr: [0.001, 0.01]\n  model.hidden: [[8], [16, 4, 16]]\n',
      's',
    );
    expect(sweepPoints(spec)).toEqual([
      ['training.lr=0.001', 'model.hidden=[8]'],
      ['training.lr=0.001', 'model.hidden=[16,4,16]'],
      ['training.lr=0.01', 'model.hidden=[8]'],
      ['training.lr=0.01', 'model.hidden=[16,4,16]'],
    ]);
    const r = { ...spec, mode: 'random' as const, samples: 3, seed: 7 };
    const a = sweepPoints(r);
    expect(a).toHaveLength(3);
    expect(new Set(a.map((p) => p.join(' '))).size).toBe(3);
    expect(sweepPoints(r)).toEqual(a);
    expect(sweepPoints({ ...r, samples: 100 })).toHaveLength(4);
  });

  it('names a bad sweep field', () => {
    expect(() => parseSweepSpec('mode: grid\nparams:\n  training.lr: []\n', 's')).toThrow(
      /"params.training.lr" \(from s\) must be a non-empty list/,
    );
    expect(() => parseSweepSpec('mode: bayes\nparams: {}\n', 's')).toThrow(
      /"mode" \(from s\) must be 'grid' or 'random'/,
    );
    expect(() => parseSweepSpec('mode: grid\nparams: {}\nsamplez: 3\n', 's')).toThrow(/Unknown sweep key "samplez"/);
  });
});
