import { tf } from '../../backend/tf.js';
import { numElements } from '../../core/tensor.js';
import { attrBool, attrFloat, attrInt, attrInts, attrString, attrStrings, hasAttr } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { fail, ints } from './helpers.js';
import { ACTIVATIONS, activation, batchNorm, biasAdd } from './nn.js';

const { registerOps } = opFamily('conv');

/**
 * Convolutions and pooling with TensorFlow's padding rules. Padding is resolved to explicit
 * amounts here (SAME: out = ceil(in/stride), total = max((out-1)*stride + (k-1)*dilation + 1 - in, 0),
 * before = floor(total/2)). tfjs ops get 'same'/'valid' when they can take them (that is what
 * tfjs-converter passes, so summation order matches a tfjs deployment); otherwise the input is
 * padded first and a VALID op runs. Channels-first layouts are transposed to channels-last
 * around tfjs ops, which support NCHW only partly (wasm hardly at all).
 */

type Pads = [number, number][];

function nchw(format: string): boolean {
  return format.startsWith('NC');
}

function checkFormat(node: GraphNode, format: string, nSpatial: number): void {
  const ok = nSpatial === 3 ? ['NDHWC', 'NCDHW'] : ['NHWC', 'NCHW'];
  if (!ok.includes(format)) fail(node, `data_format must be ${ok.join(' or ')}, found '${format}'`);
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
    if (e.length !== 2 * (n + 2)) fail(node, `explicit_paddings must have ${2 * (n + 2)} values (before/after per dim, in data_format order), found ${e.length}`);
    const batchC = nchw(format) ? [0, 1] : [0, n + 1];
    if (batchC.some((d) => e[2 * d] !== 0 || e[2 * d + 1] !== 0)) fail(node, `explicit_paddings on the batch and channel dims must be 0, found [${e}]`);
    if (e.some((v) => v < 0)) fail(node, `explicit_paddings must be non-negative, found [${e}]`);
    const dims = nchw(format) ? Array.from({ length: n }, (_, i) => i + 2) : Array.from({ length: n }, (_, i) => i + 1);
    return dims.map((d) => [e[2 * d]!, e[2 * d + 1]!]);
  }
  return fail(node, `unknown padding '${padding}' (expected SAME, VALID or EXPLICIT)`);
}

/** A window attr (strides, dilations, ksize) in data_format order, split into its parts. */
function window(v: number[], format: string, n: number, node: GraphNode, name: string): { spatial: number[]; batch: number; channel: number } {
  if (v.length !== n + 2) fail(node, `${name} must have ${n + 2} values (data_format ${format}), found [${v}]`);
  if (v.some((x) => !Number.isInteger(x) || x < 1)) fail(node, `${name} must be positive integers, found [${v}]`);
  return nchw(format)
    ? { spatial: v.slice(2), batch: v[0]!, channel: v[1]! }
    : { spatial: v.slice(1, 1 + n), batch: v[0]!, channel: v[n + 1]! };
}

/** strides/dilations of a convolution: batch and channel entries must be 1, as TF requires. */
function spatial(v: number[], format: string, n: number, node: GraphNode, name: string): number[] {
  const w = window(v, format, n, node, name);
  if (w.batch !== 1 || w.channel !== 1) fail(node, `${name} on the batch and channel dims must be 1, found [${v}] (data_format ${format})`);
  return w.spatial;
}

function toNhwc(x: tf.Tensor, format: string): tf.Tensor {
  if (!nchw(format)) return x;
  return x.rank === 4 ? tf.transpose(x, [0, 2, 3, 1]) : tf.transpose(x, [0, 2, 3, 4, 1]);
}

function fromNhwc(x: tf.Tensor, format: string): tf.Tensor {
  if (!nchw(format)) return x;
  return x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : tf.transpose(x, [0, 4, 1, 2, 3]);
}

/** Padding argument for a tfjs 2-D NHWC op: its own 'same'/'valid', explicit amounts otherwise. */
function tfjsPad(pads: Pads, padding: string): 'valid' | 'same' {
  if (padding === 'SAME') return 'same';
  if (padding === 'VALID') return 'valid';
  return [[0, 0], pads[0]!, pads[1]!, [0, 0]] as unknown as 'valid';
}

