import { tf } from '../../backend/tf.js';
import { attrBool, attrFloat, attrInt, attrString } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { fail, ints, scalarInt } from './helpers.js';

const { registerOps } = opFamily('image');

/** Image resizing, cropping, non-max suppression and top-k, with TF's checks and formulas. */

function size2(s: tf.Tensor, n: GraphNode): [number, number] {
  const v = ints(s);
  if (v.length !== 2) fail(n, `size must have 2 elements (new_height, new_width), found [${v}]`);
  if (v[0]! <= 0 || v[1]! <= 0) fail(n, `size must be positive, found [${v}]`);
  return v as [number, number];
}

function resizeArgs(x: tf.Tensor, s: tf.Tensor, n: GraphNode) {
  if (x.rank !== 4) fail(n, `images must be 4-D [batch, height, width, channels], found [${x.shape}]`);
  const align = attrBool(n, 'align_corners', false);
  const half = attrBool(n, 'half_pixel_centers', false);
  if (align && half) fail(n, 'half_pixel_centers=true requires align_corners=false');
  return { x: x as tf.Tensor4D, size: size2(s, n), align, half };
}

/**
 * tfjs' resize kernels follow TF's scale and source-position formulas for every align_corners /
 * half_pixel_centers combination (checked against numpy goldens); the output dtype is not
 * TF's for nearest (tfjs gives float32 for int input), so it is cast back.
 */
function resizeBilinear([img, s]: tf.Tensor[], n: GraphNode): tf.Tensor {
  const { x, size, align, half } = resizeArgs(img!, s!, n);
  return tf.image.resizeBilinear(x.dtype === 'float32' ? x : tf.cast(x, 'float32'), size, align, half);
}

function resizeNearest([img, s]: tf.Tensor[], n: GraphNode): tf.Tensor {
  const { x, size, align, half } = resizeArgs(img!, s!, n);
  const y = tf.image.resizeNearestNeighbor(x, size, align, half);
  return y.dtype === x.dtype ? y : tf.cast(y, x.dtype);
}

function cropAndResize([img, boxes, idx, size]: tf.Tensor[], n: GraphNode): tf.Tensor {
  const method = attrString(n, 'method', 'bilinear');
  if (method !== 'bilinear' && method !== 'nearest') fail(n, `method must be 'bilinear' or 'nearest', found '${method}'`);
  if (img!.rank !== 4) fail(n, `image must be 4-D, found [${img!.shape}]`);
  if (boxes!.rank !== 2 || boxes!.shape[1] !== 4) fail(n, `boxes must be [num_boxes, 4], found [${boxes!.shape}]`);
  if (idx!.rank !== 1 || idx!.shape[0] !== boxes!.shape[0]) fail(n, `box_ind must be [${boxes!.shape[0]}], found [${idx!.shape}]`);
  const batch = img!.shape[0]!;
  for (const b of ints(idx!)) if (b < 0 || b >= batch) fail(n, `box_ind value ${b} is outside the batch [0, ${batch})`);
  const [ch, cw] = size2(size!, n);
  const extrapolation = attrFloat(n, 'extrapolation_value', 0);
  if (method === 'nearest') return cropNearest(img!, boxes!, idx!, ch, cw, extrapolation);
  const x = img!.dtype === 'float32' ? img! : tf.cast(img!, 'float32');
  return tf.image.cropAndResize(x as tf.Tensor4D, boxes as tf.Tensor2D, idx as tf.Tensor1D, [ch, cw], method, extrapolation);
}

/**
 * Nearest CropAndResize on the host: tfjs-wasm picks wrong pixels, and tfjs-cpu computes the
 * source position in float64, so exact .5 positions round differently from TF's float32
 * (y1*(H-1) + y*scale, then roundf: half away from zero).
 */
function cropNearest(img: tf.Tensor, boxesT: tf.Tensor, idxT: tf.Tensor, ch: number, cw: number, extrapolation: number): tf.Tensor {
  const [, H, W, C] = img.shape as [number, number, number, number];
  const im = img.dataSync() as ArrayLike<number>;
  const boxes = Float32Array.from(boxesT.dataSync() as ArrayLike<number>);
  const bidx = ints(idxT);
  const nb = bidx.length;
  const out = new Float32Array(nb * ch * cw * C);
  const f = Math.fround;
  const pos = (lo: number, hi: number, size: number, n: number, k: number) =>
    n > 1
      ? f(f(lo * (size - 1)) + f(k * f(f(f(hi - lo) * (size - 1)) / (n - 1))))
      : f(0.5 * f(lo + hi) * (size - 1)); // TF's 0.5 is a double literal: one rounding at the end
  for (let b = 0; b < nb; b++) {
    const [y1, x1, y2, x2] = [boxes[4 * b]!, boxes[4 * b + 1]!, boxes[4 * b + 2]!, boxes[4 * b + 3]!];
    const base = bidx[b]! * H * W * C;
    for (let y = 0; y < ch; y++) {
      const iy = pos(y1, y2, H, ch, y);
      for (let x = 0; x < cw; x++) {
        const o = ((b * ch + y) * cw + x) * C;
        const ix = pos(x1, x2, W, cw, x);
        if (iy < 0 || iy > H - 1 || ix < 0 || ix > W - 1) {
          out.fill(extrapolation, o, o + C);
          continue;
        }
        const src = base + (Math.round(iy) * W + Math.round(ix)) * C;
        for (let c = 0; c < C; c++) out[o + c] = im[src + c]!;
      }
    }
  }
  return tf.tensor(out, [nb, ch, cw, C], 'float32');
}

