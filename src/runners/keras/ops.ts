import { tf } from '../../backend/tf.js';
import type { Param } from './call-args.js';
import { axesOf, binary, getItem, intOf, intsOf, isTensor, reduce, softmax, tensorOf, type Args, type Value } from './op-values.js';
import { intVector, tfOp1 } from './tf-kernels.js';

/**
 * keras.ops entries of Keras 3 functional configs: the one table of the ops the Keras runner
 * runs, with their arguments. `parity lift` reads it to know what it may emit.
 *
 * A Keras 3 op in a functional model is an `Operation` instance (keras/src/ops/<module>.py) saved
 * as `{module: "keras.src.ops.numpy", class_name: "Mean", config: {name, ...__init__ args},
 * inbound_nodes: [{args, kwargs}]}`: the op's `__init__` arguments (axis, keepdims, newshape,
 * ...) are in `config` (Operation's auto-config), its call arguments (tensors and Python
 * constants) in the inbound node. Keras versions moved some arguments between the two, so both
 * bind to one parameter list here. Keras ops follow numpy semantics; each runs through the
 * interpreter's TF kernel where TF computes the same thing (broadcasting, negative axes, floor
 * division, basic indexing), with numpy's dtype rules applied first (`promote`).
 */

export interface KerasOp {
  /** `keras.src.ops.<module>` the class lives in. */
  module: 'numpy' | 'nn' | 'core' | 'math' | 'image';
  /** Class name as the config writes it. */
  className: string;
  /** The public function (`keras.ops.mean`). */
  fn: string;
  /** Parameters: call arguments in call order, then `__init__`-only ones; defaults as Keras'. */
  params: Param[];
  run(a: Args, what: string): tf.Tensor;
}

const X: Param = { name: 'x' };
const X1X2: Param[] = [{ name: 'x1' }, { name: 'x2' }];
const AXIS_NONE: Param = { name: 'axis', default: null };
const KEEPDIMS: Param = { name: 'keepdims', default: false };

function t(a: Args, k: string, what: string): tf.Tensor {
  return tensorOf(a[k]!, `${what}: ${k}`);
}

/** Float version of an int/bool tensor (Keras' result_type(x, float) for mean, divide, ...). */
function asFloat(x: tf.Tensor): tf.Tensor {
  return x.dtype === 'float32' ? x : tf.cast(x, 'float32');
}

function binaryOp(className: string, fn: string, tfName: string, arithmetic = true): KerasOp {
  return { module: 'numpy', className, fn, params: X1X2, run: (a, w) => binary(tfName, a.x1!, a.x2!, w, arithmetic) };
}

function unaryOp(className: string, fn: string, f: (x: tf.Tensor, w: string) => tf.Tensor, module: KerasOp['module'] = 'numpy', floatOnly = true): KerasOp {
  return { module, className, fn, params: [X], run: (a, w) => f(floatOnly ? asFloat(t(a, 'x', w)) : t(a, 'x', w), w) };
}

function reduction(className: string, fn: string, tfName: string, prep: (x: tf.Tensor) => tf.Tensor = (x) => x, extra: Param[] = []): KerasOp {
  return {
    module: 'numpy',
    className,
    fn,
    params: [X, AXIS_NONE, KEEPDIMS, ...extra],
    run: (a, w) => {
      for (const k of ['initial', 'dtype']) if (k in a && a[k] !== null) throw new Error(`${w}: ${k}=${JSON.stringify(a[k])} is not supported`);
      return reduce(tfName, prep(t(a, 'x', w)), axesOf(a.axis!), a.keepdims === true, w);
    },
  };
}