function padSpatial(x: tf.Tensor, pads: Pads, value = 0): tf.Tensor {
  if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
  return tf.pad(x, [[0, 0], ...pads, [0, 0]], value);
}

/** Keeps every s-th position along each spatial dim (strides applied after a stride-1 op). */
function subsample(x: tf.Tensor, strides: number[]): tf.Tensor {
  if (strides.every((s) => s === 1)) return x;
  return tf.stridedSlice(x, new Array<number>(x.rank).fill(0), x.shape, [1, ...strides, 1]);
}

/** Forward output size along one dim, given resolved pads (TF's rule for every padding kind). */
function outSize(inS: number, k: number, s: number, d: number, p: [number, number]): number {
  return Math.floor((inS + p[0] + p[1] - ((k - 1) * d + 1)) / s) + 1;
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
  checkFormat(node, format, nSpatial);
  const strides = spatial(attrInts(node, 'strides'), format, nSpatial, node, 'strides');
  const dilations = spatial(attrInts(node, 'dilations', new Array<number>(nSpatial + 2).fill(1)), format, nSpatial, node, 'dilations');
  const inSizes = nchw(format) ? x.shape.slice(2) : x.shape.slice(1, 1 + nSpatial);
  const padding = attrString(node, 'padding');
  const pads = spatialPads(node, inSizes, kSpatial, strides, dilations, padding, format);
  inSizes.forEach((inS, i) => {
    if (outSize(inS, kSpatial[i]!, strides[i]!, dilations[i]!, pads[i]!) < 1) {
      fail(node, `spatial dim ${i} of input [${x.shape}] (size ${inS}, padded ${inS + pads[i]![0] + pads[i]![1]}) is smaller than the dilated filter (${(kSpatial[i]! - 1) * dilations[i]! + 1})`);
    }
  });
  return { strides, dilations, pads, format, padding };
}

/** tfjs refuses stride > 1 together with dilation > 1: run at stride 1, then subsample. */
function splitStride(g: ConvGeom): { opStrides: number[]; post: number[] } {
  const both = g.strides.some((s) => s > 1) && g.dilations.some((d) => d > 1);
  return both ? { opStrides: g.strides.map(() => 1), post: g.strides } : { opStrides: g.strides, post: g.strides.map(() => 1) };
}

/** One NHWC 2-D convolution (plain or depthwise) with the geometry resolved. */
function conv2dNhwc(xn: tf.Tensor, filter: tf.Tensor, g: ConvGeom, depthwiseOp: boolean): tf.Tensor {
  const op = depthwiseOp ? tf.depthwiseConv2d : tf.conv2d;
  const { opStrides, post } = splitStride(g);
  const st = opStrides as [number, number];
  const dil = g.dilations as [number, number];
  if (post.every((s) => s === 1)) return op(xn as tf.Tensor4D, filter as tf.Tensor4D, st, tfjsPad(g.pads, g.padding), 'NHWC', dil);
  // SAME pads for stride s differ from those for stride 1, so pad by the stride-s rule first.
  return subsample(op(padSpatial(xn, g.pads) as tf.Tensor4D, filter as tf.Tensor4D, st, 'valid', 'NHWC', dil), post);
}

function check4d(node: GraphNode, x: tf.Tensor, filter: tf.Tensor): void {
  if (x.rank !== 4 || filter.rank !== 4) fail(node, `expects a 4-D input and a 4-D filter, found [${x.shape}] and [${filter.shape}]`);
}

/** Conv2D, including grouped convolution (input depth a multiple of the filter's in-depth). */
export function conv2d(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  check4d(node, x, filter);
  const g = geometry(node, x, filter.shape.slice(0, 2), 2);
  const xn = toNhwc(x, g.format);
  const cin = xn.shape[3]!;
  const fin = filter.shape[2]!;
  const cout = filter.shape[3]!;
  if (fin === 0 || cin % fin !== 0) fail(node, `input has ${cin} channels, which is not a multiple of the filter's in-depth ${fin} (filter [${filter.shape}])`);
  const groups = cin / fin;
  if (cout % groups !== 0) fail(node, `grouped convolution with ${groups} groups needs the filter's out-depth ${cout} to be a multiple of ${groups}`);
  if (groups === 1) return fromNhwc(conv2dNhwc(xn, filter, g, false), g.format);
  const xs = tf.split(xn, groups, 3);
  const fs = tf.split(filter, groups, 3);
  return fromNhwc(tf.concat(xs.map((xi, i) => conv2dNhwc(xi, fs[i]!, g, false)), 3), g.format);
}

