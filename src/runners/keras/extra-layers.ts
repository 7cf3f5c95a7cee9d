import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';

/**
 * Keras layers that tfjs-layers lacks and that are simple enough to be written here. Each one
 * follows its Keras 3 definition (keras/src/layers/...) at inference, and is registered under
 * its Keras class name so that a config naming it builds as any other layer:
 *
 * - Subtract: `inputs[0] - inputs[1]` (merging/subtract.py), with broadcasting;
 * - ZeroPadding1D: zeros before and after the steps axis (reshaping/zero_padding1d.py; the
 *   steps axis is 1, or 2 with data_format channels_first);
 * - Cropping1D: steps cut at both ends (reshaping/cropping1d.py);
 * - UpSampling1D: each step repeated `size` times (`ops.repeat(x, size, axis=1)`);
 * - GlobalAveragePooling3D / GlobalMaxPooling3D: over the three spatial axes, keepdims or not;
 * - GroupNormalization, Normalization, DepthwiseConv1D, SeparableConv1D, Conv1DTranspose: see
 *   the classes;
 * - SpatialDropout2D / SpatialDropout3D / ActivityRegularization: the identity at inference.
 *
 * And two tfjs-layers classes replaced where they compute wrongly: BatchNormalization over an
 * axis other than the last (wasm), SeparableConv2D channels_first with a bias.
 */

type Shape = (number | null)[];
type Args = Record<string, unknown>;
type LayerCtor = new (args: Args) => tfl.layers.Layer;
type Config = ReturnType<tfl.layers.Layer['getConfig']>;

const Layer = tfl.layers.Layer as unknown as LayerCtor;

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

function oneShape(s: Shape | Shape[]): Shape {
  return Array.isArray(s[0]) || s[0] === undefined ? ((s as Shape[])[0] ?? []) : (s as Shape);
}

/** An int or a pair of ints: the pair. */
function pair(v: unknown, what: string): [number, number] {
  const p = typeof v === 'number' ? [v, v] : Array.isArray(v) ? v : null;
  if (!p || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= 0)) throw new Error(`${what} must be a non-negative int or a pair of them, got ${JSON.stringify(v)}`);
  return [p[0] as number, p[1] as number];
}

/** A positive int, or a list of one (Keras writes kernel_size as [3]); `dflt` when absent. */
function positiveInt(v: unknown, what: string, dflt: number): number {
  const x = Array.isArray(v) ? (v.length === 1 ? v[0] : NaN) : (v ?? dflt);
  if (!Number.isInteger(x) || (x as number) < 1) throw new Error(`${what} must be a positive int, got ${JSON.stringify(v)}`);
  return x as number;
}

/** layer.addWeight (protected in tfjs' types): a weight starting at ones or zeros. */
function addWeight(layer: object, name: string, shape: number[], init: 'ones' | 'zeros' = 'zeros', trainable = true, dtype: 'int32' | null = null): tfl.LayerVariable {
  return (layer as { addWeight(n: string, s: number[], d: string | null, i: unknown, r: null, t: boolean): tfl.LayerVariable }).addWeight(name, shape, dtype, tfl.initializers[init](), null, trainable);
}

function dataFormat(args: Args): 'channels_last' | 'channels_first' {
  const f = args.dataFormat ?? args.data_format ?? 'channelsLast';
  return f === 'channelsFirst' || f === 'channels_first' ? 'channels_first' : 'channels_last';
}

/** Broadcast of two shapes (null: unknown), as the merge layers allow. */
function broadcast(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 1 : a[a.length - n + i]!;
    const y = i < n - b.length ? 1 : b[b.length - n + i]!;
    out.push(x === 1 ? y : y === 1 ? x : x === null ? y : x);
  }
  return out;
}

let registered = false;

/**
 * Config options these layers implement that config.ts refuses for tfjs' own layers (which
 * would ignore them): keepdims on the 3-D global poolings, groups on GroupNormalization.
 */
