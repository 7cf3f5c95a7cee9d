import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeZip } from '../../src/formats/zip.js';
import { BN_EPSILON, applyFault, cnnWeights, type CnnFault, type CnnWeights } from './cnn.js';

/**
 * The example CNN as a Keras 3 `.keras` file (config.json in Keras 3's serialisation format,
 * metadata.json, model.weights.h5 written with h5wasm), layer names matching the TF scopes.
 * This is the form a user's hand conversion takes when rebuilt in Keras.
 */

type J = Record<string, unknown>;

const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const init = (cls: string) => ({ module: 'keras.initializers', class_name: cls, config: {}, registered_name: null });

function layer(cls: string, config: J): J {
  return { module: 'keras.layers', class_name: cls, config: { trainable: true, dtype: policy, ...config }, registered_name: null };
}

export function kerasCnnConfig(fault: CnnFault = 'none'): J {
  const dwPad = fault === 'dw1-padding';
  const layers: J[] = [
    { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 8, 8, 3], dtype: 'float32', sparse: false, name: 'x' }, registered_name: null },
    layer('Conv2D', { name: 'conv1', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true, kernel_initializer: init('GlorotUniform'), bias_initializer: init('Zeros') }),
    layer('BatchNormalization', { name: 'bn1', axis: -1, momentum: 0.99, epsilon: fault === 'bn1-epsilon' ? 0.1 : BN_EPSILON, center: true, scale: true }),
    layer('MaxPooling2D', { name: 'pool1', pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }),
    ...(dwPad ? [layer('ZeroPadding2D', { name: 'dw1_pad', padding: [[0, 2], [0, 2]], data_format: 'channels_last' })] : []),
    layer('DepthwiseConv2D', { name: 'dw1', kernel_size: [3, 3], strides: [1, 1], padding: dwPad ? 'valid' : 'same', depth_multiplier: 1, data_format: 'channels_last', dilation_rate: [1, 1], activation: fault === 'dw1-activation' ? 'linear' : 'relu6', use_bias: true }),
    layer('Flatten', { name: 'flatten', data_format: 'channels_last' }),
    layer('Dense', { name: 'fc1', units: 10, activation: 'linear', use_bias: true, kernel_initializer: init('GlorotUniform'), bias_initializer: init('Zeros') }),
    layer('Activation', { name: 'probs', activation: 'softmax' }),
  ];
  return { module: 'keras', class_name: 'Sequential', config: { name: 'cnn', trainable: true, dtype: policy, layers }, registered_name: null, build_config: { input_shape: [null, 8, 8, 3] } };
}

/**
 * Weights in Keras order per layer (what model.weights.h5 stores as vars/0, vars/1, …), under the
 * paths Keras 3 itself uses: `layers/<snake_case class name>[_n]`, not the layer's name.
 */
export function kerasCnnWeights(w: CnnWeights): [string, { shape: number[]; data: Float32Array }[]][] {
  return [
    ['conv2d', [{ shape: [3, 3, 3, 4], data: w.conv1Kernel }, { shape: [4], data: w.conv1Bias }]],
    ['batch_normalization', [{ shape: [4], data: w.bnGamma }, { shape: [4], data: w.bnBeta }, { shape: [4], data: w.bnMean }, { shape: [4], data: w.bnVar }]],
    ['depthwise_conv2d', [{ shape: [3, 3, 4, 1], data: w.dwKernel }, { shape: [4], data: w.dwBias }]],
    ['dense', [{ shape: [64, 10], data: w.fcKernel }, { shape: [10], data: w.fcBias }]],
  ];
}

interface H5W {
  ready: Promise<unknown>;
  File: new (p: string, m: string) => H5G & { close(): void };
}
interface H5G {
  create_group(n: string): H5G;
  get(n: string): H5G | null;
  keys(): string[];
  create_dataset(a: { name: string; data: Float32Array; shape: number[]; dtype: string }): unknown;
}

/** h5wasm creates one group level at a time. */
function ensureGroup(root: H5G, path: string): H5G {
  let g = root;
  for (const part of path.split('/')) g = g.keys().includes(part) ? g.get(part)! : g.create_group(part);
  return g;
}

export async function writeH5(layers: [string, { shape: number[]; data: Float32Array }[]][], path: string): Promise<void> {
  const h5 = ((await import('h5wasm/node')) as unknown as { default: H5W }).default;
  await h5.ready;
  const f = new h5.File(path, 'w');
  try {
    for (const [name, vars] of layers) {
      const g = ensureGroup(f, `layers/${name}/vars`);
      vars.forEach((v, i) => g.create_dataset({ name: String(i), data: v.data, shape: v.shape, dtype: '<f' }));
    }
  } finally {
    f.close();
  }
}

/**
 * `rename`: every layer's name passed through it (the input's too), as a hand-written Keras
 * model's names share nothing with the TF scopes; Keras 3 stores weights by class, not name.
 */
export async function kerasCnn(weights: CnnWeights = cnnWeights(), fault: CnnFault = 'none', rename?: (name: string) => string): Promise<Uint8Array> {
  const w = applyFault(weights, fault);
  const dir = mkdtempSync(join(tmpdir(), 'keras-cnn-'));
  try {
    const h5 = join(dir, 'model.weights.h5');
    await writeH5(kerasCnnWeights(w), h5);
    const enc = new TextEncoder();
    return writeZip(
      [
        ['metadata.json', enc.encode(JSON.stringify({ keras_version: '3.6.0', date_saved: '2026-01-01@00:00:00' }))],
        ['config.json', enc.encode(JSON.stringify(renamed(kerasCnnConfig(fault), rename)))],
        ['model.weights.h5', new Uint8Array(readFileSync(h5))],
      ],
      true,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function renamed(config: J, rename?: (name: string) => string): J {
  if (!rename) return config;
  const c = structuredClone(config) as { config: { layers: { config: { name: string } }[] } };
  for (const l of c.config.layers) l.config.name = rename(l.config.name);
  return c as unknown as J;
}
