import { tf } from '../../backend/tf.js';
import type { Attr, GraphNode } from '../../graph/ir.js';
import type { OpContext } from '../../interpreter/registry.js';
import { getKernel } from '../../interpreter/ops/index.js';
import { errorMessage } from '../../core/errors.js';

/**
 * The interpreter's TensorFlow kernels (src/interpreter/ops), called from Keras layers: one
 * kernel on tensors, with attributes given as plain values. A Keras layer or op that computes
 * what a TF op computes runs through that op's kernel, so TF's semantics (broadcasting, integer
 * division, negative axes, slicing) live in one place.
 */

export type AttrInput = number | boolean | string | number[] | { dtype: string };

function attr(v: AttrInput): Attr {
  if (typeof v === 'number') return Number.isInteger(v) ? { type: 'int', value: v } : { type: 'float', value: v };
  if (typeof v === 'boolean') return { type: 'bool', value: v };
  if (typeof v === 'string') return { type: 'string', value: v, bytes: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { type: 'list', ints: v, floats: [], strings: [], bools: [], dtypes: [], shapes: [], tensors: [], funcs: [] };
  return { type: 'dtype', value: v.dtype as never };
}

const NO_CONTEXT: OpContext = {
  graph: { nodes: [], functions: new Map(), source: { path: '', format: 'pb' }, inputs: [], outputs: [] },
  file: '',
  callFunction: () => Promise.reject(new Error('no function library in a Keras layer')),
  runGraph: () => Promise.reject(new Error('no graph in a Keras layer')),
  variable: () => undefined,
};

/**
 * Runs TF op `op` on `inputs` (synchronous kernels only); `name` labels errors. Returns the
 * op's outputs. The caller owns them (run inside tf.tidy to free intermediates).
 */
export function tfOp(op: string, inputs: tf.Tensor[], attrs: Record<string, AttrInput> = {}, name = op): tf.Tensor[] {
  const info = getKernel(op);
  if (!info || info.async || info.flow) throw new Error(`the interpreter has no synchronous kernel for TF op ${op}`);
  const node: GraphNode = { name, op, inputs: inputs.map((_, i) => `in${i}`), attrs: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, attr(v)])) };
  let r: ReturnType<typeof info.kernel>;
  try {
    r = info.kernel(inputs, node, NO_CONTEXT);
  } catch (e) {
    // Kernels name a graph node ("node 'n' (Op): ..."); here the caller's label says what failed.
    throw new Error(`${name}: ${errorMessage(e).replace(/^node '.*?' \(\w+\): /, '')}`, { cause: e });
  }
  if (r instanceof Promise) throw new Error(`TF op ${op} has an asynchronous kernel`);
  return Array.isArray(r) ? r : [r];
}

/** `tfOp` for ops with one output. */
export function tfOp1(op: string, inputs: tf.Tensor[], attrs: Record<string, AttrInput> = {}, name = op): tf.Tensor {
  return tfOp(op, inputs, attrs, name)[0]!;
}

/** An int32 vector constant (axes, shapes, slice bounds). */
export function intVector(v: number[]): tf.Tensor {
  return tf.tensor1d(v, 'int32');
}