export function depthwise(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  check4d(node, x, filter);
  const g = geometry(node, x, filter.shape.slice(0, 2), 2);
  const xn = toNhwc(x, g.format);
  if (xn.shape[3] !== filter.shape[2]) fail(node, `input has ${xn.shape[3]} channels, the depthwise filter [${filter.shape}] expects ${filter.shape[2]}`);
  return fromNhwc(conv2dNhwc(xn, filter, g, true), g.format);
}

function conv3d(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank !== 5 || filter.rank !== 5) fail(node, `expects a 5-D input and a 5-D filter, found [${x.shape}] and [${filter.shape}]`);
  const g = geometry(node, x, filter.shape.slice(0, 3), 3);
  const xn = toNhwc(x, g.format);
  if (xn.shape[4] !== filter.shape[3]) fail(node, `input has ${xn.shape[4]} channels, the filter [${filter.shape}] expects ${filter.shape[3]}`);
  const { opStrides, post } = splitStride(g);
  const st = opStrides as [number, number, number];
  const dil = g.dilations as [number, number, number];
  const y = post.every((s) => s === 1) && g.padding !== 'EXPLICIT'
    ? tf.conv3d(xn as tf.Tensor5D, filter as tf.Tensor5D, st, g.padding === 'SAME' ? 'same' : 'valid', 'NDHWC', dil)
    : subsample(tf.conv3d(padSpatial(xn, g.pads) as tf.Tensor5D, filter as tf.Tensor5D, st, 'valid', 'NDHWC', dil), post);
  return fromNhwc(y, g.format);
}

/** Inserts s-1 zeros between neighbours along `axis` (length L becomes (L-1)*s+1). */
function upsample(x: tf.Tensor, axis: number, s: number): tf.Tensor {
  if (s === 1) return x;
  const shape = x.shape;
  const len = shape[axis]!;
  const spec = shape.map((): [number, number] => [0, 0]);
  spec.splice(axis + 1, 0, [0, s - 1]);
  const spread = tf.reshape(tf.pad(tf.expandDims(x, axis + 1), spec), [...shape.slice(0, axis), len * s, ...shape.slice(axis + 1)]);
  const size = shape.slice();
  size[axis] = Math.max((len - 1) * s + 1, 0);
  return tf.slice(spread, new Array<number>(shape.length).fill(0), size);
}

/**
 * Gradient of a convolution with respect to its input, as a forward convolution: dy spread out by
 * the strides, padded by (k-1)*d - pad_before in front (cropped where negative), correlated with
 * the spatially flipped filter (in/out swapped) at the same dilation. dx[i] collects
 * dy[o]*w[k] for every o*s + k*d - pad_before = i, which is what this computes.
 */
function transposedConv(dy: tf.Tensor, filter: tf.Tensor, inSizes: number[], strides: number[], dilations: number[], pads: Pads): tf.Tensor {
  const n = inSizes.length;
  let u = dy;
  strides.forEach((s, i) => {
    u = upsample(u, i + 1, s);
  });
  const amounts = inSizes.map((h, i): [number, number] => {
    const k = filter.shape[i]!;
    const span = (dy.shape[i + 1]! - 1) * strides[i]! + 1;
    return [(k - 1) * dilations[i]! - pads[i]![0], h + pads[i]![0] - span];
  });
  const crop = amounts.map(([a, b]): [number, number] => [Math.max(-a, 0), Math.max(-b, 0)]);
  if (crop.some(([a, b]) => a > 0 || b > 0)) {
    const size = crop.map(([a, b], i) => u.shape[i + 1]! - a - b);
    u = tf.slice(u, [0, ...crop.map(([a]) => a), 0], [-1, ...size, -1]);
  }
  u = padSpatial(u, amounts.map(([a, b]) => [Math.max(a, 0), Math.max(b, 0)]));
  const spatialAxes = Array.from({ length: n }, (_, i) => i);
  const flipped = tf.transpose(tf.reverse(filter, spatialAxes), [...spatialAxes, n + 1, n]);
  return n === 2
    ? tf.conv2d(u as tf.Tensor4D, flipped as tf.Tensor4D, 1, 'valid', 'NHWC', dilations as [number, number])
    : tf.conv3d(u as tf.Tensor5D, flipped as tf.Tensor5D, 1, 'valid', 'NDHWC', dilations as [number, number, number]);
}