const IMPLEMENTED_OPTIONS: Record<string, readonly string[]> = {
  GlobalAveragePooling3D: ['keepdims'],
  GlobalMaxPooling3D: ['keepdims'],
  GroupNormalization: ['groups'],
};

/** Whether layer class `cls` as written here implements config option `option`. */
export function implementsOption(cls: string, option: string): boolean {
  return IMPLEMENTED_OPTIONS[cls]?.includes(option) ?? false;
}

/** Registers the layers with tfjs' serialization (once). */
export function registerExtraLayers(): void {
  if (registered) return;
  registered = true;

  /** A layer whose output has its input's shape. */
  class SameShape extends Layer {
    override computeOutputShape(s: Shape | Shape[]): Shape {
      return oneShape(s);
    }
  }

  class Subtract extends Layer {
    static className = 'Subtract';
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const shapes = s as Shape[];
      if (!Array.isArray(shapes[0]) || shapes.length !== 2) throw new Error(`Subtract takes exactly 2 inputs, got ${Array.isArray(shapes[0]) ? shapes.length : 1}`);
      return broadcast(shapes[0] as Shape, shapes[1] as Shape);
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error('Subtract takes exactly 2 inputs');
      return tf.sub(inputs[0]!, inputs[1]!);
    }
  }

  class ZeroPadding1D extends Layer {
    static className = 'ZeroPadding1D';
    private readonly padding: [number, number];
    private readonly axis: number;
    constructor(args: Args) {
      super(args);
      this.padding = pair(args.padding ?? 1, 'ZeroPadding1D padding');
      this.axis = dataFormat(args) === 'channels_first' ? 2 : 1;
    }
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const out = [...oneShape(s)];
      const d = out[this.axis];
      out[this.axis] = d === null || d === undefined ? null : d + this.padding[0] + this.padding[1];
      return out;
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      const x = one(inputs);
      const pads = x.shape.map((_, i) => (i === this.axis ? this.padding : [0, 0])) as [number, number][];
      return tf.pad(x, pads);
    }
    override getConfig(): Config {
      return { ...super.getConfig(), padding: this.padding };
    }
  }

  class Cropping1D extends Layer {
    static className = 'Cropping1D';
    private readonly cropping: [number, number];
    constructor(args: Args) {
      super(args);
      this.cropping = pair(args.cropping ?? [1, 1], 'Cropping1D cropping');
    }
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const out = [...oneShape(s)];
      const d = out[1];
      out[1] = d === null || d === undefined ? null : d - this.cropping[0] - this.cropping[1];
      if (out[1] !== null && out[1] < 0) throw new Error(`Cropping1D crops ${this.cropping[0] + this.cropping[1]} steps of ${d}`);
      return out;
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      const x = one(inputs);
      const keep = x.shape[1]! - this.cropping[0] - this.cropping[1];
      if (keep < 0) throw new Error(`Cropping1D crops ${this.cropping[0] + this.cropping[1]} steps of ${x.shape[1]}`);
      return tf.slice(x, x.shape.map((_, i) => (i === 1 ? this.cropping[0] : 0)), x.shape.map((d, i) => (i === 1 ? keep : d)));
    }
    override getConfig(): Config {
      return { ...super.getConfig(), cropping: this.cropping };
    }
  }

  class UpSampling1D extends Layer {
    static className = 'UpSampling1D';
    private readonly size: number;
    constructor(args: Args) {
      super(args);
      this.size = positiveInt(args.size, 'UpSampling1D size', 2);
    }
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const out = [...oneShape(s)];
      const d = out[1];
      out[1] = d === null || d === undefined ? null : d * this.size;
      return out;
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      const x = one(inputs);
      // [b, steps, f] -> [b, steps, size, f] -> [b, steps * size, f]: each step `size` times in a row.
      return tf.tidy(() => {
        const [b, steps, ...rest] = x.shape as number[];
        return tf.reshape(tf.tile(tf.expandDims(x, 2), [1, 1, this.size, ...rest.map(() => 1)]), [b!, steps! * this.size, ...rest]);
      });
    }
    override getConfig(): Config {
      return { ...super.getConfig(), size: this.size };
    }
  }

  const globalPool3D = (className: string, reduce: (x: tf.Tensor, axes: number[], keepDims: boolean) => tf.Tensor) =>
    class extends Layer {
      static className = className;
      private readonly channelsFirst: boolean;
      private readonly keepdims: boolean;
      constructor(args: Args) {
        super(args);
        this.channelsFirst = dataFormat(args) === 'channels_first';
        this.keepdims = args.keepdims === true;
      }
      private axes(): number[] {
        return this.channelsFirst ? [2, 3, 4] : [1, 2, 3];
      }
      override computeOutputShape(s: Shape | Shape[]): Shape {
        const shape = oneShape(s);
        const axes = this.axes();
        return this.keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return reduce(one(inputs), this.axes(), this.keepdims);
      }
      override getConfig(): Config {
        return { ...super.getConfig(), data_format: this.channelsFirst ? 'channels_first' : 'channels_last', keepdims: this.keepdims };
      }
    };

  const identity = (className: string) =>
    class extends SameShape {
      static className = className;
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        // A handle of its own (the caller disposes what a layer returns), sharing the data.
        const x = one(inputs);
        return tf.reshape(x, x.shape);
      }
    };

  /**
   * GroupNormalization (normalization/group_normalization.py): the channels (on `axis`) split
   * into `groups`; each group normalised over it and every axis but the batch, with the biased
   * variance; then gamma and beta per channel, computed as Keras does: x * inv + (beta - mean *
   * inv), inv = gamma / sqrt(variance + epsilon).
   */
  class GroupNormalization extends SameShape {
    static className = 'GroupNormalization';
    private readonly groups: number;
    private readonly axisArg: number;
    private readonly epsilon: number;
    private readonly center: boolean;
    private readonly scale: boolean;
    private gamma: tfl.LayerVariable | null = null;
    private beta: tfl.LayerVariable | null = null;
    constructor(args: Args) {
      super(args);
      this.groups = positiveInt(args.groups, 'GroupNormalization groups', 32);
      const axis = args.axis ?? -1;
      if (!Number.isInteger(axis)) throw new Error(`GroupNormalization axis must be an int, got ${JSON.stringify(axis)}`);
      this.axisArg = axis as number;
      this.epsilon = typeof args.epsilon === 'number' ? args.epsilon : 1e-3;
      this.center = args.center !== false;
      this.scale = args.scale !== false;
    }
    private axisOf(rank: number): number {
      const a = this.axisArg < 0 ? rank + this.axisArg : this.axisArg;
      if (a <= 0 || a >= rank) throw new Error(`GroupNormalization axis ${this.axisArg} does not fit an input of rank ${rank}`);
      return a;
    }
    override build(s: Shape | Shape[]): void {
      const shape = oneShape(s);
      const c = shape[this.axisOf(shape.length)];
      if (typeof c !== 'number') throw new Error('GroupNormalization needs a known number of channels');
      if (c % this.groups) throw new Error(`GroupNormalization: ${c} channels do not split into ${this.groups} groups`);
      if (this.scale) this.gamma = addWeight(this, 'gamma', [c], 'ones');
      if (this.center) this.beta = addWeight(this, 'beta', [c], 'zeros');
      this.built = true;
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.tidy(() => {
        const x = one(inputs);
        const rank = x.rank;
        const axis = this.axisOf(rank);
        const c = x.shape[axis]!;
        const g = this.groups;
        // [..., C, ...] -> [..., groups, C / groups, ...]
        const grouped = [...x.shape.slice(0, axis), g, c / g, ...x.shape.slice(axis + 1)];
        const xr = tf.reshape(x, grouped);
        const axes = grouped.map((_, i) => i).filter((i) => i !== 0 && i !== axis);
        const { mean, variance } = tf.moments(xr, axes, true);
        const wShape = grouped.map((d, i) => (i === axis || i === axis + 1 ? d : 1));
        let inv = tf.rsqrt(tf.add(variance, this.epsilon));
        if (this.gamma) inv = tf.mul(inv, tf.reshape(this.gamma.read(), wShape));
        let res = tf.mul(tf.neg(mean), inv);
        if (this.beta) res = tf.add(res, tf.reshape(this.beta.read(), wShape));
        return tf.reshape(tf.add(tf.mul(xr, inv), res), x.shape);
      });
    }
    override getConfig(): Config {
      return { ...super.getConfig(), groups: this.groups, axis: this.axisArg, epsilon: this.epsilon, center: this.center, scale: this.scale };
    }
  }

  /**
   * Normalization (preprocessing/normalization.py): (x - mean) / max(sqrt(variance), 1e-7), or
   * with invert mean + x * max(sqrt(variance), 1e-7), mean and variance per position of the kept
   * axes (`axis`; none kept for axis=None). They come from the config when given there
   * (scalars, or arrays aligned to the kept axes from the right), else from the file: the
   * adapted variables mean, variance and count (int).
   */
  class Normalization extends SameShape {
    static className = 'Normalization';
    private readonly axes: number[];
    private readonly given: { mean: unknown; variance: unknown } | null;
    private readonly invert: boolean;
    /** build_config.input_shape (config-forms.ts moves it into the config). */
    private readonly buildShape: Shape | null;
    private keep: number[] = [];
    private broadcastShape: number[] = [];
    private constMean: tf.Tensor | null = null;
    private constVariance: tf.Tensor | null = null;
    private wMean: tfl.LayerVariable | null = null;
    private wVariance: tfl.LayerVariable | null = null;
    constructor(args: Args) {
      super(args);
      const axis = args.axis;
      this.axes = axis === null || axis === undefined ? (axis === null ? [] : [-1]) : Array.isArray(axis) ? (axis as number[]) : [axis as number];
      if (!this.axes.every((a) => Number.isInteger(a))) throw new Error(`Normalization axis must be an int, a list of ints or None, got ${JSON.stringify(axis)}`);
      const hasMean = args.mean !== null && args.mean !== undefined;
      const hasVar = args.variance !== null && args.variance !== undefined;
      if (hasMean !== hasVar) throw new Error('Normalization: mean and variance must be given together');
      this.given = hasMean ? { mean: args.mean, variance: args.variance } : null;
      this.invert = args.invert === true;
      const b = args.buildInputShape;
      this.buildShape = Array.isArray(b) ? (b as Shape) : null;
    }
    override build(s: Shape | Shape[]): void {
      // An axis the model leaves unknown takes its size from the shape Keras built the layer with.
      const built = this.buildShape;
      const shape = oneShape(s).map((d, i) => (d === null && built?.length === oneShape(s).length ? built[i] ?? null : d));
      const ndim = shape.length;
      if (this.axes.some((a) => a < -ndim || a >= ndim)) throw new Error(`Normalization axis ${JSON.stringify(this.axes)} does not fit an input of rank ${ndim}`);
      this.keep = [...new Set(this.axes.map((a) => (a < 0 ? a + ndim : a)))].sort((a, b) => a - b);
      for (const d of this.keep) if (typeof shape[d] !== 'number') throw new Error(`Normalization needs a known size on kept axis ${d}`);
      this.broadcastShape = shape.map((d, i) => (this.keep.includes(i) ? (d as number) : 1));
      const varShape = this.keep.map((d) => shape[d] as number);
      if (this.given) {
        const align = (v: unknown, what: string): tf.Tensor => {
          const t = tf.tensor(v as number[]);
          try {
            if (t.rank === 0) return tf.broadcastTo(t, this.broadcastShape);
            if (t.rank > this.keep.length) throw new Error(`Normalization ${what} has rank ${t.rank}, more than the ${this.keep.length} kept axes`);
            // Its dimensions go to the kept axes from the right.
            const expanded = new Array<number>(ndim).fill(1);
            for (let i = 1; i <= t.rank; i++) expanded[this.keep[this.keep.length - i]!] = t.shape[t.rank - i]!;
            return tf.tidy(() => tf.broadcastTo(tf.reshape(t, expanded), this.broadcastShape));
          } finally {
            t.dispose();
          }
        };
        this.constMean = tf.keep(align(this.given.mean, 'mean'));
        this.constVariance = tf.keep(align(this.given.variance, 'variance'));
      } else {
        this.wMean = addWeight(this, 'mean', varShape, 'zeros', false);
        this.wVariance = addWeight(this, 'variance', varShape, 'ones', false);
        addWeight(this, 'count', [], 'zeros', false, 'int32');
      }
      this.built = true;
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.tidy(() => {
        const x = one(inputs);
        const mean = this.constMean ?? tf.reshape(this.wMean!.read(), this.broadcastShape);
        const variance = this.constVariance ?? tf.reshape(this.wVariance!.read(), this.broadcastShape);
        const scale = tf.maximum(tf.sqrt(variance), 1e-7);
        return this.invert ? tf.add(mean, tf.mul(x, scale)) : tf.div(tf.sub(x, mean), scale);
      });
    }
    /** The per-channel mean and standard deviation it applies (input-hints.ts reads a pixel preamble from them); null before build or when inverted. */
    normalizationStats(): { mean: number[]; std: number[] } | null {
      if (!this.built || this.invert) return null;
      return tf.tidy(() => {
        const mean = this.constMean ?? tf.reshape(this.wMean!.read(), this.broadcastShape);
        const variance = this.constVariance ?? tf.reshape(this.wVariance!.read(), this.broadcastShape);
        return { mean: Array.from(mean.dataSync()), std: Array.from(tf.maximum(tf.sqrt(variance), 1e-7).dataSync()) };
      });
    }
    override dispose(): ReturnType<tfl.layers.Layer['dispose']> {
      tf.dispose([this.constMean, this.constVariance].filter((t): t is tf.Tensor => t !== null));
      return super.dispose();
    }
    override getConfig(): Config {
      return { ...super.getConfig(), axis: this.axes, invert: this.invert };
    }
  }

  /**
   * What the 1-D convolutions share: kernel_size, strides, padding (valid or same), use_bias,
   * data_format and activation from the config; the input as [batch, 1, steps, channels] for
   * tfjs' 2-D kernels, and the result back (bias, activation, channels_first).
   */
  abstract class Conv1DBase extends Layer {
    protected readonly kernelSize: number;
    protected readonly stride: number;
    protected readonly padding: 'valid' | 'same';
    protected readonly useBias: boolean;
    protected readonly channelsFirst: boolean;
    private readonly activationName: string;
    private readonly act: tfl.layers.Layer;
    protected bias: tfl.LayerVariable | null = null;
    constructor(args: Args, protected readonly what: string) {
      super(args);
      this.kernelSize = positiveInt(args.kernelSize, `${what} kernel_size`, NaN);
      this.stride = positiveInt(args.strides, `${what} strides`, 1);
      const pad = String(args.padding ?? 'valid').toLowerCase();
      if (pad !== 'valid' && pad !== 'same') throw new Error(`${what} padding must be 'valid' or 'same', got ${JSON.stringify(args.padding)}`);
      this.padding = pad;
      this.useBias = args.useBias !== false;
      this.channelsFirst = dataFormat(args) === 'channels_first';
      this.activationName = typeof args.activation === 'string' ? args.activation : 'linear';
      this.act = tfl.layers.activation({ activation: this.activationName as 'linear' });
    }
    /** The input's channels (build). */
    protected channels(s: Shape | Shape[]): number {
      const shape = oneShape(s);
      const c = shape[this.channelsFirst ? 1 : 2];
      if (shape.length !== 3 || typeof c !== 'number') throw new Error(`${this.what} needs an input of rank 3 with known channels`);
      return c;
    }
    protected abstract steps(n: number | null): number | null;
    protected abstract outChannels(c: number | null): number | null;
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const [b, x, y] = oneShape(s);
      const c = this.outChannels((this.channelsFirst ? x : y) ?? null);
      return this.channelsFirst ? [b ?? null, c, this.steps(y ?? null)] : [b ?? null, this.steps(x ?? null), c];
    }
    /** [batch, 1, steps, channels] -> the 2-D result. */
    protected abstract conv(x4: tf.Tensor4D): tf.Tensor4D;
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.tidy(() => {
        let x = one(inputs) as tf.Tensor3D;
        if (this.channelsFirst) x = tf.transpose(x, [0, 2, 1]);
        let y = this.conv(tf.expandDims(x, 1) as tf.Tensor4D);
        if (this.bias) y = tf.add(y, this.bias.read());
        const out = this.act.apply(tf.squeeze(y, [1])) as tf.Tensor3D;
        return this.channelsFirst ? tf.transpose(out, [0, 2, 1]) : out;
      });
    }
    override getConfig(): Config {
      return {
        ...super.getConfig(),
        kernel_size: this.kernelSize,
        strides: this.stride,
        padding: this.padding,
        use_bias: this.useBias,
        activation: this.activationName,
        data_format: this.channelsFirst ? 'channels_first' : 'channels_last',
      };
    }
  }

  /**
   * DepthwiseConv1D and SeparableConv1D (convolutional/depthwise_conv1d.py,
   * separable_conv1d.py): the steps axis convolved per input channel with `depth_multiplier`
   * kernels (output channel c * multiplier + m, as TF's depthwise convolution orders them), then
   * for SeparableConv1D a pointwise kernel; dilation too.
   */
  const depthwise1D = (className: 'DepthwiseConv1D' | 'SeparableConv1D') =>
    class extends Conv1DBase {
      static className = className;
      private readonly dilation: number;
      private readonly multiplier: number;
      private readonly filters: number;
      private depthwise: tfl.LayerVariable | null = null;
      private pointwise: tfl.LayerVariable | null = null;
      constructor(args: Args) {
        super(args, className);
        this.dilation = positiveInt(args.dilationRate, `${className} dilation_rate`, 1);
        if (this.stride > 1 && this.dilation > 1) throw new Error(`${className}: strides > 1 with dilation_rate > 1 is not supported (nor by Keras)`);
        this.multiplier = positiveInt(args.depthMultiplier, `${className} depth_multiplier`, 1);
        this.filters = className === 'SeparableConv1D' ? positiveInt(args.filters, `${className} filters`, NaN) : 0;
      }
      override build(s: Shape | Shape[]): void {
        const c = this.channels(s);
        this.depthwise = addWeight(this, className === 'SeparableConv1D' ? 'depthwise_kernel' : 'kernel', [this.kernelSize, c, this.multiplier]);
        if (className === 'SeparableConv1D') this.pointwise = addWeight(this, 'pointwise_kernel', [1, c * this.multiplier, this.filters]);
        if (this.useBias) this.bias = addWeight(this, 'bias', [className === 'SeparableConv1D' ? this.filters : c * this.multiplier]);
        this.built = true;
      }
      protected steps(n: number | null): number | null {
        if (n === null) return null;
        const span = (this.kernelSize - 1) * this.dilation + 1;
        return this.padding === 'same' ? Math.ceil(n / this.stride) : Math.max(0, Math.ceil((n - span + 1) / this.stride));
      }
      protected outChannels(c: number | null): number | null {
        return className === 'SeparableConv1D' ? this.filters : c === null ? null : c * this.multiplier;
      }
      protected conv(x4: tf.Tensor4D): tf.Tensor4D {
        const dw = tf.expandDims(this.depthwise!.read(), 0) as tf.Tensor4D;
        return className === 'SeparableConv1D'
          ? tf.separableConv2d(x4, dw, tf.expandDims(this.pointwise!.read(), 0) as tf.Tensor4D, [1, this.stride], this.padding, [1, this.dilation], 'NHWC')
          : tf.depthwiseConv2d(x4, dw, [1, this.stride], this.padding, 'NHWC', [1, this.dilation]);
      }
      override getConfig(): Config {
        return { ...super.getConfig(), dilation_rate: this.dilation, depth_multiplier: this.multiplier, ...(className === 'SeparableConv1D' ? { filters: this.filters } : {}) };
      }
    };

  /**
   * Conv1DTranspose (convolutional/conv1d_transpose.py): the gradient of a 1-D convolution,
   * kernel (size, filters, input channels); steps (n - 1) * strides + size with 'valid', n *
   * strides with 'same'. No dilation (tfjs' transposed convolution has none) and no
   * output_padding (config.ts refuses it).
   */
  class Conv1DTranspose extends Conv1DBase {
    static className = 'Conv1DTranspose';
    private readonly filters: number;
    private kernel: tfl.LayerVariable | null = null;
    constructor(args: Args) {
      super(args, 'Conv1DTranspose');
      this.filters = positiveInt(args.filters, 'Conv1DTranspose filters', NaN);
      if (positiveInt(args.dilationRate, 'Conv1DTranspose dilation_rate', 1) !== 1) throw new Error('Conv1DTranspose with dilation_rate > 1 is not supported');
    }
    override build(s: Shape | Shape[]): void {
      this.kernel = addWeight(this, 'kernel', [this.kernelSize, this.filters, this.channels(s)]);
      if (this.useBias) this.bias = addWeight(this, 'bias', [this.filters]);
      this.built = true;
    }
    protected steps(n: number | null): number | null {
      if (n === null) return null;
      return this.padding === 'same' ? n * this.stride : (n - 1) * this.stride + this.kernelSize;
    }
    protected outChannels(): number {
      return this.filters;
    }
    protected conv(x4: tf.Tensor4D): tf.Tensor4D {
      const k = tf.expandDims(this.kernel!.read(), 0) as tf.Tensor4D;
      return tf.conv2dTranspose(x4, k, [x4.shape[0], 1, this.steps(x4.shape[2])!, this.filters], [1, this.stride], this.padding);
    }
    override getConfig(): Config {
      return { ...super.getConfig(), filters: this.filters };
    }
  }

  const classes = [
    Subtract,
    Conv1DTranspose,
    depthwise1D('DepthwiseConv1D'),
    depthwise1D('SeparableConv1D'),
    Normalization,
    GroupNormalization,
    ZeroPadding1D,
    Cropping1D,
    UpSampling1D,
    globalPool3D('GlobalAveragePooling3D', (x, axes, keep) => tf.mean(x, axes, keep)),
    globalPool3D('GlobalMaxPooling3D', (x, axes, keep) => tf.max(x, axes, keep)),
    identity('SpatialDropout2D'),
    identity('SpatialDropout3D'),
    identity('ActivityRegularization'),
  ];
  for (const c of classes) tf.serialization.registerClass(c as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
  registerSeparableChannelsFirst();
  registerBatchNormalizationAnyAxis();
}