// ---- non-max suppression: TF's algorithm (non_max_suppression_op.cc), in float32 ----------------

const f32 = Math.fround;

function iou(b: Float32Array, i: number, j: number): number {
  const yi1 = Math.min(b[4 * i]!, b[4 * i + 2]!);
  const xi1 = Math.min(b[4 * i + 1]!, b[4 * i + 3]!);
  const yi2 = Math.max(b[4 * i]!, b[4 * i + 2]!);
  const xi2 = Math.max(b[4 * i + 1]!, b[4 * i + 3]!);
  const yj1 = Math.min(b[4 * j]!, b[4 * j + 2]!);
  const xj1 = Math.min(b[4 * j + 1]!, b[4 * j + 3]!);
  const yj2 = Math.max(b[4 * j]!, b[4 * j + 2]!);
  const xj2 = Math.max(b[4 * j + 1]!, b[4 * j + 3]!);
  const ai = f32(f32(yi2 - yi1) * f32(xi2 - xi1));
  const aj = f32(f32(yj2 - yj1) * f32(xj2 - xj1));
  if (ai <= 0 || aj <= 0) return 0;
  const inter = f32(Math.max(f32(Math.min(yi2, yj2) - Math.max(yi1, yj1)), 0) * Math.max(f32(Math.min(xi2, xj2) - Math.max(xi1, xj1)), 0));
  return f32(inter / f32(f32(ai + aj) - inter));
}

interface Candidate {
  box: number;
  score: number;
  suppressBegin: number;
}

/** TF's priority order: higher score first, equal scores by lower box index. */
const before = (p: Candidate, q: Candidate) => p.score > q.score || (p.score === q.score && p.box < q.box);

