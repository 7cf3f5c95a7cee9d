import * as tf from '@tensorflow/tfjs-core';
import { attrDType, attrInt, attrInts, attrString } from '../../graph/attrs.js';
import { toTfjsDType } from '../../core/dtype.js';
import type { GraphNode } from '../../graph/ir.js';
import { registerOps } from '../registry.js';
import { axis, fail, ints, scalarInt } from './helpers.js';

/** Shape and array manipulation with TensorFlow's rules (one -1 in Reshape, negative axes, ...). */

function reshape(x: tf.Tensor, shapeIn: number[], node: GraphNode): tf.Tensor {
  const shape = shapeIn.slice();
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) fail(node, `shape [${shapeIn}] has more than one -1`);
  if (shape.some((d) => d < -1)) fail(node, `shape [${shapeIn}] has a negative size`);
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  if (unknown) {
    if (known === 0 || x.size % known !== 0) fail(node, `cannot reshape a tensor of ${x.size} elements (shape [${x.shape}]) to [${shapeIn}]`);
    shape[shape.indexOf(-1)] = x.size / known;
  } else if (known !== x.size) {
    fail(node, `cannot reshape a tensor of ${x.size} elements (shape [${x.shape}]) to [${shapeIn}] (${known} elements)`);
  }
  return tf.reshape(x, shape);
}

function concat(xs: tf.Tensor[], ax: number, node: GraphNode): tf.Tensor {
  if (!xs.length) fail(node, 'nothing to concatenate');
  const a = axis(ax, xs[0]!.rank, node);
  return xs.length === 1 ? tf.clone(xs[0]!) : tf.concat(xs, a);
}

function spaceToDepth(x: tf.Tensor, b: number, node: GraphNode): tf.Tensor {
  const [n, h, w, c] = x.shape as number[];
  if (h! % b || w! % b) fail(node, `height ${h} and width ${w} must be divisible by block_size ${b}`);
  const r = tf.reshape(x, [n!, h! / b, b, w! / b, b, c!]);
  return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [n!, h! / b, w! / b, b * b * c!]);
}

