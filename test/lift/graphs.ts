import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/ir.js';

/**
 * Small TF graphs, one per pattern lift recognises, written as they appear in real exports
 * (TF scopes `model/<layer>/<Op>`), with deterministic pseudo-random weights.
 */

export function pseudo(n: number, seed: number, scale = 0.5): number[] {
  let s = seed * 9301 + 49297;
  return Array.from({ length: n }, () => {
    s = (s * 9301 + 49297) % 233280;
    return (s / 233280 - 0.5) * 2 * scale;
  });
}

const f = (shape: number[], seed: number, scale = 0.5) => host('float32', shape, pseudo(shape.reduce((a, b) => a * b, 1), seed, scale));
const i32 = (shape: number[], v: number[]) => host('int32', shape, v);

export function writePb(g: Graph, name = 'model.pb'): string {
  const dir = mkdtempSync(join(tmpdir(), 'lift-'));
  const p = join(dir, name);
  writeFileSync(p, encodeGraphDef(g));
  return p;
}

function conv(g: GraphBuilder, scope: string, x: string, k: number, cin: number, cout: number, opts: { stride?: number; padding?: string } = {}): string {
  const w = g.const(`${scope}/kernel`, f([k, k, cin, cout], cout * 7 + k));
  const s = opts.stride ?? 1;
  return g.op('Conv2D', `${scope}/Conv2D`, [x, w], { strides: A.ints([1, s, s, 1]), padding: A.str(opts.padding ?? 'SAME'), data_format: A.str('NHWC') });
}

function bias(g: GraphBuilder, scope: string, x: string, c: number): string {
  const b = g.const(`${scope}/bias`, f([c], c * 3 + 1, 0.2));
  return g.op('BiasAdd', `${scope}/BiasAdd`, [x, b], { data_format: A.str('NHWC') });
}

