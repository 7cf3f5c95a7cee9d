import { tf } from '../../backend/tf.js';
import { numElements } from '../../core/tensor.js';
import { attrInt } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { alloc, shapeStr, strides, values } from './array.js';
import type { HostValues } from './array.js';
import { axis, fail, ints } from './helpers.js';

const { registerOps } = opFamily('slice');

/** Slicing, gathering and scattering with TensorFlow's index rules and bounds checks. */

interface DenseDim {
  begin: number;
  end: number;
  stride: number;
  beginMasked: boolean;
  endMasked: boolean;
  shrink: boolean;
}

/** Where an output dim of StridedSlice comes from: an input dim, or a new axis of size 1. */
type FinalDim = number | 'new';

export interface StridedSliceMasks {
  begin: number;
  end: number;
  ellipsis: number;
  newAxis: number;
  shrink: number;
}

export interface StridedSlicePlan {
  /** Per input dim: first index, element count and step (possibly negative), all in range. */
  start: number[];
  size: number[];
  step: number[];
  /** Output shape: shrunk dims removed, new axes inserted. */
  outShape: number[];
}

/**
 * TF's StridedSlice spec resolution (tensorflow/core/util/strided_slice_op.cc): the sparse spec
 * (with one ellipsis, implicit at the end when absent, and new axes) becomes one
 * (begin, end, stride) per input dim, then masks and negative indices are canonicalised and
 * clamped to [0, dim] (stride > 0) or [-1, dim - 1] (stride < 0).
 */
export function planStridedSlice(shape: readonly number[], beginV: number[], endV: number[], stridesV: number[], m: StridedSliceMasks, node: GraphNode): StridedSlicePlan {
  const n = beginV.length;
  if (endV.length !== n || stridesV.length !== n) fail(node, `begin, end and strides must have the same length, found ${n}, ${endV.length}, ${stridesV.length}`);
  if (n > 31) fail(node, `slice spec has ${n} entries, more than the 32-bit masks can describe`);
  if (m.ellipsis & (m.ellipsis - 1)) fail(node, `ellipsis_mask ${m.ellipsis} has more than one bit set`);
  const rank = shape.length;
  const bit = (mask: number, i: number) => ((mask >>> i) & 1) === 1;

  // Sparse -> dense. An ellipsis bit wins over new-axis, new-axis wins over shrink (TF order).
  let newAfterEllipsis = 0;
  let seen = false;
  for (let i = 0; i < n; i++) {
    if (seen && bit(m.newAxis, i)) newAfterEllipsis++;
    if (bit(m.ellipsis, i)) seen = true;
  }
  // Without an ellipsis, TF appends one: unmentioned trailing dims are taken whole.
  const ellipsisAt = seen ? Math.log2(m.ellipsis & -m.ellipsis) : n;
  const sparseDims = seen ? n : n + 1;
  const dense: DenseDim[] = [];
  const finalDims: FinalDim[] = [];
  for (let i = 0; i < sparseDims; i++) {
    if (i === ellipsisAt) {
      const next = Math.min(rank - (sparseDims - i) + 1 + newAfterEllipsis, rank);
      while (dense.length < next) {
        finalDims.push(dense.length);
        dense.push({ begin: 0, end: 0, stride: 1, beginMasked: true, endMasked: true, shrink: false });
      }
    } else if (bit(m.newAxis, i)) {
      finalDims.push('new');
    } else {
      if (dense.length === rank) fail(node, `slice spec indexes more dims than the input's ${rank} (shape ${shapeStr(shape)})`);
      const shrink = bit(m.shrink, i);
      if (!shrink) finalDims.push(dense.length);
      dense.push({ begin: beginV[i]!, end: endV[i]!, stride: stridesV[i]!, beginMasked: bit(m.begin, i), endMasked: bit(m.end, i), shrink });
    }
  }

  const start: number[] = [];
  const size: number[] = [];
  const step: number[] = [];
  dense.forEach((d, i) => {
    const dim = shape[i]!;
    const s = d.stride;
    if (s === 0) fail(node, `strides[${i}] must be non-zero`);
    if (d.shrink) {
      if (s < 0) fail(node, `dim ${i} is indexed (shrink_axis_mask) with stride ${s}; TF allows only positive strides there`);
      const b = d.begin < 0 ? d.begin + dim : d.begin;
      if (b < 0 || b >= dim) fail(node, `index ${d.begin} is out of bounds for dim ${i} of size ${dim} (shape ${shapeStr(shape)})`);
      start.push(b);
      size.push(1);
      step.push(1);
      return;
    }
    const lo = s > 0 ? 0 : -1;
    const hi = s > 0 ? dim : dim - 1;
    const canon = (x: number, masked: boolean, isEnd: boolean): number => {
      if (masked) return (s > 0) !== isEnd ? lo : hi;
      const f = x < 0 ? x + dim : x;
      return f < lo ? lo : f > hi ? hi : f;
    };
    const b = canon(d.begin, d.beginMasked, false);
    const e = canon(d.end, d.endMasked, true);
    const len = e - b;
    const count = len === 0 || len < 0 !== s < 0 ? 0 : Math.ceil(len / s);
    start.push(count ? b : 0);
    size.push(count);
    step.push(count ? s : 1);
  });
  const outShape = finalDims.map((f) => (f === 'new' ? 1 : size[f]!));
  return { start, size, step, outShape };
}

