import { tf } from '../../backend/tf.js';
import { attrBool, attrFloat, attrInt, attrString } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { fail } from './helpers.js';

const { registerOps } = opFamily('nn');

/** Activations and normalisation. */

const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

function channelsFirst(format: string): boolean {
  return format === 'NCHW' || format === 'NCDHW';
}

/** BiasAdd: NHWC adds on the last axis; NCHW on axis 1 (for rank 2 that is the last axis too). */
export function biasAdd(x: tf.Tensor, b: tf.Tensor, format: string, node: GraphNode): tf.Tensor {
  if (b.rank !== 1) fail(node, `bias must be 1-D, found shape [${b.shape}]`);
  if (x.rank < 2) fail(node, `input must be at least 2-D, found shape [${x.shape}]`);
  const c = channelsFirst(format) ? 1 : x.rank - 1;
  // tf.add would broadcast a 1-element bias silently; TF insists on an exact match.
  if (x.shape[c] !== b.shape[0]) fail(node, `bias has ${b.shape[0]} values but the channel axis ${c} of input [${x.shape}] has ${x.shape[c]} (data_format ${format})`);
  if (c === x.rank - 1) return tf.add(x, b);
  return tf.add(x, tf.reshape(b, [b.shape[0]!, ...new Array<number>(x.rank - 2).fill(1)]));
}

/**
 * log1p that stays accurate for tiny y on every backend (wasm's Log1p computes log(1 + y), which
 * is 0 below 6e-8): log(u) * y / (u - 1) with u = 1 + y cancels the rounding of u (Goldberg).
 */
function log1p(y: tf.Tensor): tf.Tensor {
  const u = tf.add(y, 1);
  const d = tf.sub(u, 1);
  return tf.where(tf.equal(d, 0), y, tf.div(tf.mul(tf.log(u), y), tf.where(tf.equal(d, 0), tf.onesLike(d), d)));
}

/** float32 log(FLT_EPSILON) + 2: TF's cut-off between exp(x), log1p(exp(x)) and x. */
const SOFTPLUS_THRESHOLD = Math.log(2 ** -23) + 2;

/** TF's Softplus: exp(x) below the threshold, x above its negation, log1p(exp(x)) between. */
function softplus(x: tf.Tensor): tf.Tensor {
  const e = tf.exp(x);
  return tf.where(tf.greater(x, -SOFTPLUS_THRESHOLD), x, tf.where(tf.less(x, SOFTPLUS_THRESHOLD), e, log1p(e)));
}

/** Activations that can appear on their own or in a fused op's tail. */
export const ACTIVATIONS = ['Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softplus', 'Softsign', 'GeluExact', 'GeluApproximate'] as const;

export function activation(name: string, x: tf.Tensor, node: GraphNode, alpha = 0.2): tf.Tensor {
  switch (name) {
    case 'Relu': return tf.relu(x);
    case 'Relu6': return tf.clipByValue(x, 0, 6);
    case 'Elu': return tf.elu(x);
    // TF evaluates scale*alpha*(exp(x)-1) (not expm1); the other branch's overflow is discarded by where.
    case 'Selu': return tf.where(tf.greater(x, 0), tf.mul(x, SELU_SCALE), tf.mul(tf.sub(tf.exp(x), 1), SELU_ALPHA * SELU_SCALE));
    case 'LeakyRelu': return tf.where(tf.greater(x, 0), x, tf.mul(x, alpha));
    case 'Sigmoid': return tf.sigmoid(x);
    case 'Tanh': return tf.tanh(x);
    case 'Softplus': return softplus(x);
    case 'Softsign': return tf.div(x, tf.add(tf.abs(x), 1));
    case 'GeluExact': return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    case 'GeluApproximate': return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
    default: return fail(node, `unsupported activation '${name}'`);
  }
}

/** Moves the channel axis last (channels-first layouts only). */
function toChannelsLast(x: tf.Tensor): tf.Tensor {
  return tf.transpose(x, [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2), 1]);
}

function fromChannelsLast(x: tf.Tensor): tf.Tensor {
  return tf.transpose(x, [0, x.rank - 1, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 1)]);
}

export interface BatchNormOptions {
  epsilon: number;
  format: string;
  training: boolean;
  /** FusedBatchNormV3's running-average weight for the batch statistics (1 = batch only). */
  exponentialAvgFactor?: number;
}

/**
 * FusedBatchNorm's outputs [y, batch_mean, batch_variance, reserve_space_1, reserve_space_2].
 * Inference: y = (x - mean) * scale / sqrt(var + eps) + offset; the statistics pass through.
 * Training (TF's CPU kernel): y uses the batch mean and the population variance; batch_variance
 * is Bessel-corrected (n/(n-1)) and blended with the given running values by
 * exponential_avg_factor; the reserve spaces hold the raw batch mean and population variance.
 */