function nhwcWrap(x: tf.Tensor, format: string, f: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
  if (format !== 'NCHW') return f(x);
  return tf.transpose(f(tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
}

/** Coordinates of true (non-zero) elements, row-major, as TF's Where with one input. */
function whereCoords(x: tf.Tensor): tf.Tensor {
  const v = x.dataSync();
  const shape = x.shape;
  const coords: number[] = [];
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) {
    if (v[i]) for (let d = 0; d < shape.length; d++) coords.push(Math.floor(i / strides[d]!) % shape[d]!);
  }
  return tf.tensor2d(coords, [coords.length / Math.max(1, shape.length), shape.length], 'int32');
}

registerOps({
  Reshape: ([x, s], n) => reshape(x!, ints(s!), n),
  Squeeze: ([x], n) => {
    const dims = attrInts(n, 'squeeze_dims', attrInts(n, 'axis', []));
    const ax = dims.map((d) => axis(d, x!.rank, n));
    for (const a of ax) if (x!.shape[a] !== 1) fail(n, `cannot squeeze dim ${a} of size ${x!.shape[a]}`);
    return tf.squeeze(x!, ax.length ? ax : undefined);
  },
  ExpandDims: ([x, a], n) => {
    const d = scalarInt(a!);
    const r = d < 0 ? d + x!.rank + 1 : d;
    if (r < 0 || r > x!.rank) fail(n, `axis ${d} out of range for rank ${x!.rank}`);
    return tf.expandDims(x!, r);
  },
  Shape: ([x]) => tf.tensor1d(x!.shape, 'int32'),
  ShapeN: (xs) => xs.map((x) => tf.tensor1d(x.shape, 'int32')),
  Size: ([x]) => tf.scalar(x!.size, 'int32'),
  Rank: ([x]) => tf.scalar(x!.rank, 'int32'),
  Fill: ([s, v]) => tf.fill(ints(s!), (v!.dataSync() as ArrayLike<number>)[0]!, v!.dtype as 'float32'),
  ZerosLike: ([x]) => tf.zerosLike(x!),
  OnesLike: ([x]) => tf.onesLike(x!),
  Range: ([s, l, d], n) => {
    const dt = toTfjsDType(attrDType(n, 'Tidx', s!.dtype === 'int32' ? 'int32' : 'float32'));
    const [a, b, c] = [s!, l!, d!].map((t) => (t.dataSync() as ArrayLike<number>)[0]!);
    if (c === 0) fail(n, 'delta must not be 0');
    return tf.range(a!, b!, c!, dt as 'float32' | 'int32');
  },
  LinSpace: ([a, b, num]) => tf.linspace((a!.dataSync() as ArrayLike<number>)[0]!, (b!.dataSync() as ArrayLike<number>)[0]!, scalarInt(num!)),
  Pack: (xs, n) => {
    const a = attrInt(n, 'axis', 0);
    const r = a < 0 ? a + xs[0]!.rank + 1 : a;
    return tf.stack(xs, r);
  },
  Unpack: ([x], n) => tf.unstack(x!, axis(attrInt(n, 'axis', 0), x!.rank, n)),
  ConcatV2: (xs, n) => concat(xs.slice(0, -1), scalarInt(xs[xs.length - 1]!), n),
  Concat: ([a, ...xs], n) => concat(xs, scalarInt(a!), n),
  Split: ([a, x], n) => {
    const ax = axis(scalarInt(a!), x!.rank, n);
    const k = attrInt(n, 'num_split');
    if (x!.shape[ax]! % k !== 0) fail(n, `dim ${ax} of size ${x!.shape[ax]} cannot be split into ${k} equal parts`);
    return tf.split(x!, k, ax);
  },
  SplitV: ([x, s, a], n) => {
    const ax = axis(scalarInt(a!), x!.rank, n);
    const sizes = ints(s!);
    const neg = sizes.indexOf(-1);
    if (neg >= 0) sizes[neg] = x!.shape[ax]! - sizes.filter((v, i) => i !== neg).reduce((p, q) => p + q, 0);
    if (sizes.reduce((p, q) => p + q, 0) !== x!.shape[ax]) fail(n, `size_splits [${ints(s!)}] do not add up to dim ${ax} of size ${x!.shape[ax]}`);
    return tf.split(x!, sizes, ax);
  },
  Transpose: ([x, p], n) => {
    const perm = ints(p!);
    if (perm.length !== x!.rank) fail(n, `perm [${perm}] does not match rank ${x!.rank}`);
    return tf.transpose(x!, perm);
  },
  Tile: ([x, m]) => tf.tile(x!, ints(m!)),
  Pad: ([x, p]) => tf.pad(x!, chunk(ints(p!))),
  PadV2: ([x, p, c]) => tf.pad(x!, chunk(ints(p!)), (c!.dataSync() as ArrayLike<number>)[0]!),
  MirrorPad: ([x, p], n) => tf.mirrorPad(x!, chunk(ints(p!)), attrString(n, 'mode').toLowerCase() as 'reflect' | 'symmetric'),
  Reverse: ([x, d]) => {
    const dims = Array.from(d!.dataSync() as ArrayLike<number>).flatMap((v, i) => (v ? [i] : []));
    return dims.length ? tf.reverse(x!, dims) : tf.clone(x!);
  },
  ReverseV2: ([x, a], n) => {
    const ax = ints(a!).map((v) => axis(v, x!.rank, n));
    return ax.length ? tf.reverse(x!, ax) : tf.clone(x!);
  },
  BroadcastTo: ([x, s]) => tf.broadcastTo(x!, ints(s!)),
  BroadcastArgs: ([a, b]) => tf.broadcastArgs(a!, b!),
  OneHot: ([i, d, on, off], n) => {
    const depth = scalarInt(d!);
    const ax = attrInt(n, 'axis', -1);
    const onV = (on!.dataSync() as ArrayLike<number>)[0]!;
    const offV = (off!.dataSync() as ArrayLike<number>)[0]!;
    // tfjs oneHot is int32 0/1 on the last axis; build on/off values and move the axis.
    const hot = tf.oneHot(tf.cast(i!, 'int32'), depth);
    let y = tf.add(tf.mul(tf.cast(hot, 'float32'), onV - offV), offV);
    if (on!.dtype === 'int32') y = tf.cast(y, 'int32');
    if (ax === -1 || ax === i!.rank) return y;
    const perm = Array.from({ length: y.rank - 1 }, (_, k) => k);
    perm.splice(ax, 0, y.rank - 1);
    return tf.transpose(y, perm);
  },
  SpaceToDepth: ([x], n) => nhwcWrap(x!, attrString(n, 'data_format', 'NHWC'), (t) => spaceToDepth(t, attrInt(n, 'block_size'), n)),
  DepthToSpace: ([x], n) => nhwcWrap(x!, attrString(n, 'data_format', 'NHWC'), (t) => tf.depthToSpace(t as tf.Tensor4D, attrInt(n, 'block_size'), 'NHWC')),
  SpaceToBatchND: ([x, b, p]) => tf.spaceToBatchND(x!, ints(b!), chunk(ints(p!))),
  BatchToSpaceND: ([x, b, c]) => tf.batchToSpaceND(x!, ints(b!), chunk(ints(c!))),
  Where: ([x]) => whereCoords(x!),
  MatrixBandPart: ([x, lo, hi]) => tf.linalg.bandPart(x!, scalarInt(lo!), scalarInt(hi!)),
  Unique: ([x]) => {
    const r = tf.unique(x!);
    return [r.values, r.indices];
  },
  EnsureShape: ([x], n) => {
    const want = n.attrs.shape?.type === 'shape' ? n.attrs.shape.value : null;
    if (want && (want.length !== x!.rank || want.some((d, i) => d >= 0 && d !== x!.shape[i]))) fail(n, `shape [${x!.shape}] does not match [${want}]`);
    return tf.clone(x!);
  },
  StopGradient: ([x]) => tf.clone(x!),
  Einsum: (xs, n) => tf.einsum(attrString(n, 'equation'), ...xs),
  Bitcast: (_x, n) => fail(n, 'Bitcast is not supported'),
});

function chunk(v: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < v.length; i += 2) out.push([v[i]!, v[i + 1]!]);
  return out;
}

