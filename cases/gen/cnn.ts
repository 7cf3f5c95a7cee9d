import seedrandom from 'seedrandom';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import type { Attr, Graph } from '../../src/graph/ir.js';

/**
 * The example model of the bundled cases and of the fault-injection tests: a small CNN as a
 * TensorFlow graph whose node scopes follow Keras layer names, so a Keras conversion pairs by
 * name. Weights are seeded, so every conversion built from `cnnWeights()` holds the same numbers.
 *
 *   x [1,8,8,3] -> conv1 (Conv2D 3x3 SAME +bias, ReLU) -> bn1 (FusedBatchNormV3, eps 1e-3)
 *     -> pool1 (MaxPool 2x2) -> dw1 (DepthwiseConv2dNative 3x3 SAME +bias, ReLU6)
 *     -> flatten (Reshape [1,64]) -> fc1 (MatMul +bias) -> probs (Softmax)
 */
export interface CnnWeights {
  conv1Kernel: Float32Array; // HWIO [3,3,3,4]
  conv1Bias: Float32Array; // [4]
  bnGamma: Float32Array;
  bnBeta: Float32Array;
  bnMean: Float32Array;
  bnVar: Float32Array;
  dwKernel: Float32Array; // [3,3,4,1]
  dwBias: Float32Array; // [4]
  fcKernel: Float32Array; // [64,10]
  fcBias: Float32Array; // [10]
}

export const CNN_INPUT_SHAPE = [1, 8, 8, 3];
export const BN_EPSILON = 1e-3;

function rand(rng: () => number, n: number, scale: number, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale + offset);
}

export function cnnWeights(seed = 'tf-parity-cnn'): CnnWeights {
  const rng = seedrandom(seed);
  return {
    conv1Kernel: rand(rng, 3 * 3 * 3 * 4, 0.5),
    conv1Bias: rand(rng, 4, 0.1),
    bnGamma: rand(rng, 4, 0.2, 1),
    bnBeta: rand(rng, 4, 0.1),
    bnMean: rand(rng, 4, 0.2, 0.3),
    bnVar: rand(rng, 4, 0.2, 0.6),
    dwKernel: rand(rng, 3 * 3 * 4, 0.6),
    dwBias: rand(rng, 4, 0.1, 0.05),
    fcKernel: rand(rng, 64 * 10, 0.4),
    fcBias: rand(rng, 10, 0.1),
  };
}

/** Faults a hand conversion typically has; each changes exactly one layer. */
export type CnnFault =
  | 'none'
  | 'conv1-weight' // one kernel value off
  | 'bn1-epsilon' // epsilon 1e-3 -> 1e-1
  | 'dw1-padding' // SAME (1,1) -> EXPLICIT (0,2): same shape, shifted window
  | 'dw1-activation' // ReLU6 forgotten (linear)
  | 'fc1-transposed'; // kernel read in the wrong order

/** HWIO kernel with H and W swapped (a kernel transposed by mistake). */
export function swapHW(k: Float32Array, h: number, w: number, i: number, o: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < i * o; c++) out[(x * h + y) * i * o + c] = k[(y * w + x) * i * o + c]!;
  return out;
}

/** fc kernel [64,10] read as if it were stored [10,64] (row-major confusion). */
export function misreadKernel(k: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = k[c * rows + r] ?? 0;
  return out;
}

export function applyFault(w: CnnWeights, fault: CnnFault): CnnWeights {
  const v = { ...w };
  if (fault === 'conv1-weight') {
    v.conv1Kernel = w.conv1Kernel.slice();
    v.conv1Kernel[5] = v.conv1Kernel[5]! + 0.75;
  }
  if (fault === 'fc1-transposed') v.fcKernel = misreadKernel(w.fcKernel, 64, 10);
  return v;
}