/**
 * tfjs' wasm BatchNorm kernel broadcasts mean/variance/offset/scale by the flat index modulo
 * their size, i.e. always along the last axis: a BatchNormalization over another axis (axis=1,
 * channels_first) silently normalises the wrong elements. At inference over any axis but the
 * last, this computes what Keras 3 computes (keras/src/backend/tensorflow/nn.py
 * batch_normalization -> tf.nn.batch_normalization): inv = rsqrt(variance + epsilon) * gamma;
 * x * inv + (beta - mean * inv), with the vectors reshaped onto the axis.
 */
function registerBatchNormalizationAnyAxis(): void {
  const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, [unknown, unknown]>;
  const Base = map.BatchNormalization?.[0] as (new (args: Args) => tfl.layers.Layer) | undefined;
  if (!Base) return;
  interface BatchNormFields {
    axis: number | number[];
    epsilon: number;
    movingMean: tfl.LayerVariable;
    movingVariance: tfl.LayerVariable;
    gamma: tfl.LayerVariable | null;
    beta: tfl.LayerVariable | null;
  }
  class BatchNormalization extends Base {
    static className = 'BatchNormalization';
    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Args): tf.Tensor | tf.Tensor[] {
      const me = this as unknown as BatchNormFields;
      const x = one(inputs);
      // Keras 2 configs hold the axis as a list of one ([3]).
      const axes = Array.isArray(me.axis) ? (me.axis as number[]) : [me.axis];
      const axis = axes.length === 1 ? (axes[0]! < 0 ? axes[0]! + x.rank : axes[0]!) : x.rank - 1;
      if (axis === x.rank - 1 || kwargs.training === true) return super.call(inputs, kwargs);
      return tf.tidy(() => {
        const shape = x.shape.map((d, i) => (i === axis ? d : 1));
        const on = (v: tf.Tensor) => tf.reshape(v, shape);
        let inv: tf.Tensor = tf.rsqrt(tf.add(me.movingVariance.read(), tf.scalar(me.epsilon)));
        if (me.gamma) inv = tf.mul(inv, me.gamma.read());
        const shift = me.beta ? tf.sub(me.beta.read(), tf.mul(me.movingMean.read(), inv)) : tf.neg(tf.mul(me.movingMean.read(), inv));
        return tf.add(tf.mul(x, on(inv)), on(shift));
      });
    }
  }
  tf.serialization.registerClass(BatchNormalization as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}

