import type { DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { stripPort, suggest } from '../core/names.js';
import type { Shape, TensorSpec } from '../core/tensor.js';
import { A } from './attrs.js';
import type { Graph, GraphNode } from './ir.js';
import { parseInputRef, tensorKey } from './ir.js';

/**
 * Feeding a tensor, as TF's Session.run and C API do: the fed value replaces whatever computes
 * the tensor, so what lies only upstream of it is never run, never checked for kernels and
 * never asks for inputs of its own. A SavedModel signature's inputs are fed this way (TF1
 * Estimator exports feed `x`, an Identity behind ParseExample), and so is any tensor a user
 * names (`--input 'ParseExample/ParseExampleV2:3=file(x.npy)'`).
 *
 * The cut is a graph rewrite: a fed `node` (output 0) becomes a Placeholder of that name; a fed
 * `node:k` (k > 0) becomes a new Placeholder named `node:k` that its readers read as `node:k:0`,
 * so its tensor key stays `node:k`, the tensor's own name. The original node stays in the graph
 * (nothing needs it any more unless another of its outputs is read).
 */

/** Whether `key` (`node` or `node:k`) names an output of a node of the graph. */
export function isGraphTensor(graph: Graph, key: string): boolean {
  const { node } = parseInputRef(key);
  return graph.nodes.some((n) => n.name === node || n.name === key);
}

/** The graph with `fed` tensors turned into inputs (see above); `graph` itself is not changed. */
export function cutAtFeeds(graph: Graph, fed: TensorSpec[]): Graph {
  if (!fed.length) return graph;
  const nodes = graph.nodes.slice();
  const index = new Map(nodes.map((n, i) => [n.name, i]));
  const inputs = graph.inputs.slice();
  const renamed = new Map<string, string>();
  for (const spec of fed) {
    const key = stripPort(spec.name);
    const { node, index: k } = parseInputRef(key);
    const at = index.get(node);
    if (at === undefined) throw new InputError(`${graph.source.path}: tensor '${spec.name}' is not in the graph${suggest(node, [...index.keys()])}`, { file: graph.source.path, node });
    const placeholder: GraphNode = { name: k === 0 ? node : key, op: 'Placeholder', inputs: [], attrs: { dtype: A.dtype(spec.dtype), shape: A.shape(spec.shape) } };
    if (k === 0) {
      const orig = nodes[at]!;
      if (orig.op === 'Placeholder') continue;
      nodes[at] = { ...placeholder, ...(orig.device ? { device: orig.device } : {}) };
    } else {
      if (index.has(key)) continue;
      index.set(key, nodes.length);
      nodes.push(placeholder);
      renamed.set(key, `${key}:0`);
    }
    if (!inputs.some((s) => stripPort(s.name) === key)) inputs.push({ ...spec, name: key });
  }
  if (renamed.size) {
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i]!;
      if (!n.inputs.some((r) => !r.startsWith('^') && renamed.has(refKey(r)))) continue;
      nodes[i] = { ...n, inputs: n.inputs.map((r) => (r.startsWith('^') ? r : renamed.get(refKey(r)) ?? r)) };
    }
  }
  return { ...graph, nodes, inputs };
}

function refKey(ref: string): string {
  const p = parseInputRef(ref);
  return tensorKey(p.node, p.index);
}

/**
 * The dtype and shape a graph tensor has, as far as the graph says: a Placeholder's attributes,
 * `_output_shapes`, and the output type attributes of common ops (`T`, `dtype`, `out_type`,
 * list types such as ParseExample's `Tdense` by output position). Undefined when nothing says.
 */
export function graphTensorSpec(graph: Graph, key: string): { dtype?: DType; shape: Shape } {
  const { node, index: k } = parseInputRef(stripPort(key));
  const n = graph.nodes.find((x) => x.name === node);
  if (!n) return { shape: null };
  const shapes = n.attrs._output_shapes;
  const shape: Shape = shapes?.type === 'list' && shapes.shapes[k] !== undefined ? shapes.shapes[k]! : null;
  return { ...(outputDType(n, k) ? { dtype: outputDType(n, k)! } : {}), shape };
}