/** Conv2D+BiasAdd+Relu, MaxPool, Conv2D (valid, stride 2)+BiasAdd+Relu6, Reshape(flatten), MatMul+BiasAdd, Softmax. */
export function cnn(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('image', 'float32', [-1, 8, 8, 3]);
  let t = g.op('Relu', 'model/conv2d/Relu', [bias(g, 'model/conv2d', conv(g, 'model/conv2d', x, 3, 3, 4), 4)]);
  t = g.op('MaxPool', 'model/max_pooling2d/MaxPool', [t], { ksize: A.ints([1, 2, 2, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.str('VALID'), data_format: A.str('NHWC') });
  t = g.op('Relu6', 'model/conv2d_1/Relu6', [bias(g, 'model/conv2d_1', conv(g, 'model/conv2d_1', t, 3, 4, 6, { stride: 2, padding: 'VALID' }), 6)]);
  const shape = g.const('model/flatten/Const', i32([2], [-1, 6]));
  t = g.op('Reshape', 'model/flatten/Reshape', [t, shape]);
  const w = g.const('model/dense/kernel', f([6, 5], 11));
  t = g.op('MatMul', 'model/dense/MatMul', [t, w], { transpose_a: A.bool(false), transpose_b: A.bool(false) });
  t = bias(g, 'model/dense', t, 5);
  t = g.op('Softmax', 'model/dense/Softmax', [t]);
  return g.build([t], 'cnn.pb');
}

/** _FusedConv2D (BiasAdd, Relu), DepthwiseConv2dNative + BiasAdd + Relu, FusedBatchNormV3 (inference), Mean over H,W. */
export function mobile(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('input', 'float32', [1, 6, 6, 2]);
  const w = g.const('net/conv/kernel', f([3, 3, 2, 4], 5));
  const b = g.const('net/conv/bias', f([4], 6, 0.1));
  let t = g.op('_FusedConv2D', 'net/conv/Relu', [x, w, b], { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), fused_ops: A.list({ strings: ['BiasAdd', 'Relu'] }), num_args: A.int(1), epsilon: A.float(0) });
  const dw = g.const('net/dw/depthwise_kernel', f([3, 3, 4, 2], 8));
  t = g.op('DepthwiseConv2dNative', 'net/dw/depthwise', [t, dw], { strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  t = g.op('Relu', 'net/dw/Relu', [bias(g, 'net/dw', t, 8)]);
  const stats = [pseudo(8, 1, 0.5), pseudo(8, 2, 0.2), pseudo(8, 3, 0.3), pseudo(8, 4, 0.4).map((v) => 1 + Math.abs(v))];
  const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((n, i) => g.const(`net/bn/${n}`, host('float32', [8], stats[i]!)));
  t = g.op('FusedBatchNormV3', 'net/bn/FusedBatchNormV3', [t, gamma!, beta!, mean!, variance!], { epsilon: A.float(0.001), is_training: A.bool(false), data_format: A.str('NHWC') });
  const axes = g.const('net/pool/axes', i32([2], [1, 2]));
  t = g.op('Mean', 'net/pool/Mean', [t, axes], { keep_dims: A.bool(false) });
  return g.build([t], 'mobile.pb');
}

/** Folded batch norm (Mul by a constant, then Add), the PReLU pattern relu(x) - a*relu(-x), LeakyRelu, Pad, AvgPool. */
export function folded(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 5, 5, 3]);
  let t = conv(g, 'm/conv', x, 1, 3, 3);
  const scale = g.const('m/bn/mul', f([3], 21, 1));
  const offset = g.const('m/bn/sub', f([3], 22, 0.3));
  t = g.op('Mul', 'm/bn/mul_1', [t, scale]);
  t = g.op('AddV2', 'm/bn/add_1', [t, offset]);
  const pos = g.op('Relu', 'm/prelu/Relu', [t]);
  const neg = g.op('Neg', 'm/prelu/Neg', [t]);
  const negRelu = g.op('Relu', 'm/prelu/Relu_1', [neg]);
  const alpha = g.const('m/prelu/alpha', f([3], 23, 0.3));
  const scaled = g.op('Mul', 'm/prelu/mul', [alpha, negRelu]);
  t = g.op('Sub', 'm/prelu/sub', [pos, scaled]);
  const pads = g.const('m/pad/paddings', i32([4, 2], [0, 0, 1, 2, 2, 1, 0, 0]));
  t = g.op('Pad', 'm/pad/Pad', [t, pads]);
  t = g.op('LeakyRelu', 'm/leaky/LeakyRelu', [t], { alpha: A.float(0.1) });
  t = g.op('AvgPool', 'm/avg/AvgPool', [t], { ksize: A.ints([1, 2, 2, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  return g.build([t], 'folded.pb');
}

/** Two branches merged: Concat, Add, Sub, Mul, Maximum, Minimum of tensors; nearest-neighbour upsampling x2; Conv2DBackpropInput. */
export function merges(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 4, 4, 2]);
  const a = g.op('Relu', 'model/conv_a/Relu', [conv(g, 'model/conv_a', x, 1, 2, 2)]);
  const b = g.op('Tanh', 'model/conv_b/Tanh', [conv(g, 'model/conv_b', x, 3, 2, 2)]);
  const axis = g.const('model/cat/axis', i32([], [3]));
  const cat = g.op('ConcatV2', 'model/cat/concat', [a, b, axis], { N: A.int(2) });
  const add = g.op('AddV2', 'model/add/add', [a, b]);
  const sub = g.op('Sub', 'model/sub/sub', [add, b]);
  const mul = g.op('Mul', 'model/mul/mul', [sub, a]);
  const mx = g.op('Maximum', 'model/max/Maximum', [mul, b]);
  const mn = g.op('Minimum', 'model/min/Minimum', [mx, a]);
  const both = g.op('ConcatV2', 'model/cat2/concat', [cat, mn, axis], { N: A.int(2) });
  const size = g.const('model/up/size', i32([2], [8, 8]));
  const up = g.op('ResizeNearestNeighbor', 'model/up/resize', [both, size], { align_corners: A.bool(false), half_pixel_centers: A.bool(true) });
  const outSize = g.const('model/deconv/output_shape', i32([4], [1, 16, 16, 3]));
  const k = g.const('model/deconv/kernel', f([3, 3, 3, 6], 31, 0.3));
  const de = g.op('Conv2DBackpropInput', 'model/deconv/conv2d_transpose', [outSize, k, up], { strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  return g.build([de], 'merges.pb');
}

/** A Transpose that moves the batch axis: only keras.ops.transpose expresses it; plus arithmetic with a non-channel constant. */
export function needsOps(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [2, 3, 4]);
  const perm = g.const('t/perm', i32([3], [1, 0, 2]));
  let t = g.op('Transpose', 't/transpose', [x, perm]);
  const c = g.const('t/c', f([2, 4], 41));
  t = g.op('Mul', 't/mul', [t, c]);
  return g.build([t], 'ops.pb');
}

/** Ops lift cannot express (Erf twice, Cos), around a bilinear resize with align_corners that it can. */
export function unliftable(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 4, 4, 2]);
  const e = g.op('Erf', 'u/erf/Erf', [x]);
  const size = g.const('u/up/size', i32([2], [7, 7]));
  const r = g.op('ResizeBilinear', 'u/up/ResizeBilinear', [e, size], { align_corners: A.bool(true), half_pixel_centers: A.bool(false) });
  const c = g.op('Cos', 'u/cos/Cos', [r]);
  const e2 = g.op('Erf', 'u/erf_1/Erf', [c]);
  return g.build([e2], 'unliftable.pb');
}

/**
 * Every resize no stock layer computes: ResizeBilinear as TF1 left it (no align_corners, no
 * half-pixel centres: 3x5 -> 7x9, non-integer factors) and with align_corners (down to 5x4),
 * ResizeNearestNeighbor with align_corners (6x8) and with half-pixel centres by a non-integer
 * factor (4x5); a Relu between each so that every resize stands for its own tensor.
 */
export function resizes(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 3, 5, 2]);
  const step = (scope: string, op: string, t: string, hw: [number, number], align: boolean, half: boolean) => {
    const size = g.const(`${scope}/size`, i32([2], hw));
    const y = g.op(op, `${scope}/${op}`, [t, size], { align_corners: A.bool(align), half_pixel_centers: A.bool(half) });
    return g.op('Relu', `${scope}_relu/Relu`, [y]);
  };
  let t = step('model/up_legacy', 'ResizeBilinear', x, [7, 9], false, false);
  t = step('model/down_aligned', 'ResizeBilinear', t, [5, 4], true, false);
  t = step('model/nearest_aligned', 'ResizeNearestNeighbor', t, [6, 8], true, false);
  t = step('model/nearest_half', 'ResizeNearestNeighbor', t, [4, 5], false, true);
  return g.build([t], 'resizes.pb');
}

