import * as tf from '@tensorflow/tfjs-core';
import { attrBool, attrFloat, attrString } from '../../graph/attrs.js';
import { registerOps } from '../registry.js';
import { ints, scalarInt } from './helpers.js';

/** Image resizing, cropping, non-max suppression and top-k. */

function nms(boxes: tf.Tensor, scores: tf.Tensor, max: number, iou: number, score: number) {
  return tf.image.nonMaxSuppression(boxes as tf.Tensor2D, scores as tf.Tensor1D, max, iou, score);
}

const num = (t: tf.Tensor) => (t.dataSync() as ArrayLike<number>)[0]!;

registerOps({
  ResizeBilinear: ([x, s], n) =>
    tf.image.resizeBilinear(x as tf.Tensor4D, ints(s!) as [number, number], attrBool(n, 'align_corners', false), attrBool(n, 'half_pixel_centers', false)),
  ResizeNearestNeighbor: ([x, s], n) =>
    tf.image.resizeNearestNeighbor(x as tf.Tensor4D, ints(s!) as [number, number], attrBool(n, 'align_corners', false), attrBool(n, 'half_pixel_centers', false)),
  CropAndResize: ([img, boxes, idx, size], n) =>
    tf.image.cropAndResize(img as tf.Tensor4D, boxes as tf.Tensor2D, idx as tf.Tensor1D, ints(size!) as [number, number], attrString(n, 'method', 'bilinear') as 'bilinear' | 'nearest', attrFloat(n, 'extrapolation_value', 0)),
  NonMaxSuppressionV2: ([b, s, m, i]) => nms(b!, s!, scalarInt(m!), num(i!), Number.NEGATIVE_INFINITY),
  NonMaxSuppressionV3: ([b, s, m, i, t]) => nms(b!, s!, scalarInt(m!), num(i!), num(t!)),
  NonMaxSuppressionV4: ([b, s, m, i, t], n) => {
    const r = tf.image.nonMaxSuppressionPadded(b as tf.Tensor2D, s as tf.Tensor1D, scalarInt(m!), num(i!), num(t!), attrBool(n, 'pad_to_max_output_size', false));
    return [r.selectedIndices, r.validOutputs];
  },
  NonMaxSuppressionV5: ([b, s, m, i, t, sig], n) => {
    const r = tf.image.nonMaxSuppressionWithScore(b as tf.Tensor2D, s as tf.Tensor1D, scalarInt(m!), num(i!), num(t!), num(sig!));
    let idx = r.selectedIndices;
    let sc = r.selectedScores;
    const valid = idx.shape[0]!;
    if (attrBool(n, 'pad_to_max_output_size', false) && valid < scalarInt(m!)) {
      idx = tf.pad(idx, [[0, scalarInt(m!) - valid]]);
      sc = tf.pad(sc, [[0, scalarInt(m!) - valid]]);
    }
    return [idx, sc, tf.scalar(valid, 'int32')];
  },
  TopKV2: ([x, k], n) => {
    const r = tf.topk(x!, scalarInt(k!), attrBool(n, 'sorted', true));
    return [r.values, r.indices];
  },
});
