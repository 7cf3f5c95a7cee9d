import { tf } from '../../backend/tf.js';
import type { GraphNode } from '../../graph/ir.js';
import { ExecutionError } from '../../core/errors.js';

/** Values of a small int tensor (axes, shapes, sizes) read synchronously. */
export function ints(t: tf.Tensor): number[] {
  return Array.from(t.dataSync() as ArrayLike<number>, (v) => Number(v));
}

export function scalarInt(t: tf.Tensor): number {
  return Number((t.dataSync() as ArrayLike<number>)[0]);
}

export function fail(node: GraphNode, msg: string): never {
  throw new ExecutionError(`node '${node.name}' (${node.op}): ${msg}`, { node: node.name });
}

/** Normalises a possibly negative axis against a rank. */
export function axis(a: number, rank: number, node: GraphNode): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= Math.max(rank, 1)) fail(node, `axis ${a} is out of range for a tensor of rank ${rank}`);
  return r;
}

/** TF's float -> int cast truncates toward zero; tfjs cast does too, but be explicit about int32. */
export function toInt(t: tf.Tensor): tf.Tensor {
  return t.dtype === 'int32' ? t : tf.cast(t, 'int32');
}
