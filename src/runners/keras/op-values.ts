import { tf } from '../../backend/tf.js';
import { isArrayConst, isEllipsis, isFloatConst, isRef, isSlice, type Template } from './call-args.js';
import { intVector, tfOp1 } from './tf-kernels.js';

/**
 * Argument values of a Keras op or TF function call at run time, and the computations that
 * several ops share (dtype promotion of a binary op, reductions, Python indexing), each through
 * the interpreter's TF kernels.
 */

export interface SliceValue {
  slice: [number | null, number | null, number | null];
}
export const ELLIPSIS = { ellipsis: true } as const;
export type Value = tf.Tensor | number | boolean | string | null | SliceValue | typeof ELLIPSIS | Value[];

export type Args = Record<string, Value>;

export function isTensor(v: Value): v is tf.Tensor {
  return v instanceof tf.Tensor;
}

/** A list of numbers and Python floats, flattened to numbers when it holds at least one float; else null. */
function floatList(t: Template[]): unknown[] | null {
  let float = false;
  const walk = (x: Template): unknown => {
    if (typeof x === 'number') return x;
    if (isFloatConst(x)) return ((float = true), x.$float);
    if (Array.isArray(x)) return x.map(walk);
    throw null;
  };
  try {
    const v = t.map(walk);
    return float ? v : null;
  } catch {
    return null;
  }
}

/**
 * Replaces input references by the call's tensors; arrays become tensors. A Python float is a
 * number, except as an `operand` (an argument numpy's dtype rules apply to): there it is a float32
 * scalar (a list holding one a float32 tensor), so that `x_int + 2.0` is float as in Keras.
 */
export function materialise(t: Template, inputs: tf.Tensor[], operand = false): Value {
  if (t === null || typeof t !== 'object') return t;
  if (isFloatConst(t)) return operand ? tf.scalar(t.$float, 'float32') : t.$float;
  if (Array.isArray(t)) {
    const floats = operand ? floatList(t) : null;
    if (floats) return tf.tensor(floats as number[], undefined, 'float32');
    return t.map((x) => materialise(x, inputs, operand));
  }
  if (isRef(t)) {
    const x = inputs[t.$in];
    if (!x) throw new Error(`input ${t.$in} is missing`);
    return x;
  }
  if (isSlice(t)) {
    const [a, b, c] = t.$slice.map((x) => materialise(x, inputs));
    for (const v of [a, b, c]) if (v !== null && typeof v !== 'number') throw new Error('a slice with a bound that is not an int or None');
    return { slice: [a as number | null, b as number | null, c as number | null] };
  }
  if (isEllipsis(t)) return ELLIPSIS;
  if (isArrayConst(t)) {
    const dtype = /^(u?int|bool)/.test(t.dtype) ? (t.dtype === 'bool' ? 'bool' : 'int32') : 'float32';
    return tf.tensor(t.$array as number[], undefined, dtype);
  }
  throw new Error(`an argument ${JSON.stringify(t)} that cannot be evaluated`);
}

/** A parameter that must be a tensor (or a number, made a tensor of the given dtype). */
export function tensorOf(v: Value, what: string, dtype: 'float32' | 'int32' | 'bool' = 'float32'): tf.Tensor {
  if (isTensor(v)) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return tf.scalar(typeof v === 'boolean' ? Number(v) : v, dtype);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' || (Array.isArray(x) && x.every((y) => typeof y === 'number')))) return tf.tensor(v as number[], undefined, dtype);
  throw new Error(`${what} must be a tensor, got ${JSON.stringify(v)}`);
}

