import { tf } from '../../backend/tf.js';
import type { Param } from './call-args.js';
import { axesOf, binary, getItem, intOf, intsOf, reduce, softmax, tensorOf, type Args, type Value } from './op-values.js';
import { intVector, tfOp1 } from './tf-kernels.js';

/**
 * The TensorFlow functions a tf.keras 2.x `TFOpLambda` / `SlicingOpLambda` layer may name
 * (`config.function`: `__operators__.add`, `math.reduce_mean`, `nn.relu`, `compat.v1.transpose`,
 * `__operators__.getitem`, ...), with the function's own parameter names (tf.keras records
 * every argument after the first by those names). Each runs through the interpreter's kernel of
 * the TF op the function emits, so TF's semantics hold (integer reduce_mean truncates, softmax
 * over the last axis, ...). Anything else is refused by name.
 */

export interface TfFunction {
  /** `config.function` as tf.keras writes it (the `tf.` prefix dropped). */
  name: string;
  params: Param[];
  run(a: Args, what: string): tf.Tensor;
}

const NAME: Param = { name: 'name', default: null };

function t(a: Args, k: string, what: string): tf.Tensor {
  return tensorOf(a[k]!, `${what}: ${k}`);
}

function binaryFn(name: string, tfName: string, arithmetic = true): TfFunction {
  return { name, params: [{ name: 'x' }, { name: 'y' }, NAME], run: (a, w) => binary(tfName, a.x!, a.y!, w, arithmetic) };
}

function unaryFn(name: string, tfName: string, arg = 'x'): TfFunction {
  return { name, params: [{ name: arg }, NAME], run: (a, w) => tfOp1(tfName, [t(a, arg, w)], {}, w) };
}

function reduceFn(name: string, tfName: string, prep: (x: tf.Tensor) => tf.Tensor = (x) => x): TfFunction {
  return {
    name,
    params: [{ name: 'input_tensor' }, { name: 'axis', default: null }, { name: 'keepdims', default: false }, NAME],
    run: (a, w) => reduce(tfName, prep(t(a, 'input_tensor', w)), axesOf(a.axis!), a.keepdims === true, w),
  };
}

/** TF's logical ops take bool tensors; a non-bool stand-in (shape inference) is read as x != 0. */
const toBool = (x: tf.Tensor) => (x.dtype === 'bool' ? x : tf.notEqual(x, 0));

function logicalFn(name: string, tfName: string): TfFunction {
  return { name, params: [{ name: 'x' }, { name: 'y' }, NAME], run: (a, w) => tfOp1(tfName, [toBool(tensorOf(a.x!, w, 'bool')), toBool(tensorOf(a.y!, w, 'bool'))], {}, w) };
}

function transpose(a: Args, w: string): tf.Tensor {
  if (a.conjugate === true) throw new Error(`${w}: conjugate=True is not supported`);
  const x = t(a, 'a', w);
  const perm = a.perm === null ? x.shape.map((_, i) => x.rank - 1 - i) : intsOf(a.perm!, `${w}: perm`);
  return tfOp1('Transpose', [x, intVector(perm)], {}, w);
}

function squeeze(x: tf.Tensor, axis: Value, w: string): tf.Tensor {
  return tfOp1('Squeeze', [x], axis === null ? {} : { squeeze_dims: intsOf(axis, `${w}: axis`) }, w);
}

function values(v: Value, w: string): tf.Tensor[] {
  return (Array.isArray(v) ? v : [v]).map((x) => tensorOf(x, w));
}

