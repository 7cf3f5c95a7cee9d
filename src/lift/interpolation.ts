/**
 * TensorFlow's image resizing along one axis, as constants a stock keras.ops chain applies:
 * ResizeBilinear as an interpolation matrix (out x in, each row the two lerp weights TF gives the
 * output position), ResizeNearestNeighbor as the source index of each output position. The
 * formulas are TF's (tensorflow/core/kernels/image/resize_bilinear_op.cc compute_interpolation_weights,
 * resize_nearest_neighbor_op.cc, image_resizer_state.h CalculateResizeScale), in float32 as TF
 * computes them.
 */

const f = Math.fround;

export interface ResizeMode {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** CalculateResizeScale: (in-1)/(out-1) with align_corners (and out > 1), else in/out, in float32. */
export function resizeScale(inSize: number, outSize: number, alignCorners: boolean): number {
  return alignCorners && outSize > 1 ? f((inSize - 1) / (outSize - 1)) : f(inSize / outSize);
}

/**
 * The bilinear interpolation matrix of one axis, row-major [out, in]: row i holds 1 - lerp at
 * `lower` and lerp at `upper` (summed where they coincide), with TF's source position
 * `i*scale` (legacy and align_corners) or `(i+0.5)*scale - 0.5` (half-pixel centres).
 */
export function bilinearMatrix(inSize: number, outSize: number, mode: ResizeMode): Float32Array {
  const scale = resizeScale(inSize, outSize, mode.alignCorners);
  const m = new Float32Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const src = mode.halfPixelCenters ? f(f(f(i + 0.5) * scale) - 0.5) : f(i * scale);
    const fl = Math.floor(src);
    const lower = Math.max(fl, 0);
    const upper = Math.min(Math.ceil(src), inSize - 1);
    const lerp = f(src - fl);
    m[i * inSize + lower] = f(m[i * inSize + lower]! + f(1 - lerp));
    m[i * inSize + upper] = f(m[i * inSize + upper]! + lerp);
  }
  return m;
}

/**
 * The source index of each output position of one axis for ResizeNearestNeighbor:
 * min(align_corners ? round(p) : floor(p), in-1) with p = i*scale, or (i+0.5)*scale for
 * half-pixel centres (then at least 0). roundf rounds halves away from zero.
 */
export function nearestIndices(inSize: number, outSize: number, mode: ResizeMode): number[] {
  const scale = resizeScale(inSize, outSize, mode.alignCorners);
  return Array.from({ length: outSize }, (_, i) => {
    const p = mode.halfPixelCenters ? f(f(i + 0.5) * scale) : f(i * scale);
    const idx = Math.min(mode.alignCorners ? Math.sign(p) * Math.round(Math.abs(p)) : Math.floor(p), inSize - 1);
    return mode.halfPixelCenters ? Math.max(idx, 0) : idx;
  });
}
