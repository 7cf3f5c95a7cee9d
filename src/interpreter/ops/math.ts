import { tf } from '../../backend/tf.js';
import { attrBool, attrDType } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import type { DType } from '../../core/dtype.js';
import { isNarrowIntDType, toTfjsDType, wrapToNarrowInt } from '../../core/dtype.js';
import { numElements } from '../../core/tensor.js';
import { roundFloat } from '../../inputs/float.js';
import { stringBytes } from '../../backend/convert.js';
import { opFamily } from '../registry.js';
import { axis, fail, scalarInt } from './helpers.js';

const { registerOps } = opFamily('math');

/**
 * Element-wise math, comparisons, logic, casts. Integer semantics follow TensorFlow, which
 * tfjs does not: tfjs divides int32 through float32 (wrong above 2^24) and returns INT_MIN on
 * division by zero, and maps Mod to floor-mod. Those ops run as exact host loops here:
 * FloorDiv/FloorMod round toward -inf (FloorMod takes the divisor's sign), Div/TruncateDiv/
 * TruncateMod/Mod toward zero (C semantics), integer division by zero is an error as in TF.
 */

type Out = 'int32' | 'float32' | 'bool';

/** Broadcast result shape by numpy rules, or an error naming both shapes. */
export function broadcastShape(a: readonly number[], b: readonly number[], node: GraphNode): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(node, `shapes [${a}] and [${b}] are not broadcast-compatible`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

function canBroadcast(a: readonly number[], b: readonly number[]): boolean {
  const r = Math.max(a.length, b.length);
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

/** Strides of `src` read along `out` (0 on broadcast dims), aligned right. */
function bstrides(src: readonly number[], out: readonly number[]): number[] {
  const s = new Array<number>(out.length).fill(0);
  let acc = 1;
  for (let i = src.length - 1; i >= 0; i--) {
    const d = out.length - src.length + i;
    s[d] = src[i] === 1 ? 0 : acc;
    acc *= src[i]!;
  }
  return s;
}

function alloc(dtype: Out, n: number): Int32Array | Float32Array | Uint8Array {
  return dtype === 'int32' ? new Int32Array(n) : dtype === 'float32' ? new Float32Array(n) : new Uint8Array(n);
}

/**
 * Calls `f(i, ia, ib)` for every element i of the broadcast result `shape` of two operands of
 * shapes `a` and `b`, with the flat positions it reads in each (numpy broadcasting).
 */
function forEachBroadcast(a: readonly number[], b: readonly number[], shape: readonly number[], f: (i: number, ia: number, ib: number) => void): void {
  const n = numElements(shape);
  if (numElements(a) === n && numElements(b) === n) {
    for (let i = 0; i < n; i++) f(i, i, i);
    return;
  }
  if (n === 0) return;
  const sa = bstrides(a, shape);
  const sb = bstrides(b, shape);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    f(i, ia, ib);
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      ia += sa[d]!;
      ib += sb[d]!;
      if (idx[d]! < shape[d]!) break;
      ia -= sa[d]! * shape[d]!;
      ib -= sb[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

/** Exact element-wise binary op on the host, with numpy broadcasting. */
export function hostBinary(a: tf.Tensor, b: tf.Tensor, out: Out, f: (x: number, y: number) => number, node: GraphNode): tf.Tensor {
  const shape = broadcastShape(a.shape, b.shape, node);
  const o = alloc(out, numElements(shape));
  const av = a.dataSync() as ArrayLike<number>;
  const bv = b.dataSync() as ArrayLike<number>;
  forEachBroadcast(a.shape, b.shape, shape, (i, ia, ib) => {
    o[i] = f(av[ia]!, bv[ib]!);
  });
  return tf.tensor(o, shape, out);
}

/** TF's Add on strings: each pair of elements concatenated, with numpy broadcasting. */
function stringAdd(a: tf.Tensor, b: tf.Tensor, node: GraphNode): tf.Tensor {
  if (a.dtype !== 'string' || b.dtype !== 'string') fail(node, `cannot add a ${a.dtype} and a ${b.dtype} tensor`);
  const shape = broadcastShape(a.shape, b.shape, node);
  const av = stringBytes(a);
  const bv = stringBytes(b);
  const o: Uint8Array[] = new Array<Uint8Array>(numElements(shape));
  forEachBroadcast(a.shape, b.shape, shape, (i, ia, ib) => {
    const x = av[ia]!;
    const y = bv[ib]!;
    const z = new Uint8Array(x.length + y.length);
    z.set(x);
    z.set(y, x.length);
    o[i] = z;
  });
  return tf.tensor(o, shape, 'string');
}

function hostUnary(x: tf.Tensor, out: Out, f: (v: number) => number): tf.Tensor {
  const v = x.dataSync() as ArrayLike<number>;
  const o = alloc(out, v.length);
  for (let i = 0; i < v.length; i++) o[i] = f(v[i]!);
  return tf.tensor(o, x.shape, out);
}

function isInt(t: tf.Tensor): boolean {
  return t.dtype === 'int32';
}

function intDivisor(node: GraphNode) {
  return (y: number): void => {
    if (y === 0) fail(node, 'Integer division by zero');
  };
}

function floorDiv(a: tf.Tensor, b: tf.Tensor, node: GraphNode): tf.Tensor {
  if (!isInt(a)) return tf.floor(tf.div(a, b));
  const check = intDivisor(node);
  // |a/b| is at least 1/|a| away from an integer unless exact, so the double quotient floors right.
  return hostBinary(a, b, 'int32', (x, y) => (check(y), Math.floor(x / y) | 0), node);
}

function truncDiv(a: tf.Tensor, b: tf.Tensor, node: GraphNode): tf.Tensor {
  if (!isInt(a)) {
    const d = tf.div(a, b);
    return tf.where(tf.less(d, 0), tf.ceil(d), tf.floor(d));
  }
  const check = intDivisor(node);
  return hostBinary(a, b, 'int32', (x, y) => (check(y), Math.trunc(x / y) | 0), node);
}

function floorMod(a: tf.Tensor, b: tf.Tensor, node: GraphNode): tf.Tensor {
  const int = isInt(a);
  const check = intDivisor(node);
  // fmod (JS %) is exact; adding the divisor when signs differ is TF's google_floor_fmod.
  return hostBinary(a, b, int ? 'int32' : 'float32', (x, y) => {
    if (int) check(y);
    const r = x % y;
    return r !== 0 && r < 0 !== y < 0 ? r + y : r;
  }, node);
}

function truncMod(a: tf.Tensor, b: tf.Tensor, node: GraphNode): tf.Tensor {
  const int = isInt(a);
  const check = intDivisor(node);
  return hostBinary(a, b, int ? 'int32' : 'float32', (x, y) => (int && check(y), x % y), node);
}

/** Integer power with int32 wrap-around, as TF computes it (repeated squaring in T). */
function intPow(a: tf.Tensor, b: tf.Tensor, node: GraphNode): tf.Tensor {
  return hostBinary(a, b, 'int32', (x, y) => {
    if (y < 0) fail(node, 'Integers to negative integer powers are not allowed');
    let result = 1;
    let base = x | 0;
    let e = y;
    while (e > 0) {
      if (e & 1) result = Math.imul(result, base);
      base = Math.imul(base, base);
      e >>>= 1;
    }
    return result;
  }, node);
}

/** Half-to-even rounding; the zero fix keeps TF's -0 for inputs in (-0.5, 0]. */
function round(x: tf.Tensor): tf.Tensor {
  if (isInt(x)) return tf.clone(x);
  const r = tf.round(x);
  return tf.where(tf.equal(r, 0), tf.mul(x, 0), r);
}

/** erfc with relative error < 1.2e-7 everywhere (Chebyshev fit); 1 - erf(x) loses it all for x > 3. */
function erfc(v: number): number {
  const z = Math.abs(v);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return v >= 0 ? r : 2 - r;
}

/** Maximum/Minimum propagate NaN from either side (TF uses Eigen's PropagateNaN); tfjs only from the left. */
function nanPropagating(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) {
  // tfjs propagates a NaN from its left operand, and max/min commute, so when one side is a small
  // NaN-free tensor (the usual Maximum(x, 0) / Minimum(x, 6)) the other one goes on the left.
  const noNaN = (t: tf.Tensor) => t.size <= 64 && !Array.from(t.dataSync() as Float32Array).some(Number.isNaN);
  return (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    if (isInt(a)) return f(a, b);
    if (noNaN(b)) return f(a, b);
    if (noNaN(a)) return f(b, a);
    const y = f(a, b);
    return tf.where(tf.logicalOr(tf.isNaN(a), tf.isNaN(b)), tf.fill(y.shape, NaN), y);
  };
}

function same(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  // TF binary ops take one dtype, so a mix only comes from a malformed graph; float32 keeps it
  // running where tfjs would stop with a dtype message that names no node.
  if (a.dtype === b.dtype) return [a, b];
  return [tf.cast(a, 'float32'), tf.cast(b, 'float32')];
}

type Bin = (a: tf.Tensor, b: tf.Tensor, node: GraphNode) => tf.Tensor;
const bin = (f: Bin) => ([a, b]: tf.Tensor[], node: GraphNode) => {
  const [x, y] = same(a!, b!);
  return f(x, y, node);
};

/** Equal/NotEqual with incompatible_shape_error=false give a scalar instead of failing. */
function equality(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, whenIncompatible: boolean) {
  return ([a, b]: tf.Tensor[], node: GraphNode) => {
    const [x, y] = same(a!, b!);
    if (!canBroadcast(x.shape, y.shape)) {
      if (!attrBool(node, 'incompatible_shape_error', true)) return tf.scalar(whenIncompatible, 'bool');
      broadcastShape(x.shape, y.shape, node);
    }
    return f(x, y);
  };
}

const INT32_MIN = -2147483648;

/** float -> int32 as x86 does it (cvttss2si): truncation, and INT_MIN for NaN, inf, out of range. */
function floatToInt32(v: number): number {
  if (!(v > -2147483649 && v < 2147483648)) return INT32_MIN;
  return Math.trunc(v) | 0;
}

function cast(x: tf.Tensor, node: GraphNode): tf.Tensor {
  const dstT = attrDType(node, 'DstT');
  const dst = toTfjsDType(dstT);
  const srcT = x.dtype;
  if (dst === 'bool') return srcT === 'bool' ? tf.clone(x) : tf.notEqual(x, tf.scalar(0, srcT as 'float32' | 'int32'));
  if (dst === 'string' || dst === 'complex64' || srcT === 'string' || srcT === 'complex64') {
    if (dst === srcT) return tf.clone(x);
    return fail(node, `cast from ${srcT} to ${dstT} is not supported`);
  }
  if (dst === 'float32') {
    const y = srcT === 'float32' ? tf.clone(x) : tf.cast(x, 'float32');
    if (dstT === 'float16' || dstT === 'bfloat16') {
      // The narrow type's precision is real in TF: values are rounded (or truncated) to it.
      const trunc = attrBool(node, 'Truncate', false) && dstT === 'bfloat16';
      const bits = new Uint32Array(1);
      const f = new Float32Array(bits.buffer);
      return hostUnary(y, 'float32', trunc ? (v) => ((f[0] = v), (bits[0]! &= 0xffff0000), f[0]!) : (v) => roundFloat(v, dstT));
    }
    return y;
  }
  // dst int32 (every TF integer type is computed in int32).
  const wrap = isNarrowIntDType(dstT) ? (v: number) => wrapToNarrowInt(v, dstT) : undefined;
  if (dstT === 'int64' || dstT === 'uint32' || dstT === 'uint64') {
    const unsigned = dstT !== 'int64';
    const lo = unsigned ? 0 : INT32_MIN;
    return hostUnary(x, 'int32', (v) => {
      const t = Math.trunc(v);
      if (!(t >= lo && t <= 2147483647)) fail(node, `value ${v} cast to ${dstT} does not fit in int32 (tfjs computes integers in int32)`);
      return t;
    });
  }
  if (srcT === 'float32') return hostUnary(x, 'int32', wrap ? (v) => wrap(floatToInt32(v)) : floatToInt32);
  if (srcT === 'bool') return tf.cast(x, 'int32');
  return wrap ? hostUnary(x, 'int32', wrap) : tf.clone(x);
}

function select([c, a, b]: tf.Tensor[], node: GraphNode): tf.Tensor {
  const x = a!;
  const y = b!;
  const cond = c!;
  if (x.shape.join() !== y.shape.join()) fail(node, `'then' and 'else' must have the same shape, found [${x.shape}] and [${y.shape}]`);
  if (cond.rank === 0) return tf.where(tf.broadcastTo(cond, x.shape), x, y);
  if (cond.shape.join() === x.shape.join()) return tf.where(cond, x, y);
  // TF1 Select: a rank-1 condition picks whole rows of higher-rank inputs.
  if (cond.rank === 1 && x.rank > 1) {
    if (cond.shape[0] !== x.shape[0]) fail(node, `condition has ${cond.shape[0]} elements but the inputs have ${x.shape[0]} rows`);
    const cc = tf.reshape(cond, [cond.shape[0]!, ...new Array<number>(x.rank - 1).fill(1)]);
    return tf.where(tf.broadcastTo(cc, x.shape), x, y);
  }
  return fail(node, `condition of shape [${cond.shape}] must be a scalar, a vector of length ${x.shape[0] ?? 1}, or have the inputs' shape [${x.shape}]`);
}

function selectV2([c, a, b]: tf.Tensor[], node: GraphNode): tf.Tensor {
  const s = broadcastShape(broadcastShape(c!.shape, a!.shape, node), b!.shape, node);
  return tf.where(tf.broadcastTo(c!, s), tf.broadcastTo(a!, s), tf.broadcastTo(b!, s));
}

function clip([x, lo, hi]: tf.Tensor[], node: GraphNode): tf.Tensor {
  for (const [name, t] of [['clip_value_min', lo!], ['clip_value_max', hi!]] as const) {
    if (t.rank !== 0 && t.shape.join() !== x!.shape.join()) fail(node, `${name} must be a scalar or have the shape of t [${x!.shape}], found [${t.shape}]`);
  }
  const [v, l] = same(x!, lo!);
  const [, h] = same(x!, hi!);
  // TF: max(min(x, hi), lo), so lo wins when lo > hi; x on the left keeps its NaN in tfjs.
  return tf.maximum(tf.minimum(v, h), l);
}

function cumulative(f: typeof tf.cumsum) {
  return ([x, ax]: tf.Tensor[], node: GraphNode) => {
    if (ax!.rank !== 0) fail(node, `axis must be a scalar, found shape [${ax!.shape}]`);
    return f(x!, axis(scalarInt(ax!), x!.rank, node), attrBool(node, 'exclusive', false), attrBool(node, 'reverse', false));
  };
}

function unaryFloat(f: (x: tf.Tensor) => tf.Tensor) {
  return ([x]: tf.Tensor[]) => f(x!);
}

registerOps({
  Add: bin((a, b, node) => (a.dtype === 'string' || b.dtype === 'string' ? stringAdd(a, b, node) : tf.add(a, b))),
  // AddV2 has no string kernel in TF: only Add concatenates strings.
  AddV2: bin((a, b) => tf.add(a, b)),
  AddN: (xs, node) => {
    for (const x of xs) if (x.shape.join() !== xs[0]!.shape.join()) fail(node, `inputs must all have the same shape, found [${xs[0]!.shape}] and [${x.shape}]`);
    return xs.length === 1 ? tf.clone(xs[0]!) : tf.addN(xs);
  },
  Sub: bin((a, b) => tf.sub(a, b)),
  Mul: bin((a, b) => tf.mul(a, b)),
  // Zero wherever y is zero, even when x is inf or NaN.
  MulNoNan: bin((a, b, n) => tf.where(tf.equal(b, 0), tf.zeros(broadcastShape(a.shape, b.shape, n), a.dtype), tf.mul(a, b))),
  RealDiv: bin((a, b) => tf.div(a, b)),
  Div: bin((a, b, n) => (isInt(a) ? truncDiv(a, b, n) : tf.div(a, b))),
  DivNoNan: bin((a, b, n) => {
    const s = broadcastShape(a.shape, b.shape, n);
    return tf.where(tf.equal(b, 0), tf.zeros(s, a.dtype), isInt(a) ? truncDiv(a, tf.where(tf.equal(b, 0), tf.onesLike(b), b), n) : tf.div(a, b));
  }),
  FloorDiv: bin(floorDiv),
  FloorMod: bin(floorMod),
  // TF's Mod is the C remainder (safe_mod / fmod), unlike tfjs' tf.mod.
  Mod: bin(truncMod),
  TruncateDiv: bin(truncDiv),
  TruncateMod: bin(truncMod),
  Pow: bin((a, b, n) => (isInt(a) ? intPow(a, b, n) : tf.pow(a, b))),
  SquaredDifference: bin((a, b) => tf.squaredDifference(a, b)),
  Maximum: bin(nanPropagating(tf.maximum)),
  Minimum: bin(nanPropagating(tf.minimum)),
  Atan2: bin((a, b) => tf.atan2(a, b)),
  Abs: unaryFloat(tf.abs),
  Neg: unaryFloat(tf.neg),
  // tfjs gives sign(NaN) = 0; TF keeps NaN.
  Sign: unaryFloat((x) => (isInt(x) ? tf.sign(x) : tf.where(tf.isNaN(x), x, tf.sign(x)))),
  Square: unaryFloat(tf.square),
  Sqrt: unaryFloat(tf.sqrt),
  Rsqrt: unaryFloat(tf.rsqrt),
  Reciprocal: unaryFloat(tf.reciprocal),
  Inv: unaryFloat(tf.reciprocal),
  Exp: unaryFloat(tf.exp),
  Expm1: unaryFloat(tf.expm1),
  Log: unaryFloat(tf.log),
  Log1p: unaryFloat(tf.log1p),
  Sin: unaryFloat(tf.sin),
  Cos: unaryFloat(tf.cos),
  Tan: unaryFloat(tf.tan),
  Asin: unaryFloat(tf.asin),
  Acos: unaryFloat(tf.acos),
  Atan: unaryFloat(tf.atan),
  Sinh: unaryFloat(tf.sinh),
  Cosh: unaryFloat(tf.cosh),
  Tanh: unaryFloat(tf.tanh),
  Asinh: unaryFloat(tf.asinh),
  Acosh: unaryFloat(tf.acosh),
  Atanh: unaryFloat(tf.atanh),
  Erf: unaryFloat(tf.erf),
  Erfc: ([x]) => hostUnary(x!, 'float32', erfc),
  Floor: unaryFloat(tf.floor),
  Ceil: unaryFloat(tf.ceil),
  Round: ([x]) => round(x!),
  Rint: ([x]) => round(x!),
  IsNan: unaryFloat(tf.isNaN),
  IsInf: unaryFloat(tf.isInf),
  IsFinite: unaryFloat(tf.isFinite),
  Equal: equality(tf.equal, false),
  NotEqual: equality(tf.notEqual, true),
  Less: bin((a, b) => tf.less(a, b)),
  LessEqual: bin((a, b) => tf.lessEqual(a, b)),
  Greater: bin((a, b) => tf.greater(a, b)),
  GreaterEqual: bin((a, b) => tf.greaterEqual(a, b)),
  LogicalAnd: ([a, b]) => tf.logicalAnd(a!, b!),
  LogicalOr: ([a, b]) => tf.logicalOr(a!, b!),
  LogicalNot: ([x]) => tf.logicalNot(x!),
  ClipByValue: clip,
  Cast: ([x], node) => cast(x!, node),
  Select: select,
  SelectV2: selectV2,
  Cumsum: cumulative(tf.cumsum),
  Cumprod: cumulative(tf.cumprod),
  BitwiseAnd: ([a, b]) => tf.bitwiseAnd(a!, b!),
});

/**
 * Random ops. TensorFlow's Philox streams are not reproduced: values are seeded from the op's
 * seed/seed2 attrs so runs are repeatable, which is exact for the common frozen-graph use
 * (dropout with keep_prob 1: floor(keep_prob + u) = 1 for any u in [0, 1)).
 */
function seedOf(node: GraphNode): number {
  const a = node.attrs.seed?.type === 'int' ? node.attrs.seed.value : 0;
  const b = node.attrs.seed2?.type === 'int' ? node.attrs.seed2.value : 0;
  return (a * 1000003 + b) >>> 0;
}
registerOps({
  RandomUniform: ([s], n) => tf.randomUniform(Array.from(s!.dataSync() as ArrayLike<number>), 0, 1, 'float32', seedOf(n)),
  RandomStandardNormal: ([s], n) => tf.randomNormal(Array.from(s!.dataSync() as ArrayLike<number>), 0, 1, 'float32', seedOf(n)),
  TruncatedNormal: ([s], n) => tf.truncatedNormal(Array.from(s!.dataSync() as ArrayLike<number>), 0, 1, 'float32', seedOf(n)),
});
