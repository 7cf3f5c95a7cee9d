import { describe, expect, it } from 'vitest';
import { lift } from '../../src/lift/index.js';
import { cnn, folded, merges, mobile, needsOps, widen, writePb } from './graphs.js';
import { configLayers, outDir, runnerSupportsOps } from './support.js';

type J = Record<string, unknown>;
const supportsOps = await runnerSupportsOps();

/** Layer class and config values each fixture must lift to (by pattern; names from TF scopes). */
const CASES: { name: string; graph: () => ReturnType<typeof cnn>; expect: { name: string; cls: string; config?: J }[] }[] = [
  {
    name: 'Conv2D+BiasAdd+Relu, MaxPool, Conv2D+Relu6, Reshape, MatMul+BiasAdd+Softmax',
    graph: cnn,
    expect: [
      { name: 'image', cls: 'InputLayer', config: { batch_shape: [null, 8, 8, 3] } },
      { name: 'conv2d', cls: 'Conv2D', config: { filters: 4, kernel_size: [3, 3], padding: 'same', activation: 'relu', use_bias: true } },
      { name: 'max_pooling2d', cls: 'MaxPooling2D', config: { pool_size: [2, 2], strides: [2, 2], padding: 'valid' } },
      { name: 'conv2d_1', cls: 'Conv2D', config: { strides: [2, 2], padding: 'valid', activation: 'relu6' } },
      { name: 'flatten', cls: 'Flatten' },
      { name: 'dense', cls: 'Dense', config: { units: 5, activation: 'softmax', use_bias: true } },
    ],
  },
  {
    name: '_FusedConv2D, DepthwiseConv2dNative+BiasAdd+Relu, FusedBatchNormV3, Mean over H,W',
    graph: mobile,
    expect: [
      { name: 'conv', cls: 'Conv2D', config: { activation: 'relu', use_bias: true } },
      { name: 'dw', cls: 'DepthwiseConv2D', config: { depth_multiplier: 2, strides: [2, 2], activation: 'relu' } },
      { name: 'bn', cls: 'BatchNormalization', config: { epsilon: 0.0010000000474974513 } },
      { name: 'pool', cls: 'GlobalAveragePooling2D', config: { keepdims: false } },
    ],
  },
  {
    name: 'folded batch norm (Mul, Add), relu(x) - a*relu(-x), Pad, LeakyRelu, AvgPool',
    graph: folded,
    expect: [
      { name: 'conv', cls: 'Conv2D', config: { use_bias: false } },
      { name: 'bn', cls: 'BatchNormalization' },
      { name: 'prelu', cls: 'PReLU', config: { shared_axes: [1, 2] } },
      { name: 'pad', cls: 'ZeroPadding2D', config: { padding: [[1, 2], [2, 1]] } },
      { name: 'leaky', cls: 'LeakyReLU', config: { negative_slope: 0.10000000149011612 } },
      { name: 'avg', cls: 'AveragePooling2D', config: { padding: 'same' } },
    ],
  },
  {
    name: 'ConcatV2, Add/Sub/Mul/Maximum/Minimum of tensors, ResizeNearestNeighbor x2, Conv2DBackpropInput',
    graph: merges,
    expect: [
      { name: 'cat', cls: 'Concatenate', config: { axis: -1 } },
      { name: 'add', cls: 'Add' },
      { name: 'sub', cls: 'Subtract' },
      { name: 'mul', cls: 'Multiply' },
      { name: 'max', cls: 'Maximum' },
      { name: 'min', cls: 'Minimum' },
      { name: 'up', cls: 'UpSampling2D', config: { size: [2, 2], interpolation: 'nearest' } },
      { name: 'deconv', cls: 'Conv2DTranspose', config: { filters: 3, strides: [2, 2], padding: 'same' } },
    ],
  },
  {
    // ZeroPadding2D channels_first pads the tensor's axes 2 and 3, whatever they mean: on NHWC, W by 0 and C by (1, 2).
    name: 'Pad of zeros on the channels of a 4-D tensor (ZeroPadding2D over axes 2, 3), _FusedConv2D with a fused Prelu',
    graph: widen,
    expect: [
      { name: 'tf_op_layer_Pad', cls: 'ZeroPadding2D', config: { padding: [[0, 0], [1, 2]], data_format: 'channels_first' } },
      { name: 'p_re_lu_conv2d', cls: 'Conv2D', config: { activation: 'linear', use_bias: true } },
      { name: 'p_re_lu', cls: 'PReLU', config: { shared_axes: [1, 2] } },
      { name: 'add', cls: 'Add' },
    ],
  },
];

