import * as tf from '@tensorflow/tfjs-core';
import { attrBool } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { registerOps } from '../registry.js';
import { fail } from './helpers.js';
import { fusedMatMul } from './conv.js';

/**
 * Batch matmul with numpy-style broadcasting of the batch dims (BatchMatMulV2/V3): both sides are
 * broadcast to the common batch shape and flattened to rank 3, which every backend handles.
 */
function batchMatMul(a: tf.Tensor, b: tf.Tensor, adjA: boolean, adjB: boolean, n: GraphNode): tf.Tensor {
  if (a.rank < 2 || b.rank < 2) fail(n, `needs inputs of rank >= 2, found [${a.shape}] and [${b.shape}]`);
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...new Array<number>(rank - ba.length).fill(1), ...ba];
  const pb = [...new Array<number>(rank - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => {
    const e = pb[i]!;
    if (d !== e && d !== 1 && e !== 1) fail(n, `batch dims [${ba}] and [${bb}] do not broadcast`);
    return Math.max(d, e);
  });
  const total = batch.reduce((p, q) => p * q, 1);
  const a3 = tf.reshape(tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]), [total, ...a.shape.slice(-2)]);
  const b3 = tf.reshape(tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)]), [total, ...b.shape.slice(-2)]);
  const y = tf.matMul(a3, b3, adjA, adjB);
  return tf.reshape(y, [...batch, ...y.shape.slice(-2)]);
}

/** MatMul family. BatchMatMul broadcasts batch dims (V2/V3); adj_x/adj_y transpose the last two. */
registerOps({
  MatMul: ([a, b], n) => {
    if (a!.rank !== 2 || b!.rank !== 2) fail(n, `MatMul needs 2-D inputs, found [${a!.shape}] and [${b!.shape}]`);
    return tf.matMul(a!, b!, attrBool(n, 'transpose_a', false), attrBool(n, 'transpose_b', false));
  },
  BatchMatMul: ([a, b], n) => batchMatMul(a!, b!, attrBool(n, 'adj_x', false), attrBool(n, 'adj_y', false), n),
  BatchMatMulV2: ([a, b], n) => batchMatMul(a!, b!, attrBool(n, 'adj_x', false), attrBool(n, 'adj_y', false), n),
  BatchMatMulV3: ([a, b], n) => batchMatMul(a!, b!, attrBool(n, 'adj_x', false), attrBool(n, 'adj_y', false), n),
  _FusedMatMul: ([a, b, ...args], n) => fusedMatMul(a!, b!, args, n, attrBool(n, 'transpose_a', false), attrBool(n, 'transpose_b', false)),
});