export function stridedSlice(x: tf.Tensor, beginV: number[], endV: number[], stridesV: number[], node: GraphNode): tf.Tensor {
  const masks: StridedSliceMasks = {
    begin: attrInt(node, 'begin_mask', 0),
    end: attrInt(node, 'end_mask', 0),
    ellipsis: attrInt(node, 'ellipsis_mask', 0),
    newAxis: attrInt(node, 'new_axis_mask', 0),
    shrink: attrInt(node, 'shrink_axis_mask', 0),
  };
  const p = planStridedSlice(x.shape, beginV, endV, stridesV, masks, node);
  if (x.rank === 0) return tf.reshape(x, p.outShape);
  if (p.size.some((v) => v === 0)) return tf.reshape(tf.slice(x, x.shape.map(() => 0), p.size), p.outShape);
  // A contiguous box first, then one gather per axis whose step is not 1. tfjs's own
  // StridedSlice is avoided: on wasm its general path writes float32 (int32 loses its dtype,
  // bool reads out of bounds), and tf.reverse on wasm ignores the dtype as well.
  const span = p.size.map((n, i) => (n - 1) * Math.abs(p.step[i]!) + 1);
  const boxBegin = p.start.map((b, i) => (p.step[i]! < 0 ? b - span[i]! + 1 : b));
  let out = tf.slice(x, boxBegin, span);
  p.step.forEach((s, i) => {
    if (s === 1) return;
    const first = s > 0 ? 0 : span[i]! - 1;
    const idx = tf.tensor1d(Array.from({ length: p.size[i]! }, (_, k) => first + k * s), 'int32');
    out = tf.gather(out, idx, i);
  });
  return tf.reshape(out, p.outShape);
}

function slice(x: tf.Tensor, b: tf.Tensor, s: tf.Tensor, node: GraphNode): tf.Tensor {
  const begin = ints(b);
  const given = ints(s);
  if (begin.length !== x.rank || given.length !== x.rank) {
    fail(node, `begin [${begin}] and size [${given}] must have one entry per dim of ${shapeStr(x.shape)}`);
  }
  const size = given.map((v, i) => (v === -1 ? x.shape[i]! - begin[i]! : v));
  size.forEach((v, i) => {
    if (begin[i]! < 0 || v < 0 || begin[i]! + v > x.shape[i]!) {
      fail(node, `begin ${begin[i]} size ${given[i]} is out of range for dim ${i} of size ${x.shape[i]} (shape ${shapeStr(x.shape)})`);
    }
  });
  return tf.slice(x, begin, size);
}

/** TF's CPU gather refuses out-of-range indices; tfjs would return zeros or garbage. */
function checkIndices(idx: tf.Tensor, limit: number, node: GraphNode, dim: number): void {
  const v = values(idx, node);
  const st = strides(idx.shape);
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < 0 || v[i]! >= limit) {
      const pos = idx.shape.map((d, k) => Math.floor(i / st[k]!) % d);
      fail(node, `indices[${pos.join(',')}] = ${v[i]} is not in [0, ${limit}) (dim ${dim} of the params)`);
    }
  }
}

function gatherV2(x: tf.Tensor, idx: tf.Tensor, axisV: number, batchDims: number, node: GraphNode): tf.Tensor {
  if (idx.dtype !== 'int32') fail(node, `indices must be integers, found ${idx.dtype}`);
  if (batchDims < -idx.rank || batchDims > idx.rank) fail(node, `batch_dims ${batchDims} is out of range [${-idx.rank}, ${idx.rank}] for indices of rank ${idx.rank}`);
  const bd = batchDims < 0 ? batchDims + idx.rank : batchDims;
  const a = axis(axisV, x.rank, node);
  if (bd > 0) {
    if (bd >= x.rank) fail(node, `batch_dims ${bd} must be less than the params rank ${x.rank}`);
    if (bd > a) fail(node, `batch_dims ${bd} must be <= axis ${a}`);
    for (let i = 0; i < bd; i++) {
      if (x.shape[i] !== idx.shape[i]) fail(node, `params ${shapeStr(x.shape)} and indices ${shapeStr(idx.shape)} differ in batch dim ${i}`);
    }
  }
  checkIndices(idx, x.shape[a]!, node, a);
  if (bd === 0) return tf.gather(x, idx, a);
  return batchedGather(x, idx, a, bd);
}