describe('lift: each recognised pattern becomes the expected stock layer, and the proof passes', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const out = outDir();
      const res = await lift(writePb(c.graph()), { out, seeds: 2 });
      expect(res.unliftable).toEqual([]);
      const layers = configLayers(`${out}/model.keras`);
      for (const e of c.expect) {
        const l = layers.find((x) => x.name === e.name);
        expect(l, `layer ${e.name}`).toBeDefined();
        expect(l!.class_name).toBe(e.cls);
        expect(l!.config as J).toMatchObject(e.config ?? {});
      }
      expect(res.proof?.verdict, res.proof?.summary).toBe('equivalent');
      expect(res.status).toBe('proven');
      expect(res.exitCode).toBe(0);
      expect(res.proof!.run.iterations).toBe(2);
    });
  }
});

describe('lift: ops where no layer fits (keras.ops entries as Keras serialises them)', () => {
  it('a Transpose over the batch axis and a Mul by a non-channel constant become keras.src.ops.numpy entries', async () => {
    const out = outDir();
    const res = await lift(writePb(needsOps()), { out, prove: false });
    expect(res.unliftable).toEqual([]);
    const layers = configLayers(`${out}/model.keras`);
    const kt = (layer: string, shape: (number | null)[]) => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] } });
    // serialization_lib.serialize_keras_object of an Operation that has no public class: module,
    // class name, get_config() = {name, **init args}, registered_name = the class name; functional.py adds name and inbound_nodes.
    expect(layers[1]).toEqual({
      module: 'keras.src.ops.numpy', class_name: 'Transpose', config: { name: 't_transpose', axes: [1, 0, 2] }, registered_name: 'Transpose', name: 't_transpose',
      inbound_nodes: [{ args: [kt('x', [null, 3, 4])], kwargs: {} }],
    });
    const mul = layers[2]!;
    expect(mul).toMatchObject({ module: 'keras.src.ops.numpy', class_name: 'Multiply', config: { name: 't' }, registered_name: 'Multiply', name: 't' });
    const args = (mul.inbound_nodes as { args: unknown[] }[])[0]!.args;
    expect(args[0]).toEqual(kt('t_transpose', [null, 2, 4]));
    // An ndarray constant: {class_name: '__numpy__', config: {value: nested list, dtype}}.
    const c = args[1] as { class_name: string; config: { value: number[][]; dtype: string } };
    expect(c.class_name).toBe('__numpy__');
    expect(c.config.dtype).toBe('float32');
    expect(c.config.value.length).toBe(2);
    expect(c.config.value[0]!.length).toBe(4);
  });

  it.skipIf(!supportsOps)('the lift with keras.ops is proven (runs once the Keras runner executes keras.ops)', async () => {
    const out = outDir();
    const res = await lift(writePb(needsOps()), { out, seeds: 2 });
    expect(res.proof?.verdict, res.proof?.summary).toBe('equivalent');
    expect(res.exitCode).toBe(0);
  });

  it.skipIf(supportsOps)('until the runner learns keras.ops, such a lift is written and reported unproven (exit 1), never proven', async () => {
    const out = outDir();
    const res = await lift(writePb(needsOps()), { out, seeds: 1 });
    expect(res.status).toBe('unproven');
    expect(res.exitCode).toBe(1);
    expect(res.unproven).toMatch(/Transpose/);
  });
});

describe('lift: weights as the original computes them', () => {
  it('a float16 kernel cast to float32 becomes the float32 kernel of the half values (0.1 -> 0.0999755859375)', async () => {
    const { halfWeights } = await import('./graphs.js');
    const res = await lift(writePb(halfWeights()), { out: outDir(), seeds: 1 });
    const conv = res.model!.layers.find((l) => l.className === 'Conv2D')!;
    // float16 nearest values, by hand: 0.1 = 0x2E66, 0.2 = 0x3266, 0.3 = 0x34CD.
    expect(Array.from(conv.weights[0]!.value.data as Float32Array)).toEqual([0.0999755859375, 0.199951171875, 0.300048828125]);
    expect(conv.nodes).toEqual(['model/conv/Conv2D']);
    expect(res.status, res.proof?.summary).toBe('proven');
  });
});
