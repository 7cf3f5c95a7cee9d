import type { HostTensor } from '../core/tensor.js';

/**
 * The lifted model: plain data between recognition (recognise.ts) and the writers
 * (keras-config.ts, keras-weights.ts, python.ts). Nothing here knows TensorFlow's graph or
 * Keras' file format.
 */

/** One argument of a layer or op call: a lifted tensor, or a constant (JSON-serialisable, or an array). */
export type CallArg =
  | { kind: 'tensor'; tensor: string }
  | { kind: 'tensors'; tensors: string[] }
  | { kind: 'array'; value: HostTensor }
  | { kind: 'value'; value: number | string | boolean | null | (number | null)[] };

export interface LiftedLayer {
  /** Keras name: unique, from the TF scope. */
  name: string;
  /** 'layer': a stock keras.layers class; 'op': a keras.ops operation (keras.src.ops.*). */
  kind: 'layer' | 'op';
  className: string;
  /** `keras.layers`, or the ops module (`keras.src.ops.numpy`, `keras.src.ops.nn`, ...). */
  module: string;
  /** The class' own config keys (name, trainable and dtype are added by the writer). */
  config: Record<string, unknown>;
  /** Variables in Keras' own order (as `layer.weights` lists them). */
  weights: { name: string; value: HostTensor }[];
  /** Positional call arguments. */
  args: CallArg[];
  /** The lifted tensor this call produces (its id is the TF tensor key it stands for). */
  output: string;
  /** Output shape with the batch dimension as null (full static shape for ops that remove or add axis 0). */
  shape: (number | null)[];
  /** Output dtype where it is not float32 (an integer input's, before its Cast; a Cast to int32). */
  dtype?: string;
  /** The original's tensor this layer's output equals (none for helper layers inside a pattern). */
  stands?: string;
  /** The TF nodes this layer computes (first is the anchor the name came from). */
  nodes: string[];
}

export interface LiftedInput {
  /** Keras InputLayer name (the original's input name where Keras allows it). */
  name: string;
  /** The original's input (Placeholder) name: the feed name. */
  original: string;
  shape: (number | null)[];
  dtype: string;
  /** Lifted tensor id. */
  tensor: string;
}

export interface LiftedModel {
  name: string;
  inputs: LiftedInput[];
  /** In an order where every argument is produced before it is used. */
  layers: LiftedLayer[];
  /** Lifted tensor ids of the outputs, with the original tensor each one stands for. */
  outputs: { tensor: string; original: string }[];
}

/** An op or pattern that cannot be expressed, with every node that has it. */
export interface Unliftable {
  what: string;
  nodes: string[];
}

/** Where a lifted tensor comes from: an input, or output 0 of a layer. */
export function producerOf(model: LiftedModel, tensor: string): { layer: string; index: number } {
  const input = model.inputs.find((i) => i.tensor === tensor);
  if (input) return { layer: input.name, index: 0 };
  const layer = model.layers.find((l) => l.output === tensor);
  if (!layer) throw new Error(`lifted model: no producer for tensor '${tensor}'`);
  return { layer: layer.name, index: 0 };
}
