import * as tf from '@tensorflow/tfjs-core';
import { attrBool } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { registerOps } from '../registry.js';
import { axis, ints } from './helpers.js';

/** Reductions with keep_dims (default false); an empty axis list reduces nothing. */

function axes(x: tf.Tensor, a: tf.Tensor, node: GraphNode): number[] {
  return [...new Set(ints(a).map((v) => axis(v, x.rank, node)))];
}

function reduce(f: (x: tf.Tensor, ax: number[], keep: boolean) => tf.Tensor) {
  return ([x, a]: tf.Tensor[], node: GraphNode) => {
    const ax = axes(x!, a!, node);
    if (!ax.length) return tf.clone(x!);
    return f(x!, ax, attrBool(node, 'keep_dims', false));
  };
}

registerOps({
  Sum: reduce((x, a, k) => tf.sum(x, a, k)),
  Mean: reduce((x, a, k) => {
    if (x.dtype !== 'int32') return tf.mean(x, a, k);
    // Integer mean truncates toward zero, as TF's integer division.
    const m = tf.mean(tf.cast(x, 'float32'), a, k);
    return tf.cast(tf.where(tf.less(m, 0), tf.ceil(m), tf.floor(m)), 'int32');
  }),
  Max: reduce((x, a, k) => tf.max(x, a, k)),
  Min: reduce((x, a, k) => tf.min(x, a, k)),
  Prod: reduce((x, a, k) => tf.prod(x, a, k)),
  All: reduce((x, a, k) => tf.all(x, a, k)),
  Any: reduce((x, a, k) => tf.any(x, a, k)),
  EuclideanNorm: reduce((x, a, k) => tf.sqrt(tf.sum(tf.square(x), a, k))),
  ArgMax: ([x, a], n) => tf.argMax(x!, axis(ints(a!)[0]!, x!.rank, n)),
  ArgMin: ([x, a], n) => tf.argMin(x!, axis(ints(a!)[0]!, x!.rank, n)),
});
