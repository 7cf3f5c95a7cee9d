import * as tf from '@tensorflow/tfjs-core';
import { attrInt } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { registerOps } from '../registry.js';
import { axis, fail, ints, scalarInt } from './helpers.js';

/**
 * StridedSlice with TensorFlow's mask semantics (tensorflow/core/util/strided_slice_op.cc):
 * the sparse spec (with ellipsis and new axes) is expanded to one (begin, end, stride) per input
 * dim, clamped; negative strides are turned into positive ones on a reversed axis, so the tfjs
 * op only ever sees plain in-range positive slices.
 */
export function stridedSlice(x: tf.Tensor, beginV: number[], endV: number[], stridesV: number[], node: GraphNode): tf.Tensor {
  const beginMask = attrInt(node, 'begin_mask', 0);
  const endMask = attrInt(node, 'end_mask', 0);
  const ellipsisMask = attrInt(node, 'ellipsis_mask', 0);
  const newAxisMask = attrInt(node, 'new_axis_mask', 0);
  const shrinkMask = attrInt(node, 'shrink_axis_mask', 0);
  const n = beginV.length;
  if (endV.length !== n || stridesV.length !== n) fail(node, `begin, end and strides must have the same length (${n}, ${endV.length}, ${stridesV.length})`);
  if ((ellipsisMask & (ellipsisMask - 1)) !== 0) fail(node, 'more than one ellipsis in ellipsis_mask');
  const rank = x.rank;
  // Dense spec: one entry per input dim, plus markers for new axes in the output.
  type Dim = { kind: 'dim'; b: number; e: number; s: number; bm: boolean; em: boolean; shrink: boolean } | { kind: 'new' };
  const dense: Dim[] = [];
  const hasEllipsis = ellipsisMask !== 0;
  let consumed = 0;
  for (let i = 0; i < n; i++) if (!((newAxisMask >> i) & 1) && !((ellipsisMask >> i) & 1)) consumed++;
  for (let i = 0; i < n; i++) {
    const bit = 1 << i;
    if (ellipsisMask & bit) {
      const fill = rank - consumed;
      for (let k = 0; k < fill; k++) dense.push({ kind: 'dim', b: 0, e: 0, s: 1, bm: true, em: true, shrink: false });
    } else if (newAxisMask & bit) {
      dense.push({ kind: 'new' });
    } else {
      dense.push({ kind: 'dim', b: beginV[i]!, e: endV[i]!, s: stridesV[i]!, bm: !!(beginMask & bit), em: !!(endMask & bit), shrink: !!(shrinkMask & bit) });
    }
  }
  if (!hasEllipsis) {
    const dimsSoFar = dense.filter((d) => d.kind === 'dim').length;
    for (let k = dimsSoFar; k < rank; k++) dense.push({ kind: 'dim', b: 0, e: 0, s: 1, bm: true, em: true, shrink: false });
  }
  const dimEntries = dense.filter((d): d is Extract<Dim, { kind: 'dim' }> => d.kind === 'dim');
  if (dimEntries.length !== rank) fail(node, `slice spec covers ${dimEntries.length} dims but the input has rank ${rank}`);
  const begin: number[] = [];
  const size: number[] = [];
  const step: number[] = [];
  const reverseAxes: number[] = [];
  const outShape: number[] = [];
  let d = 0;
  for (const e of dense) {
    if (e.kind === 'new') {
      outShape.push(1);
      continue;
    }
    const dim = x.shape[d]!;
    const s = e.s;
    if (s === 0) fail(node, `stride 0 on dim ${d}`);
    if (e.shrink) {
      let b = e.b < 0 ? e.b + dim : e.b;
      if (b < 0 || b >= dim) fail(node, `index ${e.b} is out of range for dim ${d} of size ${dim}`);
      if (s < 0) {
        reverseAxes.push(d);
        b = dim - 1 - b;
      }
      begin.push(b);
      size.push(1);
      step.push(1);
      d++;
      continue;
    }
    const norm = (v: number) => (v < 0 ? v + dim : v);
    let b: number;
    let en: number;
    if (s > 0) {
      b = e.bm ? 0 : Math.min(Math.max(norm(e.b), 0), dim);
      en = e.em ? dim : Math.min(Math.max(norm(e.e), 0), dim);
    } else {
      b = e.bm ? dim - 1 : Math.min(Math.max(norm(e.b), -1), dim - 1);
      en = e.em ? -1 : Math.min(Math.max(norm(e.e), -1), dim - 1);
    }
    const len = s > 0 ? Math.max(0, Math.ceil((en - b) / s)) : Math.max(0, Math.ceil((b - en) / -s));
    if (s < 0) {
      reverseAxes.push(d);
      b = dim - 1 - b;
    }
    begin.push(len === 0 ? 0 : b);
    size.push(len);
    step.push(Math.abs(s));
    outShape.push(len);
    d++;
  }
  let src = reverseAxes.length ? tf.reverse(x, reverseAxes) : x;
  if (size.some((v) => v === 0)) return tf.zeros(outShape, x.dtype as 'float32');
  const end = begin.map((b, i) => b + (size[i]! - 1) * step[i]! + 1);
  src = tf.stridedSlice(src, begin, end, step);
  return tf.reshape(src, outShape);
}