/**
 * Gather with batch dims as a plain gather (tfjs's batchDims gives wrong values on wasm):
 * params [B, O, D, I] -> [O, B*D, I], index b*D + idx[b, j], gather on axis 1, then back to
 * [B, O, J, I] with B = batch dims, O = dims before the axis, J = the per-batch index dims.
 */
function batchedGather(x: tf.Tensor, idx: tf.Tensor, a: number, bd: number): tf.Tensor {
  const bShape = x.shape.slice(0, bd);
  const B = numElements(bShape);
  const oShape = x.shape.slice(bd, a);
  const O = numElements(oShape);
  const D = x.shape[a]!;
  const iShape = x.shape.slice(a + 1);
  const I = numElements(iShape);
  const jShape = idx.shape.slice(bd);
  const J = numElements(jShape);
  const p = tf.reshape(tf.transpose(tf.reshape(x, [B, O, D, I]), [1, 0, 2, 3]), [O, B * D, I]);
  const iv = idx.dataSync() as Int32Array;
  const flat = new Int32Array(B * J);
  for (let b = 0; b < B; b++) for (let j = 0; j < J; j++) flat[b * J + j] = b * D + iv[b * J + j]!;
  const g = tf.reshape(tf.gather(p, tf.tensor1d(flat, 'int32'), 1), [O, B, J, I]);
  return tf.reshape(tf.transpose(g, [1, 0, 2, 3]), [...bShape, ...oShape, ...jShape, ...iShape]);
}

/** Index tuples of the last indices dim, bounds-checked against params dims offset..offset+k. */
function checkTuples(iv: HostValues, k: number, shape: readonly number[], offset: number, node: GraphNode, what: string): void {
  for (let r = 0; r * k < iv.length; r++) {
    for (let d = 0; d < k; d++) {
      const c = iv[r * k + d]!;
      const lim = shape[offset + d]!;
      if (c < 0 || c >= lim) {
        fail(node, `indices row ${r} = [${Array.from(iv.subarray(r * k, r * k + k))}] ${what} ${shapeStr(shape)}: entry ${d} (${c}) is not in [0, ${lim})`);
      }
    }
  }
}

function gatherNd(x: tf.Tensor, idx: tf.Tensor, batchDims: number, node: GraphNode): tf.Tensor {
  if (idx.rank < 1) fail(node, `indices must have rank >= 1, found a scalar`);
  if (idx.dtype !== 'int32') fail(node, `indices must be integers, found ${idx.dtype}`);
  if (batchDims < 0 || batchDims >= idx.rank || batchDims > x.rank) fail(node, `batch_dims ${batchDims} is out of range for indices ${shapeStr(idx.shape)} and params ${shapeStr(x.shape)}`);
  for (let i = 0; i < batchDims; i++) {
    if (x.shape[i] !== idx.shape[i]) fail(node, `params ${shapeStr(x.shape)} and indices ${shapeStr(idx.shape)} differ in batch dim ${i}`);
  }
  const k = idx.shape[idx.rank - 1]!;
  if (batchDims + k > x.rank) fail(node, `index depth ${k} (+ batch_dims ${batchDims}) exceeds params rank ${x.rank}`);
  const iv = values(idx, node);
  checkTuples(iv, k, x.shape, batchDims, node, 'does not index into params of shape');
  const lead = idx.shape.slice(0, -1);
  const outShape = [...lead, ...x.shape.slice(batchDims + k)];
  if (numElements(lead) === 0) return tf.zeros(outShape, x.dtype);
  if (k === 0 && batchDims === 0) {
    return tf.broadcastTo(tf.reshape(x, [...lead.map(() => 1), ...x.shape]), outShape);
  }
  if (batchDims === 0) return tf.gatherND(x, idx);
  // Batch dims become explicit leading coordinates, so a plain GatherNd does the rest.
  const rows = numElements(lead);
  const rowsPerBatchEntry = numElements(idx.shape.slice(batchDims, -1));
  const bShape = idx.shape.slice(0, batchDims);
  const bSt = strides(bShape);
  const kk = batchDims + k;
  const full = new Int32Array(rows * kk);
  for (let r = 0; r < rows; r++) {
    const b = Math.floor(r / rowsPerBatchEntry);
    for (let d = 0; d < batchDims; d++) full[r * kk + d] = Math.floor(b / bSt[d]!) % bShape[d]!;
    for (let d = 0; d < k; d++) full[r * kk + batchDims + d] = iv[r * k + d]!;
  }
  return tf.reshape(tf.gatherND(x, tf.tensor(full, [...lead, kk], 'int32')), outShape);
}

