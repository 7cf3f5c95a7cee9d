import { tf } from '../../backend/tf.js';
import { numElements } from '../../core/tensor.js';
import { share } from '../../backend/index.js';
import { attrBool, attrDType, attrInt, attrInts, attrString } from '../../graph/attrs.js';
import { toTfjsDType } from '../../core/dtype.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { axis, fail, ints } from './helpers.js';

const { registerOps } = opFamily('array');

/**
 * Shape and array manipulation with TensorFlow's rules. Validation covers what TF enforces and
 * tfjs would do differently (silently or with an unhelpful message); data movement stays in tfjs
 * kernels where they exist, small index-driven ops run on the host for exact TF semantics.
 */

// ---------------------------------------------------------------------------------------------
// Host helpers (shared with slice.ts)

/** Flat values of a tensor as the host sees them (numbers for float32/int32/bool). */
export type HostValues = Float32Array | Int32Array | Uint8Array;

export function values(t: tf.Tensor, node: GraphNode): HostValues {
  if (t.dtype === 'string' || t.dtype === 'complex64') fail(node, `${t.dtype} tensors are not supported by this kernel`);
  return t.dataSync() as HostValues;
}

export function alloc(dtype: tf.DataType, n: number): HostValues {
  if (dtype === 'int32') return new Int32Array(n);
  if (dtype === 'bool') return new Uint8Array(n);
  return new Float32Array(n);
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function scalarValue(t: tf.Tensor, node: GraphNode, what: string): number {
  if (t.size !== 1) fail(node, `${what} must be a scalar, found shape ${shapeStr(t.shape)}`);
  return Number((t.dataSync() as ArrayLike<number>)[0]);
}

function chunk(v: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < v.length; i += 2) out.push([v[i]!, v[i + 1]!]);
  return out;
}

/** Paddings input: an int matrix [rank, 2] of non-negative values. */
function paddings(p: tf.Tensor, x: tf.Tensor, node: GraphNode, what = 'paddings'): [number, number][] {
  if (p.rank !== 2 || p.shape[0] !== x.rank || p.shape[1] !== 2) {
    fail(node, `${what} must have shape [${x.rank},2] for an input of rank ${x.rank}, found ${shapeStr(p.shape)}`);
  }
  const v = ints(p);
  if (v.some((q) => q < 0)) fail(node, `${what} must be non-negative, found [${v}]`);
  return chunk(v);
}

// ---------------------------------------------------------------------------------------------
// Kernels

function reshape(x: tf.Tensor, s: tf.Tensor, node: GraphNode): tf.Tensor {
  if (s.rank > 1) fail(node, `shape must be a vector, found shape ${shapeStr(s.shape)}`);
  const want = ints(s);
  const shape = want.slice();
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) fail(node, `shape [${want}] has more than one -1`);
  if (shape.some((d) => d < -1)) fail(node, `shape [${want}] has a negative size`);
  const known = numElements(shape.filter((d) => d !== -1));
  if (unknown) {
    if (known === 0 || x.size % known !== 0) {
      fail(node, `cannot reshape a tensor of shape ${shapeStr(x.shape)} (${x.size} elements) to [${want}]: ${x.size} is not a multiple of ${known}`);
    }
    shape[shape.indexOf(-1)] = x.size / known;
  } else if (known !== x.size) {
    fail(node, `cannot reshape a tensor of shape ${shapeStr(x.shape)} (${x.size} elements) to [${want}] (${known} elements)`);
  }
  return tf.reshape(x, shape);
}

function concat(xs: tf.Tensor[], axisV: number, node: GraphNode): tf.Tensor {
  if (!xs.length) fail(node, 'nothing to concatenate');
  const first = xs[0]!;
  if (first.rank === 0) fail(node, 'cannot concatenate scalars (TF requires rank >= 1; use Pack)');
  const a = axis(axisV, first.rank, node);
  xs.forEach((t, i) => {
    if (t.rank !== first.rank || t.shape.some((d, k) => k !== a && d !== first.shape[k])) {
      fail(node, `input ${i} has shape ${shapeStr(t.shape)}, which does not match input 0 ${shapeStr(first.shape)} outside axis ${a}`);
    }
  });
  return xs.length === 1 ? share(first) : tf.concat(xs, a);
}

