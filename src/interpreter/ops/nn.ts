import * as tf from '@tensorflow/tfjs-core';
import { attrBool, attrFloat, attrInt, attrString } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { registerOps } from '../registry.js';
import { fail } from './helpers.js';

/** Activations and normalisation. */

const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

/** BiasAdd: NHWC adds on the last axis; NCHW on axis 1 for rank >= 3. */
export function biasAdd(x: tf.Tensor, b: tf.Tensor, format: string, node: GraphNode): tf.Tensor {
  if (b.rank !== 1) fail(node, `bias must be 1-D, found shape [${b.shape}]`);
  if (format === 'NCHW' || format === 'NCDHW') {
    if (x.rank < 3) return tf.add(x, b);
    if (x.shape[1] !== b.shape[0]) fail(node, `bias has ${b.shape[0]} values but the channel axis 1 has ${x.shape[1]}`);
    return tf.add(x, tf.reshape(b, [b.shape[0]!, ...new Array<number>(x.rank - 2).fill(1)]));
  }
  if (x.shape[x.rank - 1] !== b.shape[0]) fail(node, `bias has ${b.shape[0]} values but the last axis has ${x.shape[x.rank - 1]}`);
  return tf.add(x, b);
}

/** Softplus that neither overflows for large x nor loses precision for very negative x. */
function softplus(x: tf.Tensor): tf.Tensor {
  return tf.add(tf.relu(x), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
}

export function activation(name: string, x: tf.Tensor, node: GraphNode, alpha = 0.2): tf.Tensor {
  switch (name) {
    case 'Relu': return tf.relu(x);
    case 'Relu6': return tf.clipByValue(x, 0, 6);
    case 'Elu': return tf.elu(x);
    case 'Selu': return tf.where(tf.greater(x, 0), tf.mul(x, SELU_SCALE), tf.mul(tf.sub(tf.exp(x), 1), SELU_ALPHA * SELU_SCALE));
    case 'LeakyRelu': return tf.where(tf.greater(x, 0), x, tf.mul(x, alpha));
    case 'Sigmoid': return tf.sigmoid(x);
    case 'Tanh': return tf.tanh(x);
    case 'Softplus': return softplus(x);
    case 'GeluExact': return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    case 'GeluApproximate': return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
    default: return fail(node, `unsupported fused activation '${name}'`);
  }
}

/**
 * Inference batch norm: (x - mean) * gamma / sqrt(var + eps) + beta on the channel axis.
 * With is_training the statistics come from the batch (population variance), as TF computes.
 */
export function batchNorm(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, eps: number, format: string, training: boolean): tf.Tensor[] {
  const nchw = format === 'NCHW' || format === 'NCDHW';
  const c = nchw ? 1 : x.rank - 1;
  const axes = Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== c);
  let m = mean;
  let v = variance;
  if (training || mean.size === 0) {
    const mo = tf.moments(x, axes);
    m = mo.mean;
    v = mo.variance;
  }
  // tf.batchNorm is what tfjs-converter runs, so its operation order is kept for NHWC.
  if (!nchw) return [tf.batchNorm(x, m, v, offset, scale, eps), m, v];
  // Channels first: normalise channels-last and transpose back.
  const perm = [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2), 1];
  const inv = [0, x.rank - 1, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 1)];
  const y = tf.batchNorm(tf.transpose(x, perm), m, v, offset, scale, eps);
  return [tf.transpose(y, inv), m, v];
}

registerOps({
  Relu: ([x]) => tf.relu(x!),
  Relu6: ([x]) => tf.clipByValue(x!, 0, 6),
  Elu: ([x]) => tf.elu(x!),
  Selu: ([x], n) => activation('Selu', x!, n),
  LeakyRelu: ([x], n) => activation('LeakyRelu', x!, n, attrFloat(n, 'alpha', 0.2)),
  Softplus: ([x]) => softplus(x!),
  Sigmoid: ([x]) => tf.sigmoid(x!),
  Softmax: ([x]) => tf.softmax(x!),
  LogSoftmax: ([x]) => tf.logSoftmax(x!),
  Gelu: ([x], n) => activation(attrBool(n, 'approximate', false) ? 'GeluApproximate' : 'GeluExact', x!, n),
  Prelu: ([x, alpha]) => tf.add(tf.relu(x!), tf.mul(alpha!, tf.neg(tf.relu(tf.neg(x!))))),
  BiasAdd: ([x, b], n) => biasAdd(x!, b!, attrString(n, 'data_format', 'NHWC'), n),
  BiasAddV1: ([x, b], n) => biasAdd(x!, b!, 'NHWC', n),
  FusedBatchNorm: ([x, s, o, m, v], n) =>
    padOutputs(batchNorm(x!, s!, o!, m!, v!, attrFloat(n, 'epsilon', 1e-4), attrString(n, 'data_format', 'NHWC'), attrBool(n, 'is_training', true)), 5),
  FusedBatchNormV2: ([x, s, o, m, v], n) =>
    padOutputs(batchNorm(x!, s!, o!, m!, v!, attrFloat(n, 'epsilon', 1e-4), attrString(n, 'data_format', 'NHWC'), attrBool(n, 'is_training', true)), 5),
  FusedBatchNormV3: ([x, s, o, m, v], n) =>
    padOutputs(batchNorm(x!, s!, o!, m!, v!, attrFloat(n, 'epsilon', 1e-4), attrString(n, 'data_format', 'NHWC'), attrBool(n, 'is_training', true)), 6),
  LRN: ([x], n) =>
    tf.localResponseNormalization(x as tf.Tensor4D, attrInt(n, 'depth_radius', 5), attrFloat(n, 'bias', 1), attrFloat(n, 'alpha', 1), attrFloat(n, 'beta', 0.5)),
});

/** FusedBatchNorm has 5 (V1/V2) or 6 (V3) outputs; the reserve-space ones are empty here. */
function padOutputs(ys: tf.Tensor[], n: number): tf.Tensor[] {
  const out = [...ys];
  while (out.length < n) out.push(tf.clone(ys[out.length === 3 ? 1 : 2]!));
  return out;
}