function checkIndices(idx: tf.Tensor, limit: number, node: GraphNode, what: string): void {
  const v = idx.dataSync() as Int32Array;
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < 0 || v[i]! >= limit) fail(node, `${what} ${v[i]} at position ${i} is out of range [0, ${limit})`);
  }
}

function gatherV2(x: tf.Tensor, idx: tf.Tensor, ax: number, batchDims: number, node: GraphNode): tf.Tensor {
  const a = axis(ax, x.rank, node);
  const bd = batchDims < 0 ? batchDims + idx.rank : batchDims;
  checkIndices(idx, x.shape[a]!, node, 'index');
  return tf.gather(x, idx, a, bd);
}

registerOps({
  StridedSlice: ([x, b, e, s], n) => stridedSlice(x!, ints(b!), ints(e!), ints(s!), n),
  Slice: ([x, b, s], n) => {
    const begin = ints(b!);
    const size = ints(s!).map((v, i) => (v === -1 ? x!.shape[i]! - begin[i]! : v));
    size.forEach((v, i) => {
      if (begin[i]! < 0 || v < 0 || begin[i]! + v > x!.shape[i]!) fail(n, `slice begin ${begin[i]} size ${v} is out of range for dim ${i} of size ${x!.shape[i]}`);
    });
    return tf.slice(x!, begin, size);
  },
  Gather: ([x, i], n) => gatherV2(x!, i!, 0, 0, n),
  GatherV2: ([x, i, a], n) => gatherV2(x!, i!, scalarInt(a!), attrInt(n, 'batch_dims', 0), n),
  ResourceGather: ([x, i], n) => gatherV2(x!, i!, 0, attrInt(n, 'batch_dims', 0), n),
  GatherNd: ([x, i], n) => {
    const idx = i!;
    const last = idx.shape[idx.rank - 1]!;
    if (last > x!.rank) fail(n, `index depth ${last} exceeds input rank ${x!.rank}`);
    const v = idx.dataSync() as Int32Array;
    for (let k = 0; k < v.length; k++) {
      const lim = x!.shape[k % last]!;
      if (v[k]! < 0 || v[k]! >= lim) fail(n, `index ${v[k]} is out of range [0, ${lim}) for dim ${k % last}`);
    }
    return tf.gatherND(x!, idx);
  },
  ScatterNd: ([i, u, s]) => tf.scatterND(i!, u!, ints(s!)),
  TensorScatterUpdate: ([x, i, u]) => tf.tensorScatterUpdate(x!, i!, u!),
  TensorScatterAdd: ([x, i, u]) => tf.add(x!, tf.scatterND(i!, u!, x!.shape)),
});
