import * as tf from '@tensorflow/tfjs-core';
import { attrBool, attrDType } from '../../graph/attrs.js';
import { toTfjsDType } from '../../core/dtype.js';
import { registerOps } from '../registry.js';
import { axis, fail, scalarInt } from './helpers.js';

/**
 * Element-wise math, comparisons, logic, casts. Integer semantics follow TensorFlow:
 * FloorDiv/FloorMod round toward -inf (FloorMod takes the divisor's sign), TruncateDiv/
 * TruncateMod toward zero, Div on integers truncates (C semantics), Round is half-to-even.
 */

function isInt(t: tf.Tensor): boolean {
  return t.dtype === 'int32';
}

function floorDiv(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (isInt(a) && isInt(b)) return tf.floorDiv(a, b);
  return tf.floor(tf.div(a, b));
}

function floorMod(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  // x - floor(x/y)*y, computed so int32 stays exact.
  if (isInt(a) && isInt(b)) return tf.sub(a, tf.mul(tf.floorDiv(a, b), b));
  return tf.sub(a, tf.mul(tf.floor(tf.div(a, b)), b));
}

function truncDiv(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (isInt(a) && isInt(b)) {
    // floorDiv rounded toward zero: add 1 where the signs differ and there is a remainder.
    const q = tf.floorDiv(a, b);
    const r = tf.sub(a, tf.mul(q, b));
    const fix = tf.logicalAnd(tf.notEqual(r, tf.scalar(0, 'int32')), tf.notEqual(tf.less(a, 0), tf.less(b, 0)));
    return tf.add(q, tf.cast(fix, 'int32'));
  }
  const d = tf.div(a, b);
  return tf.where(tf.less(d, 0), tf.ceil(d), tf.floor(d));
}

function truncMod(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.sub(a, tf.mul(truncDiv(a, b), b));
}

/** Half-to-even rounding (TF Round/Rint); tfjs round is half-to-even as well, checked in tests. */
function roundHalfEven(x: tf.Tensor): tf.Tensor {
  if (isInt(x)) return tf.clone(x);
  const f = tf.floor(x);
  const diff = tf.sub(x, f);
  const half = tf.equal(diff, 0.5);
  const evenF = tf.equal(tf.mod(f, 2), 0);
  const up = tf.add(f, 1);
  return tf.where(tf.greater(diff, 0.5), up, tf.where(half, tf.where(evenF, f, up), f));
}

function same(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  // tfjs refuses mixed float/int binary ops; TF graphs never mix them, but Const int -> float
  // after our int64/uint widening can. Promote to float32 then.
  if (a.dtype === b.dtype) return [a, b];
  if (a.dtype === 'bool' && b.dtype === 'bool') return [a, b];
  return [tf.cast(a, 'float32'), tf.cast(b, 'float32')];
}

const bin = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => ([a, b]: tf.Tensor[]) => f(...same(a!, b!));