/** Output k's dtype for ops whose outputs are typed by attributes (best effort). */
function outputDType(n: GraphNode, k: number): DType | undefined {
  if (n.op === 'ParseExample' || n.op === 'ParseExampleV2' || n.op === 'ParseSingleExample') {
    // sparse indices (int64) x Ns, sparse values (sparse_types) x Ns, sparse shapes (int64) x Ns, dense values (Tdense).
    const st = n.attrs.sparse_types;
    const td = n.attrs.Tdense;
    const ns = st?.type === 'list' ? st.dtypes.length : 0;
    if (k < ns) return 'int64';
    if (k < 2 * ns) return st?.type === 'list' ? st.dtypes[k - ns] : undefined;
    if (k < 3 * ns) return 'int64';
    return td?.type === 'list' ? td.dtypes[k - 3 * ns] : undefined;
  }
  for (const name of ['dtype', 'T', 'out_type', 'DstT', 'Tout', 'output_type']) {
    const a = n.attrs[name];
    if (a?.type === 'dtype') return a.value;
    if (a?.type === 'list' && a.dtypes[k] !== undefined) return a.dtypes[k];
  }
  return undefined;
}

/** What a user says about a fed tensor (an InputSpec's fields that matter here). */
export interface FeedRequest {
  name: string;
  dtype?: DType;
  shape?: number[];
}

/**
 * The graph with every requested name that is not one of its inputs (by name or signature key)
 * but a tensor of the graph fed: `--input 'ParseExample/ParseExampleV2:3=file(x.npy)'` runs
 * from there. Its dtype is the one given, else what the graph says (graphTensorSpec); its
 * shape the one given, else `_output_shapes`, else unknown.
 */
export function feedRequestedTensors(graph: Graph, requests: FeedRequest[], isInput: (name: string) => boolean): Graph {
  const fed: TensorSpec[] = [];
  for (const r of requests) {
    if (isInput(r.name) || !isGraphTensor(graph, stripPort(r.name))) continue;
    const known = graphTensorSpec(graph, r.name);
    const dtype = r.dtype ?? known.dtype;
    if (!dtype) {
      throw new InputError(`${graph.source.path}: tensor '${r.name}' is fed, but the graph does not say its dtype; give it in --input-spec (dtype: float32)`, { file: graph.source.path, node: r.name });
    }
    fed.push({ name: stripPort(r.name), dtype, shape: r.shape ?? known.shape });
  }
  return cutAtFeeds(graph, fed);
}

/** Ops that parse serialized tf.Example protos (Estimator and TFX exports take those strings). */
const EXAMPLE_PARSERS = new Set(['ParseExample', 'ParseExampleV2', 'ParseSingleExample', 'ParseSequenceExample', 'ParseSequenceExampleV2', 'ParseSingleSequenceExample', 'DecodeProtoV2']);

/**
 * For a model that parses tf.Example strings before the model proper: how to feed past it, as a
 * line for the error that refuses it. Names the parsed tensors the outputs read (`node:k`), or
 * '' when no such parser is among `nodes` (node names of the main graph).
 */
export function feedPastParsingHint(graph: Graph, nodes: string[]): string {
  const parsers = graph.nodes.filter((n) => EXAMPLE_PARSERS.has(n.op) && nodes.includes(n.name));
  if (!parsers.length) return '';
  const read: string[] = [];
  for (const n of graph.nodes) for (const r of n.inputs) {
    if (r.startsWith('^')) continue;
    const p = parseInputRef(r);
    const key = tensorKey(p.node, p.index);
    if (parsers.some((x) => x.name === p.node) && !read.includes(key)) read.push(key);
  }
  const example = read.find((k) => /:\d+$/.test(k)) ?? read[0] ?? `${parsers[0]!.name}:0`;
  return `${parsers.map((p) => `'${p.name}' (${p.op})`).join(', ')} parses serialized tf.Example strings: feed the parsed tensors by name instead, e.g. --input '${example}=file(x.npy)' (tensors read from it: ${read.slice(0, 8).join(', ')}${read.length > 8 ? ', …' : ''})`;
}
