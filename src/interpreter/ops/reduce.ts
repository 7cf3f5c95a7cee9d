import { tf } from '../../backend/tf.js';
import { attrBool, attrDType } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { axis, fail, ints, scalarInt } from './helpers.js';

const { registerOps } = opFamily('reduce');

/**
 * Reductions with keep_dims (default false). reduction_indices may be a scalar or a vector,
 * negative axes count from the end, an empty list reduces nothing. Reductions over zero
 * elements give TF's identities (tfjs backends return uninitialised memory there).
 */

function axes(x: tf.Tensor, a: tf.Tensor, node: GraphNode): number[] {
  if (a.rank > 1) fail(node, `reduction_indices must be a scalar or a vector, found shape [${a.shape}]`);
  const seen = new Set<number>();
  for (const v of ints(a)) {
    const ax = axis(v, x.rank, node);
    if (seen.has(ax)) fail(node, `reduction_indices contains the duplicate dimension ${ax}`);
    seen.add(ax);
  }
  return [...seen].sort((p, q) => p - q);
}

function reducedShape(shape: readonly number[], ax: number[], keep: boolean): number[] {
  return keep ? shape.map((d, i) => (ax.includes(i) ? 1 : d)) : shape.filter((_, i) => !ax.includes(i));
}

const FLT_MAX = 3.4028234663852886e38;
const INT32_MAX = 2147483647;

/** Value a reduction of no elements yields in TF (Eigen's reducer initial values). */
type Identity = (dtype: tf.DataType) => number | boolean;

function reduce(f: (x: tf.Tensor, ax: number[], keep: boolean) => tf.Tensor, identity: Identity) {
  return ([x, a]: tf.Tensor[], node: GraphNode) => {
    const ax = axes(x!, a!, node);
    if (!ax.length) return tf.clone(x!);
    const keep = attrBool(node, 'keep_dims', false);
    if (x!.size === 0) {
      const v = identity(x!.dtype);
      return tf.fill(reducedShape(x!.shape, ax, keep), v as number, x!.dtype === 'bool' ? 'bool' : x!.dtype);
    }
    return f(x!, ax, keep);
  };
}

/** Integer mean: exact int32 sum (wrapping as TF's does) divided with truncation toward zero. */
function intMean(x: tf.Tensor, ax: number[], keep: boolean): tf.Tensor {
  const count = ax.reduce((p, i) => p * x.shape[i]!, 1);
  const s = tf.sum(x, ax, keep);
  const v = s.dataSync() as Int32Array;
  return tf.tensor(Int32Array.from(v, (q) => Math.trunc(q / count)), s.shape, 'int32');
}

function argReduce(f: typeof tf.argMax, which: string) {
  return ([x, a]: tf.Tensor[], node: GraphNode) => {
    const out = attrDType(node, 'output_type', 'int64');
    if (out !== 'int32' && out !== 'int64') fail(node, `output_type must be int32 or int64, found ${out}`);
    if (a!.rank !== 0 && a!.size !== 1) fail(node, `dimension must be a scalar, found shape [${a!.shape}]`);
    const ax = axis(scalarInt(a!), x!.rank, node);
    if (x!.shape[ax] === 0) fail(node, `${which} over axis ${ax} of shape [${x!.shape}], which is empty`);
    return f(x!, ax);
  };
}

registerOps({
  Sum: reduce((x, a, k) => tf.sum(x, a, k), () => 0),
  Mean: reduce((x, a, k) => (x.dtype === 'int32' ? intMean(x, a, k) : tf.mean(x, a, k)), () => NaN),
  Max: reduce((x, a, k) => tf.max(x, a, k), (d) => (d === 'int32' ? -INT32_MAX - 1 : -FLT_MAX)),
  Min: reduce((x, a, k) => tf.min(x, a, k), (d) => (d === 'int32' ? INT32_MAX : FLT_MAX)),
  Prod: reduce((x, a, k) => tf.prod(x, a, k), () => 1),
  All: reduce((x, a, k) => tf.all(x, a, k), () => true),
  Any: reduce((x, a, k) => tf.any(x, a, k), () => false),
  EuclideanNorm: reduce((x, a, k) => {
    const n = tf.sqrt(tf.sum(tf.square(tf.cast(x, 'float32')), a, k));
    // Integer norms are computed in the integer type in TF, so the root is truncated.
    return x.dtype === 'int32' ? tf.cast(tf.floor(n), 'int32') : n;
  }, () => 0),
  ArgMax: argReduce(tf.argMax, 'ArgMax'),
  ArgMin: argReduce(tf.argMin, 'ArgMin'),
});