/** blazeface's residual widening (zeros appended to the channels) and _FusedConv2D with a fused Prelu (facemesh, iris). */
export function widen(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 4, 4, 2]);
  const pads = g.const('model/tf_op_layer_Pad/Pad/paddings', i32([4, 2], [0, 0, 0, 0, 0, 0, 1, 2]));
  const wide = g.op('Pad', 'model/tf_op_layer_Pad/Pad', [x, pads]);
  const w = g.const('model/conv/kernel', f([3, 3, 2, 5], 51));
  const b = g.const('model/conv/bias', f([5], 52, 0.1));
  const alpha = g.const('model/conv/alpha', f([5], 53, 0.3));
  const c = g.op('_FusedConv2D', 'model/p_re_lu/FusedConv', [x, w, b, alpha], { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), fused_ops: A.list({ strings: ['BiasAdd', 'Prelu'] }), num_args: A.int(2), epsilon: A.float(0) });
  const sum = g.op('AddV2', 'model/add/add', [c, wide]);
  return g.build([sum], 'widen.pb');
}

/** A float16 kernel cast to float32 before the convolution (weights stored in half precision). */
export function halfWeights(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 3, 3, 1]);
  const k16 = g.const('model/conv/kernel_f16', host('float16', [1, 1, 1, 3], [0.1, 0.2, 0.3]));
  const k = g.op('Cast', 'model/conv/Cast', [k16], { SrcT: A.dtype('float16'), DstT: A.dtype('float32') });
  const c = g.op('Conv2D', 'model/conv/Conv2D', [x, k], { strides: A.ints([1, 1, 1, 1]), padding: A.str('VALID'), data_format: A.str('NHWC') });
  return g.build([c], 'half.pb');
}

/**
 * Depthwise then 1x1 conv, as Keras 2's SeparableConv2D leaves them in a frozen graph
 * (`separable_conv2d/separable_conv2d/depthwise`, `.../separable_conv2d`, `.../BiasAdd`), stride 2,
 * depth multiplier 2, + Relu; a dilated one into a _FusedConv2D 1x1 (BiasAdd, Relu6); and a
 * depthwise whose output is also read elsewhere (not fused: a DepthwiseConv2D and a Conv2D).
 */