/**
 * Conv2DBackpropInput / Conv3DBackpropInputV2: the transposed convolution whose forward conv
 * maps input_sizes to out_backprop. input_sizes may also list only the spatial sizes (TF allows it).
 */
function backpropInput(inputSizes: number[], filter: tf.Tensor, dy: tf.Tensor, node: GraphNode, n: number): tf.Tensor {
  const format = attrString(node, 'data_format', n === 3 ? 'NDHWC' : 'NHWC');
  checkFormat(node, format, n);
  if (filter.rank !== n + 2 || dy.rank !== n + 2) fail(node, `expects a ${n + 2}-D filter and out_backprop, found [${filter.shape}] and [${dy.shape}]`);
  const dyn = toNhwc(dy, format);
  const cin = filter.shape[n]!;
  const cout = filter.shape[n + 1]!;
  let sizes: number[];
  if (inputSizes.length === n) sizes = [dyn.shape[0]!, ...inputSizes, cin];
  else if (inputSizes.length === n + 2) sizes = nchw(format) ? [inputSizes[0]!, ...inputSizes.slice(2), inputSizes[1]!] : inputSizes;
  else return fail(node, `input_sizes must have ${n + 2} (or ${n}) values, found [${inputSizes}]`);
  if (sizes[0] !== dyn.shape[0]) fail(node, `input_sizes batch ${sizes[0]} differs from out_backprop batch ${dyn.shape[0]}`);
  if (sizes[n + 1] !== cin) fail(node, `input_sizes depth ${sizes[n + 1]} differs from the filter's in-depth ${cin} (filter [${filter.shape}])`);
  if (dyn.shape[n + 1] !== cout) fail(node, `out_backprop depth ${dyn.shape[n + 1]} differs from the filter's out-depth ${cout} (filter [${filter.shape}])`);
  const strides = spatial(attrInts(node, 'strides'), format, n, node, 'strides');
  const dilations = spatial(attrInts(node, 'dilations', new Array<number>(n + 2).fill(1)), format, n, node, 'dilations');
  const inSpatial = sizes.slice(1, n + 1);
  const kSpatial = filter.shape.slice(0, n);
  const padding = attrString(node, 'padding');
  const pads = spatialPads(node, inSpatial, kSpatial, strides, dilations, padding, format);
  // tfjs would silently produce something for an out_backprop of the wrong size; TF refuses.
  const want = inSpatial.map((h, i) => outSize(h, kSpatial[i]!, strides[i]!, dilations[i]!, pads[i]!));
  const got = dyn.shape.slice(1, n + 1);
  if (want.some((w, i) => w !== got[i])) fail(node, `out_backprop spatial size [${got}] does not match the forward convolution of input_sizes [${inputSizes}] (expected [${want}], padding ${padding})`);
  const y = n === 2 && dilations.every((d) => d === 1)
    ? tf.conv2dTranspose(dyn as tf.Tensor4D, filter as tf.Tensor4D, sizes as [number, number, number, number], strides as [number, number], tfjsPad(pads, padding))
    : transposedConv(dyn, filter, inSpatial, strides, dilations, pads);
  return fromNhwc(y, format);
}

type PoolKind = 'max' | 'avg';