/** The CNN as a TensorFlow graph (the "original"), optionally with one fault injected. */
export function cnnGraph(weights: CnnWeights = cnnWeights(), fault: CnnFault = 'none', path = 'cnn.pb'): Graph {
  const w = applyFault(weights, fault);
  const g = new GraphBuilder();
  const f32 = (shape: number[], d: Float32Array) => host('float32', shape, d);
  const nhwc = { data_format: A.str('NHWC') };
  g.placeholder('x', 'float32', [-1, 8, 8, 3]);
  g.const('conv1/kernel', f32([3, 3, 3, 4], w.conv1Kernel));
  g.const('conv1/bias', f32([4], w.conv1Bias));
  g.op('Conv2D', 'conv1/Conv2D', ['x', 'conv1/kernel'], { ...nhwc, T: A.dtype('float32'), strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), dilations: A.ints([1, 1, 1, 1]) });
  g.op('BiasAdd', 'conv1/BiasAdd', ['conv1/Conv2D', 'conv1/bias'], { ...nhwc, T: A.dtype('float32') });
  g.op('Relu', 'conv1/Relu', ['conv1/BiasAdd'], { T: A.dtype('float32') });
  g.const('bn1/gamma', f32([4], w.bnGamma));
  g.const('bn1/beta', f32([4], w.bnBeta));
  g.const('bn1/moving_mean', f32([4], w.bnMean));
  g.const('bn1/moving_variance', f32([4], w.bnVar));
  g.op('FusedBatchNormV3', 'bn1/FusedBatchNormV3', ['conv1/Relu', 'bn1/gamma', 'bn1/beta', 'bn1/moving_mean', 'bn1/moving_variance'], {
    ...nhwc,
    T: A.dtype('float32'),
    U: A.dtype('float32'),
    epsilon: A.float(fault === 'bn1-epsilon' ? 1e-1 : BN_EPSILON),
    is_training: A.bool(false),
  });
  g.op('MaxPool', 'pool1/MaxPool', ['bn1/FusedBatchNormV3'], { ...nhwc, T: A.dtype('float32'), ksize: A.ints([1, 2, 2, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.str('VALID') });
  g.const('dw1/depthwise_kernel', f32([3, 3, 4, 1], w.dwKernel));
  g.const('dw1/bias', f32([4], w.dwBias));
  const dwPad: Record<string, Attr> =
    fault === 'dw1-padding'
      ? { padding: A.str('EXPLICIT'), explicit_paddings: A.ints([0, 0, 0, 2, 0, 2, 0, 0]) }
      : { padding: A.str('SAME') };
  g.op('DepthwiseConv2dNative', 'dw1/depthwise', ['pool1/MaxPool', 'dw1/depthwise_kernel'], { ...nhwc, T: A.dtype('float32'), strides: A.ints([1, 1, 1, 1]), dilations: A.ints([1, 1, 1, 1]), ...dwPad });
  g.op('BiasAdd', 'dw1/BiasAdd', ['dw1/depthwise', 'dw1/bias'], { ...nhwc, T: A.dtype('float32') });
  g.op(fault === 'dw1-activation' ? 'Identity' : 'Relu6', 'dw1/Relu6', ['dw1/BiasAdd'], { T: A.dtype('float32') });
  g.const('flatten/shape', host('int32', [2], [-1, 64]));
  g.op('Reshape', 'flatten/Reshape', ['dw1/Relu6', 'flatten/shape'], { T: A.dtype('float32'), Tshape: A.dtype('int32') });
  g.const('fc1/kernel', f32([64, 10], w.fcKernel));
  g.const('fc1/bias', f32([10], w.fcBias));
  g.op('MatMul', 'fc1/MatMul', ['flatten/Reshape', 'fc1/kernel'], { T: A.dtype('float32'), transpose_a: A.bool(false), transpose_b: A.bool(false) });
  g.op('BiasAdd', 'fc1/BiasAdd', ['fc1/MatMul', 'fc1/bias'], { ...nhwc, T: A.dtype('float32') });
  g.op('Softmax', 'probs/Softmax', ['fc1/BiasAdd'], { T: A.dtype('float32') });
  return g.build(['probs/Softmax'], path);
}

/** Layer of the CNN each fault lives in (what the tool must name as the root cause). */
export const FAULT_LAYER: Record<Exclude<CnnFault, 'none'>, string> = {
  'conv1-weight': 'conv1',
  'bn1-epsilon': 'bn1',
  'dw1-padding': 'dw1',
  'dw1-activation': 'dw1',
  'fc1-transposed': 'fc1',
};