export function separable(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 8, 8, 3]);
  const dw = g.const('model/separable_conv2d/depthwise_kernel', f([3, 3, 3, 2], 61));
  let t = g.op('DepthwiseConv2dNative', 'model/separable_conv2d/separable_conv2d/depthwise', [x, dw], { strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  const pw = g.const('model/separable_conv2d/pointwise_kernel', f([1, 1, 6, 5], 62));
  t = g.op('Conv2D', 'model/separable_conv2d/separable_conv2d', [t, pw], { strides: A.ints([1, 1, 1, 1]), padding: A.str('VALID'), data_format: A.str('NHWC') });
  t = g.op('Relu', 'model/separable_conv2d/Relu', [bias(g, 'model/separable_conv2d', t, 5)]);
  const dw2 = g.const('model/separable_conv2d_1/depthwise_kernel', f([3, 3, 5, 1], 63));
  let u = g.op('DepthwiseConv2dNative', 'model/separable_conv2d_1/separable_conv2d/depthwise', [t, dw2], { strides: A.ints([1, 1, 1, 1]), dilations: A.ints([1, 2, 2, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  const pw2 = g.const('model/separable_conv2d_1/pointwise_kernel', f([1, 1, 5, 4], 64));
  const b2 = g.const('model/separable_conv2d_1/bias', f([4], 65, 0.2));
  u = g.op('_FusedConv2D', 'model/separable_conv2d_1/Relu6', [u, pw2, b2], { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), fused_ops: A.list({ strings: ['BiasAdd', 'Relu6'] }), num_args: A.int(1), epsilon: A.float(0) });
  const dw3 = g.const('model/dw_shared/depthwise_kernel', f([3, 3, 4, 1], 66));
  const shared = g.op('DepthwiseConv2dNative', 'model/dw_shared/depthwise', [u, dw3], { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  const pw3 = g.const('model/pw_after/kernel', f([1, 1, 4, 3], 67));
  const p = g.op('Conv2D', 'model/pw_after/Conv2D', [shared, pw3], { strides: A.ints([1, 1, 1, 1]), padding: A.str('VALID'), data_format: A.str('NHWC') });
  const side = g.op('Relu', 'model/side/Relu', [shared]);
  const axis = g.const('model/cat/axis', i32([], [3]));
  const cat = g.op('ConcatV2', 'model/cat/concat', [p, side, axis], { N: A.int(2) });
  return g.build([cat], 'separable.pb');
}

/**
 * An NCHW graph (as converted from PyTorch/ONNX or written for GPUs): Conv2D + BiasAdd (NCHW) +
 * Relu, FusedBatchNormV3 NCHW, MaxPool NCHW, depthwise NCHW then 1x1 NCHW (a separable pair),
 * an Add of a [C,1,1] constant + Relu6, Pad of H and W, AvgPool NCHW, Conv2D with EXPLICIT padding,
 * the folded batch norm form with [C,1,1] constants, Mean over axes 2,3, Dense.
 */
export function nchw(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 3, 12, 12]);
  const nc = { data_format: A.str('NCHW') };
  const w = g.const('net/conv/kernel', f([3, 3, 3, 4], 71));
  let t = g.op('Conv2D', 'net/conv/Conv2D', [x, w], { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), ...nc });
  const b = g.const('net/conv/bias', f([4], 72, 0.2));
  t = g.op('BiasAdd', 'net/conv/BiasAdd', [t, b], nc);
  t = g.op('Relu', 'net/conv/Relu', [t]);
  const stats = [pseudo(4, 73, 0.5), pseudo(4, 74, 0.2), pseudo(4, 75, 0.3), pseudo(4, 76, 0.4).map((v) => 1 + Math.abs(v))];
  const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((n, i) => g.const(`net/bn/${n}`, host('float32', [4], stats[i]!)));
  t = g.op('FusedBatchNormV3', 'net/bn/FusedBatchNormV3', [t, gamma!, beta!, mean!, variance!], { epsilon: A.float(0.001), is_training: A.bool(false), ...nc });
  t = g.op('MaxPool', 'net/pool/MaxPool', [t], { ksize: A.ints([1, 1, 2, 2]), strides: A.ints([1, 1, 2, 2]), padding: A.str('VALID'), ...nc });
  const dw = g.const('net/sep/depthwise_kernel', f([3, 3, 4, 2], 77));
  t = g.op('DepthwiseConv2dNative', 'net/sep/depthwise', [t, dw], { strides: A.ints([1, 1, 2, 2]), padding: A.str('SAME'), ...nc });
  const pw = g.const('net/sep/pointwise_kernel', f([1, 1, 8, 6], 78));
  t = g.op('Conv2D', 'net/sep/Conv2D', [t, pw], { strides: A.ints([1, 1, 1, 1]), padding: A.str('VALID'), ...nc });
  const cb = g.const('net/sep/bias', f([6, 1, 1], 79, 0.2));
  t = g.op('AddV2', 'net/sep/add', [t, cb]);
  t = g.op('Relu6', 'net/sep/Relu6', [t]);
  const pads = g.const('net/pad/paddings', i32([4, 2], [0, 0, 0, 0, 1, 1, 2, 0]));
  t = g.op('Pad', 'net/pad/Pad', [t, pads]);
  t = g.op('AvgPool', 'net/avg/AvgPool', [t], { ksize: A.ints([1, 1, 2, 2]), strides: A.ints([1, 1, 1, 1]), padding: A.str('VALID'), ...nc });
  const w2 = g.const('net/conv2/kernel', f([2, 2, 6, 5], 80));
  t = g.op('Conv2D', 'net/conv2/Conv2D', [t, w2], { strides: A.ints([1, 1, 1, 1]), padding: A.str('EXPLICIT'), explicit_paddings: A.ints([0, 0, 0, 0, 1, 0, 0, 1]), ...nc });
  const scale = g.const('net/bn2/mul', f([5, 1, 1], 81, 1));
  const offset = g.const('net/bn2/add', f([5, 1, 1], 82, 0.3));
  t = g.op('Mul', 'net/bn2/mul_1', [t, scale]);
  t = g.op('AddV2', 'net/bn2/add_1', [t, offset]);
  const axes = g.const('net/gap/axes', i32([2], [2, 3]));
  t = g.op('Mean', 'net/gap/Mean', [t, axes], { keep_dims: A.bool(false) });
  const dk = g.const('net/fc/kernel', f([5, 3], 83));
  t = g.op('MatMul', 'net/fc/MatMul', [t, dk], { transpose_a: A.bool(false), transpose_b: A.bool(false) });
  return g.build([t], 'nchw.pb');
}

/** Explicit Transposes around an NCHW conv in an NHWC graph (TF graphs converted from ONNX): Permute, Conv2D channels_first + Relu, a BiasAdd NCHW of its own, Permute. */
export function transposedConv(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 6, 6, 3]);
  const toNchw = g.const('m/to_nchw/perm', i32([4], [0, 3, 1, 2]));
  let t = g.op('Transpose', 'm/to_nchw/transpose', [x, toNchw]);
  const w = g.const('m/conv/kernel', f([3, 3, 3, 4], 91));
  t = g.op('Conv2D', 'm/conv/Conv2D', [t, w], { strides: A.ints([1, 1, 2, 2]), padding: A.str('VALID'), data_format: A.str('NCHW') });
  const b = g.const('m/conv/bias', f([4], 92, 0.2));
  t = g.op('BiasAdd', 'm/conv/BiasAdd', [t, b], { data_format: A.str('NCHW') });
  t = g.op('Relu', 'm/conv/Relu', [t]);
  // A BiasAdd of its own (C=4 on axis 1, W=2): not on the last axis.
  const b2 = g.const('m/shift/bias', f([4], 93, 0.5));
  t = g.op('BiasAdd', 'm/shift/BiasAdd', [t, b2], { data_format: A.str('NCHW') });
  const toNhwc = g.const('m/to_nhwc/perm', i32([4], [0, 2, 3, 1]));
  t = g.op('Transpose', 'm/to_nhwc/transpose', [t, toNhwc]);
  return g.build([t], 'transposed.pb');
}

/** Placeholders made without a shape (TF1 `tf.placeholder(tf.float32)`): read by a MatMul, a Conv2D, an elementwise Mul. */
export function unknownRank(reader: 'matmul' | 'conv' | 'mul'): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', null);
  const id = g.op('Identity', 'x_read', [x]);
  let t: string;
  if (reader === 'matmul') {
    const w = g.const('dense/kernel', f([4, 3], 101));
    t = bias(g, 'dense', g.op('MatMul', 'dense/MatMul', [id, w], { transpose_a: A.bool(false), transpose_b: A.bool(false) }), 3);
  } else if (reader === 'conv') {
    t = conv(g, 'c', id, 3, 2, 4);
  } else {
    const c = g.const('mul/y', f([], 102));
    t = g.op('Mul', 'mul/mul', [id, c]);
  }
  return g.build([t], `rank-${reader}.pb`);
}

/** ResizeBilinear with half-pixel centres (tf.image.resize, Keras 3's own resize), 3x5 -> 6x7, channels 2. */
export function halfPixelResize(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [1, 3, 5, 2]);
  const size = g.const('model/resize/size', i32([2], [6, 7]));
  const y = g.op('ResizeBilinear', 'model/resize/ResizeBilinear', [x, size], { align_corners: A.bool(false), half_pixel_centers: A.bool(true) });
  return g.build([g.op('Relu', 'model/relu/Relu', [y])], 'half-pixel.pb');
}