function pool(kind: PoolKind, x: tf.Tensor, node: GraphNode, n: number, ksizeT?: tf.Tensor, stridesT?: tf.Tensor): tf.Tensor {
  if (x.rank !== n + 2) fail(node, `expects a ${n + 2}-D input, found [${x.shape}]`);
  const format = attrString(node, 'data_format', n === 3 ? 'NDHWC' : 'NHWC');
  checkFormat(node, format, n);
  const kw = window(ksizeT ? ints(ksizeT) : attrInts(node, 'ksize'), format, n, node, 'ksize');
  const sw = window(stridesT ? ints(stridesT) : attrInts(node, 'strides'), format, n, node, 'strides');
  if (kw.batch !== 1 || sw.batch !== 1) fail(node, 'pooling over the batch dim is not supported (TF refuses it too)');
  const padding = attrString(node, 'padding');
  const xin = toNhwc(x, format);
  if (kw.channel !== 1 || sw.channel !== 1) return fromNhwc(depthPool(kind, xin, kw, sw, node, n), format);
  const ksize = kw.spatial;
  const strides = sw.spatial;
  const pads = spatialPads(node, xin.shape.slice(1, 1 + n), ksize, strides, ksize.map(() => 1), padding, format);
  xin.shape.slice(1, 1 + n).forEach((inS, i) => {
    if (outSize(inS, ksize[i]!, strides[i]!, 1, pads[i]!) < 1) fail(node, `window ${ksize[i]} is larger than spatial dim ${i} of input [${x.shape}] (padding ${padding})`);
  });
  if (padding === 'EXPLICIT' && kind === 'avg') fail(node, 'AvgPool has no EXPLICIT padding (SAME or VALID only)');
  let y: tf.Tensor;
  if (kind === 'max' && n === 3) {
    // wasm's MaxPool3D starts its running max at FLT_MIN (see windowMax).
    y = windowMax(xin, ksize, strides, ksize.map(() => 1), pads).y;
  } else if (padding === 'EXPLICIT') {
    // Padded positions must never win the max, so they are -inf rather than zero.
    y = tf.maxPool(padSpatial(xin, pads, -Infinity) as tf.Tensor4D, ksize as [number, number], strides as [number, number], 'valid');
  } else {
    // tfjs pools skip padded positions (max ignores them, avg divides by the valid count), as TF does.
    const pad = padding === 'SAME' ? 'same' : 'valid';
    y = n === 3
      ? tf.avgPool3d(xin as tf.Tensor5D, ksize as [number, number, number], strides as [number, number, number], pad)
      : kind === 'max'
        ? tf.maxPool(xin as tf.Tensor4D, ksize as [number, number], strides as [number, number], pad)
        : tf.avgPool(xin as tf.Tensor4D, ksize as [number, number], strides as [number, number], pad);
  }
  return fromNhwc(y, format);
}

/** TF's depthwise max pooling: window only over channels, window == stride, dividing the depth. */
function depthPool(kind: PoolKind, xin: tf.Tensor, kw: { spatial: number[]; channel: number }, sw: { spatial: number[]; channel: number }, node: GraphNode, n: number): tf.Tensor {
  const c = xin.shape[n + 1]!;
  const ok = kind === 'max' && n === 2 && kw.spatial.every((k) => k === 1) && sw.spatial.every((s) => s === 1) && kw.channel === sw.channel && c % kw.channel === 0;
  if (!ok) fail(node, `pooling over channels is only supported as TF's depthwise max pooling (spatial window and stride 1, depth window == depth stride dividing the depth ${c}); found ksize channel ${kw.channel}, stride channel ${sw.channel}`);
  const grouped = tf.reshape(xin, [...xin.shape.slice(0, n + 1), c / kw.channel, kw.channel]);
  return tf.max(grouped, -1);
}

/**
 * Max over each window, one strided view per window tap, for the ops whose tfjs wasm kernels
 * start their running max at FLT_MIN instead of -inf (MaxPool3D, MaxPoolWithArgmax, Dilation2D
 * return 1.2e-38 for all-negative windows there). Padding is -inf so it never wins. `filter`
 * ([...taps, C]) is added per tap (Dilation2D); `tap` is the row-major number of the first tap
 * holding the max, as TF's strict `>` scan picks it.
 */