/** numpy.argmax/argmin: axis None is over the flattened x; keepdims keeps the axis as 1. */
function argReduction(className: string, fn: string, tfName: string): KerasOp {
  return {
    module: 'numpy', className, fn, params: [X, AXIS_NONE, KEEPDIMS],
    run: (a, w) => {
      let x = boolToInt(t(a, 'x', w));
      if (a.axis === null) x = tf.reshape(x, [-1]);
      const ax = a.axis === null ? 0 : intOf(a.axis!, `${w}: axis`);
      const y = tfOp1(tfName, [x, tf.scalar(ax, 'int32')], { output_type: { dtype: 'int32' } }, w);
      if (a.keepdims !== true) return y;
      return a.axis === null ? tf.reshape(y, t(a, 'x', w).shape.map(() => 1)) : tf.expandDims(y, ax < 0 ? ax + x.rank : ax);
    },
  };
}

const toBool = (x: tf.Tensor) => (x.dtype === 'bool' ? x : tf.notEqual(x, 0));
const boolToInt = (x: tf.Tensor) => (x.dtype === 'bool' ? tf.cast(x, 'int32') : x);

/** numpy.matmul: 1-D operands gain a dim for the product and lose it after. */
function matmul(x1: tf.Tensor, x2: tf.Tensor, w: string): tf.Tensor {
  let a = x1;
  let b = x2;
  if (a.dtype !== b.dtype) [a, b] = [asFloat(a), asFloat(b)];
  const va = a.rank === 1;
  const vb = b.rank === 1;
  if (va) a = tf.expandDims(a, 0);
  if (vb) b = tf.expandDims(b, 1);
  let y = tfOp1('BatchMatMulV2', [a, b], {}, w);
  if (va) y = tf.squeeze(y, [y.rank - 2]);
  if (vb) y = tf.squeeze(y, [y.rank - 1]);
  return y;
}

/** numpy.average: the mean, or sum(x * w) / sum(w) with w of x's shape or 1-D along `axis`. */
function average(x: tf.Tensor, weights: Value, axis: Value, w: string): tf.Tensor {
  const xf = asFloat(x);
  const ax = axis === null ? null : [intOf(axis, `${w}: axis`)];
  if (weights === null) return reduce('Mean', xf, ax, false, w);
  let wt = asFloat(tensorOf(weights, `${w}: weights`));
  if (wt.rank === 1 && xf.rank > 1 && ax) {
    const a = ax[0]! < 0 ? ax[0]! + xf.rank : ax[0]!;
    wt = tf.reshape(wt, xf.shape.map((d, i) => (i === a ? d : 1)));
  }
  return tf.div(reduce('Sum', tf.mul(xf, wt), ax, false, w), reduce('Sum', tf.broadcastTo(wt, xf.shape), ax, false, w));
}

/**
 * keras.ops.image.resize (keras/src/ops/image.py Resize): on the TensorFlow backend
 * tf.image.resize, i.e. half-pixel centres without corner alignment, for 'bilinear' and 'nearest';
 * antialiasing, the other interpolations and the aspect-ratio crop/pad are refused by name.
 */
function imageResize(a: Args, w: string): tf.Tensor {
  const interpolation = String(a.interpolation);
  if (interpolation !== 'bilinear' && interpolation !== 'nearest') throw new Error(`${w}: interpolation '${interpolation}' is not supported (bilinear, nearest)`);
  for (const k of ['antialias', 'crop_to_aspect_ratio', 'pad_to_aspect_ratio']) if (a[k] === true) throw new Error(`${w}: ${k}=True is not supported`);
  let x = asFloat(t(a, 'images', w));
  const batched = x.rank === 4;
  if (!batched) x = tf.expandDims(x, 0);
  if (x.rank !== 4) throw new Error(`${w}: images must be 3-D or 4-D, found rank ${x.rank}`);
  const first = a.data_format === 'channels_first';
  if (first) x = tf.transpose(x, [0, 2, 3, 1]);
  const size = intsOf(a.size!, `${w}: size`);
  let y = tfOp1(interpolation === 'bilinear' ? 'ResizeBilinear' : 'ResizeNearestNeighbor', [x, intVector(size)], { align_corners: false, half_pixel_centers: true }, w);
  if (first) y = tf.transpose(y, [0, 3, 1, 2]);
  return batched ? y : tf.squeeze(y, [0]);
}

