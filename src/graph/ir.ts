import type { DType } from '../core/dtype.js';
import type { HostTensor, Shape, TensorSpec } from '../core/tensor.js';

/** A function reference in an attribute (`f: {name: "body", attr {...}}`). */
export interface FuncRef {
  name: string;
  attrs: Record<string, Attr>;
}

/** A decoded AttrValue. No raw protobuf past src/formats. */
export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string; bytes: Uint8Array }
  | { type: 'dtype'; value: DType }
  | { type: 'shape'; value: Shape }
  | { type: 'tensor'; value: HostTensor }
  | { type: 'func'; value: FuncRef }
  | { type: 'placeholder'; value: string }
  | {
      type: 'list';
      ints: number[];
      floats: number[];
      strings: string[];
      bools: boolean[];
      dtypes: DType[];
      shapes: Shape[];
      tensors: HostTensor[];
      funcs: FuncRef[];
    };

export interface GraphNode {
  name: string;
  op: string;
  /** Inputs as written in the NodeDef: `x`, `x:1`, `^ctrl`. */
  inputs: string[];
  attrs: Record<string, Attr>;
  device?: string;
}

/** A function from a FunctionDefLibrary, with its body as nodes. */
export interface GraphFunction {
  name: string;
  inputArgs: { name: string; dtype?: DType; typeAttr?: string }[];
  outputArgs: { name: string; dtype?: DType; typeAttr?: string }[];
  /** Function output name -> body tensor (`node:out_name:idx` form as in FunctionDef.ret). */
  ret: Record<string, string>;
  nodes: GraphNode[];
  attrs: Record<string, Attr>;
}

export type GraphFormat = 'pb' | 'pbtxt' | 'tfjs-graph' | 'checkpoint' | 'saved-model';

export interface Graph {
  nodes: GraphNode[];
  functions: Map<string, GraphFunction>;
  /** Where it came from, for messages and reports. */
  source: { path: string; format: GraphFormat };
  /** Declared inputs (Placeholders, or a signature's inputs), in graph order. */
  inputs: TensorSpec[];
  /** Declared outputs: a signature's outputs, or the graph's sink nodes. `name` may be `node:1`. */
  outputs: string[];
  /**
   * The key a signature gives each of `outputs` (`y` for `StatefulPartitionedCall_5:0`), by
   * output name without ':0': what the model's users call its outputs. Only for a signature's outputs.
   */
  outputKeys?: Record<string, string>;
  producer?: number;
  /** Signature name -> (input alias -> tensor name, output alias -> tensor name), when known. */
  signatures?: Record<string, { inputs: Record<string, TensorSpec>; outputs: Record<string, TensorSpec> }>;
  /**
   * What the reader decided for the user that they should know (default outputs chosen, a
   * checkpoint found beside the .meta instead of where its state file points): shown by
   * `inspect` and `run`, carried as the runner's warnings.
   */
  notes?: string[];
  /** Variables resolved from a checkpoint (name -> value), used by VarHandleOp/VariableV2 kernels. */
  variables?: Map<string, HostTensor>;
}

/** Parse an input reference `name`, `name:2`, `^name` into parts. */
export function parseInputRef(ref: string): { node: string; index: number; control: boolean } {
  if (ref.startsWith('^')) return { node: ref.slice(1), index: 0, control: true };
  const m = /^(.*):(\d+)$/.exec(ref);
  if (m) return { node: m[1]!, index: Number(m[2]), control: false };
  return { node: ref, index: 0, control: false };
}

/** Canonical tensor key: `node` for output 0, `node:i` otherwise. */
export function tensorKey(node: string, index: number): string {
  return index === 0 ? node : `${node}:${index}`;
}
