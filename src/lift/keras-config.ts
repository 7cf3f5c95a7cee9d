import { numElements, type HostTensor } from '../core/tensor.js';
import type { CallArg, LiftedLayer, LiftedModel } from './model.js';

/**
 * The Keras 3 `.keras` config.json of a lifted model, key for key as Keras 3 serialises a
 * functional model (keras/src/models/functional.py get_config, keras/src/saving/serialization_lib.py):
 * layers as `{module: 'keras.layers', class_name, config, registered_name: null, build_config?, name,
 * inbound_nodes}`, keras.ops operations as `{module: 'keras.src.ops.<file>', class_name,
 * config: {name, ...init args}, registered_name: <class>, name, inbound_nodes}`, call arguments
 * as `{args, kwargs}` with `__keras_tensor__` entries and constants as plain numbers or
 * `__numpy__` objects.
 */

type J = Record<string, unknown>;

/** The version of the format written (the structure matches what this Keras release writes). */
export const KERAS_FORMAT_VERSION = '3.15.1';

const policy = (): J => ({ module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null });
const init = (cls: string, config: J = {}): J => ({ module: 'keras.initializers', class_name: cls, config, registered_name: null });
const glorot = () => init('GlorotUniform', { seed: null });

/** Every config key of each class Keras' get_config returns, in its order, with the defaults lift does not set. */
const DEFAULTS: Record<string, () => J> = {
  Conv2D: () => ({
    filters: 1, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1,
    activation: 'linear', use_bias: true, kernel_initializer: glorot(), bias_initializer: init('Zeros'), kernel_regularizer: null,
    bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  }),
  Conv2DTranspose: () => ({
    filters: 1, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1],
    activation: 'linear', use_bias: true, kernel_initializer: glorot(), bias_initializer: init('Zeros'), kernel_regularizer: null,
    bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  }),
  DepthwiseConv2D: () => ({
    kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear',
    use_bias: true, depth_multiplier: 1, depthwise_initializer: glorot(), bias_initializer: init('Zeros'), depthwise_regularizer: null,
    bias_regularizer: null, activity_regularizer: null, depthwise_constraint: null, bias_constraint: null,
  }),
  // base_separable_conv.py get_config: depth_multiplier first, then the conv keys; three initializers, regularizers, constraints.
  SeparableConv2D: () => ({
    depth_multiplier: 1, filters: 1, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1],
    activation: 'linear', use_bias: true, depthwise_initializer: glorot(), pointwise_initializer: glorot(), bias_initializer: init('Zeros'),
    depthwise_regularizer: null, pointwise_regularizer: null, bias_regularizer: null, activity_regularizer: null, depthwise_constraint: null,
    pointwise_constraint: null, bias_constraint: null,
  }),
  Dense: () => ({
    units: 1, activation: 'linear', use_bias: true, kernel_initializer: glorot(), bias_initializer: init('Zeros'), kernel_regularizer: null,
    bias_regularizer: null, kernel_constraint: null, bias_constraint: null, quantization_config: null,
  }),
  BatchNormalization: () => ({
    axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: init('Zeros'), gamma_initializer: init('Ones'),
    moving_mean_initializer: init('Zeros'), moving_variance_initializer: init('Ones'), beta_regularizer: null, gamma_regularizer: null,
    beta_constraint: null, gamma_constraint: null, synchronized: false,
  }),
  Activation: () => ({ activation: 'linear' }),
  ReLU: () => ({ max_value: null, negative_slope: 0.0, threshold: 0.0 }),
  LeakyReLU: () => ({ negative_slope: 0.3 }),
  Softmax: () => ({ axis: -1 }),
  PReLU: () => ({ alpha_initializer: init('Zeros'), alpha_regularizer: null, alpha_constraint: null, shared_axes: null }),
  MaxPooling2D: () => ({ pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }),
  AveragePooling2D: () => ({ pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }),
  GlobalAveragePooling2D: () => ({ data_format: 'channels_last', keepdims: false }),
  GlobalMaxPooling2D: () => ({ data_format: 'channels_last', keepdims: false }),
  ZeroPadding2D: () => ({ padding: [[0, 0], [0, 0]], data_format: 'channels_last' }),
  ZeroPadding1D: () => ({ padding: [1, 1] }),
  UpSampling2D: () => ({ size: [2, 2], data_format: 'channels_last', interpolation: 'nearest' }),
  Concatenate: () => ({ axis: -1 }),
  Add: () => ({}), Subtract: () => ({}), Multiply: () => ({}), Maximum: () => ({}), Minimum: () => ({}),
  Flatten: () => ({ data_format: 'channels_last' }),
  Reshape: () => ({ target_shape: [] }),
  Permute: () => ({ dims: [] }),
};