function windowMax(x: tf.Tensor, ksize: number[], strides: number[], dilations: number[], pads: Pads, filter?: tf.Tensor, withTap = false): { y: tf.Tensor; tap?: tf.Tensor } {
  const n = ksize.length;
  const xp = padSpatial(x, pads, -Infinity);
  const outs = x.shape.slice(1, 1 + n).map((inS, i) => outSize(inS, ksize[i]!, strides[i]!, dilations[i]!, pads[i]!));
  const c = x.shape[n + 1]!;
  let best: tf.Tensor | undefined;
  let tap: tf.Tensor | undefined;
  const count = numElements(ksize);
  for (let t = 0; t < count; t++) {
    const pos: number[] = [];
    let rest = t;
    for (let i = n - 1; i >= 0; i--) {
      pos[i] = rest % ksize[i]!;
      rest = Math.floor(rest / ksize[i]!);
    }
    const begin = [0, ...pos.map((p, i) => p * dilations[i]!), 0];
    const end = [xp.shape[0]!, ...pos.map((p, i) => p * dilations[i]! + (outs[i]! - 1) * strides[i]! + 1), c];
    let v = tf.stridedSlice(xp, begin, end, [1, ...strides, 1]);
    if (filter) v = tf.add(v, tf.reshape(tf.slice(filter, [...pos, 0], [...pos.map(() => 1), c]), [c]));
    if (!best) {
      best = v;
      if (withTap) tap = tf.zeros(v.shape, 'int32');
    } else if (withTap) {
      const gt = tf.greater(v, best);
      best = tf.where(gt, v, best);
      tap = tf.where(gt, tf.fill(v.shape, t, 'int32'), tap!);
    } else {
      best = tf.maximum(best, v);
    }
  }
  return { y: best!, ...(tap ? { tap } : {}) };
}

/** MaxPoolWithArgmax: NHWC only; argmax is the flat index (y*W + x)*C + c, plus b*H*W*C if asked. */
function maxPoolWithArgmax(x: tf.Tensor, node: GraphNode): tf.Tensor[] {
  if (x.rank !== 4) fail(node, `expects a 4-D NHWC input, found [${x.shape}]`);
  const kw = window(attrInts(node, 'ksize'), 'NHWC', 2, node, 'ksize');
  const sw = window(attrInts(node, 'strides'), 'NHWC', 2, node, 'strides');
  if (kw.batch !== 1 || kw.channel !== 1 || sw.batch !== 1 || sw.channel !== 1) fail(node, `ksize and strides must be 1 on the batch and channel dims, found [${attrInts(node, 'ksize')}] and [${attrInts(node, 'strides')}]`);
  const padding = attrString(node, 'padding');
  if (padding !== 'SAME' && padding !== 'VALID') fail(node, `padding must be SAME or VALID, found '${padding}'`);
  const [, h, w, c] = x.shape as [number, number, number, number];
  const [kh, kwd] = kw.spatial as [number, number];
  const [sh, swd] = sw.spatial as [number, number];
  const pads = spatialPads(node, [h, w], kw.spatial, sw.spatial, [1, 1], padding, 'NHWC');
  if (outSize(h, kh, sh, 1, pads[0]!) < 1 || outSize(w, kwd, swd, 1, pads[1]!) < 1) fail(node, `window [${kw.spatial}] is larger than the input [${x.shape}] (padding ${padding})`);
  const { y, tap } = windowMax(x, kw.spatial, sw.spatial, [1, 1], pads, undefined, true);
  const [, oh, ow] = y.shape as [number, number, number, number];
  // Input row/column of each output's chosen tap, then the flat index TF reports.
  const row = tf.add(tf.reshape(tf.range(0, oh * sh, sh, 'int32'), [1, oh, 1, 1]), tf.sub(tf.floorDiv(tap!, kwd), pads[0]![0]));
  const col = tf.add(tf.reshape(tf.range(0, ow * swd, swd, 'int32'), [1, 1, ow, 1]), tf.sub(tf.mod(tap!, kwd), pads[1]![0]));
  let idx = tf.add(tf.mul(tf.add(tf.mul(row, w), col), c), tf.reshape(tf.range(0, c, 1, 'int32'), [1, 1, 1, c]));
  if (attrBool(node, 'include_batch_in_index', false)) idx = tf.add(idx, tf.reshape(tf.range(0, x.shape[0]! * h * w * c, h * w * c, 'int32'), [x.shape[0]!, 1, 1, 1]));
  return [y, idx];
}