registerOps({
  Add: bin(tf.add),
  AddV2: bin(tf.add),
  AddN: (xs) => (xs.length === 1 ? tf.clone(xs[0]!) : tf.addN(xs)),
  Sub: bin(tf.sub),
  Mul: bin(tf.mul),
  MulNoNan: bin((a, b) => tf.where(tf.equal(b, 0), tf.zerosLike(a), tf.mul(a, b))),
  RealDiv: bin(tf.div),
  Div: bin((a, b) => (isInt(a) ? truncDiv(a, b) : tf.div(a, b))),
  DivNoNan: bin((a, b) => tf.where(tf.equal(b, 0), tf.zerosLike(a), tf.div(a, b))),
  FloorDiv: bin(floorDiv),
  FloorMod: bin(floorMod),
  Mod: bin(floorMod),
  TruncateDiv: bin(truncDiv),
  TruncateMod: bin(truncMod),
  Pow: bin((a, b) => tf.pow(a, b)),
  SquaredDifference: bin(tf.squaredDifference),
  Maximum: bin(tf.maximum),
  Minimum: bin(tf.minimum),
  Atan2: bin(tf.atan2),
  Abs: ([x]) => tf.abs(x!),
  Neg: ([x]) => tf.neg(x!),
  Sign: ([x]) => tf.sign(x!),
  Square: ([x]) => tf.square(x!),
  Sqrt: ([x]) => tf.sqrt(x!),
  Rsqrt: ([x]) => tf.rsqrt(x!),
  Reciprocal: ([x]) => tf.reciprocal(x!),
  Inv: ([x]) => tf.reciprocal(x!),
  Exp: ([x]) => tf.exp(x!),
  Expm1: ([x]) => tf.expm1(x!),
  Log: ([x]) => tf.log(x!),
  Log1p: ([x]) => tf.log1p(x!),
  Sin: ([x]) => tf.sin(x!),
  Cos: ([x]) => tf.cos(x!),
  Tan: ([x]) => tf.tan(x!),
  Asin: ([x]) => tf.asin(x!),
  Acos: ([x]) => tf.acos(x!),
  Atan: ([x]) => tf.atan(x!),
  Sinh: ([x]) => tf.sinh(x!),
  Cosh: ([x]) => tf.cosh(x!),
  Tanh: ([x]) => tf.tanh(x!),
  Asinh: ([x]) => tf.asinh(x!),
  Acosh: ([x]) => tf.acosh(x!),
  Atanh: ([x]) => tf.atanh(x!),
  Erf: ([x]) => tf.erf(x!),
  Erfc: ([x]) => tf.sub(1, tf.erf(x!)),
  Floor: ([x]) => tf.floor(x!),
  Ceil: ([x]) => tf.ceil(x!),
  Round: ([x]) => roundHalfEven(x!),
  Rint: ([x]) => roundHalfEven(x!),
  IsNan: ([x]) => tf.isNaN(x!),
  IsInf: ([x]) => tf.isInf(x!),
  IsFinite: ([x]) => tf.isFinite(x!),
  Equal: bin(tf.equal),
  NotEqual: bin(tf.notEqual),
  Less: bin(tf.less),
  LessEqual: bin(tf.lessEqual),
  Greater: bin(tf.greater),
  GreaterEqual: bin(tf.greaterEqual),
  LogicalAnd: ([a, b]) => tf.logicalAnd(a!, b!),
  LogicalOr: ([a, b]) => tf.logicalOr(a!, b!),
  LogicalNot: ([x]) => tf.logicalNot(x!),
  ClipByValue: ([x, lo, hi]) => tf.minimum(tf.maximum(x!, lo!), hi!),
  Cast: ([x], node) => {
    const dst = toTfjsDType(attrDType(node, 'DstT'));
    if (dst === x!.dtype) return tf.clone(x!);
    if (dst === 'bool') return tf.notEqual(x!, tf.zerosLike(x!));
    if (dst === 'int32' && x!.dtype === 'float32') {
      // Truncate toward zero, like a C cast; NaN/inf are undefined in TF (we give 0/clamped).
      return tf.cast(tf.where(tf.less(x!, 0), tf.ceil(x!), tf.floor(x!)), 'int32');
    }
    return tf.cast(x!, dst as 'float32' | 'int32');
  },
  Select: ([c, a, b], node) => {
    // TF1 Select: a rank-1 condition picks whole rows of higher-rank a/b.
    if (c!.rank === 1 && a!.rank > 1) {
      if (c!.shape[0] !== a!.shape[0]) fail(node, `condition has ${c!.shape[0]} elements but inputs have ${a!.shape[0]} rows`);
      const cc = tf.reshape(c!, [c!.shape[0]!, ...new Array<number>(a!.rank - 1).fill(1)]);
      return tf.where(tf.broadcastTo(cc, a!.shape), a!, b!);
    }
    if (c!.shape.join() !== a!.shape.join() && c!.rank !== 0) fail(node, `condition shape [${c!.shape}] must equal input shape [${a!.shape}]`);
    return tf.where(c!.rank === 0 ? tf.broadcastTo(c!, a!.shape) : c!, a!, b!);
  },
  SelectV2: ([c, a, b]) => {
    const shape = tf.broadcastArgs(tf.broadcastArgs(tf.tensor1d(c!.shape, 'int32'), tf.tensor1d(a!.shape, 'int32')), tf.tensor1d(b!.shape, 'int32'));
    const s = Array.from(shape.dataSync());
    return tf.where(tf.broadcastTo(c!, s), tf.broadcastTo(a!, s), tf.broadcastTo(b!, s));
  },
  Cumsum: ([x, ax], node) => tf.cumsum(x!, axis(scalarInt(ax!), x!.rank, node), attrBool(node, 'exclusive', false), attrBool(node, 'reverse', false)),
  Cumprod: ([x, ax], node) => tf.cumprod(x!, axis(scalarInt(ax!), x!.rank, node), attrBool(node, 'exclusive', false), attrBool(node, 'reverse', false)),
  Softsign: ([x]) => tf.div(x!, tf.add(tf.abs(x!), 1)),
  BitwiseAnd: ([a, b]) => tf.bitwiseAnd(a!, b!),
});


/**
 * Random ops. TensorFlow's Philox streams are not reproduced: values are seeded from the op's
 * seed/seed2 attrs so runs are repeatable, which is exact for the common frozen-graph use
 * (dropout with keep_prob 1: floor(keep_prob + u) = 1 for any u in [0, 1)).
 */
function seedOf(node: import('../../graph/ir.js').GraphNode): number {
  const a = node.attrs.seed?.type === 'int' ? node.attrs.seed.value : 0;
  const b = node.attrs.seed2?.type === 'int' ? node.attrs.seed2.value : 0;
  return (a * 1000003 + b) >>> 0;
}
registerOps({
  RandomUniform: ([s], n) => tf.randomUniform(Array.from(s!.dataSync() as ArrayLike<number>), 0, 1, 'float32', seedOf(n)),
  RandomStandardNormal: ([s], n) => tf.randomNormal(Array.from(s!.dataSync() as ArrayLike<number>), 0, 1, 'float32', seedOf(n)),
  TruncatedNormal: ([s], n) => tf.truncatedNormal(Array.from(s!.dataSync() as ArrayLike<number>), 0, 1, 'float32', seedOf(n)),
});