function dataFormat(node: GraphNode): 'NHWC' | 'NCHW' {
  const f = attrString(node, 'data_format', 'NHWC');
  if (f !== 'NHWC' && f !== 'NCHW') fail(node, `data_format ${f} is not supported (NHWC, NCHW)`);
  return f;
}

/** TF's NCHW kernels use the same channel ordering as NHWC, so a transpose round trip is exact. */
function nhwcWrap(x: tf.Tensor, node: GraphNode, f: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
  if (x.rank !== 4) fail(node, `input must be 4-D, found shape ${shapeStr(x.shape)}`);
  if (dataFormat(node) === 'NHWC') return f(x);
  return tf.transpose(f(tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
}

/** Output depth index is (row_in_block * b + col_in_block) * C + c, as in TF's kernel. */
function spaceToDepth(x: tf.Tensor, b: number, node: GraphNode): tf.Tensor {
  if (b < 2) fail(node, `block_size must be >= 2, found ${b}`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (h % b || w % b) fail(node, `height ${h} and width ${w} must be divisible by block_size ${b}`);
  const r = tf.reshape(x, [n, h / b, b, w / b, b, c]);
  return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [n, h / b, w / b, b * b * c]);
}

function depthToSpace(x: tf.Tensor, b: number, node: GraphNode): tf.Tensor {
  if (b < 2) fail(node, `block_size must be >= 2, found ${b}`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (c % (b * b)) fail(node, `depth ${c} must be divisible by block_size * block_size = ${b * b}`);
  const r = tf.reshape(x, [n, h, w, b, b, c / (b * b)]);
  return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [n, h * b, w * b, c / (b * b)]);
}

/** Coordinates of non-zero elements in row-major order (NaN counts as true, as `x != 0`). */
function whereCoords(x: tf.Tensor, node: GraphNode): tf.Tensor {
  const v = values(x, node);
  const shape = x.shape;
  const st = strides(shape);
  const coords: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== 0) for (let d = 0; d < shape.length; d++) coords.push(Math.floor(i / st[d]!) % shape[d]!);
  }
  const rank = shape.length;
  const count = rank ? coords.length / rank : v.length === 1 && v[0] !== 0 ? 1 : 0;
  return tf.tensor2d(coords, [count, rank], 'int32');
}

/** Range, with TF's size formula and accumulation in the output type (float32 rounding included). */
function range(start: number, limit: number, delta: number, dtype: 'float32' | 'int32', node: GraphNode): tf.Tensor {
  if (delta === 0) fail(node, 'delta must not be 0');
  if (delta > 0 && start > limit) fail(node, `start ${start} > limit ${limit} with delta ${delta} > 0`);
  if (delta < 0 && start < limit) fail(node, `start ${start} < limit ${limit} with delta ${delta} < 0`);
  if (dtype === 'int32') {
    const size = Math.trunc((Math.abs(limit - start) + Math.abs(delta) - 1) / Math.abs(delta));
    const out = new Int32Array(size);
    for (let i = 0, v = start; i < size; i++, v += delta) out[i] = v;
    return tf.tensor1d(out, 'int32');
  }
  const f = Math.fround;
  const [s, l, d] = [f(start), f(limit), f(delta)];
  const size = Math.ceil(Math.abs(f(f(l - s) / d)));
  const out = new Float32Array(size);
  let v = s;
  for (let i = 0; i < size; i++) {
    out[i] = v;
    v = f(v + d);
  }
  return tf.tensor1d(out, 'float32');
}

