import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { FormatError } from '../../src/core/errors.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { writeZip } from '../../src/formats/zip.js';
import { kerasArchive, pseudo, writeH5, type H5Entry } from '../fixtures/keras-writer.js';

/**
 * Keras files that were refused though valid (issue 27, items 4 and 5), written as Keras writes
 * them; expected values from test/fixtures/gen/keras_files.py (numpy, torch) or by hand.
 */

interface T {
  shape: number[];
  values: number[];
}
const G = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_files.json'), 'utf8')) as {
  activations: { activation: string; version: string; input: number[][]; output: number[][] }[];
  activation_values: { value: unknown; output: number[][] }[];
  image: T;
  resize: { class_name: string; config: J; output: T }[];
};

const dir = mkdtempSync(join(tmpdir(), 'parity-kfiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;
const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const layer = (cls: string, name: string, config: J = {}, extra: J = {}): J => ({ module: 'keras.layers', class_name: cls, config: { name, trainable: true, dtype: policy, ...config }, registered_name: null, ...extra });
const input = (name: string, shape: (number | null)[]): J => ({ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: shape, dtype: 'float32', sparse: false, name }, registered_name: null });
const seq = (name: string, layers: J[]): J => ({ module: 'keras', class_name: 'Sequential', config: { name, trainable: true, dtype: policy, layers }, registered_name: null });
const kt = (layerName: string, node: number, tensor = 0): J => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [layerName, node, tensor] } });

async function keras(name: string, config: J, weights: H5Entry[], version = '3.6.0'): Promise<string> {
  const f = join(dir, name);
  writeFileSync(f, await kerasArchive(config, weights, version));
  return f;
}

async function runAll(r: Runner, feeds: Map<string, tf.Tensor>): Promise<Map<string, { type: string; shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { type: string; shape: number[]; data: Float32Array }>();
  for await (const a of r.run(feeds) as AsyncIterable<Activation>) {
    out.set(a.name, { type: a.type, shape: a.tensor.shape.slice(), data: a.tensor.dataSync() as Float32Array });
    a.tensor.dispose();
  }
  return out;
}

function close(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what}[${i}] ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!)));
}

/** A Dense of identity kernel and zero bias with the given activation: its output is the activation of its input. */
async function activationModel(name: string, activation: unknown, n: number, version: string): Promise<string> {
  const eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  const cfg = seq('m', [input('x', [null, n]), layer('Dense', 'd', { units: n, activation, use_bias: true })]);
  return keras(name, cfg, [{ path: 'layers/dense/vars/0', shape: [n, n], data: eye }, { path: 'layers/dense/vars/1', shape: [n], data: new Float32Array(n) }], version);
}

describe('Keras activations tfjs lacks, as Keras 3 (or Keras 2) defines them', () => {
  for (const c of G.activations) {
    it(`'${c.activation}' (Keras ${c.version})`, async () => {
      const n = c.input[0]!.length;
      const r = await loadKerasRunner(await activationModel(`act-${c.activation}-${c.version}.keras`, c.activation, n, c.version === '3' ? '3.6.0' : '2.15.0'));
      const x = tf.tensor(c.input);
      try {
        const out = await runAll(r, new Map([['x', x]]));
        close(out.get('d')!.data, c.output.flat(), 1e-5, c.activation);
      } finally {
        x.dispose();
        r.dispose();
      }
    });
  }

  for (const c of G.activation_values) {
    const v = c.value as J;
    it(`an activation given as ${String(v.class_name)} ${JSON.stringify(v.config).slice(0, 60)}`, async () => {
      const r = await loadKerasRunner(await activationModel(`actv-${String(v.class_name)}.keras`, v, 19, '3.3.3'));
      const x = tf.tensor(G.activations[0]!.input);
      try {
        close((await runAll(r, new Map([['x', x]]))).get('d')!.data, c.output.flat(), 1e-5, String(v.class_name));
      } finally {
        x.dispose();
        r.dispose();
      }
    });
  }

  it('an activation Keras has and tf-parity does not is refused by name', async () => {
    await expect(loadKerasRunner(await activationModel('sparsemax.keras', 'sparsemax', 3, '3.6.0'))).rejects.toThrow(/Dense with activation 'sparsemax': d/);
  });
});