export const KERAS_OPS: readonly KerasOp[] = [
  binaryOp('Add', 'add', 'AddV2'),
  binaryOp('Subtract', 'subtract', 'Sub'),
  binaryOp('Multiply', 'multiply', 'Mul'),
  { module: 'numpy', className: 'Divide', fn: 'divide', params: X1X2, run: (a, w) => binary('RealDiv', asFloatValue(a.x1!), asFloatValue(a.x2!), w) },
  { module: 'numpy', className: 'TrueDivide', fn: 'true_divide', params: X1X2, run: (a, w) => binary('RealDiv', asFloatValue(a.x1!), asFloatValue(a.x2!), w) },
  binaryOp('FloorDivide', 'floor_divide', 'FloorDiv'),
  binaryOp('Mod', 'mod', 'FloorMod'),
  binaryOp('Power', 'power', 'Pow'),
  binaryOp('Maximum', 'maximum', 'Maximum'),
  binaryOp('Minimum', 'minimum', 'Minimum'),
  binaryOp('Equal', 'equal', 'Equal', false),
  binaryOp('NotEqual', 'not_equal', 'NotEqual', false),
  binaryOp('Greater', 'greater', 'Greater', false),
  binaryOp('GreaterEqual', 'greater_equal', 'GreaterEqual', false),
  binaryOp('Less', 'less', 'Less', false),
  binaryOp('LessEqual', 'less_equal', 'LessEqual', false),
  { module: 'numpy', className: 'LogicalAnd', fn: 'logical_and', params: X1X2, run: (a, w) => tfOp1('LogicalAnd', [toBool(tensorOf(a.x1!, w, 'bool')), toBool(tensorOf(a.x2!, w, 'bool'))], {}, w) },
  { module: 'numpy', className: 'LogicalOr', fn: 'logical_or', params: X1X2, run: (a, w) => tfOp1('LogicalOr', [toBool(tensorOf(a.x1!, w, 'bool')), toBool(tensorOf(a.x2!, w, 'bool'))], {}, w) },
  unaryOp('LogicalNot', 'logical_not', (x, w) => tfOp1('LogicalNot', [toBool(x)], {}, w), 'numpy', false),
  unaryOp('Negative', 'negative', (x, w) => tfOp1('Neg', [boolToInt(x)], {}, w), 'numpy', false),
  unaryOp('Absolute', 'absolute', (x, w) => tfOp1('Abs', [boolToInt(x)], {}, w), 'numpy', false),
  unaryOp('Square', 'square', (x, w) => tfOp1('Square', [boolToInt(x)], {}, w), 'numpy', false),
  unaryOp('Sign', 'sign', (x, w) => tfOp1('Sign', [boolToInt(x)], {}, w), 'numpy', false),
  unaryOp('Exp', 'exp', (x, w) => tfOp1('Exp', [x], {}, w)),
  unaryOp('Log', 'log', (x, w) => tfOp1('Log', [x], {}, w)),
  unaryOp('Sqrt', 'sqrt', (x, w) => tfOp1('Sqrt', [x], {}, w)),
  unaryOp('Tanh', 'tanh', (x, w) => tfOp1('Tanh', [x], {}, w)),
  unaryOp('Sin', 'sin', (x, w) => tfOp1('Sin', [x], {}, w)),
  unaryOp('Cos', 'cos', (x, w) => tfOp1('Cos', [x], {}, w)),
  unaryOp('Reciprocal', 'reciprocal', (x, w) => tfOp1('Reciprocal', [x], {}, w)),
  unaryOp('Floor', 'floor', (x, w) => tfOp1('Floor', [x], {}, w)),
  unaryOp('Ceil', 'ceil', (x, w) => tfOp1('Ceil', [x], {}, w)),
  unaryOp('Rsqrt', 'rsqrt', (x, w) => tfOp1('Rsqrt', [x], {}, w), 'math'),
  unaryOp('Erf', 'erf', (x, w) => tfOp1('Erf', [x], {}, w), 'math'),
  reduction('Sum', 'sum', 'Sum', boolToInt),
  reduction('Mean', 'mean', 'Mean', asFloat),
  reduction('Max', 'max', 'Max', boolToInt, [{ name: 'initial', default: null }]),
  reduction('Min', 'min', 'Min', boolToInt, [{ name: 'initial', default: null }]),
  reduction('Prod', 'prod', 'Prod', boolToInt, [{ name: 'dtype', default: null }]),
  reduction('Any', 'any', 'Any', toBool),
  reduction('All', 'all', 'All', toBool),
  {
    module: 'numpy', className: 'Average', fn: 'average', params: [X, { name: 'weights', default: null }, AXIS_NONE],
    run: (a, w) => average(t(a, 'x', w), a.weights!, a.axis!, w),
  },
  {
    module: 'numpy', className: 'Reshape', fn: 'reshape', params: [X, { name: 'newshape' }],
    run: (a, w) => tfOp1('Reshape', [t(a, 'x', w), intVector(intsOf(a.newshape!, `${w}: newshape`))], {}, w),
  },
  {
    module: 'numpy', className: 'Transpose', fn: 'transpose', params: [X, { name: 'axes', default: null }],
    run: (a, w) => {
      const x = t(a, 'x', w);
      const axes = a.axes === null ? x.shape.map((_, i) => x.rank - 1 - i) : intsOf(a.axes!, `${w}: axes`).map((d) => (d < 0 ? d + x.rank : d));
      return tfOp1('Transpose', [x, intVector(axes)], {}, w);
    },
  },
  {
    module: 'numpy', className: 'Concatenate', fn: 'concatenate', params: [{ name: 'xs', list: true }, { name: 'axis', default: 0 }],
    run: (a, w) => {
      const xs = listOf(a.xs!, w);
      if (a.axis === null) return tfOp1('ConcatV2', [...xs.map((x) => tf.reshape(x, [-1])), tf.scalar(0, 'int32')], {}, w);
      return tfOp1('ConcatV2', [...xs, tf.scalar(intOf(a.axis!, `${w}: axis`), 'int32')], {}, w);
    },
  },
  {
    module: 'numpy', className: 'Stack', fn: 'stack', params: [{ name: 'x', list: true }, { name: 'axis', default: 0 }],
    run: (a, w) => tfOp1('Pack', listOf(a.x!, w), { axis: intOf(a.axis!, `${w}: axis`) }, w),
  },
  {
    module: 'numpy', className: 'ExpandDims', fn: 'expand_dims', params: [X, { name: 'axis' }],
    run: (a, w) => {
      let x = t(a, 'x', w);
      const axes = intsOf(a.axis!, `${w}: axis`);
      const out = x.rank + axes.length;
      for (const d of axes.map((d) => (d < 0 ? d + out : d)).sort((p, q) => p - q)) x = tfOp1('ExpandDims', [x, tf.scalar(d, 'int32')], {}, w);
      return x;
    },
  },
  {
    module: 'numpy', className: 'Squeeze', fn: 'squeeze', params: [X, AXIS_NONE],
    run: (a, w) => tfOp1('Squeeze', [t(a, 'x', w)], a.axis === null ? {} : { squeeze_dims: intsOf(a.axis!, `${w}: axis`) }, w),
  },
  { module: 'numpy', className: 'Matmul', fn: 'matmul', params: X1X2, run: (a, w) => matmul(t(a, 'x1', w), t(a, 'x2', w), w) },
  {
    module: 'numpy', className: 'Einsum', fn: 'einsum', params: [{ name: 'subscripts' }, { name: 'operands', variadic: true }],
    run: (a, w) => {
      const ops = listOf(a.operands!, w);
      const f = ops.some((o) => o.dtype === 'float32');
      return tfOp1('Einsum', f ? ops.map(asFloat) : ops, { equation: String(a.subscripts) }, w);
    },
  },
  { module: 'numpy', className: 'GetItem', fn: 'getitem (x[key])', params: [X, { name: 'key' }], run: (a, w) => getItem(t(a, 'x', w), a.key!, w) },
  {
    module: 'numpy', className: 'Where', fn: 'where', params: [{ name: 'condition' }, { name: 'x1', default: null }, { name: 'x2', default: null }],
    run: (a, w) => {
      if (a.x1 === null || a.x2 === null) throw new Error(`${w}: where(condition) without x1 and x2 (nonzero indices) is not supported`);
      const [x1, x2] = promotePair(a.x1!, a.x2!, w);
      return tfOp1('SelectV2', [toBool(tensorOf(a.condition!, w, 'bool')), x1, x2], {}, w);
    },
  },
  {
    module: 'numpy', className: 'Clip', fn: 'clip', params: [X, { name: 'x_min' }, { name: 'x_max' }],
    run: (a, w) => {
      const x = boolToInt(t(a, 'x', w));
      const cast = (v: Value) => { const c = tensorOf(v, w, x.dtype as 'float32'); return c.dtype === x.dtype ? c : tf.cast(c, x.dtype); };
      return tfOp1('Minimum', [tfOp1('Maximum', [x, cast(a.x_min!)], {}, w), cast(a.x_max!)], {}, w);
    },
  },
  {
    module: 'core', className: 'Cast', fn: 'cast', params: [X, { name: 'dtype' }],
    run: (a, w) => {
      const d = String(a.dtype);
      const to = /^(float|bfloat|half|double)/.test(d) ? 'float32' : d === 'bool' ? 'bool' : /^u?int/.test(d) ? 'int32' : null;
      if (!to) throw new Error(`${w}: cast to '${d}' is not supported`);
      return tf.cast(t(a, 'x', w), to);
    },
  },
  unaryOp('Expm1', 'expm1', (x, w) => tfOp1('Expm1', [x], {}, w)),
  unaryOp('Log1p', 'log1p', (x, w) => tfOp1('Log1p', [x], {}, w)),
  argReduction('Argmax', 'argmax', 'ArgMax'),
  argReduction('Argmin', 'argmin', 'ArgMin'),
  {
    module: 'numpy', className: 'Cumsum', fn: 'cumsum', params: [X, AXIS_NONE, { name: 'dtype', default: null }],
    run: (a, w) => {
      if (a.dtype !== null) throw new Error(`${w}: dtype=${JSON.stringify(a.dtype)} is not supported`);
      let x = boolToInt(t(a, 'x', w));
      if (a.axis === null) x = tf.reshape(x, [-1]);
      return tfOp1('Cumsum', [x, tf.scalar(a.axis === null ? 0 : intOf(a.axis!, `${w}: axis`), 'int32')], {}, w);
    },
  },
  {
    module: 'numpy', className: 'Tile', fn: 'tile', params: [X, { name: 'repeats' }],
    run: (a, w) => {
      // numpy.tile: the shorter of x's dims and repeats is padded with leading ones.
      let x = t(a, 'x', w);
      let reps = intsOf(a.repeats!, `${w}: repeats`);
      if (reps.length < x.rank) reps = [...new Array<number>(x.rank - reps.length).fill(1), ...reps];
      if (reps.length > x.rank) x = tf.reshape(x, [...new Array<number>(reps.length - x.rank).fill(1), ...x.shape]);
      return tfOp1('Tile', [x, intVector(reps)], {}, w);
    },
  },
  {
    module: 'numpy', className: 'Take', fn: 'take', params: [X, { name: 'indices' }, AXIS_NONE],
    run: (a, w) => {
      // numpy.take: axis None indexes the flattened x; negative indices count from the end.
      let x = t(a, 'x', w);
      if (a.axis === null) x = tf.reshape(x, [-1]);
      const ax = a.axis === null ? 0 : intOf(a.axis!, `${w}: axis`);
      const d = x.shape[ax < 0 ? ax + x.rank : ax];
      if (d === undefined) throw new Error(`${w}: axis ${ax} is out of range for rank ${x.rank}`);
      let idx = tensorOf(a.indices!, `${w}: indices`, 'int32');
      if (idx.dtype !== 'int32') idx = tf.cast(idx, 'int32');
      idx = tf.where(tf.less(idx, 0), tf.add(idx, tf.scalar(d, 'int32')), idx);
      return tfOp1('GatherV2', [x, idx, tf.scalar(ax, 'int32')], {}, w);
    },
  },
  {
    module: 'image', className: 'Resize', fn: 'image.resize',
    params: [
      { name: 'images' }, { name: 'size' }, { name: 'interpolation', default: 'bilinear' }, { name: 'antialias', default: false },
      { name: 'crop_to_aspect_ratio', default: false }, { name: 'pad_to_aspect_ratio', default: false }, { name: 'fill_mode', default: 'constant' },
      { name: 'fill_value', default: 0 }, { name: 'data_format', default: null },
    ],
    run: imageResize,
  },
  unaryOp('Relu', 'relu', (x, w) => tfOp1('Relu', [x], {}, w), 'nn'),
  unaryOp('Relu6', 'relu6', (x, w) => tfOp1('Relu6', [x], {}, w), 'nn'),
  unaryOp('Sigmoid', 'sigmoid', (x, w) => tfOp1('Sigmoid', [x], {}, w), 'nn'),
  unaryOp('Softplus', 'softplus', (x, w) => tfOp1('Softplus', [x], {}, w), 'nn'),
  unaryOp('Silu', 'silu', (x, w) => tf.mul(x, tfOp1('Sigmoid', [x], {}, w)), 'nn'),
  {
    module: 'nn', className: 'Gelu', fn: 'gelu', params: [X, { name: 'approximate', default: true }],
    run: (a, w) => tfOp1('Gelu', [asFloat(t(a, 'x', w))], { approximate: a.approximate === true }, w),
  },
  {
    module: 'nn', className: 'Softmax', fn: 'softmax', params: [X, { name: 'axis', default: -1 }],
    run: (a, w) => softmax(asFloat(t(a, 'x', w)), axesOf(a.axis!) ?? [-1], w),
  },
  {
    module: 'nn', className: 'LogSoftmax', fn: 'log_softmax', params: [X, { name: 'axis', default: -1 }],
    run: (a, w) => {
      const x = asFloat(t(a, 'x', w));
      const ax = axesOf(a.axis!) ?? [-1];
      return tf.sub(x, tf.logSumExp(x, ax.map((d) => (d < 0 ? d + x.rank : d)), true));
    },
  },
];

