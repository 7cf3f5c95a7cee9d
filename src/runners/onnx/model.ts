import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type protobuf from 'protobufjs';
import { FormatError, errorMessage } from '../../core/errors.js';
import type { TensorSpec } from '../../core/tensor.js';
import { onnxRoot } from '../../proto/index.js';
import type { LayoutNode } from './layout.js';
import { DTYPE_OF_ELEM, ELEM_OF_ORT_TYPE, type OrtType } from './tensors.js';

/**
 * An ONNX model as the runner needs it: its nodes in file (topological) order, which values are
 * constants, the graph inputs, and the two rewrites (every node output a graph output; one node
 * alone). Decoded messages are kept as protobufjs messages, so what is re-encoded keeps int64
 * values exact.
 */

// Views of decoded protobufjs messages: absent scalars read as the proto defaults.
interface Long { toString(): string }
type Int64 = number | Long;
interface AttributeMsg { name: string; type: number; ints: Int64[]; t?: TensorMsg | null }
interface StringEntry { key: string; value: string }
export interface TensorMsg { name: string; dims: Int64[]; data_type: number; raw_data: Uint8Array; int64_data: Int64[]; external_data: StringEntry[]; data_location: number }
// `value` is protobufjs's virtual oneof member: which of dim_value / dim_param is set.
interface DimMsg { dim_value?: Int64 | null; dim_param?: string | null; value?: string }
interface TypeMsg { tensor_type?: { elem_type: number; shape?: { dim: DimMsg[] } | null } | null }
interface ValueInfoMsg { name: string; type?: TypeMsg | null }
export interface NodeMsg { input: string[]; output: string[]; name: string; op_type: string; domain: string; attribute: AttributeMsg[] }
interface GraphMsg { node: NodeMsg[]; initializer: TensorMsg[]; sparse_initializer: { values?: TensorMsg | null }[]; input: ValueInfoMsg[]; output: ValueInfoMsg[]; value_info: ValueInfoMsg[] }
interface OpsetMsg { domain: string; version: Int64 }
interface FunctionMsg { name: string; domain: string }
export interface ModelMsg { ir_version: Int64; opset_import: OpsetMsg[]; graph?: GraphMsg | null; functions: FunctionMsg[] }

export function toNum(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v.toString());
}

export interface NodeInfo extends LayoutNode {
  /** The node's name, or `op_index` when it has none (names are optional in ONNX). */
  name: string;
  index: number;
  /** Non-empty inputs that are neither initializers nor Constant-node outputs, in order, repeats kept. */
  dataInputs: string[];
}

/** Ops whose outputs are not tensors; onnxruntime-node cannot hand those over. */
const NON_TENSOR_OPS = new Set(['SequenceConstruct', 'SequenceEmpty', 'SequenceInsert', 'SequenceErase', 'SplitToSequence', 'Optional', 'ZipMap']);

/** Domains onnxruntime's CPU provider has kernels for; others must be the model's own functions. */
const KNOWN_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft', 'com.microsoft.nchwc', 'com.ms.internal.nhwc', 'ai.onnx.training', 'ai.onnx.preview.training', 'com.microsoft.experimental']);

function modelType(): protobuf.Type {
  return onnxRoot().lookupType('onnx.ModelProto');
}

export class OnnxModel {
  readonly nodes: NodeInfo[];
  readonly initializers: Set<string>;
  /** Outputs of Constant nodes: constants written as nodes, treated like initializers. */
  readonly constants: Set<string>;
  readonly inputSpecs: TensorSpec[];
  /** Declared element type of each graph input (ONNX enum). */
  readonly inputElem = new Map<string, number>();
  readonly outputNames: string[];
  /**
   * Values used only as Slice starts or ends, directly or through ops that only move integers
   * (Concat, Unsqueeze, Squeeze, Reshape, Identity, Cast). ONNX clamps those to the sliced
   * dimension, so a value beyond int32 (torch writes -2^63+1 for "to the start" when it exports
   * F.pad) means what the int32 bound means, and reads as it.
   */
  readonly indexValues: Set<string>;
  /** The files external initializers were read from, in the order first met. */
  readonly externalFiles: string[] = [];
  private readonly producer = new Map<string, NodeInfo>();