describe('image layers at inference', () => {
  const img = () => tf.tensor(G.image.values, G.image.shape);
  const [, h, w, c] = G.image.shape as [number, number, number, number];

  for (const k of G.resize) {
    it(`${k.class_name} ${JSON.stringify(k.config)}: as tf.image.resize (half-pixel centres), after the centred crop where Keras crops`, async () => {
      const cfg = seq('m', [input('x', [null, h, w, c]), layer(k.class_name, 'l', { ...k.config, data_format: 'channels_last' })]);
      const r = await loadKerasRunner(await keras(`${k.class_name}-${JSON.stringify(k.config).replace(/\W/g, '')}.keras`, cfg, []));
      const x = img();
      try {
        const out = (await runAll(r, new Map([['x', x]]))).get('l')!;
        expect(out.shape).toEqual(k.output.shape);
        close(out.data, k.output.values, 1e-5, k.class_name);
        expect(r.inputs()[0]!.shape).toEqual([-1, h, w, c]);
      } finally {
        x.dispose();
        r.dispose();
      }
    });
  }

  it('random augmentation layers are the identity at inference (the potato tutorial: Sequential of Sequentials)', async () => {
    const aug = seq('augment', [input('in_aug', [32, h, w, c]), layer('RandomFlip', 'random_flip', { mode: 'horizontal_and_vertical', seed: null }), layer('RandomRotation', 'random_rotation', { factor: [-0.2, 0.2], fill_mode: 'reflect' }), layer('RandomZoom', 'random_zoom', { height_factor: 0.2 }), layer('RandomContrast', 'random_contrast', { factor: 0.3 })]);
    const cfg = seq('m', [input('x', [32, h, w, c]), aug, layer('Rescaling', 'rescaling', { scale: 1 / 255, offset: 0 })]);
    const r = await loadKerasRunner(await keras('augment.keras', cfg, []));
    const x = tf.tile(img(), [16, 1, 1, 1]);
    try {
      const out = await runAll(r, new Map([[r.inputs()[0]!.name, x]]));
      const xs = x.dataSync();
      expect(out.get('augment/random_contrast')!.data).toEqual(xs);
      close(out.get('rescaling')!.data, Array.from(xs, (v) => v / 255), 1e-6, 'rescaling');
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  it('TextVectorization is refused with what to do instead', async () => {
    const cfg = seq('m', [input('x', [null, 1]), layer('TextVectorization', 'tv', { max_tokens: 10, vocabulary: ['a', 'b'] })]);
    await expect(loadKerasRunner(await keras('tv.keras', cfg, []))).rejects.toThrow(/TextVectorization \(strings are not tokenized here: feed the token ids .* with --input.*: tv/);
  });
});

describe('valid files that were refused', () => {
  it('tf.keras 2.14 .h5 of the potato tutorial: Sequential(Resizing, Rescaling) inside a Sequential, Conv2D keeping a stale batch_input_shape', async () => {
    // As in the real file: the nested Sequential's layers in Keras 3-style entries, conv2d with batch_input_shape [null, 32, ...].
    const inner = { class_name: 'Sequential', config: { name: 'sequential', layers: [{ module: 'keras.layers', class_name: 'InputLayer', config: { batch_input_shape: [null, 4, 4, 1], dtype: 'float32', name: 'resizing_input' }, registered_name: null }, { module: 'keras.layers', class_name: 'Resizing', config: { name: 'resizing', dtype: 'float32', height: 4, width: 4, interpolation: 'bilinear', crop_to_aspect_ratio: false }, registered_name: null, build_config: { input_shape: [32, 4, 4, 1] } }, { module: 'keras.layers', class_name: 'Rescaling', config: { name: 'rescaling', dtype: 'float32', scale: 0.5, offset: 0.0 }, registered_name: null }] } };
    const cfg = { class_name: 'Sequential', config: { name: 'sequential_1', layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, 4, 4, 1], dtype: 'float32', name: 'sequential_input' } }, inner, { class_name: 'Conv2D', config: { name: 'conv2d', dtype: 'float32', batch_input_shape: [null, 32, 4, 4, 1], filters: 1, kernel_size: [2, 2], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true } }, { class_name: 'Flatten', config: { name: 'flatten', dtype: 'float32' } }] } };
    const kernel = new Float32Array([1, 0, 0, -1]); // [2, 2, 1, 1]: x[i][j] - x[i+1][j+1]
    const bytes = await writeH5(
      [{ path: 'model_weights/conv2d/conv2d/kernel:0', shape: [2, 2, 1, 1], data: kernel }, { path: 'model_weights/conv2d/conv2d/bias:0', shape: [1], data: new Float32Array([0.25]) }],
      [
        { path: '', name: 'model_config', value: JSON.stringify(cfg) },
        { path: '', name: 'keras_version', value: '2.14.0' },
        { path: 'model_weights', name: 'layer_names', value: ['sequential', 'conv2d', 'flatten'] },
        { path: 'model_weights/conv2d', name: 'weight_names', value: ['conv2d/kernel:0', 'conv2d/bias:0'] },
      ],
      ['model_weights/sequential', 'model_weights/flatten'],
    );
    const f = join(dir, 'potatoes.h5');
    writeFileSync(f, bytes);
    const r = await loadKerasRunner(f);
    const xv = Array.from({ length: 16 }, (_, i) => (i * 7) % 5);
    const x = tf.tensor(xv, [1, 4, 4, 1]);
    try {
      const out = await runAll(r, new Map([['sequential_input', x]]));
      const want: number[] = [];
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want.push(Math.max(0, 0.5 * xv[i * 4 + j]! - 0.5 * xv[(i + 1) * 4 + j + 1]! + 0.25));
      expect(out.get('conv2d')!.shape).toEqual([1, 3, 3, 1]);
      close(out.get('flatten')!.data, want, 1e-6, 'conv2d');
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  it('list-form Sequential (Keras 2.2: config is the list of layers), Flatten on a rank-2 input is a no-op', async () => {
    const cfg = { class_name: 'Sequential', config: [{ class_name: 'Dense', config: { name: 'dense_1', batch_input_shape: [null, 3], units: 2, activation: 'linear', use_bias: true, dtype: 'float32' } }, { class_name: 'Flatten', config: { name: 'flatten_1' } }] };
    const bytes = await writeH5(
      [{ path: 'model_weights/dense_1/dense_1/kernel:0', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, { path: 'model_weights/dense_1/dense_1/bias:0', shape: [2], data: new Float32Array([0.5, -0.5]) }],
      [
        { path: '', name: 'model_config', value: JSON.stringify(cfg) },
        { path: '', name: 'keras_version', value: '2.2.4' },
        { path: 'model_weights', name: 'layer_names', value: ['dense_1', 'flatten_1'] },
        { path: 'model_weights/dense_1', name: 'weight_names', value: ['dense_1/kernel:0', 'dense_1/bias:0'] },
      ],
      ['model_weights/flatten_1'],
    );
    const f = join(dir, 'keras22.h5');
    writeFileSync(f, bytes);
    const r = await loadKerasRunner(f);
    const x = tf.tensor([[1, 0, -1]]);
    try {
      const out = await runAll(r, new Map([[r.inputs()[0]!.name, x]]));
      // [1, 0, -1] @ [[1, 2], [3, 4], [5, 6]] + [0.5, -0.5] = [-4 + 0.5, -4 - 0.5]
      expect(Array.from(out.get('dense_1')!.data)).toEqual([-3.5, -4.5]);
      expect(out.get('flatten_1')!.shape).toEqual([1, 2]);
      expect(Array.from(out.get('flatten_1')!.data)).toEqual([-3.5, -4.5]);
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  /** Keras 3 Functional with a nested Functional `enc` called once: inbound links to it use node 0, output_layers node 1. */
  function nestedFunctional(outputNode: number): J {
    const encoder = {
      module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional', name: 'enc',
      config: {
        name: 'enc', trainable: true,
        layers: [
          { ...input('enc_in', [null, 2]), name: 'enc_in', inbound_nodes: [] },
          { ...layer('Dense', 'enc_d', { units: 2 }), name: 'enc_d', inbound_nodes: [{ args: [kt('enc_in', 0)], kwargs: {} }] },
        ],
        input_layers: [['enc_in', 0, 0]], output_layers: [['enc_d', 0, 0]],
      },
      inbound_nodes: [{ args: [kt('x', 0)], kwargs: {} }],
    };
    return {
      module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
      config: {
        name: 'outer', trainable: true,
        layers: [
          { ...input('x', [null, 2]), name: 'x', inbound_nodes: [] },
          encoder,
          { ...layer('Dense', 'head', { units: 1 }), name: 'head', inbound_nodes: [{ args: [kt('enc', 0)], kwargs: {} }] },
        ],
        input_layers: [['x', 0, 0]], output_layers: [['head', 0, 0], ['enc', outputNode, 0]],
      },
    };
  }
  const nestedWeights: H5Entry[] = [
    { path: 'layers/functional/layers/dense/vars/0', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    { path: 'layers/functional/layers/dense/vars/1', shape: [2], data: new Float32Array([0, 1]) },
    { path: 'layers/dense/vars/0', shape: [2, 1], data: new Float32Array([1, -1]) },
    { path: 'layers/dense/vars/1', shape: [1], data: new Float32Array([0]) },
  ];

  it('nested Functional in Keras 3: links to it count its calls from 0, output_layers from 1 (as Keras reads them)', async () => {
    const r = await loadKerasRunner(await keras('nested-fn.keras', nestedFunctional(1), nestedWeights, '3.4.1'));
    const x = tf.tensor([[1, 2]]);
    try {
      const out = await runAll(r, new Map([['x', x]]));
      // enc = [1, 2] @ [[1, 2], [3, 4]] + [0, 1] = [7, 11]; head = 7 - 11
      expect(Array.from(out.get('enc')!.data)).toEqual([7, 11]);
      expect(Array.from(out.get('enc/enc_d')!.data)).toEqual([7, 11]);
      expect(Array.from(out.get('head')!.data)).toEqual([-4]);
      expect(r.outputs()).toEqual(['head', 'enc']);
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  it('a link to a call a layer never makes names the layer (no "[object Object]")', async () => {
    const e = await loadKerasRunner(await keras('nested-bad.keras', nestedFunctional(3), nestedWeights, '3.4.1')).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(FormatError);
    expect(String((e as Error).message)).toMatch(/nested-bad\.keras: the output of model 'outer' takes output 0 of call 3 of layer 'enc', which is called 1 time\(s\)/);
    expect(String((e as Error).message)).not.toContain('[object Object]');
  });

  it('tf.keras 2.13-2.15 .keras saved on Windows: weight groups named layers\\conv1d at the root, sub-objects too', async () => {
    const cfg = seq('m', [input('x', [null, 5, 2]), layer('Conv1D', 'conv1d', { filters: 1, kernel_size: [2], strides: [1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1], groups: 1, activation: 'linear', use_bias: true }), layer('Flatten', 'flatten'), layer('Dense', 'dense', { units: 1, activation: 'linear', use_bias: false })]);
    const f = await keras('windows.keras', cfg, [
      { path: 'layers\\conv1d/vars/0', shape: [2, 2, 1], data: new Float32Array([1, 0, 0, 1]) },
      { path: 'layers\\conv1d/vars/1', shape: [1], data: new Float32Array([0.5]) },
      { path: 'layers\\dense/vars/0', shape: [4, 1], data: new Float32Array([1, 1, 1, 1]) },
    ], '2.14.0');
    const r = await loadKerasRunner(f);
    const xv = Array.from(pseudo(10, 3, 1));
    const x = tf.tensor(xv, [1, 5, 2]);
    try {
      const out = await runAll(r, new Map([['x', x]]));
      // conv1d[t] = x[t][0] + x[t+1][1] + 0.5
      const conv = [0, 1, 2, 3].map((t) => xv[t * 2]! + xv[(t + 1) * 2 + 1]! + 0.5);
      close(out.get('conv1d')!.data, conv, 1e-6, 'conv1d');
      close(out.get('dense')!.data, [conv.reduce((a, b) => a + b, 0)], 1e-5, 'dense');
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  it('Keras 3 sharded weights (model.weights.json + model_0000N.weights.h5), a layer split across two shards', async () => {
    const cfg = seq('m', [input('x', [null, 2]), layer('Dense', 'dense', { units: 2, activation: 'linear', use_bias: true }), layer('Dense', 'dense_1', { units: 1, activation: 'linear', use_bias: false })]);
    // As ShardedH5IOStore writes them: a new shard starts inside dense's group; the map names its first shard.
    const shard0 = await writeH5([{ path: 'layers/dense/vars/0', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }], [], ['vars']);
    const shard1 = await writeH5([{ path: 'layers/dense/vars/1', shape: [2], data: new Float32Array([10, 20]) }, { path: 'layers/dense_1/vars/0', shape: [2, 1], data: new Float32Array([1, -1]) }]);
    const index = { metadata: { total_size: 28 }, weight_map: { '/vars': 'model_00000.weights.h5', '/layers/dense/vars': 'model_00000.weights.h5', '/layers/dense_1/vars': 'model_00001.weights.h5' } };
    const enc = new TextEncoder();
    const f = join(dir, 'sharded.keras');
    writeFileSync(f, writeZip([['metadata.json', enc.encode('{"keras_version": "3.10.0"}')], ['config.json', enc.encode(JSON.stringify(cfg))], ['model.weights.json', enc.encode(JSON.stringify(index))], ['model_00000.weights.h5', shard0], ['model_00001.weights.h5', shard1]], true));
    const r = await loadKerasRunner(f);
    const x = tf.tensor([[1, 1]]);
    try {
      const out = await runAll(r, new Map([['x', x]]));
      // [1, 1] @ [[1, 2], [3, 4]] + [10, 20] = [14, 26]; then 14 - 26
      expect(Array.from(out.get('dense')!.data)).toEqual([14, 26]);
      expect(Array.from(out.get('dense_1')!.data)).toEqual([-12]);
    } finally {
      x.dispose();
      r.dispose();
    }
    const bad = join(dir, 'sharded-missing.keras');
    writeFileSync(bad, writeZip([['metadata.json', enc.encode('{"keras_version": "3.10.0"}')], ['config.json', enc.encode(JSON.stringify(cfg))], ['model.weights.json', enc.encode(JSON.stringify(index))], ['model_00000.weights.h5', shard0]], true));
    await expect(loadKerasRunner(bad)).rejects.toThrow(/sharded-missing\.keras: model\.weights\.json names weight shard\(s\) missing from the archive: model_00001\.weights\.h5/);
  });

  it('Normalization on an input of unknown width takes the width from build_config', async () => {
    const norm = { ...layer('Normalization', 'normalization', { axis: [-1], invert: false, mean: null, variance: null }), build_config: { input_shape: [null, 3] } };
    const cfg = seq('m', [input('x', [null, null]), norm]);
    const f = await keras('norm-unknown.keras', cfg, [
      { path: 'layers/normalization/vars/0', shape: [3], data: new Float32Array([1, 2, 3]) },
      { path: 'layers/normalization/vars/1', shape: [3], data: new Float32Array([4, 1, 0.25]) },
      { path: 'layers/normalization/vars/2', shape: [], data: BigInt64Array.of(10n) },
    ]);
    const r = await loadKerasRunner(f);
    const x = tf.tensor([[3, 3, 3]]);
    try {
      // (x - mean) / sqrt(variance) = [2 / 2, 1 / 1, 0 / 0.5]
      expect(Array.from((await runAll(r, new Map([['x', x]]))).get('normalization')!.data)).toEqual([1, 1, 0]);
    } finally {
      x.dispose();
      r.dispose();
    }
  });
});

const REAL = '/work/shared/models/keras-real';
const real = (p: string) => join(REAL, p);

describe('real Keras files once refused (skipped when absent)', () => {
  async function probs(f: string, batch: number, scale: number): Promise<Map<string, { type: string; shape: number[]; data: Float32Array }>> {
    const r = await loadKerasRunner(f);
    const spec = r.inputs()[0]!;
    const shape = spec.shape!.map((d) => (d < 0 ? batch : d));
    const x = tf.tensor(pseudo(shape.reduce((a, b) => a * b, 1), 4, 1).map((v) => Math.abs(v) * scale), shape);
    try {
      return await runAll(r, new Map([[spec.name, x]]));
    } finally {
      x.dispose();
      r.dispose();
    }
  }
  const rowSums = (d: Float32Array, rows: number) => Array.from({ length: rows }, (_, i) => d.slice((i * d.length) / rows, ((i + 1) * d.length) / rows).reduce((s, v) => s + v, 0));

  it.skipIf(!existsSync(real('h5k214_potato_rescale/potatoes.h5')))('potato tutorial (.h5, tf.keras 2.14): runs, softmax rows sum to 1', async () => {
    const out = await probs(real('h5k214_potato_rescale/potatoes.h5'), 2, 255);
    const last = [...out.values()].pop()!;
    expect(last.shape).toEqual([2, 3]);
    for (const s of rowSums(last.data, 2)) expect(s).toBeCloseTo(1, 5);
    expect(out.get('sequential/rescaling')!.type).toBe('Rescaling');
  });

  it.skipIf(!existsSync(real('k3_potato_augment/my_model.keras')))('potato with RandomFlip/RandomRotation (.keras, Keras 3.9): loads, augmentation is the identity', async () => {
    const r = await loadKerasRunner(real('k3_potato_augment/my_model.keras'));
    const spec = r.inputs()[0]!;
    expect(spec.shape).toEqual([32, 256, 256, 3]);
    const x = tf.tensor(pseudo(32 * 256 * 256 * 3, 4, 127).map((v) => v + 127), spec.shape!);
    const seen = new Map<string, Float32Array>();
    try {
      // Stops before the convolutions (batch 32 of 256 x 256 is slow on the test backend).
      for await (const a of r.run(new Map([[spec.name, x]])) as AsyncIterable<Activation>) {
        seen.set(a.name, a.tensor.dataSync() as Float32Array);
        a.tensor.dispose();
        if (a.name === 'sequential_1/random_rotation') break;
      }
      const [a, b] = [seen.get('sequential_1/random_rotation')!, seen.get('sequential/rescaling')!];
      let differ = 0;
      for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) differ++;
      expect(a.length).toBe(b.length);
      expect(differ).toBe(0);
      expect(seen.get('sequential/rescaling')![5]).toBeCloseTo(x.dataSync()[5]! / 255, 6);
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  it.skipIf(!existsSync(real('k3_leakyrelu_ae/autoencoder.keras')))('autoencoder with Conv2D activation LeakyReLU(0.3) (.keras, Keras 3.3): runs', async () => {
    const out = await probs(real('k3_leakyrelu_ae/autoencoder.keras'), 1, 1);
    expect(out.get('conv2d')!.data.some((v) => v < 0)).toBe(true);
    expect([...out.values()].pop()!.shape).toEqual([1, 96, 96, 3]);
  });
});