/** Classes that build weights (or, like Flatten, record their input shape): Keras writes their build_config. */
const BUILT = new Set(['Conv2D', 'Conv2DTranspose', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense', 'BatchNormalization', 'PReLU', 'Flatten']);

export function layerClasses(): string[] {
  return Object.keys(DEFAULTS);
}

function numpyValue(t: HostTensor): unknown {
  const flat = Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  const nest = (dims: number[], off: number): unknown => {
    if (dims.length === 0) return flat[off];
    const [d, ...rest] = dims;
    const step = numElements(rest);
    return Array.from({ length: d! }, (_, i) => nest(rest, off + i * step));
  };
  return nest(t.shape, 0);
}

/** `np.ndarray` as serialization_lib writes it; dtypes by Keras' standardize_dtype names. */
export function numpyObject(t: HostTensor): J {
  return { class_name: '__numpy__', config: { value: numpyValue(t), dtype: t.dtype } };
}

export function kerasTensor(layer: string, shape: (number | null)[], dtype = 'float32'): J {
  return { class_name: '__keras_tensor__', config: { shape, dtype, keras_history: [layer, 0, 0] } };
}

interface TensorInfo {
  layer: string;
  shape: (number | null)[];
  dtype: string;
}

function callArg(a: CallArg, tensors: Map<string, TensorInfo>): unknown {
  const kt = (id: string) => {
    const t = tensors.get(id);
    if (!t) throw new Error(`lifted model: tensor '${id}' is used before it is produced`);
    return kerasTensor(t.layer, t.shape, t.dtype);
  };
  switch (a.kind) {
    case 'tensor': return kt(a.tensor);
    case 'tensors': return a.tensors.map(kt);
    case 'array': return numpyObject(a.value);
    case 'value': return a.value;
  }
}

/** The full `config` of a layer: name, trainable, dtype, then the class' keys (defaults overridden by the lift). */
export function layerConfig(l: Pick<LiftedLayer, 'name' | 'className' | 'config'>): J {
  const defaults = DEFAULTS[l.className];
  if (!defaults) throw new Error(`lift: no Keras config known for layer class ${l.className}`);
  const out: J = { name: l.name, trainable: true, dtype: policy() };
  const d = defaults();
  for (const k of Object.keys(d)) out[k] = k in l.config ? l.config[k] : d[k];
  for (const k of Object.keys(l.config)) if (!(k in d)) throw new Error(`lift: ${l.className} has no config key '${k}'`);
  return out;
}

function inputShapeOf(l: LiftedLayer, tensors: Map<string, TensorInfo>): unknown {
  const shapes = l.args.flatMap((a) => (a.kind === 'tensor' ? [tensors.get(a.tensor)!.shape] : a.kind === 'tensors' ? a.tensors.map((t) => tensors.get(t)!.shape) : []));
  return shapes.length === 1 ? shapes[0] : shapes;
}

/** config.json of the lifted model. */
export function kerasConfig(m: LiftedModel): J {
  const tensors = new Map<string, TensorInfo>();
  const layers: J[] = [];
  for (const i of m.inputs) {
    tensors.set(i.tensor, { layer: i.name, shape: i.shape, dtype: i.dtype });
    layers.push({
      module: 'keras.layers', class_name: 'InputLayer',
      config: { batch_shape: i.shape, dtype: i.dtype, sparse: false, ragged: false, name: i.name, optional: false },
      registered_name: null, name: i.name, inbound_nodes: [],
    });
  }
  for (const l of m.layers) {
    const args = l.args.map((a) => callArg(a, tensors));
    const entry: J = l.kind === 'layer'
      ? { module: 'keras.layers', class_name: l.className, config: layerConfig(l), registered_name: null }
      : { module: l.module, class_name: l.className, config: { name: l.name, ...l.config }, registered_name: l.className };
    if (l.kind === 'layer' && BUILT.has(l.className)) entry.build_config = { input_shape: inputShapeOf(l, tensors) };
    entry.name = l.name;
    entry.inbound_nodes = [{ args, kwargs: {} }];
    layers.push(entry);
    tensors.set(l.output, { layer: l.name, shape: l.shape, dtype: l.dtype ?? 'float32' });
  }
  const triple = (id: string) => [tensors.get(id)!.layer, 0, 0];
  const ins = m.inputs.map((i) => triple(i.tensor));
  const outs = m.outputs.map((o) => triple(o.tensor));
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: { name: m.name, trainable: true, layers, input_layers: ins.length === 1 ? ins[0] : ins, output_layers: outs.length === 1 ? outs[0] : outs },
    registered_name: 'Functional',
  };
}

export function kerasMetadata(date = new Date()): J {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${date.getUTCFullYear()}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())}@${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())}`;
  return { keras_version: KERAS_FORMAT_VERSION, date_saved: stamp };
}
