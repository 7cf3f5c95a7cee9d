import { tf } from '../../backend/tf.js';

/**
 * `tf.image.resize` (TF 2, half-pixel centres) for the methods tfjs lacks, as TensorFlow computes
 * them (tensorflow/python/ops/image_ops_impl.py resize_images_v2 picks the op):
 *
 * - bicubic without antialias: ResizeBicubic with half_pixel_centers=True
 *   (tensorflow/core/kernels/image/resize_bicubic_op.cc): Keys' cubic with a = -0.5, the
 *   fractional offset quantised to the op's 1024-entry coefficient table (lrintf(delta * 1024)),
 *   taps outside the image weighted 0 and the four weights renormalised to sum 1;
 * - bilinear or bicubic with antialias, lanczos3, lanczos5: ScaleAndTranslate
 *   (tensorflow/core/kernels/image/scale_and_translate_op.cc ComputeSpansCore, kernels from
 *   sampling_kernels.h: triangle, keyscubic, lanczos3/5) with scale = out / in and no
 *   translation: the kernel widened by 1 / scale when antialiasing a downscale, source pixels
 *   centred at i + 0.5, the weights of one output normalised to sum 1.
 * Both are separable: one weight matrix per axis, applied as two matrix products.
 */

export type ResizeKernel = 'triangle' | 'keyscubic' | 'lanczos3' | 'lanczos5';

const KERNELS: Record<ResizeKernel, { radius: number; f: (x: number) => number }> = {
  triangle: { radius: 1, f: (x) => (x < 1 ? 1 - x : 0) },
  keyscubic: { radius: 2, f: (x) => (x >= 2 ? 0 : x >= 1 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : (1.5 * x - 2.5) * x * x + 1) },
  lanczos3: { radius: 3, f: lanczos(3) },
  lanczos5: { radius: 5, f: lanczos(5) },
};

function lanczos(r: number): (x: number) => number {
  const PI = 3.14159265359;
  return (x) => (x > r ? 0 : x <= 1e-3 ? 1 : (r * Math.sin(PI * x) * Math.sin((PI * x) / r)) / (PI * PI * x * x));
}

const f32 = Math.fround;

/** ScaleAndTranslate's weights for one axis: [out][in]. */
export function scaleAndTranslateWeights(inSize: number, outSize: number, kernel: ResizeKernel, antialias: boolean): Float32Array {
  const k = KERNELS[kernel];
  const scale = f32(f32(outSize) / f32(inSize));
  const invScale = f32(1 / scale);
  const kernelScale = antialias ? Math.max(invScale, 1) : 1;
  const w = new Float32Array(outSize * inSize);
  for (let x = 0; x < outSize; x++) {
    const sample = f32(f32(x + 0.5) * invScale);
    if (sample < 0 || sample > inSize) continue;
    const clamp = (v: number) => Math.min(Math.max(v, 0), inSize - 1);
    const start = clamp(Math.ceil(sample - k.radius * kernelScale - 0.5));
    const end = clamp(Math.floor(sample + k.radius * kernelScale - 0.5)) + 1;
    const ws: number[] = [];
    let total = 0;
    for (let s = start; s < end; s++) {
      const v = f32(k.f(Math.abs(f32(s + 0.5 - sample) / kernelScale)));
      ws.push(v);
      total = f32(total + v);
    }
    if (Math.abs(total) >= 1000 * 1.1754943508222875e-38) ws.forEach((v, i) => (w[x * inSize + start + i] = f32(v * f32(1 / total))));
  }
  return w;
}

/** lrintf in the default rounding mode: to nearest, ties to even. */
function lrint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** ResizeBicubic's weights (half_pixel_centers=True) for one axis: [out][in]. */
export function resizeBicubicWeights(inSize: number, outSize: number): Float32Array {
  const TABLE = 1024;
  const a = -0.5;
  const coeff = (i: number, far: boolean): number => {
    const x = i / TABLE;
    return f32(far ? ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a : ((a + 2) * x - (a + 3)) * x * x + 1);
  };
  const scale = f32(inSize / outSize);
  const w = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const inLoc = f32(f32(f32(o + 0.5) * scale) - 0.5);
    const fl = Math.floor(inLoc);
    const offset = lrint(f32(f32(inLoc - fl) * TABLE));
    const taps: [number, number][] = [
      [fl - 1, coeff(offset, true)],
      [fl, coeff(offset, false)],
      [fl + 1, coeff(TABLE - offset, false)],
      [fl + 2, coeff(TABLE - offset, true)],
    ];
    const inside = taps.map(([i, v]) => (i >= 0 && i < inSize ? v : 0));
    const sum = f32(inside.reduce((s, v) => f32(s + v), 0));
    const norm = Math.abs(sum) >= 1000 * 1.1754943508222875e-38 ? f32(1 / sum) : 1;
    taps.forEach(([i], j) => {
      if (i >= 0 && i < inSize) w[o * inSize + i] = f32(w[o * inSize + i]! + f32(inside[j]! * norm));
    });
  }
  return w;
}

/** NHWC float32 images resized with per-axis weight matrices ([outH][H], [outW][W]). */
export function resizeSeparable(img: tf.Tensor4D, wh: Float32Array, ww: Float32Array, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = img.shape;
    const mh = tf.tensor2d(wh, [height, h]);
    const mw = tf.tensor2d(ww, [width, w]);
    // Rows: [H, B*W*C] -> [outH, B*W*C].
    let x = tf.reshape(tf.transpose(img, [1, 0, 2, 3]), [h, b * w * c]);
    x = tf.matMul(mh, x);
    // Columns: [W, B*outH*C] -> [outW, B*outH*C].
    x = tf.reshape(tf.transpose(tf.reshape(x, [height, b, w, c]), [2, 1, 0, 3]), [w, b * height * c]);
    x = tf.matMul(mw, x);
    return tf.transpose(tf.reshape(x, [width, b, height, c]), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** The ScaleAndTranslate kernel tf.image.resize uses for a Keras interpolation, or null where it uses another op. */
export function resizeKernel(interpolation: string, antialias: boolean): ResizeKernel | null {
  if (interpolation === 'lanczos3' || interpolation === 'lanczos5') return interpolation;
  if (antialias && interpolation === 'bilinear') return 'triangle';
  if (antialias && interpolation === 'bicubic') return 'keyscubic';
  return null;
}
