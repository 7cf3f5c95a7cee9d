import { describe, expect, it } from 'vitest';
import { lift } from '../../src/lift/index.js';
import { nchw, separable, transposedConv, writePb } from './graphs.js';
import { configLayers, outDir } from './support.js';

type J = Record<string, unknown>;

const init = (cls: string, config: J = {}) => ({ module: 'keras.initializers', class_name: cls, config, registered_name: null });
const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/**
 * SeparableConv2D's config as Keras 3 serialises it: Layer.get_config (name, trainable, dtype)
 * then BaseSeparableConv.get_config's keys in its order
 * (keras/src/layers/convolutional/base_separable_conv.py), initializers as serialised objects.
 */
function kerasSeparableConfig(name: string, v: J): J {
  return {
    name, trainable: true, dtype: policy,
    depth_multiplier: v.depth_multiplier, filters: v.filters, kernel_size: v.kernel_size, strides: v.strides, padding: v.padding,
    data_format: v.data_format, dilation_rate: v.dilation_rate, activation: v.activation, use_bias: v.use_bias,
    depthwise_initializer: init('GlorotUniform', { seed: null }), pointwise_initializer: init('GlorotUniform', { seed: null }), bias_initializer: init('Zeros'),
    depthwise_regularizer: null, pointwise_regularizer: null, bias_regularizer: null, activity_regularizer: null,
    depthwise_constraint: null, pointwise_constraint: null, bias_constraint: null,
  };
}

function expectProven(res: Awaited<ReturnType<typeof lift>>): void {
  expect(res.unliftable).toEqual([]);
  expect(res.proof?.verdict, res.proof?.summary).toBe('equivalent');
  expect(res.status).toBe('proven');
  expect(res.exitCode).toBe(0);
  // Every tensor the lift claims is paired: the proof compares exactly the claimed pairs.
  const paired = new Set(res.proof!.pairs.map((p) => `${p.reference} ~ ${p.candidate}`));
  const claimed = res.model!.layers.filter((l) => l.stands).map((l) => `${l.stands} ~ ${l.name}`);
  expect(claimed.filter((c) => !paired.has(c))).toEqual([]);
}

describe('lift: depthwise then 1x1 conv becomes one SeparableConv2D', () => {
  it('stride 2 x depth multiplier 2 + bias + Relu; dilated + _FusedConv2D (BiasAdd, Relu6); a shared depthwise stays two layers', async () => {
    const out = outDir();
    const res = await lift(writePb(separable()), { out, seeds: 2 });
    expectProven(res);
    const layers = configLayers(`${out}/model.keras`);
    const byName = new Map(layers.map((l) => [String(l.name), l]));
    const first = byName.get('separable_conv2d')!;
    expect(first).toMatchObject({ module: 'keras.layers', class_name: 'SeparableConv2D', registered_name: null, build_config: { input_shape: [null, 8, 8, 3] } });
    expect(first.config).toEqual(kerasSeparableConfig('separable_conv2d', {
      depth_multiplier: 2, filters: 5, kernel_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true,
    }));
    expect(Object.keys(first.config as J)).toEqual(Object.keys(kerasSeparableConfig('x', {})));
    expect(byName.get('separable_conv2d_1')!.config).toEqual(kerasSeparableConfig('separable_conv2d_1', {
      depth_multiplier: 1, filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [2, 2], activation: 'relu6', use_bias: true,
    }));
    expect(byName.get('dw_shared')!.class_name).toBe('DepthwiseConv2D');
    expect(byName.get('pw_after')!.class_name).toBe('Conv2D');
    // Keras' variable order and shapes: depthwise_kernel (kh, kw, in, mult), pointwise_kernel (1, 1, in*mult, filters), bias (filters).
    const sep = res.model!.layers.find((l) => l.name === 'separable_conv2d')!;
    expect(sep.weights.map((w) => [w.name, w.value.shape])).toEqual([['depthwise_kernel', [3, 3, 3, 2]], ['pointwise_kernel', [1, 1, 6, 5]], ['bias', [5]]]);
    expect(sep.nodes).toEqual(['model/separable_conv2d/separable_conv2d', 'model/separable_conv2d/separable_conv2d/depthwise', 'model/separable_conv2d/BiasAdd', 'model/separable_conv2d/Relu']);
  });
});

describe('lift: NCHW graphs become channels_first layers', () => {
  it('conv, batch norm, pools, separable, channel bias, padding, explicit padding, folded batch norm, global pooling: all channels_first, proven', async () => {
    const out = outDir();
    const res = await lift(writePb(nchw()), { out, seeds: 2 });
    expectProven(res);
    const layers = configLayers(`${out}/model.keras`);
    const cls = (n: string) => layers.find((l) => l.name === n) as J & { config: J };
    expect(cls('x').config.batch_shape).toEqual([null, 3, 12, 12]);
    expect(cls('conv')).toMatchObject({ class_name: 'Conv2D', config: { data_format: 'channels_first', activation: 'relu', use_bias: true, filters: 4 } });
    expect(cls('bn')).toMatchObject({ class_name: 'BatchNormalization', config: { axis: 1 } });
    expect(cls('pool')).toMatchObject({ class_name: 'MaxPooling2D', config: { data_format: 'channels_first', pool_size: [2, 2], strides: [2, 2] } });
    expect(cls('sep')).toMatchObject({ class_name: 'SeparableConv2D', config: { data_format: 'channels_first', strides: [2, 2], depth_multiplier: 2, filters: 6, activation: 'relu6', use_bias: true } });
    expect(cls('pad')).toMatchObject({ class_name: 'ZeroPadding2D', config: { data_format: 'channels_first', padding: [[1, 1], [2, 0]] } });
    expect(cls('avg')).toMatchObject({ class_name: 'AveragePooling2D', config: { data_format: 'channels_first', strides: [1, 1] } });
    expect(cls('conv2_pad')).toMatchObject({ class_name: 'ZeroPadding2D', config: { data_format: 'channels_first', padding: [[1, 0], [0, 1]] } });
    expect(cls('conv2')).toMatchObject({ class_name: 'Conv2D', config: { data_format: 'channels_first', padding: 'valid' } });
    expect(cls('bn2')).toMatchObject({ class_name: 'BatchNormalization', config: { axis: 1 } });
    expect(cls('gap')).toMatchObject({ class_name: 'GlobalAveragePooling2D', config: { data_format: 'channels_first' } });
    expect(cls('fc')).toMatchObject({ class_name: 'Dense', config: { units: 3 } });
    expect(layers.filter((l) => String(l.module).startsWith('keras.src.ops'))).toEqual([]);
  });

  it('explicit Transposes around an NCHW conv: Permute, Conv2D channels_first (+ BiasAdd NCHW, Relu), a BiasAdd NCHW alone as BatchNormalization axis 1, Permute', async () => {
    const out = outDir();
    const res = await lift(writePb(transposedConv()), { out, seeds: 2 });
    expectProven(res);
    const layers = configLayers(`${out}/model.keras`);
    expect(layers.map((l) => [l.class_name, (l.config as J).dims ?? (l.config as J).data_format ?? null])).toEqual([
      ['InputLayer', null], ['Permute', [3, 1, 2]], ['Conv2D', 'channels_first'], ['BatchNormalization', null], ['Permute', [2, 3, 1]],
    ]);
    expect((layers[3]!.config as J).axis).toBe(1);
    expect((layers[2]!.config as J).strides).toEqual([2, 2]);
  });
});