function asFloatValue(v: Value): Value {
  return isTensor(v) ? asFloat(v) : v;
}

function promotePair(a: Value, b: Value, w: string): [tf.Tensor, tf.Tensor] {
  const ta = tensorOf(a, w);
  const tb = tensorOf(b, w, ta.dtype as 'float32');
  if (ta.dtype === tb.dtype) return [ta, tb];
  return [asFloat(ta), asFloat(tb)];
}

function listOf(v: Value, w: string): tf.Tensor[] {
  const xs = Array.isArray(v) ? v : [v];
  const ts = xs.map((x) => tensorOf(x, w));
  if (ts.some((x) => x.dtype === 'float32')) return ts.map(asFloat);
  return ts;
}

/** Modules a Keras 3 op entry may name (`module` of the config entry). */
export function isKerasOpModule(module: unknown): module is string {
  return typeof module === 'string' && /^keras\.(src\.)?ops(\.|$)/.test(module);
}

/** The table entry for a config entry's module and class_name (the module's last part must match). */
export function findKerasOp(module: string, className: string): KerasOp | undefined {
  const last = module.split('.').pop();
  return KERAS_OPS.find((o) => o.className === className && (last === o.module || last === 'ops'));
}

/** Config keys of an op entry that never change its values. */
export const OP_CONFIG_IGNORED = ['name', 'trainable', 'dtype'] as const;