/** LinSpace as TF computes it: start + step * i in float32, last value exactly `stop`. */
function linspace(start: number, stop: number, num: number, node: GraphNode): tf.Tensor {
  if (num <= 0) fail(node, `num must be positive, found ${num}`);
  const f = Math.fround;
  const out = new Float32Array(num);
  if (num === 1) out[0] = start;
  else {
    const step = f(f(stop - start) / (num - 1));
    for (let i = 0; i < num - 1; i++) out[i] = f(start + f(step * i));
    out[num - 1] = stop;
  }
  return tf.tensor1d(out, 'float32');
}

/** OneHot: indices outside [0, depth) (negative included) give an all-off row, as in TF. */
function oneHot(idx: tf.Tensor, depth: number, on: tf.Tensor, off: tf.Tensor, node: GraphNode): tf.Tensor {
  if (depth < 0) fail(node, `depth must be non-negative, found ${depth}`);
  const rank = idx.rank;
  let ax = attrInt(node, 'axis', -1);
  if (ax < -1 || ax > rank) fail(node, `axis ${ax} must be in [-1, ${rank}] for indices of rank ${rank}`);
  if (ax === -1) ax = rank;
  const onV = scalarValue(on, node, 'on_value');
  const offV = scalarValue(off, node, 'off_value');
  const iv = values(idx, node);
  const outer = numElements(idx.shape.slice(0, ax));
  const inner = numElements(idx.shape.slice(ax));
  const out = alloc(on.dtype, outer * depth * inner);
  out.fill(offV);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const k = iv[o * inner + i]!;
      if (k >= 0 && k < depth) out[(o * depth + k) * inner + i] = onV;
    }
  }
  const shape = idx.shape.slice();
  shape.splice(ax, 0, depth);
  return tf.tensor(out, shape, on.dtype);
}

function unique(x: tf.Tensor, node: GraphNode): tf.Tensor[] {
  if (x.rank !== 1) fail(node, `x must be 1-D, found shape ${shapeStr(x.shape)}`);
  const v = values(x, node);
  const seen = new Map<number, number>();
  const uniq: number[] = [];
  const idx = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const key = v[i]!;
    // NaN != NaN in TF's hash map, so every NaN is its own value.
    let k = Number.isNaN(key) ? undefined : seen.get(key);
    if (k === undefined) {
      k = uniq.length;
      uniq.push(key);
      if (!Number.isNaN(key)) seen.set(key, k);
    }
    idx[i] = k;
  }
  const y = alloc(x.dtype, uniq.length);
  y.set(uniq);
  return [tf.tensor1d(y, x.dtype as 'float32'), tf.tensor1d(idx, 'int32')];
}

function listDiff(x: tf.Tensor, y: tf.Tensor, node: GraphNode): tf.Tensor[] {
  if (x.rank !== 1 || y.rank !== 1) fail(node, `x and y must be 1-D, found ${shapeStr(x.shape)} and ${shapeStr(y.shape)}`);
  const yv = new Set(values(y, node));
  const xv = values(x, node);
  const keep: number[] = [];
  for (let i = 0; i < xv.length; i++) if (!yv.has(xv[i]!)) keep.push(i);
  const out = alloc(x.dtype, keep.length);
  keep.forEach((i, k) => (out[k] = xv[i]!));
  return [tf.tensor1d(out, x.dtype as 'float32'), tf.tensor1d(keep, 'int32')];
}

/** Diag: rank k -> rank 2k with the input on the "diagonal" output[i..., i...]. */
function diag(x: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank < 1) fail(node, 'input must have rank >= 1');
  const v = values(x, node);
  const n = v.length;
  const out = alloc(x.dtype, n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = v[i]!;
  return tf.tensor(out, [...x.shape, ...x.shape], x.dtype);
}

function diagPart(x: tf.Tensor, node: GraphNode): tf.Tensor {
  const k = x.rank / 2;
  if (x.rank % 2 || k < 1 || x.shape.slice(0, k).some((d, i) => d !== x.shape[k + i])) {
    fail(node, `input must have even rank 2k with shape [d..., d...], found ${shapeStr(x.shape)}`);
  }
  const v = values(x, node);
  const n = numElements(x.shape.slice(0, k));
  const out = alloc(x.dtype, n);
  for (let i = 0; i < n; i++) out[i] = v[i * n + i]!;
  return tf.tensor(out, x.shape.slice(0, k), x.dtype);
}