export function intOf(v: Value, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} must be an int, got ${JSON.stringify(v)}`);
  return v;
}

/** None -> null; an int or a list of ints -> the list. */
export function axesOf(v: Value, what = 'axis'): number[] | null {
  if (v === null) return null;
  if (typeof v === 'number') return [intOf(v, what)];
  if (Array.isArray(v)) return v.map((x) => intOf(x as Value, what));
  throw new Error(`${what} must be an int, a list of ints or None, got ${JSON.stringify(v)}`);
}

export function intsOf(v: Value, what: string): number[] {
  if (typeof v === 'number') return [intOf(v, what)];
  // A shape may hold computed sizes (tf.shape(x)[0]) beside constants, or be one int tensor.
  const read = (x: tf.Tensor): number[] => {
    const vals = Array.from(x.dataSync() as ArrayLike<number>, Number);
    if (x.rank > 1 || !vals.every(Number.isInteger)) throw new Error(`${what} must hold ints, got a tensor of shape [${x.shape}]`);
    return vals;
  };
  if (isTensor(v)) return read(v);
  if (Array.isArray(v)) return v.flatMap((x) => (isTensor(x as Value) && (x as tf.Tensor).size === 1 ? read(x as tf.Tensor) : [intOf(x as Value, what)]));
  throw new Error(`${what} must be an int or a list of ints, got ${JSON.stringify(v)}`);
}

const isFloat = (t: tf.Tensor) => t.dtype === 'float32';

/**
 * Operands of a numpy-style binary op: a Python number takes the tensor's dtype (Keras' weak
 * typing), unless it is fractional and the tensor is not float (then both float32); int with
 * float tensors gives float32; bool operands become int32 for arithmetic.
 */
export function promote(a: Value, b: Value, what: string, arithmetic = true): [tf.Tensor, tf.Tensor] {
  const ta = isTensor(a) ? a : null;
  const tb = isTensor(b) ? b : null;
  if (!ta && !tb) throw new Error(`${what}: neither operand is a tensor`);
  const ref = (ta ?? tb)!;
  const fractional = [a, b].some((v) => typeof v === 'number' && !Number.isInteger(v));
  let want: 'float32' | 'int32' | 'bool';
  if ((ta && isFloat(ta)) || (tb && isFloat(tb)) || fractional) want = 'float32';
  else if ([ta, tb].every((t) => !t || t.dtype === 'bool') && [a, b].every((v) => isTensor(v) || typeof v === 'boolean')) want = arithmetic ? 'int32' : 'bool';
  else want = 'int32';
  if (!arithmetic && want === 'bool') return [tensorOf(a, what, 'bool'), tensorOf(b, what, 'bool')];
  const conv = (v: Value): tf.Tensor => {
    const t = tensorOf(v, what, want);
    return t.dtype === want ? t : tf.cast(t, want);
  };
  void ref;
  return [conv(a), conv(b)];
}

/** A TF binary op on promoted operands. */
export function binary(tfName: string, a: Value, b: Value, what: string, arithmetic = true): tf.Tensor {
  const [x, y] = promote(a, b, what, arithmetic);
  return tfOp1(tfName, [x, y], {}, what);
}

/** A TF reduction (Sum, Mean, Max, Min, Prod, Any, All) over `axes` (null: all). */
export function reduce(tfName: string, x: tf.Tensor, axes: number[] | null, keepdims: boolean, what: string): tf.Tensor {
  const ax = axes ?? x.shape.map((_, i) => i);
  return tfOp1(tfName, [x, intVector(ax)], { keep_dims: keepdims }, what);
}

/**
 * Python basic indexing `x[key]` (ints, slices, None, Ellipsis; a list stands for a tuple) as
 * TF's StridedSlice with its masks, as TensorFlow's own `_slice_helper` builds it.
 */
export function getItem(x: tf.Tensor, key: Value, what: string): tf.Tensor {
  const items = Array.isArray(key) ? key : [key];
  const begin: number[] = [];
  const end: number[] = [];
  const strides: number[] = [];
  let beginMask = 0;
  let endMask = 0;
  let ellipsisMask = 0;
  let newAxisMask = 0;
  let shrinkMask = 0;
  items.forEach((it, i) => {
    const bit = 1 << i;
    if (typeof it === 'number' && Number.isInteger(it)) {
      begin.push(it);
      end.push(it + 1);
      strides.push(1);
      shrinkMask |= bit;
    } else if (it === null) {
      begin.push(0);
      end.push(0);
      strides.push(1);
      newAxisMask |= bit;
    } else if (it === ELLIPSIS || (typeof it === 'object' && it !== null && 'ellipsis' in it)) {
      begin.push(0);
      end.push(0);
      strides.push(1);
      ellipsisMask |= bit;
    } else if (typeof it === 'object' && it !== null && 'slice' in it) {
      const [a, b, c] = (it as SliceValue).slice;
      if (c === 0) throw new Error(`${what}: slice step cannot be zero`);
      begin.push(a ?? 0);
      end.push(b ?? 0);
      strides.push(c ?? 1);
      if (a === null) beginMask |= bit;
      if (b === null) endMask |= bit;
    } else {
      throw new Error(`${what}: index ${isTensor(it as Value) ? 'by a tensor' : JSON.stringify(it)} is not supported (only ints, slices, None and Ellipsis)`);
    }
  });
  return tfOp1('StridedSlice', [x, intVector(begin), intVector(end), intVector(strides)], {
    begin_mask: beginMask,
    end_mask: endMask,
    ellipsis_mask: ellipsisMask,
    new_axis_mask: newAxisMask,
    shrink_axis_mask: shrinkMask,
  }, what);
}

/** Softmax over one or several axes (Keras: exp(x - logsumexp(x, axes)) for several). */
export function softmax(x: tf.Tensor, axes: number[], what: string): tf.Tensor {
  const r = x.rank;
  const ax = [...new Set(axes.map((a) => (a < 0 ? a + r : a)))].sort((p, q) => p - q);
  if (ax.some((a) => a < 0 || a >= r)) throw new Error(`${what}: axis ${JSON.stringify(axes)} is out of range for rank ${r}`);
  if (ax.length === 1) {
    if (ax[0] === r - 1) return tfOp1('Softmax', [x], {}, what);
    const perm = x.shape.map((_, i) => i).filter((i) => i !== ax[0]).concat(ax[0]!);
    const inv = perm.map((_, i) => perm.indexOf(i));
    return tf.transpose(tfOp1('Softmax', [tf.transpose(x, perm)], {}, what), inv);
  }
  return tf.exp(tf.sub(x, tf.logSumExp(x, ax, true)));
}
