import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { feedsMaker, type InputOptions } from '../../src/api/feeds.js';
import type { Activation, Runner } from '../../src/core/runner.js';
import { hostToTf } from '../../src/backend/convert.js';
import { generateFeeds } from '../../src/inputs/generate.js';
import { inferPixelInputs } from '../../src/inputs/preamble.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { GraphBuilder, host } from '../fixtures/graph.js';
import { kerasArchive, type H5Entry } from '../fixtures/keras-writer.js';

/**
 * Inputs a model can use (issue 27, item 6): an input feeding an Embedding is drawn as token ids
 * in [0, input_dim); one whose first operation maps pixels is drawn in [0, 255); the original
 * decides for both sides of a comparison.
 */

const dir = mkdtempSync(join(tmpdir(), 'parity-kinputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;
const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const layer = (cls: string, name: string, config: J = {}): J => ({ module: 'keras.layers', class_name: cls, config: { name, trainable: true, dtype: policy, ...config }, registered_name: null });
const input = (name: string, shape: (number | null)[]): J => ({ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: shape, dtype: 'float32', sparse: false, name }, registered_name: null });
const seq = (name: string, layers: J[]): J => ({ module: 'keras', class_name: 'Sequential', config: { name, trainable: true, dtype: policy, layers }, registered_name: null });

async function load(name: string, config: J, weights: H5Entry[] = []): Promise<Runner> {
  const f = join(dir, name);
  writeFileSync(f, await kerasArchive(config, weights));
  return loadKerasRunner(f);
}

const quiet: InputOptions = {};

describe('Keras models: the first layers decide the default draws', () => {
  it('an input feeding an Embedding (mask_zero) is drawn as token ids in [0, input_dim), not floats that truncate to token 0', async () => {
    const cfg = seq('ner', [input('tokens', [null, 12]), layer('Embedding', 'embedding', { input_dim: 7, output_dim: 2, mask_zero: true })]);
    const r = await load('emb.keras', cfg, [
      { path: 'layers/embedding/vars/0', shape: [7, 2], data: new Float32Array(14).map((_, i) => i / 14) },
    ]);
    try {
      const hints = r.inputHints!();
      expect(hints.get('tokens')?.dist).toEqual({ kind: 'int', low: 0, high: 7 });
      expect(hints.get('tokens')?.reason).toMatch(/Embedding 'embedding' \(input_dim 7\)/);
      const { feeds, sources } = feedsMaker(quiet, r.inputs(), undefined, hints)(0, 3);
      const v = Array.from(feeds.get('tokens')!.data as Float32Array);
      expect(v.length).toBe(12);
      for (const t of v) expect(Number.isInteger(t) && t >= 0 && t < 7).toBe(true);
      expect(new Set(v).size).toBeGreaterThan(2);
      expect(sources.tokens).toMatch(/^int\(0,7\) \(token ids/);
    } finally {
      r.dispose();
    }
  });

  it('Rescaling(1/255) after Resizing and augmentation inside a nested Sequential: pixels in [0, 255)', async () => {
    const pre = seq('resize_and_rescale', [input('in_pre', [null, 4, 4, 3]), layer('Resizing', 'resizing', { height: 4, width: 4, interpolation: 'bilinear' }), layer('Rescaling', 'rescaling', { scale: 1 / 255, offset: 0 })]);
    const aug = seq('augment', [input('in_aug', [null, 4, 4, 3]), layer('RandomFlip', 'random_flip', { mode: 'horizontal' })]);
    const r = await load('pixels.keras', seq('m', [input('image', [null, 4, 4, 3]), aug, pre]));
    try {
      const hints = r.inputHints!();
      expect(hints.get('image')?.dist).toEqual({ kind: 'uniform', low: 0, high: 255 });
      const { feeds, sources } = feedsMaker(quiet, r.inputs(), undefined, hints)(0, 0);
      const v = Array.from(feeds.get('image')!.data as Float32Array);
      expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...v)).toBeGreaterThan(128);
      expect(sources.image).toMatch(/^uniform\(0,255\) \(pixel values: the model's first operation is Rescaling\(scale=0.00392157, offset=0\)/);
      // --input wins over the hint.
      const given = feedsMaker({ ...quiet, inputs: ['image=uniform(-1,1)'] }, r.inputs(), undefined, hints)(0, 0);
      expect(Math.max(...Array.from(given.feeds.get('image')!.data as Float32Array))).toBeLessThanOrEqual(1);
      expect(given.sources.image).toBe('uniform(-1,1)');
    } finally {
      r.dispose();
    }
  });

  it('Normalization adapted on pixels (mean ~127, variance ~4000 per channel) is a pixel preamble; one adapted on unit-scale data is not', async () => {
    const norm = (name: string, mean: number[], variance: number[]) =>
      load(name, seq('m', [input('image', [null, 2, 2, 3]), layer('Normalization', 'normalization', { axis: -1, mean: null, variance: null, invert: false })]), [
        { path: 'layers/normalization/vars/0', shape: [3], data: new Float32Array(mean) },
        { path: 'layers/normalization/vars/1', shape: [3], data: new Float32Array(variance) },
        { path: 'layers/normalization/vars/2', shape: [], data: new Float32Array([100]) },
      ]);
    const px = await norm('norm-pixels.keras', [127.2, 121.5, 110.8], [4012, 3790, 4230]);
    const unit = await norm('norm-unit.keras', [0.49, 0.48, 0.45], [0.06, 0.06, 0.07]);
    // Mean and variance given in the config: (x - 123.7) / 58.4 as in ImageNet preprocessing.
    const given = await load('norm-given.keras', seq('m', [input('image', [null, 2, 2, 3]), layer('Normalization', 'normalization', { axis: -1, mean: [123.68, 116.78, 103.94], variance: [3409.98, 3262.69, 3291.41], invert: false })]));
    try {
      expect(px.inputHints!().get('image')?.dist).toEqual({ kind: 'uniform', low: 0, high: 255 });
      expect(px.inputHints!().get('image')?.reason).toMatch(/Normalization\(mean ~ 111\.\.127, std ~ 62\.\.65\) \('normalization'\)/);
      expect(given.inputHints!().get('image')?.dist).toEqual({ kind: 'uniform', low: 0, high: 255 });
      expect(unit.inputHints!().size).toBe(0);
      const { sources } = feedsMaker(quiet, px.inputs(), undefined, px.inputHints!())(0, 0);
      expect(sources.image).toMatch(/^uniform\(0,255\) \(pixel values: the model's first operation is Normalization/);
    } finally {
      px.dispose();
      unit.dispose();
      given.dispose();
    }
  });

  it('no hint where the first layer does not map pixels (Rescaling(2), a Dense)', async () => {
    const a = await load('rescale2.keras', seq('m', [input('x', [null, 3]), layer('Rescaling', 'rescaling', { scale: 2, offset: 0 })]));
    const b = await load('dense.keras', seq('m', [input('x', [null, 3]), layer('Dense', 'dense', { units: 1, activation: 'linear', use_bias: false })]), [{ path: 'layers/dense/vars/0', shape: [3, 1], data: new Float32Array(3) }]);
    try {
      expect(a.inputHints!().size).toBe(0);
      expect(b.inputHints!().size).toBe(0);
      expect(feedsMaker(quiet, a.inputs(), undefined, a.inputHints!())(0, 0).sources.x).toBe('uniform(-1,1)');
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

describe('graphs: the first arithmetic on an input decides', () => {
  const graph = (build: (g: GraphBuilder, x: string) => string) => {
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [1, 4, 4, 3]);
    return g.build([build(g, x)]);
  };

  it('(x - 127.5) / 128, x * (1/255) after a Cast, x - per-channel mean: pixels; x * 0.5 or 128 - x: not', () => {
    const cases: [string, (g: GraphBuilder, x: string) => string, boolean][] = [
      ['(x - 127.5) / 128', (g, x) => g.op('RealDiv', 'div', [g.op('Sub', 'sub', [x, g.const('c', host('float32', [], [127.5]))]), g.const('d', host('float32', [], [128]))]), true],
      ['cast(x) * (1/255)', (g, x) => g.op('Mul', 'mul', [g.const('s', host('float32', [], [1 / 255])), g.op('Cast', 'cast', [x])]), true],
      ['x - mean (caffe)', (g, x) => g.op('Sub', 'sub', [x, g.const('m', host('float32', [3], [123.68, 116.78, 103.94]))]), true],
      ['x * 0.5', (g, x) => g.op('Mul', 'mul', [x, g.const('h', host('float32', [], [0.5]))]), false],
      ['128 - x', (g, x) => g.op('Sub', 'sub', [g.const('c', host('float32', [], [128])), x]), false],
    ];
    for (const [what, build, pixels] of cases) {
      const hints = inferPixelInputs(graph(build));
      expect(hints.has('x'), what).toBe(pixels);
      if (pixels) expect(hints.get('x')!.dist, what).toEqual({ kind: 'uniform', low: 0, high: 255 });
    }
  });

  it('for a comparison, the original decides: its graph hints override what a candidate runner would say', () => {
    const g = graph((b, x) => b.op('Mul', 'mul', [x, b.const('s', host('float32', [], [0.5]))]));
    const candidateSays = new Map([['x', { dist: { kind: 'uniform' as const, low: 0, high: 255 }, reason: 'pixel values: candidate' }]]);
    const { feeds, sources } = feedsMaker(quiet, g.inputs, g, candidateSays)(0, 0);
    expect(sources.x).toBe('uniform(-1,1)');
    expect(Math.max(...Array.from(feeds.get('x')!.data as Float32Array))).toBeLessThanOrEqual(1);
    // The same seed without hints draws the same values: a hint changes nothing else.
    const plain = generateFeeds(g.inputs, { seed: 0 });
    expect(Array.from(plain.get('x')!.data as Float32Array)).toEqual(Array.from(feeds.get('x')!.data as Float32Array));
  });
});

describe.skipIf(!existsSync('/work/shared/models/keras-real/k3_emb_lstm_ner/model.keras'))('real NER tagger (Keras 3.2, vocab 3320)', () => {
  it('is seeded with token ids in [0, 3320)', async () => {
    const r = await loadKerasRunner('/work/shared/models/keras-real/k3_emb_lstm_ner/model.keras');
    try {
      const { feeds } = feedsMaker(quiet, r.inputs(), undefined, r.inputHints!())(0, 0);
      const v = Array.from(feeds.values())[0]!.data as Float32Array;
      expect(v.every((t) => Number.isInteger(t) && t >= 0 && t < 3320)).toBe(true);
      expect(new Set(v).size).toBeGreaterThan(50);
    } finally {
      r.dispose();
    }
  });
});

describe('Keras models: integer InputLayer dtypes', () => {
  it('an InputLayer of dtype uint8 (Keras 3) takes its values as int32, exactly; keras.ops.cast to float32 after it', async () => {
    const kt = (layer: string, dtype: string): J => ({ class_name: '__keras_tensor__', config: { shape: [null, 2, 3], dtype, keras_history: [layer, 0, 0] } });
    const cfg: J = {
      module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
      config: {
        name: 'u8', trainable: true,
        layers: [
          { ...input('pixels', [null, 2, 3]), config: { batch_shape: [null, 2, 3], dtype: 'uint8', sparse: false, ragged: false, name: 'pixels', optional: false }, name: 'pixels', inbound_nodes: [] },
          { module: 'keras.src.ops.core', class_name: 'Cast', config: { name: 'cast', dtype: 'float32' }, registered_name: 'Cast', name: 'cast', inbound_nodes: [{ args: [kt('pixels', 'uint8')], kwargs: {} }] },
        ],
        input_layers: ['pixels', 0, 0], output_layers: ['cast', 0, 0],
      },
    };
    const r = await load('uint8.keras', cfg);
    try {
      expect(r.inputs()).toEqual([{ name: 'pixels', dtype: 'int32', shape: [-1, 2, 3] }]);
      const values = [0, 1, 127, 128, 254, 255];
      const feeds = new Map([['pixels', hostToTf(host('int32', [1, 2, 3], values), 'pixels')]]);
      const got: { dtype: string; data: number[] }[] = [];
      for await (const a of r.run(feeds) as AsyncIterable<Activation>) {
        got.push({ dtype: a.tensor.dtype, data: Array.from(a.tensor.dataSync() as ArrayLike<number>, Number) });
        a.tensor.dispose();
      }
      expect(got.at(-1)).toEqual({ dtype: 'float32', data: values });
    } finally {
      r.dispose();
    }
  });
});