/** Bincount/DenseBincount: values >= size are dropped, negative values are an error (TF on CPU). */
function bincount(arr: tf.Tensor, sizeT: tf.Tensor, w: tf.Tensor, binary: boolean, node: GraphNode): tf.Tensor {
  const size = scalarValue(sizeT, node, 'size');
  if (size < 0) fail(node, `size must be non-negative, found ${size}`);
  if (arr.rank > 2) fail(node, `input must be 1-D or 2-D, found shape ${shapeStr(arr.shape)}`);
  const hasW = w.size > 0;
  if (hasW && (w.rank !== arr.rank || w.shape.some((d, i) => d !== arr.shape[i]))) {
    fail(node, `weights shape ${shapeStr(w.shape)} must match input shape ${shapeStr(arr.shape)} or be empty`);
  }
  const av = values(arr, node);
  const wv = hasW ? values(w, node) : undefined;
  const rows = arr.rank === 2 ? arr.shape[0]! : 1;
  const cols = arr.rank === 0 ? 1 : arr.shape[arr.rank - 1]!;
  // Output type is the weights' type T, even when weights is empty (counts).
  const dtype = w.dtype === 'int32' ? 'int32' : 'float32';
  const out = alloc(dtype, rows * size);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const b = av[i]!;
      if (b < 0) fail(node, `input value ${b} at position ${i} is negative`);
      if (b >= size) continue;
      const o = r * size + b;
      if (binary) out[o] = 1;
      else out[o] = out[o]! + (wv ? wv[i]! : 1);
    }
  }
  return tf.tensor(out, arr.rank === 2 ? [rows, size] : [size], dtype);
}

function sparseToDense(idxT: tf.Tensor, shapeT: tf.Tensor, valsT: tf.Tensor, defT: tf.Tensor, node: GraphNode): tf.Tensor {
  const shape = ints(shapeT);
  if (idxT.rank > 2) fail(node, `sparse_indices must be 0-D, 1-D or 2-D, found shape ${shapeStr(idxT.shape)}`);
  const n = idxT.rank === 0 ? 1 : idxT.shape[0]!;
  const k = idxT.rank === 2 ? idxT.shape[1]! : 1;
  if (k !== shape.length) fail(node, `sparse_indices have ${k} coordinates per row but output_shape [${shape}] has rank ${shape.length}`);
  if (valsT.size !== 1 && (valsT.rank !== 1 || valsT.size !== n)) {
    fail(node, `sparse_values must be a scalar or have ${n} elements, found shape ${shapeStr(valsT.shape)}`);
  }
  const validate = attrBool(node, 'validate_indices', true);
  const iv = values(idxT, node);
  const vv = values(valsT, node);
  const out = alloc(valsT.dtype, numElements(shape));
  out.fill(scalarValue(defT, node, 'default_value'));
  const st = strides(shape);
  let prev = -1;
  for (let r = 0; r < n; r++) {
    let flat = 0;
    for (let d = 0; d < k; d++) {
      const c = iv[r * k + d]!;
      if (c < 0 || c >= shape[d]!) fail(node, `sparse_indices[${r}] = [${Array.from(iv.slice(r * k, r * k + k))}] is out of bounds for shape [${shape}]`);
      flat += c * st[d]!;
    }
    if (validate) {
      if (flat === prev) fail(node, `sparse_indices[${r}] repeats the previous index`);
      if (flat < prev) fail(node, `sparse_indices[${r}] is out of order (TF requires lexicographic order when validate_indices is true)`);
    }
    prev = flat;
    out[flat] = vv.length === 1 ? vv[0]! : vv[r]!;
  }
  return tf.tensor(out, shape, valsT.dtype);
}