export const TF_FUNCTIONS: readonly TfFunction[] = [
  binaryFn('__operators__.add', 'AddV2'),
  binaryFn('math.add', 'AddV2'),
  binaryFn('math.subtract', 'Sub'),
  binaryFn('math.multiply', 'Mul'),
  binaryFn('math.truediv', 'RealDiv'),
  binaryFn('math.divide', 'RealDiv'),
  binaryFn('math.floordiv', 'FloorDiv'),
  binaryFn('math.floormod', 'FloorMod'),
  binaryFn('math.pow', 'Pow'),
  binaryFn('math.maximum', 'Maximum'),
  binaryFn('math.minimum', 'Minimum'),
  binaryFn('math.squared_difference', 'SquaredDifference'),
  binaryFn('math.equal', 'Equal', false),
  binaryFn('math.not_equal', 'NotEqual', false),
  binaryFn('math.greater', 'Greater', false),
  binaryFn('math.greater_equal', 'GreaterEqual', false),
  binaryFn('math.less', 'Less', false),
  binaryFn('math.less_equal', 'LessEqual', false),
  logicalFn('math.logical_and', 'LogicalAnd'),
  logicalFn('math.logical_or', 'LogicalOr'),
  { name: 'math.logical_not', params: [{ name: 'x' }, NAME], run: (a, w) => tfOp1('LogicalNot', [toBool(t(a, 'x', w))], {}, w) },
  unaryFn('math.negative', 'Neg'),
  unaryFn('math.abs', 'Abs'),
  unaryFn('math.exp', 'Exp'),
  unaryFn('math.log', 'Log'),
  unaryFn('math.sqrt', 'Sqrt'),
  unaryFn('math.rsqrt', 'Rsqrt'),
  unaryFn('math.square', 'Square'),
  unaryFn('math.tanh', 'Tanh'),
  unaryFn('math.sigmoid', 'Sigmoid'),
  unaryFn('math.erf', 'Erf'),
  unaryFn('nn.relu', 'Relu', 'features'),
  unaryFn('nn.relu6', 'Relu6', 'features'),
  unaryFn('nn.elu', 'Elu', 'features'),
  unaryFn('nn.selu', 'Selu', 'features'),
  unaryFn('math.softplus', 'Softplus', 'features'),
  unaryFn('nn.softplus', 'Softplus', 'features'),
  unaryFn('identity', 'Identity', 'input'),
  {
    name: 'nn.leaky_relu',
    params: [{ name: 'features' }, { name: 'alpha', default: 0.2 }, NAME],
    run: (a, w) => tfOp1('LeakyRelu', [t(a, 'features', w)], { alpha: Number(a.alpha) }, w),
  },
  {
    name: 'nn.gelu',
    params: [{ name: 'features' }, { name: 'approximate', default: false }, NAME],
    run: (a, w) => tfOp1('Gelu', [t(a, 'features', w)], { approximate: a.approximate === true }, w),
  },
  {
    name: 'nn.silu',
    params: [{ name: 'features' }, { name: 'beta', default: 1.0 }, NAME],
    run: (a, w) => {
      const x = t(a, 'features', w);
      return tf.mul(x, tfOp1('Sigmoid', [tf.mul(x, Number(a.beta))], {}, w));
    },
  },
  {
    name: 'nn.softmax',
    params: [{ name: 'logits' }, { name: 'axis', default: null }, NAME],
    run: (a, w) => softmax(t(a, 'logits', w), axesOf(a.axis!) ?? [-1], w),
  },
  {
    name: 'math.l2_normalize',
    params: [{ name: 'x' }, { name: 'axis', default: null }, { name: 'epsilon', default: 1e-12 }, NAME, { name: 'dim', default: null }],
    run: (a, w) => {
      // nn_impl.l2_normalize: x * rsqrt(max(sum(x^2, axis, keepdims), epsilon)).
      const x = t(a, 'x', w);
      const ax = axesOf(a.axis ?? a.dim ?? null);
      const ss = reduce('Sum', tfOp1('Square', [x], {}, w), ax, true, w);
      return tf.mul(x, tfOp1('Rsqrt', [tf.maximum(ss, Number(a.epsilon))], {}, w));
    },
  },
  reduceFn('math.reduce_mean', 'Mean'),
  reduceFn('math.reduce_sum', 'Sum'),
  reduceFn('math.reduce_max', 'Max'),
  reduceFn('math.reduce_min', 'Min'),
  reduceFn('math.reduce_prod', 'Prod'),
  reduceFn('math.reduce_any', 'Any', toBool),
  reduceFn('math.reduce_all', 'All', toBool),
  {
    name: 'math.argmax',
    params: [{ name: 'input' }, { name: 'axis', default: null }, NAME, { name: 'output_type', default: 'int64' }],
    run: (a, w) => tfOp1('ArgMax', [t(a, 'input', w), tf.scalar(a.axis === null ? 0 : intOf(a.axis!, `${w}: axis`), 'int32')], {}, w),
  },
  {
    name: 'shape',
    params: [{ name: 'input' }, { name: 'out_type', default: null }, NAME],
    run: (a, w) => tf.tensor1d(t(a, 'input', w).shape, 'int32'),
  },
  {
    name: 'reshape',
    params: [{ name: 'tensor' }, { name: 'shape' }, NAME],
    run: (a, w) => tfOp1('Reshape', [t(a, 'tensor', w), intVector(intsOf(a.shape!, `${w}: shape`))], {}, w),
  },
  { name: 'transpose', params: [{ name: 'a' }, { name: 'perm', default: null }, { name: 'conjugate', default: false }, NAME], run: transpose },
  { name: 'compat.v1.transpose', params: [{ name: 'a' }, { name: 'perm', default: null }, NAME, { name: 'conjugate', default: false }], run: transpose },
  {
    name: 'concat',
    params: [{ name: 'values', list: true }, { name: 'axis' }, NAME],
    run: (a, w) => tfOp1('ConcatV2', [...values(a.values!, w), tf.scalar(intOf(a.axis!, `${w}: axis`), 'int32')], {}, w),
  },
  {
    name: 'stack',
    params: [{ name: 'values', list: true }, { name: 'axis', default: 0 }, NAME],
    run: (a, w) => tfOp1('Pack', values(a.values!, w), { axis: intOf(a.axis!, `${w}: axis`) }, w),
  },
  {
    name: 'expand_dims',
    params: [{ name: 'input' }, { name: 'axis' }, NAME],
    run: (a, w) => tfOp1('ExpandDims', [t(a, 'input', w), tf.scalar(intOf(a.axis!, `${w}: axis`), 'int32')], {}, w),
  },
  { name: 'squeeze', params: [{ name: 'input' }, { name: 'axis', default: null }, NAME], run: (a, w) => squeeze(t(a, 'input', w), a.axis!, w) },
  {
    name: 'compat.v1.squeeze',
    params: [{ name: 'input' }, { name: 'axis', default: null }, NAME, { name: 'squeeze_dims', default: null }],
    run: (a, w) => squeeze(t(a, 'input', w), a.axis ?? a.squeeze_dims ?? null, w),
  },
  {
    name: 'tile',
    params: [{ name: 'input' }, { name: 'multiples' }, NAME],
    run: (a, w) => tfOp1('Tile', [t(a, 'input', w), intVector(intsOf(a.multiples!, `${w}: multiples`))], {}, w),
  },
  {
    name: 'cast',
    params: [{ name: 'x' }, { name: 'dtype' }, NAME],
    run: (a, w) => {
      const d = String(a.dtype);
      const to = /^(float|bfloat|half|double)/.test(d) ? 'float32' : d === 'bool' ? 'bool' : /^u?int/.test(d) ? 'int32' : null;
      if (!to) throw new Error(`${w}: cast to '${d}' is not supported`);
      return tf.cast(t(a, 'x', w), to);
    },
  },
  {
    name: 'clip_by_value',
    params: [{ name: 't' }, { name: 'clip_value_min' }, { name: 'clip_value_max' }, NAME],
    run: (a, w) => {
      const x = t(a, 't', w);
      const lo = tensorOf(a.clip_value_min!, w, x.dtype as 'float32');
      const hi = tensorOf(a.clip_value_max!, w, x.dtype as 'float32');
      return tfOp1('ClipByValue', [x, lo, hi], {}, w);
    },
  },
  {
    name: 'linalg.matmul',
    params: [
      { name: 'a' }, { name: 'b' }, { name: 'transpose_a', default: false }, { name: 'transpose_b', default: false },
      { name: 'adjoint_a', default: false }, { name: 'adjoint_b', default: false }, { name: 'a_is_sparse', default: false },
      { name: 'b_is_sparse', default: false }, { name: 'output_type', default: null }, NAME,
    ],
    run: (a, w) => {
      if (a.output_type !== null) throw new Error(`${w}: output_type is not supported`);
      return tfOp1('BatchMatMulV2', [t(a, 'a', w), t(a, 'b', w)], { adj_x: a.transpose_a === true || a.adjoint_a === true, adj_y: a.transpose_b === true || a.adjoint_b === true }, w);
    },
  },
  { name: '__operators__.getitem', params: [{ name: 'tensor' }, { name: 'slice_spec' }, { name: 'var', default: null }], run: (a, w) => getItem(t(a, 'tensor', w), a.slice_spec!, w) },
];

/** The table entry for a `function` config value (`tf.` prefix allowed). */
export function findTfFunction(fn: string): TfFunction | undefined {
  const name = fn.replace(/^tf\./, '');
  return TF_FUNCTIONS.find((f) => f.name === name);
}