  private constructor(
    readonly file: string,
    /** The bytes onnxruntime loads: the file, or a re-encoding with external data inlined. */
    readonly bytes: Uint8Array,
    private readonly msg: ModelMsg,
  ) {
    const graph = msg.graph!;
    this.initializers = new Set([...graph.initializer.map((t) => t.name), ...graph.sparse_initializer.map((s) => s.values?.name ?? '')].filter(Boolean));
    this.constants = new Set(graph.node.filter((n) => n.op_type === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx')).flatMap((n) => n.output).filter(Boolean));
    this.nodes = graph.node.map((n, index) => {
      const perm = n.op_type === 'Transpose' ? n.attribute.find((a) => a.name === 'perm')?.ints.map(toNum) : undefined;
      const info: NodeInfo = {
        name: n.name || `${n.op_type}_${index}`,
        index,
        op: n.op_type,
        domain: n.domain,
        inputs: n.input.slice(),
        outputs: n.output.filter(Boolean),
        dataInputs: n.input.filter((i) => i && !this.initializers.has(i) && !this.constants.has(i)),
        ...(perm ? { perm } : {}),
      };
      for (const o of info.outputs) this.producer.set(o, info);
      return info;
    });
    this.inputSpecs = graph.input
      .filter((v) => !this.initializers.has(v.name))
      .map((v) => {
        const tt = v.type?.tensor_type;
        const elem = tt?.elem_type ?? 0;
        this.inputElem.set(v.name, elem);
        // Symbolic (dim_param) and absent dims are unknown: -1.
        const shape = tt?.shape ? tt.shape.dim.map((d) => (d.value === 'dim_value' ? toNum(d.dim_value) : -1)) : null;
        return { name: v.name, dtype: DTYPE_OF_ELEM[elem] ?? 'float32', shape };
      });
    this.outputNames = graph.output.map((o) => o.name);
    this.indexValues = sliceIndexValues(this.nodes, new Set(this.outputNames));
  }

  /**
   * Integer constants (Constant nodes, initializers) holding values beyond int32 that are not
   * Slice starts/ends: tfjs holds integers as int32, so a comparison that reads them stops. One
   * line each, for `inspect`.
   */
  int64Problems(): string[] {
    const g = this.msg.graph!;
    const out: string[] = [];
    const check = (t: TensorMsg, name: string, what: string): void => {
      if (this.indexValues.has(name) || (t.data_type !== 7 && t.data_type !== 13)) return;
      const bad = int64Values(t).findIndex((v) => v > 2147483647n || v < -2147483648n);
      if (bad < 0) return;
      const users = this.nodes.filter((n) => n.inputs.includes(name)).map((n) => `${n.name} (${n.op})`);
      out.push(
        `${what} '${name}' holds ${int64Values(t)[bad]} at element ${bad}, beyond the int32 range tfjs computes integers in, ` +
          `and is used by ${users.join(', ') || 'no node'}, not as a Slice start or end (which ONNX clamps to the dimension): ` +
          (what === 'constant' ? 'a comparison of this model stops at it' : 'a comparison stops at the first value computed from it that does not fit int32'),
      );
    };
    for (const i of g.initializer) check(i, i.name, 'initializer');
    for (const n of g.node) {
      if (n.op_type !== 'Constant') continue;
      const t = n.attribute.find((a) => a.name === 'value')?.t;
      if (t && n.output[0]) check(t, n.output[0], 'constant');
    }
    return out;
  }

  static decode(bytes: Uint8Array, file: string): OnnxModel {
    let msg: ModelMsg;
    try {
      msg = modelType().decode(bytes) as unknown as ModelMsg;
    } catch (e) {
      throw new FormatError(`${file}: not a valid ONNX model, truncated or corrupt (${errorMessage(e)})`, { file, cause: e });
    }
    const graph = msg.graph;
    if (!graph || graph.node.length === 0) {
      throw new FormatError(`${file}: the ONNX model has no graph nodes (expected a ModelProto with a graph; is this an .onnx file?)`, { file });
    }
    if (msg.opset_import.length === 0) throw new FormatError(`${file}: the ONNX model imports no opset (ModelProto.opset_import is empty)`, { file });
    const external: string[] = [];
    const inlined = inlineExternalData(msg, file, external);
    const model = new OnnxModel(file, inlined ?? bytes, msg);
    model.externalFiles.push(...new Set(external));
    return model;
  }

  producerOf(value: string): NodeInfo | undefined {
    return this.producer.get(value);
  }

  /** Nodes whose domain neither onnxruntime nor the model's own functions define, grouped by op. */
  unknownDomainOps(): { op: string; nodes: string[] }[] {
    const local = new Set(this.msg.functions.map((f) => `${f.domain}\u0000${f.name}`));
    const byOp = new Map<string, string[]>();
    for (const n of this.nodes) {
      if (KNOWN_DOMAINS.has(n.domain) || local.has(`${n.domain}\u0000${n.op}`)) continue;
      const key = `${n.domain}::${n.op}`;
      byOp.set(key, [...(byOp.get(key) ?? []), n.name]);
    }
    return [...byOp].map(([op, nodes]) => ({ op, nodes }));
  }

  /** Values added as graph outputs so onnxruntime hands them over. */
  intermediates(): string[] {
    const have = new Set([...this.outputNames, ...this.inputSpecs.map((s) => s.name), ...this.initializers]);
    const out: string[] = [];
    for (const n of this.nodes) {
      if (NON_TENSOR_OPS.has(n.op)) continue;
      for (const o of n.outputs) if (!have.has(o)) {
        have.add(o);
        out.push(o);
      }
    }
    return out;
  }

  /**
   * The model with every node output also a graph output. Appending a second encoded ModelProto
   * that holds only `graph { output ... }` is a protobuf merge: the graph's repeated outputs are
   * extended and every other byte of the user's file, unknown fields included, stays as it was.
   * The outputs carry no type: onnxruntime infers them (checked by the tests).
   */
  withAllOutputs(): Uint8Array {
    const T = modelType();
    const extra = T.encode(T.fromObject({ graph: { output: this.intermediates().map((name) => ({ name })) } })).finish();
    const out = new Uint8Array(this.bytes.length + extra.length);
    out.set(this.bytes, 0);
    out.set(extra, this.bytes.length);
    return out;
  }

  /**
   * The node alone in a model: its initializers and Constant-node inputs kept, its other inputs
   * graph inputs of the given types and shapes, the model's opsets and functions kept.
   */
  singleNode(node: NodeInfo, inputTypes: Map<string, { type: OrtType; shape: number[] }>): Uint8Array {
    const T = modelType();
    const g = this.msg.graph!;
    const used = new Set(node.inputs.filter(Boolean));
    const constNodes = g.node.filter((n) => n.output.some((o) => used.has(o) && this.constants.has(o)));
    const inputs = [...inputTypes].map(([name, { type, shape }]) => ({
      name,
      type: { tensor_type: { elem_type: ELEM_OF_ORT_TYPE[type] ?? 1, shape: { dim: shape.map((d) => ({ dim_value: d })) } } },
    }));
    const single = T.create({
      ir_version: this.msg.ir_version,
      opset_import: this.msg.opset_import,
      functions: this.msg.functions,
      graph: onnxRoot().lookupType('onnx.GraphProto').create({
        name: `single_${node.name}`,
        node: [...constNodes, g.node[node.index]!],
        initializer: g.initializer.filter((t) => used.has(t.name)),
        sparse_initializer: g.sparse_initializer.filter((s) => used.has(s.values?.name ?? '')),
        input: inputs.map((v) => onnxRoot().lookupType('onnx.ValueInfoProto').fromObject(v)),
        output: node.outputs.map((name) => onnxRoot().lookupType('onnx.ValueInfoProto').create({ name })),
      }),
    });
    return T.encode(single).finish();
  }
}

/** Ops that only move or retype integers: an index stays an index through them. */
const INDEX_PASS_THROUGH = new Set(['Concat', 'Unsqueeze', 'Squeeze', 'Reshape', 'Identity', 'Cast', 'Flatten']);

/** See OnnxModel.indexValues. Consumers come later in the (topological) node order, so one backward pass decides. */
function sliceIndexValues(nodes: readonly NodeInfo[], graphOutputs: Set<string>): Set<string> {
  const uses = new Map<string, { node: NodeInfo; slot: number }[]>();
  for (const n of nodes) n.inputs.forEach((i, slot) => { if (i) uses.set(i, [...(uses.get(i) ?? []), { node: n, slot }]); });
  const index = new Set<string>();
  const isIndexUse = ({ node, slot }: { node: NodeInfo; slot: number }): boolean => {
    if (node.domain !== '' && node.domain !== 'ai.onnx') return false;
    if (node.op === 'Slice') return slot === 1 || slot === 2;
    if (!INDEX_PASS_THROUGH.has(node.op) || (node.op !== 'Concat' && slot !== 0)) return false;
    return node.outputs.length > 0 && node.outputs.every((o) => index.has(o));
  };
  for (let k = nodes.length - 1; k >= 0; k--) {
    for (const v of nodes[k]!.outputs) {
      const u = uses.get(v);
      if (u && u.length > 0 && !graphOutputs.has(v) && u.every(isIndexUse)) index.add(v);
    }
  }
  // Initializers and graph inputs feed no producer; they are indices by their uses alone.
  for (const [v, u] of uses) if (!index.has(v) && !graphOutputs.has(v) && u.every(isIndexUse)) index.add(v);
  return index;
}

/** The integers of an int64/uint64 TensorProto (int64_data or little-endian raw_data). */
function int64Values(t: TensorMsg): bigint[] {
  if (t.raw_data && t.raw_data.length >= 8) {
    const view = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
    return Array.from({ length: Math.floor(t.raw_data.length / 8) }, (_, i) => (t.data_type === 13 ? view.getBigUint64(i * 8, true) : view.getBigInt64(i * 8, true)));
  }
  return (t.int64_data ?? []).map((v) => BigInt(v.toString()));
}

/**
 * Initializers stored outside the .onnx (data_location EXTERNAL) are read into raw_data, so the
 * model can be handed to onnxruntime as bytes. Returns the re-encoded model, or undefined when
 * nothing is external (the file's own bytes are used then). `read` gets each external file's path.
 */
function inlineExternalData(msg: ModelMsg, file: string, read: string[]): Uint8Array | undefined {
  const graph = msg.graph!;
  const tensors: TensorMsg[] = [...graph.initializer, ...graph.node.flatMap((n) => n.attribute.map((a) => a.t).filter((t): t is TensorMsg => !!t))];
  const external = tensors.filter((t) => t.data_location === 1);
  if (external.length === 0) return undefined;
  const base = dirname(file);
  for (const t of external) {
    const kv = new Map(t.external_data.map((e) => [e.key, e.value]));
    const location = kv.get('location');
    const what = `${file}: initializer '${t.name}'`;
    if (!location) throw new FormatError(`${what} is stored externally but names no location`, { file, node: t.name });
    // The ONNX spec: a path relative to the model's folder, never outside it.
    if (isAbsolute(location) || normalize(location).split(/[\\/]/).includes('..')) {
      throw new FormatError(`${what}: external data location '${location}' must be a path inside the model's folder`, { file, node: t.name });
    }
    const path = join(base, location);
    let size: number;
    try {
      size = statSync(path).size;
    } catch (e) {
      throw new FormatError(`${what}: external data file '${path}' cannot be read (${errorMessage(e)})`, { file, node: t.name, cause: e });
    }
    const offset = Number(kv.get('offset') ?? '0');
    const length = kv.has('length') ? Number(kv.get('length')) : size - offset;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new FormatError(`${what}: external data range offset ${kv.get('offset') ?? 0} length ${kv.get('length') ?? '(rest)'} lies outside '${path}' (${size} bytes)`, { file, node: t.name });
    }
    read.push(path);
    const data = new Uint8Array(length);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, data, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    t.raw_data = data;
    t.external_data = [];
    t.data_location = 0;
  }
  return modelType().encode(msg as unknown as protobuf.Message).finish();
}
