import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInts, attrString, attrStrings } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { registerOps } from '../registry.js';
import { fail, ints } from './helpers.js';
import { activation, batchNorm, biasAdd } from './nn.js';

/**
 * Convolutions and pooling with TensorFlow's padding rules. Padding is always resolved to
 * explicit amounts here (SAME: out = ceil(in/stride), total = max((out-1)*stride + (k-1)*dilation
 * + 1 - in, 0), before = floor(total/2)) and the input padded before a VALID tfjs op, so SAME,
 * VALID and EXPLICIT, any stride with any dilation, and NCHW all go through one path.
 */

type Pads = [number, number][];

function nchw(format: string): boolean {
  return format.startsWith('NC');
}

/** Spatial [before, after] pads for each spatial dim. */
export function spatialPads(node: GraphNode, inSizes: number[], kSizes: number[], strides: number[], dilations: number[], padding: string, format: string): Pads {
  const n = inSizes.length;
  if (padding === 'VALID') return inSizes.map(() => [0, 0]);
  if (padding === 'SAME') {
    return inSizes.map((inS, i) => {
      const eff = (kSizes[i]! - 1) * dilations[i]! + 1;
      const out = Math.ceil(inS / strides[i]!);
      const total = Math.max((out - 1) * strides[i]! + eff - inS, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  if (padding === 'EXPLICIT') {
    const e = attrInts(node, 'explicit_paddings', []);
    if (e.length !== 2 * (n + 2)) fail(node, `explicit_paddings must have ${2 * (n + 2)} values, found ${e.length}`);
    const dims = nchw(format) ? Array.from({ length: n }, (_, i) => i + 2) : Array.from({ length: n }, (_, i) => i + 1);
    return dims.map((d) => [e[2 * d]!, e[2 * d + 1]!]);
  }
  return fail(node, `unknown padding '${padding}' (expected SAME, VALID or EXPLICIT)`);
}

/** strides/dilations/ksize attrs are in data_format order; return the spatial ones. */
function spatial(v: number[], format: string, n: number, node: GraphNode, name: string): number[] {
  if (v.length !== n + 2) fail(node, `${name} must have ${n + 2} values, found ${v.length}`);
  const s = nchw(format) ? v.slice(2) : v.slice(1, 1 + n);
  const batchC = nchw(format) ? [v[0], v[1]] : [v[0], v[n + 1]];
  if (name !== 'ksize' && batchC.some((x) => x !== 1)) fail(node, `${name} on the batch and channel dims must be 1, found [${v}]`);
  return s;
}

function toNhwc(x: tf.Tensor, format: string): tf.Tensor {
  if (!nchw(format)) return x;
  return x.rank === 4 ? tf.transpose(x, [0, 2, 3, 1]) : tf.transpose(x, [0, 2, 3, 4, 1]);
}

function fromNhwc(x: tf.Tensor, format: string): tf.Tensor {
  if (!nchw(format)) return x;
  return x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : tf.transpose(x, [0, 4, 1, 2, 3]);
}

/**
 * Padding for a tfjs 2-D NHWC op: 'same'/'valid' as tfjs-converter passes them (tfjs computes
 * them by TF's rule, and its fast paths expect them), explicit amounts otherwise.
 */
function explicit(p: Pads, g?: ConvGeom): 'valid' | 'same' {
  if (g?.padding === 'SAME') return 'same';
  if (g?.padding === 'VALID') return 'valid';
  return [[0, 0], p[0]!, p[1]!, [0, 0]] as unknown as 'valid';
}

function padSpatial(x: tf.Tensor, pads: Pads, value = 0): tf.Tensor {
  if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
  return tf.pad(x, [[0, 0], ...pads, [0, 0]], value);
}

/** Keeps every s-th position along each spatial dim (strides applied after a stride-1 op). */
function subsample(x: tf.Tensor, strides: number[]): tf.Tensor {
  if (strides.every((s) => s === 1)) return x;
  const begin = new Array<number>(x.rank).fill(0);
  const st = [1, ...strides, 1];
  return tf.stridedSlice(x, begin, x.shape, st);
}

interface ConvGeom {
  strides: number[];
  dilations: number[];
  pads: Pads;
  format: string;
  padding: string;
}

function geometry(node: GraphNode, x: tf.Tensor, kSpatial: number[], nSpatial: number): ConvGeom {
  const format = attrString(node, 'data_format', nSpatial === 3 ? 'NDHWC' : 'NHWC');
  const strides = spatial(attrInts(node, 'strides'), format, nSpatial, node, 'strides');
  const dilations = spatial(attrInts(node, 'dilations', new Array<number>(nSpatial + 2).fill(1)), format, nSpatial, node, 'dilations');
  const inSizes = nchw(format) ? x.shape.slice(2) : x.shape.slice(1, 1 + nSpatial);
  const padding = attrString(node, 'padding');
  const pads = spatialPads(node, inSizes, kSpatial, strides, dilations, padding, format);
  return { strides, dilations, pads, format, padding };
}

/** tfjs refuses stride > 1 together with dilation > 1: run at stride 1, then subsample. */
function splitStride(g: ConvGeom): { opStrides: number[]; post: number[] } {
  const both = g.strides.some((s) => s > 1) && g.dilations.some((d) => d > 1);
  return both ? { opStrides: g.strides.map(() => 1), post: g.strides } : { opStrides: g.strides, post: g.strides.map(() => 1) };
}

export function conv2d(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank !== 4 || filter.rank !== 4) fail(node, `expects a 4-D input and filter, found [${x.shape}] and [${filter.shape}]`);
  const g = geometry(node, x, filter.shape.slice(0, 2), 2);
  const xn = toNhwc(x, g.format);
  const cin = xn.shape[3]!;
  if (cin !== filter.shape[2]) fail(node, `input has ${cin} channels, filter expects ${filter.shape[2]}${cin % filter.shape[2]! === 0 ? ' (grouped convolution is not supported)' : ''}`);
  const { opStrides, post } = splitStride(g);
  // tfjs pads itself when it can (explicit amounts, computed here by TF's rule), which keeps the
  // summation order of tfjs-converter's own kernels; otherwise pad first and run VALID.
  const direct = post.every((s) => s === 1);
  const y = direct
    ? tf.conv2d(xn as tf.Tensor4D, filter as tf.Tensor4D, opStrides as [number, number], explicit(g.pads, g), 'NHWC', g.dilations as [number, number])
    : tf.conv2d(padSpatial(xn, g.pads) as tf.Tensor4D, filter as tf.Tensor4D, opStrides as [number, number], 'valid', 'NHWC', g.dilations as [number, number]);
  return fromNhwc(subsample(y, post), g.format);
}

export function depthwise(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank !== 4 || filter.rank !== 4) fail(node, `expects a 4-D input and filter, found [${x.shape}] and [${filter.shape}]`);
  const g = geometry(node, x, filter.shape.slice(0, 2), 2);
  const xn = toNhwc(x, g.format);
  if (xn.shape[3] !== filter.shape[2]) fail(node, `input has ${xn.shape[3]} channels, filter expects ${filter.shape[2]}`);
  const { opStrides, post } = splitStride(g);
  const direct = post.every((s) => s === 1);
  const y = direct
    ? tf.depthwiseConv2d(xn as tf.Tensor4D, filter as tf.Tensor4D, opStrides as [number, number], explicit(g.pads, g), 'NHWC', g.dilations as [number, number])
    : tf.depthwiseConv2d(padSpatial(xn, g.pads) as tf.Tensor4D, filter as tf.Tensor4D, opStrides as [number, number], 'valid', 'NHWC', g.dilations as [number, number]);
  return fromNhwc(subsample(y, post), g.format);
}

function conv3d(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank !== 5 || filter.rank !== 5) fail(node, `expects a 5-D input and filter, found [${x.shape}] and [${filter.shape}]`);
  const g = geometry(node, x, filter.shape.slice(0, 3), 3);
  const xin = padSpatial(toNhwc(x, g.format), g.pads);
  const { opStrides, post } = splitStride(g);
  const y = tf.conv3d(xin as tf.Tensor5D, filter as tf.Tensor5D, opStrides as [number, number, number], 'valid', 'NDHWC', g.dilations as [number, number, number]);
  return fromNhwc(subsample(y, post), g.format);
}

/** Conv2DBackpropInput: the transposed convolution whose forward conv maps input_sizes -> out_backprop. */
function conv2dBackpropInput(sizes: tf.Tensor, filter: tf.Tensor, dy: tf.Tensor, node: GraphNode): tf.Tensor {
  const format = attrString(node, 'data_format', 'NHWC');
  let outShape = ints(sizes);
  if (outShape.length !== 4) fail(node, `input_sizes must have 4 values, found [${outShape}]`);
  const strides = spatial(attrInts(node, 'strides'), format, 2, node, 'strides');
  const dilations = spatial(attrInts(node, 'dilations', [1, 1, 1, 1]), format, 2, node, 'dilations');
  if (dilations.some((d) => d !== 1)) fail(node, 'dilated Conv2DBackpropInput is not supported');
  if (nchw(format)) outShape = [outShape[0]!, outShape[2]!, outShape[3]!, outShape[1]!];
  const pads = spatialPads(node, outShape.slice(1, 3), filter.shape.slice(0, 2), strides, dilations, attrString(node, 'padding'), format);
  const explicit = [[0, 0], pads[0]!, pads[1]!, [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  const y = tf.conv2dTranspose(toNhwc(dy, format) as tf.Tensor4D, filter as tf.Tensor4D, outShape as [number, number, number, number], strides as [number, number], explicit as unknown as 'valid');
  return fromNhwc(y, format);
}

function pool(kind: 'max' | 'avg', x: tf.Tensor, node: GraphNode, ksizeT?: tf.Tensor, stridesT?: tf.Tensor): tf.Tensor {
  const n = x.rank - 2;
  const format = attrString(node, 'data_format', n === 3 ? 'NDHWC' : 'NHWC');
  const ksize = spatial(ksizeT ? ints(ksizeT) : attrInts(node, 'ksize'), format, n, node, 'ksize');
  const strides = spatial(stridesT ? ints(stridesT) : attrInts(node, 'strides'), format, n, node, 'strides');
  const padding = attrString(node, 'padding');
  const xin = toNhwc(x, format);
  let y: tf.Tensor;
  if (padding === 'EXPLICIT') {
    const pads = spatialPads(node, xin.shape.slice(1, 1 + n), ksize, strides, ksize.map(() => 1), padding, format);
    if (kind === 'avg') fail(node, 'AvgPool has no EXPLICIT padding');
    y = n === 2
      ? tf.maxPool(padSpatial(xin, pads, -Infinity) as tf.Tensor4D, ksize as [number, number], strides as [number, number], 'valid')
      : tf.maxPool3d(padSpatial(xin, pads, -Infinity) as tf.Tensor5D, ksize as [number, number, number], strides as [number, number, number], 'valid');
  } else {
    // tfjs pools skip padded positions (max ignores them, avg divides by the valid count), as TF does.
    const pad = padding === 'SAME' ? 'same' : padding === 'VALID' ? 'valid' : fail(node, `unknown padding '${padding}'`);
    if (n === 2) {
      y = kind === 'max'
        ? tf.maxPool(xin as tf.Tensor4D, ksize as [number, number], strides as [number, number], pad)
        : tf.avgPool(xin as tf.Tensor4D, ksize as [number, number], strides as [number, number], pad);
    } else {
      y = kind === 'max'
        ? tf.maxPool3d(xin as tf.Tensor5D, ksize as [number, number, number], strides as [number, number, number], pad)
        : tf.avgPool3d(xin as tf.Tensor5D, ksize as [number, number, number], strides as [number, number, number], pad);
    }
  }
  return fromNhwc(y, format);
}

/** The fused_ops tail of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul. */
export function fusedTail(y: tf.Tensor, args: tf.Tensor[], node: GraphNode, format = 'NHWC'): tf.Tensor {
  const ops = attrStrings(node, 'fused_ops', []);
  let i = 0;
  let out = y;
  for (const op of ops) {
    if (op === 'BiasAdd' || op === 'Add') {
      const b = args[i++];
      if (!b) fail(node, `fused ${op} has no argument`);
      out = op === 'BiasAdd' ? biasAdd(out, b, format, node) : tf.add(out, b);
    } else if (op === 'FusedBatchNorm') {
      const [s, o, m, v] = args.slice(i, i + 4);
      i += 4;
      if (!v) fail(node, 'fused FusedBatchNorm needs 4 arguments (scale, offset, mean, variance)');
      out = batchNorm(out, s!, o!, m!, v, attrFloat(node, 'epsilon', 1e-4), format, false)[0]!;
    } else if (op === 'Prelu') {
      const alpha = args[i++];
      if (!alpha) fail(node, 'fused Prelu has no alpha argument');
      out = tf.prelu(out, alpha);
    } else if (['Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'GeluExact', 'GeluApproximate'].includes(op)) {
      out = activation(op, out, node, attrFloat(node, 'leakyrelu_alpha', 0.2));
    } else {
      fail(node, `unsupported fused op '${op}' in fused_ops [${ops.join(', ')}]`);
    }
  }
  return out;
}

type FusedAct = 'linear' | 'relu' | 'relu6' | 'elu' | 'prelu' | 'leakyrelu' | 'sigmoid';
const TFJS_ACT: Record<string, FusedAct> = { Relu: 'relu', Relu6: 'relu6', Elu: 'elu', Prelu: 'prelu', LeakyRelu: 'leakyrelu', Sigmoid: 'sigmoid' };

/**
 * tfjs' own fused kernels for [BiasAdd(, activation)] on NHWC: tfjs-converter runs these, and a
 * fused kernel adds the bias inside the accumulation, so using it keeps results bit-identical to
 * a TensorFlow.js deployment. Other fusions fall back to op-by-op (fusedTail).
 */
function tfjsFusion(node: GraphNode, args: tf.Tensor[]): { bias: tf.Tensor; activation: FusedAct; alpha?: tf.Tensor; leaky: number } | undefined {
  const ops = attrStrings(node, 'fused_ops', []);
  if (attrString(node, 'data_format', 'NHWC') !== 'NHWC' || ops[0] !== 'BiasAdd' || ops.length > 2) return undefined;
  const act = ops.length === 2 ? TFJS_ACT[ops[1]!] : 'linear';
  if (!act || !args[0]) return undefined;
  return { bias: args[0], activation: act, ...(act === 'prelu' ? { alpha: args[1] } : {}), leaky: attrFloat(node, 'leakyrelu_alpha', 0.2) };
}

function fusedConv(x: tf.Tensor, f: tf.Tensor, args: tf.Tensor[], n: GraphNode, depthwiseOp: boolean): tf.Tensor {
  const fu = tfjsFusion(n, args);
  if (fu && x.rank === 4 && f.rank === 4) {
    const g = geometry(n, x, f.shape.slice(0, 2), 2);
    const { opStrides, post } = splitStride(g);
    if (post.every((s) => s === 1) && x.shape[3] === f.shape[2]) {
      const common = {
        x: x as tf.Tensor4D,
        filter: f as tf.Tensor4D,
        strides: opStrides as [number, number],
        pad: explicit(g.pads, g),
        dataFormat: 'NHWC' as const,
        dilations: g.dilations as [number, number],
        bias: fu.bias,
        activation: fu.activation,
        ...(fu.alpha ? { preluActivationWeights: fu.alpha } : {}),
        leakyreluAlpha: fu.leaky,
      };
      return depthwiseOp ? tf.fused.depthwiseConv2d(common) : tf.fused.conv2d(common);
    }
  }
  const y = depthwiseOp ? depthwise(x, f, n) : conv2d(x, f, n);
  return fusedTail(y, args, n, attrString(n, 'data_format', 'NHWC'));
}

export function fusedMatMul(a: tf.Tensor, b: tf.Tensor, args: tf.Tensor[], n: GraphNode, ta: boolean, tb: boolean): tf.Tensor {
  const fu = tfjsFusion(n, args);
  if (fu && a.rank === 2 && b.rank === 2) {
    return tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias: fu.bias, activation: fu.activation, ...(fu.alpha ? { preluActivationWeights: fu.alpha } : {}), leakyreluAlpha: fu.leaky });
  }
  return fusedTail(tf.matMul(a, b, ta, tb), args, n, 'NHWC');
}

registerOps({
  Conv2D: ([x, f], n) => conv2d(x!, f!, n),
  DepthwiseConv2dNative: ([x, f], n) => depthwise(x!, f!, n),
  Conv3D: ([x, f], n) => conv3d(x!, f!, n),
  Conv2DBackpropInput: ([s, f, dy], n) => conv2dBackpropInput(s!, f!, dy!, n),
  _FusedConv2D: ([x, f, ...args], n) => fusedConv(x!, f!, args, n, false),
  FusedDepthwiseConv2dNative: ([x, f, ...args], n) => fusedConv(x!, f!, args, n, true),
  MaxPool: ([x], n) => pool('max', x!, n),
  MaxPoolV2: ([x, k, s], n) => pool('max', x!, n, k, s),
  AvgPool: ([x], n) => pool('avg', x!, n),
  MaxPool3D: ([x], n) => pool('max', x!, n),
  AvgPool3D: ([x], n) => pool('avg', x!, n),
});