/**
 * tfjs-layers' SeparableConv2D moves channels_first input to NHWC, then adds the bias as if the
 * output were still channels_first (a broadcast error, or a wrong sum when H equals the filters).
 * Keras 3 adds it on the channel axis (base_separable_conv.py): here the bias and the activation
 * are applied in NHWC, before moving back. channels_last is tfjs' own code.
 */
function registerSeparableChannelsFirst(): void {
  const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, [unknown, unknown]>;
  const Base = map.SeparableConv2D?.[0] as (new (args: Args) => tfl.layers.Layer) | undefined;
  if (!Base) return;
  interface SeparableFields {
    dataFormat: string;
    depthwiseKernel: tfl.LayerVariable;
    pointwiseKernel: tfl.LayerVariable;
    bias: tfl.LayerVariable | null;
    useBias: boolean;
    strides: [number, number];
    padding: 'valid' | 'same';
    dilationRate: [number, number];
    activation: { apply(x: tf.Tensor): tf.Tensor } | null;
  }
  class SeparableConv2D extends Base {
    static className = 'SeparableConv2D';
    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Args): tf.Tensor | tf.Tensor[] {
      const me = this as unknown as SeparableFields;
      if (me.dataFormat !== 'channelsFirst') return super.call(inputs, kwargs);
      return tf.tidy(() => {
        const x = tf.transpose(one(inputs), [0, 2, 3, 1]) as tf.Tensor4D;
        let y: tf.Tensor = tf.separableConv2d(x, me.depthwiseKernel.read() as tf.Tensor4D, me.pointwiseKernel.read() as tf.Tensor4D, me.strides, me.padding, me.dilationRate, 'NHWC');
        if (me.useBias && me.bias) y = tf.add(y, me.bias.read());
        if (me.activation) y = me.activation.apply(y);
        return tf.transpose(y, [0, 3, 1, 2]);
      });
    }
  }
  tf.serialization.registerClass(SeparableConv2D as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}