function reverseSequence(x: tf.Tensor, lensT: tf.Tensor, node: GraphNode): tf.Tensor {
  const seqDim = axis(attrInt(node, 'seq_dim'), x.rank, node);
  const batchDim = axis(attrInt(node, 'batch_dim', 0), x.rank, node);
  if (seqDim === batchDim) fail(node, `seq_dim and batch_dim must differ, both are ${seqDim}`);
  const lens = ints(lensT);
  if (lens.length !== x.shape[batchDim]) fail(node, `seq_lengths has ${lens.length} entries, batch dim ${batchDim} has size ${x.shape[batchDim]}`);
  lens.forEach((l, b) => {
    if (l < 0 || l > x.shape[seqDim]!) fail(node, `seq_lengths[${b}] = ${l} is outside [0, ${x.shape[seqDim]}]`);
  });
  const v = values(x, node);
  const out = alloc(x.dtype, v.length);
  const st = strides(x.shape);
  for (let i = 0; i < v.length; i++) {
    const b = Math.floor(i / st[batchDim]!) % x.shape[batchDim]!;
    const s = Math.floor(i / st[seqDim]!) % x.shape[seqDim]!;
    const l = lens[b]!;
    out[i] = s < l ? v[i + (l - 1 - 2 * s) * st[seqDim]!]! : v[i]!;
  }
  return tf.tensor(out, x.shape, x.dtype);
}

function matrixBandPart(x: tf.Tensor, loT: tf.Tensor, hiT: tf.Tensor, node: GraphNode): tf.Tensor {
  if (x.rank < 2) fail(node, `input must have rank >= 2, found shape ${shapeStr(x.shape)}`);
  const [m, n] = x.shape.slice(-2) as [number, number];
  const lo = scalarValue(loT, node, 'num_lower');
  const hi = scalarValue(hiT, node, 'num_upper');
  if (lo > m) fail(node, `num_lower ${lo} must be negative or <= number of rows ${m}`);
  if (hi > n) fail(node, `num_upper ${hi} must be negative or <= number of columns ${n}`);
  const v = values(x, node);
  const out = alloc(x.dtype, v.length);
  for (let i = 0; i < v.length; i++) {
    const c = i % n;
    const r = Math.floor(i / n) % m;
    if ((lo < 0 || r - c <= lo) && (hi < 0 || c - r <= hi)) out[i] = v[i]!;
  }
  return tf.tensor(out, x.shape, x.dtype);
}

/** tf.reverse on wasm copies 4-byte elements whatever the dtype, so bool goes through int32. */
export function reverse(x: tf.Tensor, axes: number[]): tf.Tensor {
  if (!axes.length) return share(x);
  if (x.dtype === 'bool') return tf.cast(tf.reverse(tf.cast(x, 'int32'), axes), 'bool');
  return tf.reverse(x, axes);
}

