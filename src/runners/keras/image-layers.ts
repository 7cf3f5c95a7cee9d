import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';
import { resizeBicubicWeights, resizeKernel, resizeSeparable, scaleAndTranslateWeights } from './resize.js';

/**
 * Keras image preprocessing and augmentation layers at inference, and Flatten as Keras defines
 * it, registered under their Keras class names (over tfjs' own where tfjs differs):
 *
 * - the random augmentation layers (RandomFlip, RandomRotation, RandomZoom, ...): Keras applies
 *   them only when training, so at inference each is the identity;
 * - RandomCrop: not the identity. At inference Keras crops the largest centred box of the
 *   target aspect ratio (crop_height = min(H, int(W * height / width)), likewise the width;
 *   start = int((H - crop_height) / 2)) and resizes it to (height, width) bilinearly when its
 *   size differs (random_crop.py, get_random_transformation's inference branch);
 * - Resizing: `tf.image.resize` (half-pixel centres) to (height, width): bilinear, nearest,
 *   bicubic, lanczos3, lanczos5, with or without antialias (resize.ts has the TF ops tfjs lacks).
 *   tfjs' Resizing drops the batch dimension from its output shape and resizes with
 *   align_corners, so it is replaced. crop_to_aspect_ratio crops the same centred box as
 *   RandomCrop first; pad_to_aspect_ratio pads as Keras 3's TF backend does (keras/src/backend/
 *   tensorflow/image.py resize: the padded size int(W * height / width) (or the width likewise),
 *   int((padded - H) / 2) rows of fill_value above and as many below, then the resize). area
 *   interpolation and fill modes other than constant are refused by config.ts (resizingRefusal);
 * - Flatten: on a rank-2 input Keras returns it unchanged (tfjs refuses rank < 3).
 */

type Shape = (number | null)[];
type Args = Record<string, unknown>;

/** Keras' random augmentation layers, all the identity at inference. */
export const RANDOM_AUGMENTATIONS = [
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness',
  'RandomHeight', 'RandomWidth', 'RandomGrayscale', 'RandomHue', 'RandomSaturation', 'RandomSharpness',
  'RandomShear', 'RandomColorJitter', 'RandomColorDegeneration', 'RandomPosterization', 'RandomInvert',
  'RandomErasing', 'RandomGaussianBlur', 'RandomPerspective', 'RandomElasticTransform', 'RandAugment', 'AugMix',
  'MixUp', 'CutMix',
] as const;

const Layer = tfl.layers.Layer as unknown as new (args: Args) => tfl.layers.Layer;

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

function oneShape(s: Shape | Shape[]): Shape {
  return Array.isArray(s[0]) || s[0] === undefined ? ((s as Shape[])[0] ?? []) : (s as Shape);
}

function channelsFirst(args: Args): boolean {
  const f = args.dataFormat ?? args.data_format;
  return f === 'channelsFirst' || f === 'channels_first';
}

/** Why Resizing with this config cannot be run as Keras runs it, or null. */
export function resizingRefusal(cfg: Args): string | null {
  const interp = String(cfg.interpolation ?? 'bilinear');
  if (!RESIZE_INTERPOLATIONS.includes(interp)) return `Resizing with interpolation='${interp}'`;
  if (cfg.pad_to_aspect_ratio === true && cfg.crop_to_aspect_ratio === true) return 'Resizing with both pad_to_aspect_ratio and crop_to_aspect_ratio';
  if (cfg.pad_to_aspect_ratio === true && cfg.fill_mode !== undefined && cfg.fill_mode !== 'constant') return `Resizing with pad_to_aspect_ratio and fill_mode='${String(cfg.fill_mode)}'`;
  return null;
}

/** The interpolations run as tf.image.resize runs them ('area' and others are refused). */
const RESIZE_INTERPOLATIONS = ['bilinear', 'nearest', 'bicubic', 'lanczos3', 'lanczos5'];

/** Rows (and columns) of fill_value Keras 3 puts on each side with pad_to_aspect_ratio: [rows, cols]. */
export function aspectPadding(h: number, w: number, height: number, width: number): [number, number] {
  const f32 = Math.fround;
  const ph = Math.max(h, Math.trunc(f32(f32(w * height) / width)));
  const pw = Math.max(w, Math.trunc(f32(f32(h * width) / height)));
  return [Math.trunc(f32(ph - h) / 2), Math.trunc(f32(pw - w) / 2)];
}

interface ResizeMode {
  interpolation: string;
  antialias: boolean;
  /** pad_to_aspect_ratio's fill value, or null. */
  pad: number | null;
}

/** The centred box of aspect ratio height:width inside an h x w image: [top, left, rows, cols]. */
export function centredBox(h: number, w: number, height: number, width: number): [number, number, number, number] {
  const ch = Math.max(Math.min(h, Math.trunc((w * height) / width)), 1);
  const cw = Math.max(Math.min(w, Math.trunc((h * width) / height)), 1);
  return [Math.trunc((h - ch) / 2), Math.trunc((w - cw) / 2), ch, cw];
}

