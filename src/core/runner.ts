import type * as tf from '@tensorflow/tfjs-core';
import type { TensorSpec } from './tensor.js';
import type { InputHint } from '../inputs/generate.js';

/** Memory layout hint for 4-D/5-D activations, so alignment can transpose. */
export type Layout = 'NHWC' | 'NCHW' | 'NDHWC' | 'NCDHW';

/**
 * One recorded output. The consumer of a Runner's iterator owns `tensor` and must dispose it.
 * `name` is the tensor key: `node` for output 0, `node:i` for output i.
 */
export interface Activation {
  name: string;
  /** Op type (reference, graph candidates) or layer class (Keras/tfjs layers). */
  type: string;
  tensor: tf.Tensor;
  /** Names of the activations this one was computed from (its direct inputs). */
  producedFrom: string[];
  layout?: Layout;
  /** Position in execution order, 0-based. */
  index: number;
  /** Which of its node's/layer's outputs this is (what runSingle's result is indexed by); 0 when absent. */
  outputIndex?: number;
  /**
   * What kind of layer computed it, when the runner knows (opRole): alignment past a divergence,
   * where values match nothing, pairs like with like (a TF conv with a fused PReLU with the
   * ONNX PRelu after the Conv, not with the Conv).
   */
  role?: OpRole;
}

/** 'affine': a convolution, matrix product, bias or batch norm; 'activation': an elementwise nonlinearity after one; 'pool': a max or average pooling. */
export type OpRole = 'affine' | 'activation' | 'pool';

const POOL_OPS = new Set(['MaxPool', 'MaxPoolV2', 'MaxPool3D', 'AvgPool', 'AvgPool3D', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool']);

const AFFINE_OPS = new Set([
  // TensorFlow
  'Conv2D', 'Conv3D', 'DepthwiseConv2dNative', 'Conv2DBackpropInput', 'MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BiasAdd', 'BiasAddV1',
  'FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3', '_FusedConv2D', 'FusedDepthwiseConv2dNative', '_FusedMatMul',
  // ONNX
  'Conv', 'ConvTranspose', 'Gemm', 'BatchNormalization',
]);
const ACTIVATION_OPS = new Set([
  'Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Prelu', 'Sigmoid', 'Tanh', 'Softplus', 'Softsign', 'Gelu', 'Swish', 'HardSwish', 'HardSigmoid', 'Mish',
  // ONNX (Clip: a ReLU6)
  'PRelu', 'Clip', 'ThresholdedRelu', 'Celu',
]);

/**
 * The role of a TensorFlow or ONNX op's output. A fused op (TF's _FusedConv2D with fused_ops
 * BiasAdd, Relu) is what its last fused op is: its output is the activation's.
 */
export function opRole(op: string, fusedOps?: readonly string[]): OpRole | undefined {
  const last = fusedOps?.length ? fusedOps[fusedOps.length - 1]! : undefined;
  if (last !== undefined && ACTIVATION_OPS.has(last)) return 'activation';
  if (ACTIVATION_OPS.has(op)) return 'activation';
  if (POOL_OPS.has(op)) return 'pool';
  return AFFINE_OPS.has(op) ? 'affine' : undefined;
}

export interface RunOptions {
  /** 'all' records every node output; a list records only those (plus the model outputs when outputsToo). */
  record?: 'all' | string[];
}

export type Feeds = Map<string, tf.Tensor>;

/** A model that can be run on feeds and yields per-layer outputs in execution order. */
/**
 * Which runner: the reference interpreter (every graph: frozen GraphDef, checkpoint, SavedModel,
 * tfjs graph model), Keras (.keras/.h5), tfjs layers, ONNX, recorded activations (.npz).
 */
export type RunnerKind = 'reference' | 'keras' | 'tfjs-layers' | 'onnx' | 'activations';

export interface Runner {
  readonly kind: RunnerKind;
  /** The file or folder it was loaded from. */
  readonly source: string;
  inputs(): TensorSpec[];
  /** Names of the model's final outputs. */
  outputs(): string[];
  run(feeds: Feeds, opts?: RunOptions): AsyncIterable<Activation>;
  /**
   * Re-runs one node/layer alone on the given inputs (used to separate a layer's own error from
   * the error it inherited). Optional: runners that cannot do this leave it undefined. An output
   * the node leaves dead (a TF1 Switch's untaken one) or cannot compute alone is `undefined`.
   */
  runSingle?(name: string, inputs: tf.Tensor[]): Promise<(tf.Tensor | undefined)[]>;
  /**
   * Default draws its inputs call for, by input name (token ids for an embedding, pixel values
   * for a `x / 255` preamble). Optional; a graph's are inferred from the graph instead.
   */
  inputHints?(): Map<string, InputHint>;
  /**
   * Files it read besides those its path names by itself (formats/files.ts: a folder's files,
   * a model.json's weight shards, a checkpoint's .index and .data): an ONNX model's external
   * data. Optional; the Result's sha256 covers them too.
   */
  files?(): string[];
  /**
   * What it does differently from the model as saved, to read the comparison with (a Keras
   * dtype policy computed in float32, weights in the file that no layer uses). The Result
   * carries them with the model's facts, and the reports show them.
   */
  readonly warnings?: readonly string[];
  dispose(): void;
}