/** Dilation2D (grayscale morphological dilation): max over the window of x + filter. NHWC only. */
function dilation2d(x: tf.Tensor, filter: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank !== 4 || filter.rank !== 3) fail(node, `expects a 4-D input and a 3-D filter, found [${x.shape}] and [${filter.shape}]`);
  if (x.shape[3] !== filter.shape[2]) fail(node, `input has ${x.shape[3]} channels, the filter [${filter.shape}] has ${filter.shape[2]}`);
  const strides = spatial(attrInts(node, 'strides'), 'NHWC', 2, node, 'strides');
  const rates = spatial(attrInts(node, 'rates'), 'NHWC', 2, node, 'rates');
  const padding = attrString(node, 'padding');
  if (padding !== 'SAME' && padding !== 'VALID') fail(node, `padding must be SAME or VALID, found '${padding}'`);
  const k = filter.shape.slice(0, 2);
  const pads = spatialPads(node, x.shape.slice(1, 3), k, strides, rates, padding, 'NHWC');
  x.shape.slice(1, 3).forEach((inS, i) => {
    if (outSize(inS, k[i]!, strides[i]!, rates[i]!, pads[i]!) < 1) fail(node, `spatial dim ${i} of input [${x.shape}] is smaller than the dilated filter`);
  });
  return windowMax(x, k, strides, rates, pads, filter).y;
}

const FUSED_ACTIVATIONS: ReadonlySet<string> = new Set<string>(ACTIVATIONS);

/**
 * Validates a fused_ops list against the patterns TF's grappler remapper (and tfjs-converter)
 * produce: BiasAdd or FusedBatchNorm, an optional Add side input after BiasAdd, then at most one
 * activation. Returns how many extra arguments the list consumes.
 */
function fusedArgCount(node: GraphNode, ops: string[], allowBatchNorm: boolean): number {
  const refuse = (): never =>
    fail(node, `unsupported fused_ops [${ops.join(', ')}]: expected [BiasAdd]${allowBatchNorm ? ' or [FusedBatchNorm]' : ''}, optionally followed (after BiasAdd) by Add, then optionally one of ${[...FUSED_ACTIVATIONS, 'Prelu'].join(', ')}`);
  let i = 1;
  let count: number;
  if (ops[0] === 'BiasAdd') {
    count = 1;
    if (ops[1] === 'Add') {
      count++;
      i++;
    }
  } else if (ops[0] === 'FusedBatchNorm' && allowBatchNorm) {
    count = 4;
  } else {
    return refuse();
  }
  if (i < ops.length) {
    const act = ops[i++]!;
    if (act === 'Prelu') count++;
    else if (!FUSED_ACTIVATIONS.has(act)) refuse();
  }
  if (i !== ops.length) refuse();
  return count;
}

function checkFusedArgs(node: GraphNode, args: tf.Tensor[], allowBatchNorm: boolean): string[] {
  const ops = attrStrings(node, 'fused_ops', []);
  const need = fusedArgCount(node, ops, allowBatchNorm);
  if (hasAttr(node, 'num_args') && attrInt(node, 'num_args') !== args.length) fail(node, `num_args is ${attrInt(node, 'num_args')} but the node has ${args.length} extra inputs`);
  if (args.length !== need) fail(node, `fused_ops [${ops.join(', ')}] need ${need} extra inputs, found ${args.length}`);
  return ops;
}