function broadcastShapes(a: number[], b: number[], node: GraphNode): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(node, `shapes [${a}] and [${b}] are not broadcast-compatible`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

function spaceToBatch(x: tf.Tensor, bT: tf.Tensor, pT: tf.Tensor, node: GraphNode): tf.Tensor {
  const block = ints(bT);
  const m = block.length;
  if (m < 1 || x.rank < m + 1) fail(node, `block_shape [${block}] needs an input of rank >= ${m + 1}, found ${shapeStr(x.shape)}`);
  if (pT.rank !== 2 || pT.shape[0] !== m || pT.shape[1] !== 2) fail(node, `paddings must have shape [${m},2], found ${shapeStr(pT.shape)}`);
  const pads = chunk(ints(pT));
  block.forEach((b, i) => {
    if (b < 1) fail(node, `block_shape[${i}] = ${b} must be >= 1`);
    const [p0, p1] = pads[i]!;
    if (p0 < 0 || p1 < 0) fail(node, `paddings must be non-negative, found [${ints(pT)}]`);
    const padded = x.shape[i + 1]! + p0 + p1;
    if (padded % b) fail(node, `padded size ${padded} of dim ${i + 1} is not divisible by block_shape[${i}] = ${b}`);
  });
  return tf.spaceToBatchND(x, block, pads);
}

function batchToSpace(x: tf.Tensor, bT: tf.Tensor, cT: tf.Tensor, node: GraphNode): tf.Tensor {
  const block = ints(bT);
  const m = block.length;
  if (m < 1 || x.rank < m + 1) fail(node, `block_shape [${block}] needs an input of rank >= ${m + 1}, found ${shapeStr(x.shape)}`);
  if (cT.rank !== 2 || cT.shape[0] !== m || cT.shape[1] !== 2) fail(node, `crops must have shape [${m},2], found ${shapeStr(cT.shape)}`);
  const crops = chunk(ints(cT));
  if (block.some((b) => b < 1)) fail(node, `block_shape [${block}] must be >= 1`);
  const bp = numElements(block);
  if (x.shape[0]! % bp) fail(node, `batch ${x.shape[0]} is not divisible by the product of block_shape [${block}] = ${bp}`);
  crops.forEach(([c0, c1], i) => {
    const size = x.shape[i + 1]! * block[i]!;
    if (c0 < 0 || c1 < 0 || c0 + c1 > size) fail(node, `crops [${c0},${c1}] are invalid for dim ${i + 1} of size ${size} after un-blocking`);
  });
  return tf.batchToSpaceND(x, block, crops);
}

function mirrorPad(x: tf.Tensor, p: tf.Tensor, node: GraphNode): tf.Tensor {
  const mode = attrString(node, 'mode');
  if (mode !== 'REFLECT' && mode !== 'SYMMETRIC') fail(node, `mode must be REFLECT or SYMMETRIC, found ${mode}`);
  const pads = paddings(p, x, node);
  const offset = mode === 'REFLECT' ? 1 : 0;
  pads.forEach(([a, b], i) => {
    const lim = x.shape[i]! - offset;
    if (a > lim || b > lim) fail(node, `${mode} paddings [${a},${b}] of dim ${i} must be <= ${lim} (dim size ${x.shape[i]}${offset ? ' - 1' : ''})`);
  });
  if (x.rank === 0) return share(x);
  return tf.mirrorPad(x, pads, mode === 'REFLECT' ? 'reflect' : 'symmetric');
}

registerOps({
  Reshape: ([x, s], n) => reshape(x!, s!, n),
  Squeeze: ([x], n) => {
    const ax = attrInts(n, 'squeeze_dims', []).map((d) => axis(d, x!.rank, n));
    for (const a of ax) if (x!.shape[a] !== 1) fail(n, `cannot squeeze dim ${a} of size ${x!.shape[a]} (shape ${shapeStr(x!.shape)})`);
    if (ax.length) return tf.squeeze(x!, ax);
    return tf.reshape(x!, x!.shape.filter((d) => d !== 1));
  },
  ExpandDims: ([x, a], n) => {
    const d = scalarValue(a!, n, 'dim');
    const r = d < 0 ? d + x!.rank + 1 : d;
    if (r < 0 || r > x!.rank) fail(n, `dim ${d} is out of range [${-x!.rank - 1}, ${x!.rank}] for rank ${x!.rank}`);
    return tf.expandDims(x!, r);
  },
  Shape: ([x]) => tf.tensor1d(x!.shape, 'int32'),
  ShapeN: (xs) => xs.map((x) => tf.tensor1d(x.shape, 'int32')),
  Size: ([x]) => tf.scalar(x!.size, 'int32'),
  Rank: ([x]) => tf.scalar(x!.rank, 'int32'),
  Fill: ([s, v], n) => {
    const shape = ints(s!);
    if (s!.rank !== 1 && s!.rank !== 0) fail(n, `dims must be a vector, found shape ${shapeStr(s!.shape)}`);
    if (shape.some((d) => d < 0)) fail(n, `dims [${shape}] must be non-negative`);
    if (v!.size !== 1 || v!.rank !== 0) fail(n, `value must be a scalar, found shape ${shapeStr(v!.shape)}`);
    if (v!.dtype === 'string') return tf.broadcastTo(v!, shape);
    return tf.fill(shape, scalarValue(v!, n, 'value'), v!.dtype);
  },
  ZerosLike: ([x]) => tf.zerosLike(x!),
  OnesLike: ([x]) => tf.onesLike(x!),
  Range: ([s, l, d], n) => {
    const dt = toTfjsDType(attrDType(n, 'Tidx', s!.dtype === 'int32' ? 'int32' : 'float32'));
    return range(scalarValue(s!, n, 'start'), scalarValue(l!, n, 'limit'), scalarValue(d!, n, 'delta'), dt === 'int32' ? 'int32' : 'float32', n);
  },
  LinSpace: ([a, b, num], n) => linspace(scalarValue(a!, n, 'start'), scalarValue(b!, n, 'stop'), scalarValue(num!, n, 'num'), n),
  Pack: (xs, n) => {
    if (!xs.length) fail(n, 'nothing to pack');
    const first = xs[0]!;
    const a = attrInt(n, 'axis', 0);
    const r = a < 0 ? a + first.rank + 1 : a;
    if (r < 0 || r > first.rank) fail(n, `axis ${a} is out of range [${-first.rank - 1}, ${first.rank}] for inputs of rank ${first.rank}`);
    xs.forEach((t, i) => {
      if (t.rank !== first.rank || t.shape.some((d, k) => d !== first.shape[k])) {
        fail(n, `input ${i} has shape ${shapeStr(t.shape)}, input 0 has ${shapeStr(first.shape)}; Pack needs equal shapes`);
      }
    });
    return tf.stack(xs, r);
  },
  Unpack: ([x], n) => {
    const a = axis(attrInt(n, 'axis', 0), x!.rank, n);
    const num = attrInt(n, 'num', x!.shape[a]);
    if (num !== x!.shape[a]) fail(n, `num ${num} does not match dim ${a} of size ${x!.shape[a]}`);
    return tf.unstack(x!, a);
  },
  ConcatV2: (xs, n) => concat(xs.slice(0, -1), scalarValue(xs[xs.length - 1]!, n, 'axis'), n),
  Concat: ([a, ...xs], n) => concat(xs, scalarValue(a!, n, 'concat_dim'), n),
  Split: ([a, x], n) => {
    const ax = axis(scalarValue(a!, n, 'split_dim'), x!.rank, n);
    const k = attrInt(n, 'num_split');
    if (k < 1 || x!.shape[ax]! % k !== 0) fail(n, `dim ${ax} of size ${x!.shape[ax]} cannot be split into ${k} equal parts`);
    return tf.split(x!, k, ax);
  },
  SplitV: ([x, s, a], n) => {
    const ax = axis(scalarValue(a!, n, 'split_dim'), x!.rank, n);
    const given = ints(s!);
    const sizes = given.slice();
    const dim = x!.shape[ax]!;
    const negs = sizes.filter((v) => v === -1).length;
    if (negs > 1) fail(n, `size_splits [${given}] has more than one -1`);
    if (sizes.some((v) => v < -1)) fail(n, `size_splits [${given}] has a negative size`);
    const known = sizes.filter((v) => v !== -1).reduce((p, q) => p + q, 0);
    if (negs) {
      if (known > dim) fail(n, `size_splits [${given}] add up to more than dim ${ax} of size ${dim}`);
      sizes[sizes.indexOf(-1)] = dim - known;
    } else if (known !== dim) fail(n, `size_splits [${given}] add up to ${known}, dim ${ax} has size ${dim}`);
    return tf.split(x!, sizes, ax);
  },
  Transpose: ([x, p], n) => {
    const perm = ints(p!);
    const sorted = perm.slice().sort((q, r) => q - r);
    if (perm.length !== x!.rank || sorted.some((v, i) => v !== i)) fail(n, `perm [${perm}] is not a permutation of the ${x!.rank} dims of ${shapeStr(x!.shape)}`);
    return tf.transpose(x!, perm);
  },
  InvertPermutation: ([p], n) => {
    const perm = ints(p!);
    const inv = new Int32Array(perm.length).fill(-1);
    perm.forEach((v, i) => {
      if (v < 0 || v >= perm.length || inv[v] !== -1) fail(n, `[${perm}] is not a permutation of 0..${perm.length - 1}`);
      inv[v] = i;
    });
    return tf.tensor1d(inv, 'int32');
  },
  Tile: ([x, m], n) => {
    const mult = ints(m!);
    if (mult.length !== x!.rank) fail(n, `multiples [${mult}] must have one entry per dim of ${shapeStr(x!.shape)}`);
    if (mult.some((v) => v < 0)) fail(n, `multiples [${mult}] must be non-negative`);
    return x!.rank === 0 ? share(x!) : tf.tile(x!, mult);
  },
  Pad: ([x, p], n) => {
    const pads = paddings(p!, x!, n);
    return x!.rank === 0 ? share(x!) : tf.pad(x!, pads);
  },
  PadV2: ([x, p, c], n) => {
    const pads = paddings(p!, x!, n);
    return x!.rank === 0 ? share(x!) : tf.pad(x!, pads, scalarValue(c!, n, 'constant_values'));
  },
  MirrorPad: ([x, p], n) => mirrorPad(x!, p!, n),
  Reverse: ([x, d], n) => {
    const flags = values(d!, n);
    if (flags.length !== x!.rank) fail(n, `dims has ${flags.length} entries, input has rank ${x!.rank}`);
    return reverse(x!, Array.from(flags).flatMap((v, i) => (v ? [i] : [])));
  },
  ReverseV2: ([x, a], n) => {
    const ax = ints(a!).map((v) => axis(v, x!.rank, n));
    if (new Set(ax).size !== ax.length) fail(n, `axis [${ints(a!)}] names a dim more than once`);
    return reverse(x!, ax);
  },
  BroadcastTo: ([x, s], n) => {
    const shape = ints(s!);
    const off = shape.length - x!.rank;
    if (off < 0 || x!.shape.some((d, i) => d !== 1 && d !== shape[off + i])) fail(n, `cannot broadcast ${shapeStr(x!.shape)} to [${shape}]`);
    return tf.broadcastTo(x!, shape);
  },
  BroadcastArgs: ([a, b], n) => tf.tensor1d(broadcastShapes(ints(a!), ints(b!), n), 'int32'),
  OneHot: ([i, d, on, off], n) => oneHot(i!, scalarValue(d!, n, 'depth'), on!, off!, n),
  SpaceToDepth: ([x], n) => nhwcWrap(x!, n, (t) => spaceToDepth(t, attrInt(n, 'block_size'), n)),
  DepthToSpace: ([x], n) => nhwcWrap(x!, n, (t) => depthToSpace(t, attrInt(n, 'block_size'), n)),
  SpaceToBatchND: ([x, b, p], n) => spaceToBatch(x!, b!, p!, n),
  BatchToSpaceND: ([x, b, c], n) => batchToSpace(x!, b!, c!, n),
  Where: ([x], n) => whereCoords(x!, n),
  Unique: ([x], n) => unique(x!, n),
  ListDiff: ([x, y], n) => listDiff(x!, y!, n),
  MatrixBandPart: ([x, lo, hi], n) => matrixBandPart(x!, lo!, hi!, n),
  Diag: ([x], n) => diag(x!, n),
  DiagPart: ([x], n) => diagPart(x!, n),
  Bincount: ([a, s, w], n) => {
    if (a!.rank > 1) fail(n, `arr must be 1-D (use DenseBincount for 2-D), found shape ${shapeStr(a!.shape)}`);
    return bincount(a!, s!, w!, false, n);
  },
  DenseBincount: ([a, s, w], n) => bincount(a!, s!, w!, attrBool(n, 'binary_output', false), n),
  SparseToDense: ([i, s, v, d], n) => sparseToDense(i!, s!, v!, d!, n),
  ReverseSequence: ([x, l], n) => reverseSequence(x!, l!, n),
});