export function batchNorm(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, opts: BatchNormOptions, node: GraphNode): tf.Tensor[] {
  const nchw = channelsFirst(opts.format);
  if (!['NHWC', 'NCHW', 'NDHWC', 'NCDHW'].includes(opts.format)) fail(node, `unknown data_format '${opts.format}'`);
  if (x.rank < 2) fail(node, `input must be at least 2-D, found shape [${x.shape}]`);
  const xl = nchw ? toChannelsLast(x) : x;
  const depth = xl.shape[xl.rank - 1]!;
  const check = (t: tf.Tensor, what: string, allowEmpty: boolean): void => {
    if (allowEmpty && t.size === 0) return;
    if (t.rank !== 1 || t.shape[0] !== depth) fail(node, `${what} must be a vector of ${depth} values (the channel count), found shape [${t.shape}]`);
  };
  check(scale, 'scale', false);
  check(offset, 'offset', false);
  const factor = opts.exponentialAvgFactor ?? 1;
  check(mean, 'mean', opts.training && factor === 1);
  check(variance, 'variance', opts.training && factor === 1);
  if (!opts.training) {
    // tf.batchNorm is what tfjs-converter runs, so its operation order is kept.
    const y = tf.batchNorm(xl, mean, variance, offset, scale, opts.epsilon);
    return [nchw ? fromChannelsLast(y) : y, tf.clone(mean), tf.clone(variance), tf.clone(mean), tf.clone(variance)];
  }
  const axes = Array.from({ length: xl.rank - 1 }, (_, i) => i);
  const { mean: bm, variance: bv } = tf.moments(xl, axes);
  const y = tf.batchNorm(xl, bm, bv, offset, scale, opts.epsilon);
  const n = xl.size / Math.max(depth, 1);
  const corrected = tf.mul(bv, n / Math.max(n - 1, 1));
  const runMean = factor === 1 ? tf.clone(bm) : tf.add(tf.mul(mean, 1 - factor), tf.mul(bm, factor));
  const runVar = factor === 1 ? corrected : tf.add(tf.mul(variance, 1 - factor), tf.mul(corrected, factor));
  return [nchw ? fromChannelsLast(y) : y, runMean, runVar, bm, bv];
}

function fusedBatchNorm(inputs: tf.Tensor[], n: GraphNode, v3: boolean): tf.Tensor[] {
  const [x, s, o, m, v] = inputs;
  if (!v) fail(n, `needs 5 inputs (x, scale, offset, mean, variance), found ${inputs.length}`);
  const outs = batchNorm(x!, s!, o!, m!, v, {
    epsilon: attrFloat(n, 'epsilon', 1e-4),
    format: attrString(n, 'data_format', 'NHWC'),
    // TF's op-def default is true; frozen inference graphs set it to false explicitly.
    training: attrBool(n, 'is_training', true),
    exponentialAvgFactor: v3 ? attrFloat(n, 'exponential_avg_factor', 1) : 1,
  }, n);
  // reserve_space_3 only feeds TF's gradient kernel; an empty tensor keeps output index 5 valid.
  if (v3) outs.push(tf.tensor1d([], 'float32'));
  return outs;
}

registerOps({
  Relu: ([x]) => tf.relu(x!),
  Relu6: ([x]) => tf.clipByValue(x!, 0, 6),
  Elu: ([x]) => tf.elu(x!),
  Selu: ([x], n) => activation('Selu', x!, n),
  LeakyRelu: ([x], n) => activation('LeakyRelu', x!, n, attrFloat(n, 'alpha', 0.2)),
  Softplus: ([x]) => softplus(x!),
  Softsign: ([x], n) => activation('Softsign', x!, n),
  Sigmoid: ([x]) => tf.sigmoid(x!),
  Softmax: ([x], n) => {
    if (x!.rank < 1) fail(n, 'logits must have rank >= 1, found a scalar');
    return tf.softmax(x!);
  },
  LogSoftmax: ([x], n) => {
    if (x!.rank < 1) fail(n, 'logits must have rank >= 1, found a scalar');
    return tf.logSoftmax(x!);
  },
  Gelu: ([x], n) => activation(attrBool(n, 'approximate', false) ? 'GeluApproximate' : 'GeluExact', x!, n),
  // tfjs-converter's Prelu: relu(x) + alpha * min(x, 0), alpha broadcast against x.
  Prelu: ([x, alpha]) => tf.add(tf.relu(x!), tf.mul(alpha!, tf.neg(tf.relu(tf.neg(x!))))),
  BiasAdd: ([x, b], n) => biasAdd(x!, b!, attrString(n, 'data_format', 'NHWC'), n),
  BiasAddV1: ([x, b], n) => biasAdd(x!, b!, 'NHWC', n),
  FusedBatchNorm: (xs, n) => fusedBatchNorm(xs, n, false),
  FusedBatchNormV2: (xs, n) => fusedBatchNorm(xs, n, false),
  FusedBatchNormV3: (xs, n) => fusedBatchNorm(xs, n, true),
  LRN: ([x], n) => {
    if (x!.rank !== 4) fail(n, `input must be 4-D (NHWC), found shape [${x!.shape}]`);
    return tf.localResponseNormalization(x as tf.Tensor4D, attrInt(n, 'depth_radius', 5), attrFloat(n, 'bias', 1), attrFloat(n, 'alpha', 1), attrFloat(n, 'beta', 0.5));
  },
});