type ScatterMode = 'add' | 'update' | 'sub' | 'max' | 'min';

/**
 * Scatter of `updates` into `out` (a copy of the base) at the index tuples in `idx`, on the host:
 * TF's CPU kernels error on out-of-range tuples, and ScatterNd adds duplicates.
 */
function scatter(out: HostValues, shape: readonly number[], idx: tf.Tensor, upd: tf.Tensor, mode: ScatterMode, node: GraphNode): void {
  if (idx.dtype !== 'int32') fail(node, `indices must be integers, found ${idx.dtype}`);
  if (idx.rank < 1) fail(node, 'indices must have rank >= 1');
  const k = idx.shape[idx.rank - 1]!;
  if (k > shape.length) fail(node, `index depth ${k} exceeds the rank ${shape.length} of the output ${shapeStr(shape)}`);
  const want = [...idx.shape.slice(0, -1), ...shape.slice(k)];
  if (upd.rank !== want.length || upd.shape.some((d, i) => d !== want[i])) {
    fail(node, `updates must have shape ${shapeStr(want)} (indices ${shapeStr(idx.shape)}, output ${shapeStr(shape)}), found ${shapeStr(upd.shape)}`);
  }
  const iv = values(idx, node);
  const uv = values(upd, node);
  checkTuples(iv, k, shape, 0, node, 'does not index into shape');
  const st = strides(shape);
  const sliceSize = numElements(shape.slice(k));
  const rows = numElements(idx.shape.slice(0, -1));
  const bool = out instanceof Uint8Array;
  for (let r = 0; r < rows; r++) {
    let base = 0;
    for (let d = 0; d < k; d++) base += iv[r * k + d]! * st[d]!;
    for (let j = 0; j < sliceSize; j++) {
      const o = base + j;
      const u = uv[r * sliceSize + j]!;
      const cur = out[o]!;
      switch (mode) {
        case 'update': out[o] = u; break;
        case 'add': out[o] = bool ? cur || u : cur + u; break;
        case 'sub': out[o] = cur - u; break;
        case 'max': out[o] = Math.max(cur, u); break;
        case 'min': out[o] = Math.min(cur, u); break;
      }
    }
  }
}

function scatterNd(idx: tf.Tensor, upd: tf.Tensor, shapeT: tf.Tensor, node: GraphNode): tf.Tensor {
  const shape = ints(shapeT);
  if (shape.some((d) => d < 0)) fail(node, `shape [${shape}] must be non-negative`);
  const out = alloc(upd.dtype, numElements(shape));
  scatter(out, shape, idx, upd, 'add', node);
  return tf.tensor(out, shape, upd.dtype);
}

function tensorScatter(x: tf.Tensor, idx: tf.Tensor, upd: tf.Tensor, mode: ScatterMode, node: GraphNode): tf.Tensor {
  if (upd.dtype !== x.dtype) fail(node, `updates are ${upd.dtype}, tensor is ${x.dtype}`);
  const out = values(x, node).slice();
  scatter(out, x.shape, idx, upd, mode, node);
  return tf.tensor(out, x.shape, x.dtype);
}

registerOps({
  StridedSlice: ([x, b, e, s], n) => stridedSlice(x!, ints(b!), ints(e!), ints(s!), n),
  Slice: ([x, b, s], n) => slice(x!, b!, s!, n),
  Gather: ([x, i], n) => gatherV2(x!, i!, 0, 0, n),
  GatherV2: ([x, i, a], n) => {
    if (a!.size !== 1) fail(n, `axis must be a scalar, found shape ${shapeStr(a!.shape)}`);
    return gatherV2(x!, i!, ints(a!)[0]!, attrInt(n, 'batch_dims', 0), n);
  },
  // A resource input reaches this kernel as the variable's value; its gather axis is batch_dims.
  ResourceGather: ([x, i], n) => {
    const bd = attrInt(n, 'batch_dims', 0);
    return gatherV2(x!, i!, bd, bd, n);
  },
  GatherNd: ([x, i], n) => gatherNd(x!, i!, attrInt(n, 'batch_dims', 0), n),
  ScatterNd: ([i, u, s], n) => scatterNd(i!, u!, s!, n),
  TensorScatterUpdate: ([x, i, u], n) => tensorScatter(x!, i!, u!, 'update', n),
  TensorScatterAdd: ([x, i, u], n) => tensorScatter(x!, i!, u!, 'add', n),
  TensorScatterSub: ([x, i, u], n) => tensorScatter(x!, i!, u!, 'sub', n),
  TensorScatterMax: ([x, i, u], n) => tensorScatter(x!, i!, u!, 'max', n),
  TensorScatterMin: ([x, i, u], n) => tensorScatter(x!, i!, u!, 'min', n),
});