/** The fused_ops tail of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul, op by op. */
export function fusedTail(y: tf.Tensor, args: tf.Tensor[], node: GraphNode, format = 'NHWC', allowBatchNorm = true): tf.Tensor {
  const ops = checkFusedArgs(node, args, allowBatchNorm);
  let i = 0;
  let out = y;
  for (const op of ops) {
    if (op === 'BiasAdd') {
      out = biasAdd(out, args[i++]!, format, node);
    } else if (op === 'Add') {
      out = tf.add(out, args[i++]!);
    } else if (op === 'FusedBatchNorm') {
      const [s, o, m, v] = args.slice(i, i + 4);
      i += 4;
      out = batchNorm(out, s!, o!, m!, v!, { epsilon: attrFloat(node, 'epsilon', 1e-4), format, training: false }, node)[0]!;
    } else if (op === 'Prelu') {
      out = tf.prelu(out, args[i++]!);
    } else {
      out = activation(op, out, node, attrFloat(node, 'leakyrelu_alpha', 0.2));
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
function tfjsFusion(node: GraphNode, args: tf.Tensor[], channels: number): { bias: tf.Tensor; activation: FusedAct; alpha?: tf.Tensor; leaky: number } | undefined {
  const ops = attrStrings(node, 'fused_ops', []);
  if (attrString(node, 'data_format', 'NHWC') !== 'NHWC' || ops[0] !== 'BiasAdd' || ops.length > 2) return undefined;
  const act = ops.length === 2 ? TFJS_ACT[ops[1]!] : 'linear';
  const bias = args[0];
  // A bias of the wrong size would broadcast inside tfjs; the op-by-op path reports it instead.
  if (!act || !bias || bias.rank !== 1 || bias.shape[0] !== channels) return undefined;
  return { bias, activation: act, ...(act === 'prelu' ? { alpha: args[1] } : {}), leaky: attrFloat(node, 'leakyrelu_alpha', 0.2) };
}

function fusedConv(x: tf.Tensor, f: tf.Tensor, args: tf.Tensor[], n: GraphNode, depthwiseOp: boolean): tf.Tensor {
  checkFusedArgs(n, args, true);
  check4d(n, x, f);
  const outChannels = depthwiseOp ? f.shape[2]! * f.shape[3]! : f.shape[3]!;
  const fu = tfjsFusion(n, args, outChannels);
  if (fu && x.shape[3] === f.shape[2]) {
    const g = geometry(n, x, f.shape.slice(0, 2), 2);
    const { opStrides, post } = splitStride(g);
    if (post.every((s) => s === 1)) {
      const common = {
        x: x as tf.Tensor4D,
        filter: f as tf.Tensor4D,
        strides: opStrides as [number, number],
        pad: tfjsPad(g.pads, g.padding),
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
  checkFusedArgs(n, args, false);
  if (a.rank === 2 && b.rank === 2) {
    const fu = tfjsFusion(n, args, tb ? b.shape[0]! : b.shape[1]!);
    if (fu) return tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias: fu.bias, activation: fu.activation, ...(fu.alpha ? { preluActivationWeights: fu.alpha } : {}), leakyreluAlpha: fu.leaky });
  }
  return fusedTail(tf.matMul(a, b, ta, tb), args, n, 'NHWC', false);
}

registerOps({
  Conv2D: ([x, f], n) => conv2d(x!, f!, n),
  DepthwiseConv2dNative: ([x, f], n) => depthwise(x!, f!, n),
  Conv3D: ([x, f], n) => conv3d(x!, f!, n),
  Conv2DBackpropInput: ([s, f, dy], n) => backpropInput(ints(s!), f!, dy!, n, 2),
  Conv3DBackpropInputV2: ([s, f, dy], n) => backpropInput(ints(s!), f!, dy!, n, 3),
  // The deprecated V1 takes the input tensor itself instead of its shape.
  Conv3DBackpropInput: ([x, f, dy], n) => backpropInput(x!.shape, f!, dy!, n, 3),
  _FusedConv2D: ([x, f, ...args], n) => fusedConv(x!, f!, args, n, false),
  FusedDepthwiseConv2dNative: ([x, f, ...args], n) => fusedConv(x!, f!, args, n, true),
  MaxPool: ([x], n) => pool('max', x!, n, 2),
  MaxPoolV2: ([x, k, s], n) => pool('max', x!, n, 2, k, s),
  AvgPool: ([x], n) => pool('avg', x!, n, 2),
  MaxPool3D: ([x], n) => pool('max', x!, n, 3),
  AvgPool3D: ([x], n) => pool('avg', x!, n, 3),
  MaxPoolWithArgmax: ([x], n) => maxPoolWithArgmax(x!, n),
  Dilation2D: ([x, f], n) => dilation2d(x!, f!, n),
});