class Heap {
  private readonly a: Candidate[] = [];
  get size(): number {
    return this.a.length;
  }
  push(c: Candidate): void {
    const a = this.a;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Candidate {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

interface NmsResult {
  indices: number[];
  scores: number[];
}

function nms(n: GraphNode, boxesT: tf.Tensor, scoresT: tf.Tensor, maxT: tf.Tensor, iouT: tf.Tensor, scoreT: tf.Tensor | undefined, sigmaT: tf.Tensor | undefined): NmsResult {
  if (boxesT.rank !== 2 || boxesT.shape[1] !== 4) fail(n, `boxes must be [num_boxes, 4], found [${boxesT.shape}]`);
  const num = boxesT.shape[0]!;
  if (scoresT.rank !== 1 || scoresT.shape[0] !== num) fail(n, `scores must be [${num}], found [${scoresT.shape}]`);
  const maxOut = scalarInt(maxT);
  if (maxOut < 0) fail(n, `max_output_size must be non-negative, found ${maxOut}`);
  const iouThr = f32(Number(iouT.dataSync()[0]));
  if (!(iouThr >= 0 && iouThr <= 1)) fail(n, `iou_threshold must be in [0, 1], found ${iouThr}`);
  // V2 has no score threshold: TF uses the lowest float, so only -inf/NaN scores drop out.
  const scoreThr = scoreT ? f32(Number(scoreT.dataSync()[0])) : -3.4028234663852886e38;
  const sigma = sigmaT ? f32(Number(sigmaT.dataSync()[0])) : 0;
  if (sigma < 0) fail(n, `soft_nms_sigma must be non-negative, found ${sigma}`);
  const boxes = Float32Array.from(boxesT.dataSync() as ArrayLike<number>);
  const scores = Float32Array.from(scoresT.dataSync() as ArrayLike<number>);

  const heap = new Heap();
  for (let i = 0; i < num; i++) if (scores[i]! > scoreThr) heap.push({ box: i, score: scores[i]!, suppressBegin: 0 });
  const soft = sigma > 0;
  const scale = soft ? f32(-0.5 / sigma) : 0;
  // TF keeps the exp weight for soft-NMS even above the IoU threshold (tfjs zeroes it there).
  const weight = (sim: number) => (soft || sim <= iouThr ? f32(Math.exp(f32(f32(scale * sim) * sim))) : 0);

  const indices: number[] = [];
  const selScores: number[] = [];
  while (indices.length < maxOut && heap.size > 0) {
    const c = heap.pop();
    const original = c.score;
    let hard = false;
    for (let j = indices.length - 1; j >= c.suppressBegin; j--) {
      const sim = iou(boxes, c.box, indices[j]!);
      c.score = f32(c.score * weight(sim));
      if (!soft && sim > iouThr) {
        hard = true;
        break;
      }
      if (c.score <= scoreThr) break;
    }
    c.suppressBegin = indices.length;
    if (hard) continue;
    if (c.score === original) {
      indices.push(c.box);
      selScores.push(c.score);
    } else if (c.score > scoreThr) {
      heap.push(c);
    }
  }
  return { indices, scores: selScores };
}

function padTo<T>(v: T[], len: number, fill: T): T[] {
  return v.length >= len ? v : [...v, ...new Array<T>(len - v.length).fill(fill)];
}

// ---- top-k ------------------------------------------------------------------------------------

/** TopK over the last axis; ties keep the lower index first (as TF). NaN ranks first so the order is total. sorted=false still sorts (TF leaves that order unspecified). */
function topK(x: tf.Tensor, k: number, n: GraphNode): tf.Tensor[] {
  if (x.rank < 1) fail(n, `input must have rank >= 1, found a scalar`);
  const last = x.shape[x.rank - 1]!;
  if (k < 0 || k > last) fail(n, `k must be in [0, ${last}] (the last dimension), found ${k}`);
  const v = x.dataSync() as ArrayLike<number>;
  const rows = last === 0 ? 0 : v.length / last;
  const vals = x.dtype === 'int32' ? new Int32Array(rows * k) : new Float32Array(rows * k);
  const idx = new Int32Array(rows * k);
  const order = Array.from({ length: last }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const o = r * last;
    const key = (i: number) => {
      const q = v[o + i]!;
      return Number.isNaN(q) ? Infinity : q;
    };
    const nan = (i: number) => Number.isNaN(v[o + i]!);
    order.sort((p, q) => {
      const a = key(p);
      const b = key(q);
      if (a !== b) return b - a;
      if (nan(p) !== nan(q)) return nan(p) ? -1 : 1;
      return p - q;
    });
    for (let j = 0; j < k; j++) {
      idx[r * k + j] = order[j]!;
      vals[r * k + j] = v[o + order[j]!]!;
    }
    order.sort((p, q) => p - q);
  }
  const shape = [...x.shape.slice(0, -1), k];
  return [tf.tensor(vals, shape, x.dtype === 'int32' ? 'int32' : 'float32'), tf.tensor(idx, shape, 'int32')];
}

registerOps({
  ResizeBilinear: resizeBilinear,
  ResizeNearestNeighbor: resizeNearest,
  CropAndResize: cropAndResize,
  NonMaxSuppression: ([b, s, m], n) => tf.tensor1d(nms(n, b!, s!, m!, tf.scalar(attrFloat(n, 'iou_threshold', 0.5)), undefined, undefined).indices, 'int32'),
  NonMaxSuppressionV2: ([b, s, m, i], n) => tf.tensor1d(nms(n, b!, s!, m!, i!, undefined, undefined).indices, 'int32'),
  NonMaxSuppressionV3: ([b, s, m, i, t], n) => tf.tensor1d(nms(n, b!, s!, m!, i!, t!, undefined).indices, 'int32'),
  NonMaxSuppressionV4: ([b, s, m, i, t], n) => {
    const r = nms(n, b!, s!, m!, i!, t!, undefined);
    const valid = r.indices.length;
    const idx = attrBool(n, 'pad_to_max_output_size', false) ? padTo(r.indices, scalarInt(m!), 0) : r.indices;
    return [tf.tensor1d(idx, 'int32'), tf.scalar(valid, 'int32')];
  },
  NonMaxSuppressionV5: ([b, s, m, i, t, sig], n) => {
    const r = nms(n, b!, s!, m!, i!, t!, sig!);
    const valid = r.indices.length;
    const pad = attrBool(n, 'pad_to_max_output_size', false);
    const max = scalarInt(m!);
    return [
      tf.tensor1d(pad ? padTo(r.indices, max, 0) : r.indices, 'int32'),
      tf.tensor1d(pad ? padTo(r.scores, max, 0) : r.scores, 'float32'),
      tf.scalar(valid, 'int32'),
    ];
  },
  TopKV2: ([x, k], n) => {
    if (k!.rank !== 0) fail(n, `k must be a scalar, found shape [${k!.shape}]`);
    return topK(x!, scalarInt(k!), n);
  },
  TopK: ([x], n) => topK(x!, attrInt(n, 'k'), n),
});