/** NHWC (or NCHW) images cropped to `box` if given, then resized to (height, width) with half-pixel centres. */
function cropResize(x: tf.Tensor, height: number, width: number, mode: ResizeMode, first: boolean, box: [number, number, number, number] | null): tf.Tensor {
  return tf.tidy(() => {
    let img = (first ? tf.transpose(x, [0, 2, 3, 1]) : x) as tf.Tensor4D;
    if (box) img = tf.slice(img, [0, box[0], box[1], 0], [-1, box[2], box[3], -1]);
    if (mode.pad !== null) {
      const [ph, pw] = aspectPadding(img.shape[1], img.shape[2], height, width);
      if (ph > 0 || pw > 0) img = tf.pad(img, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode.pad);
    }
    const kernel = resizeKernel(mode.interpolation, mode.antialias);
    if (kernel) {
      img = resizeSeparable(img, scaleAndTranslateWeights(img.shape[1], height, kernel, mode.antialias), scaleAndTranslateWeights(img.shape[2], width, kernel, mode.antialias), height, width);
    } else if (mode.interpolation === 'bicubic') {
      img = resizeSeparable(img, resizeBicubicWeights(img.shape[1], height), resizeBicubicWeights(img.shape[2], width), height, width);
    } else if (img.shape[1] !== height || img.shape[2] !== width) {
      img = mode.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(img, [height, width], false, true) : tf.image.resizeBilinear(img, [height, width], false, true);
    }
    return first ? tf.transpose(img, [0, 3, 1, 2]) : tf.clone(img);
  });
}

let registered = false;

export function registerImageLayers(): void {
  if (registered) return;
  registered = true;

  const identity = (className: string) =>
    class extends Layer {
      static className = className;
      override computeOutputShape(s: Shape | Shape[]): Shape {
        return oneShape(s);
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = one(inputs);
        return tf.reshape(x, x.shape);
      }
    };

  /** Resizing and RandomCrop: a fixed (height, width), NHWC or NCHW, rank 4 (a batch) or 3. */
  const resizeTo = (className: 'Resizing' | 'RandomCrop') =>
    class extends Layer {
      static className = className;
      private readonly height: number;
      private readonly width: number;
      private readonly mode: ResizeMode;
      private readonly crop: boolean;
      private readonly first: boolean;
      constructor(args: Args) {
        super(args);
        this.height = Number(args.height);
        this.width = Number(args.width);
        if (!(Number.isInteger(this.height) && this.height > 0 && Number.isInteger(this.width) && this.width > 0)) {
          throw new Error(`${className} height and width must be positive ints, got ${JSON.stringify([args.height, args.width])}`);
        }
        const resizing = className === 'Resizing';
        this.mode = {
          interpolation: resizing && typeof args.interpolation === 'string' ? args.interpolation : 'bilinear',
          antialias: resizing && args.antialias === true,
          pad: resizing && args.padToAspectRatio === true ? Number(args.fillValue ?? 0) : null,
        };
        this.crop = className === 'RandomCrop' || args.cropToAspectRatio === true;
        this.first = channelsFirst(args);
      }
      private axes(rank: number): [number, number] {
        return this.first ? [rank - 2, rank - 1] : [rank - 3, rank - 2];
      }
      override computeOutputShape(s: Shape | Shape[]): Shape {
        const out = [...oneShape(s)];
        const [h, w] = this.axes(out.length);
        out[h] = this.height;
        out[w] = this.width;
        return out;
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => {
          const x0 = one(inputs);
          if (x0.rank !== 3 && x0.rank !== 4) throw new Error(`${className} takes images of rank 3 or 4, got rank ${x0.rank}`);
          const x = x0.rank === 3 ? tf.expandDims(x0, 0) : x0;
          const [ha, wa] = this.axes(4);
          const box = this.crop ? centredBox(x.shape[ha]!, x.shape[wa]!, this.height, this.width) : null;
          const y = cropResize(tf.cast(x, 'float32'), this.height, this.width, this.mode, this.first, box);
          return x0.rank === 3 ? tf.squeeze(y, [0]) : y;
        });
      }
      override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
        return { ...super.getConfig(), height: this.height, width: this.width };
      }
    };

  // tfjs' Flatten, which refuses rank 2: Keras returns such an input unchanged.
  const TfjsFlatten = Object.getPrototypeOf(tfl.layers.flatten()).constructor as new (args: Args) => tfl.layers.Layer & { inputSpec: unknown };
  class Flatten extends TfjsFlatten {
    static className = 'Flatten';
    constructor(args: Args) {
      super(args);
      this.inputSpec = [{ minNDim: 2 }];
    }
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const shape = oneShape(s);
      return shape.length === 2 ? shape : (super.computeOutputShape(s) as Shape);
    }
    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Args): tf.Tensor | tf.Tensor[] {
      const x = one(inputs);
      return x.rank === 2 ? tf.reshape(x, x.shape) : super.call(inputs, kwargs);
    }
  }

  const classes = [...RANDOM_AUGMENTATIONS.map(identity), resizeTo('Resizing'), resizeTo('RandomCrop'), Flatten];
  for (const c of classes) tf.serialization.registerClass(c as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}
