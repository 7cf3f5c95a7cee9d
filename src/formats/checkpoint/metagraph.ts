import { existsSync, readFileSync } from 'node:fs';
import { readBytes } from '../../core/read.js';
import type { DType } from '../../core/dtype.js';
import { FormatError, errorMessage } from '../../core/errors.js';
import { stripPort, suggest } from '../../core/names.js';
import type { HostTensor, TensorSpec } from '../../core/tensor.js';
import { shapeToString } from '../../core/tensor.js';
import { A } from '../../graph/attrs.js';
import type { Graph, GraphFunction, GraphNode } from '../../graph/ir.js';
import { parseInputRef } from '../../graph/ir.js';
import { cutAtFeeds } from '../../graph/feeds.js';
import { bodyNode, neededFunctionNodes } from '../../graph/reach.js';
import { tfType } from '../../proto/index.js';
import { decodeShape, dtypeFromEnum, graphFromGraphDef } from '../tensor-proto.js';
import type { Bundle } from './bundle.js';
import { locateCheckpoint, openBundle, parseSliceSpec } from './bundle.js';
import { inferenceOutputs, setAsideNote } from './inference-outputs.js';

/**
 * TF1 checkpoints: `<prefix>.meta` (a MetaGraphDef) gives the graph, the bundle the variable
 * values. Variables become Const nodes carrying their value, so `var/read` (Identity) and
 * every consumer run unchanged and the Saver/initializer subgraphs are simply never needed.
 * The values are also kept in graph.variables, keyed by the variable node's name.
 */

type Msg = Record<string, unknown>;

export const VARIABLE_OPS = new Set(['VariableV2', 'Variable', 'VarHandleOp']);

export async function loadCheckpointGraph(path: string, opts: { describe?: boolean } = {}): Promise<Graph> {
  const { prefix, note } = locateCheckpoint(path);
  const metaFile = prefix + '.meta';
  if (!existsSync(metaFile)) {
    throw new FormatError(
      `${path}: no graph next to the checkpoint (${metaFile} is missing); a checkpoint alone holds values, not the model. ` +
        `Pass the .meta file written with it, a frozen .pb, or a SavedModel (\`parity inspect ${path}\` lists the stored tensors)`,
      { file: metaFile },
    );
  }
  const mg = decodeMetaGraph(readBytes(metaFile), metaFile);
  // A graph that reads no variable (a tf.cond of constants) runs without an index.
  const bundle = existsSync(prefix + '.index') ? openBundle(prefix) : null;
  const graph = graphFromMetaGraph(mg, { path: metaFile, format: 'checkpoint' }, bundle, {
    ...(opts.describe ? { describe: true } : {}),
    resolveVariables: (g, needed) => {
      if (bundle) resolveTf1Variables(g, bundle, needed, { restoreOp: (mg.saver_def as Msg | undefined)?.restore_op_name as string | undefined });
      else requireNoVariables(g, needed, prefix + '.index');
    },
  });
  await bundle?.settle();
  if (note) (graph.notes ??= []).unshift(note);
  return graph;
}

/** Without a checkpoint, a graph whose outputs read a variable cannot run: an error naming the missing index. */
export function requireNoVariables(graph: Graph, needed: Set<string>, indexFile: string): void {
  const used = graph.nodes.filter((v) => VARIABLE_OPS.has(v.op) && needed.has(v.name));
  if (used.length) {
    throw new FormatError(
      `${graph.source.path}: the graph reads ${used.length} variable(s) (${used.slice(0, 5).map((v) => `'${v.name}'`).join(', ')}) but ${indexFile} is missing`,
      { file: indexFile, node: used[0]!.name },
    );
  }
  resolveFunctionVariables(graph, null, needed, { find: () => undefined, names: () => [] });
}

export function decodeMetaGraph(bytes: Uint8Array, file: string): Msg {
  if (bytes.length === 0) throw new FormatError(`${file}: empty file, not a MetaGraphDef`, { file });
  try {
    return tfType('MetaGraphDef').decode(bytes) as unknown as Msg;
  } catch (e) {
    throw new FormatError(`${file}: not a valid MetaGraphDef (${errorMessage(e)}); truncated or not a .meta file?`, { file, cause: e });
  }
}

function tensorInfoSpec(info: Msg, alias: string, w: { file: string }): TensorSpec & { alias: string } {
  const name = (info.name as string | undefined) ?? '';
  if (!name) {
    throw new FormatError(`${w.file}: signature tensor '${alias}' is not a plain tensor (sparse or composite tensors are not supported)`, { file: w.file, node: alias });
  }
  return {
    alias,
    name: stripPort(name),
    dtype: info.dtype ? dtypeFromEnum(info.dtype, { file: w.file, node: alias }) : 'float32',
    shape: decodeShape(info.tensor_shape as Msg | undefined),
  };
}

export interface SignatureInfo {
  name: string;
  method: string;
  /** Sorted by alias, as TF orders signature maps. */
  inputs: (TensorSpec & { alias: string })[];
  outputs: (TensorSpec & { alias: string })[];
}

/** The model signatures of a MetaGraphDef (TF's internal `__saved_model_init_op` left out). */
export function metaGraphSignatures(mg: Msg, file: string): SignatureInfo[] {
  const defs = (mg.signature_def as Record<string, Msg> | undefined) ?? {};
  return Object.keys(defs)
    .filter((k) => k !== '__saved_model_init_op')
    .sort()
    .map((name) => {
      const d = defs[name]!;
      const side = (m: unknown) => {
        const r = (m as Record<string, Msg> | undefined) ?? {};
        return Object.keys(r).sort().map((alias) => tensorInfoSpec(r[alias]!, alias, { file }));
      };
      return { name, method: (d.method_name as string | undefined) ?? '', inputs: side(d.inputs), outputs: side(d.outputs) };
    });
}

/**
 * MetaGraphDef -> Graph: inputs/outputs from the chosen signature (or Placeholders and the
 * sinks that are not training/saving machinery), variables resolved from `bundle`.
 */
export function graphFromMetaGraph(
  mg: Msg,
  source: Graph['source'],
  bundle: Bundle | null,
  opts: { signature?: string; resolveVariables?: (g: Graph, needed: Set<string>) => void; describe?: boolean },
): Graph {
  const file = source.path;
  const gd = mg.graph_def as Msg | undefined;
  if (!gd || !((gd.node as unknown[] | undefined)?.length)) throw new FormatError(`${file}: the MetaGraphDef holds no graph (graph_def is empty)`, { file });
  const graph = graphFromGraphDef(gd, source);
  const sigs = metaGraphSignatures(mg, file);
  if (sigs.length) {
    graph.signatures = Object.fromEntries(
      sigs.map((s) => [s.name, {
        inputs: Object.fromEntries(s.inputs.map(({ alias, ...spec }) => [alias, spec])),
        outputs: Object.fromEntries(s.outputs.map(({ alias, ...spec }) => [alias, spec])),
      }]),
    );
  }
  let sig: SignatureInfo | undefined;
  try {
    sig = chooseSignature(sigs, opts.signature, file);
  } catch (e) {
    // Described, not refused: every signature's inputs and outputs; run and compare refuse.
    if (!opts.describe) throw e;
    (graph.notes ??= []).push(`${errorMessage(e).replace(`${file}: `, '')}: run and compare need --signature NAME; shown: every signature's inputs and outputs`);
    sig = undefined;
  }
  if (!sig && opts.describe && sigs.length) {
    const seen = new Set<string>();
    graph.inputs = sigs.flatMap((s) => s.inputs).filter((t) => !seen.has(t.name) && seen.add(t.name)).map(({ alias, ...spec }) => ({ ...spec, alias }));
    graph.outputs = [...new Set(sigs.flatMap((s) => s.outputs.map((t) => t.name)))].filter((t) => graph.nodes.some((n) => n.name === parseInputRef(t).node));
  } else if (sig) {
    const byName = new Set(graph.nodes.map((n) => n.name));
    for (const t of [...sig.inputs, ...sig.outputs]) {
      const node = parseInputRef(t.name).node;
      if (!byName.has(node)) {
        throw new FormatError(`${file}: signature '${sig.name}' names tensor '${t.name}' (${t.alias}), which is not in the graph${suggest(node, [...byName])}`, { file, node });
      }
    }
    // A signature input need not be a Placeholder (a TF1 Estimator export feeds `x`, an
    // Identity behind ParseExample): the feed cuts the graph there, as TF's Session.run does.
    const fedInside = sig.inputs.filter((t) => graph.nodes.find((n) => n.name === parseInputRef(t.name).node)?.op !== 'Placeholder' || parseInputRef(t.name).index > 0);
    const cut = cutAtFeeds(graph, fedInside.map(({ alias: _a, ...spec }) => spec));
    graph.nodes = cut.nodes;
    graph.inputs = sig.inputs.map(({ alias, ...spec }) => ({ ...spec, alias }));
    graph.outputs = sig.outputs.map((s) => s.name);
    graph.outputKeys = Object.fromEntries(sig.outputs.map((s) => [stripPort(s.name), s.alias]));
  } else {
    const sinks = inferenceOutputs(graph.nodes);
    graph.outputs = sinks.outputs;
    if (sinks.setAside.length) (graph.notes ??= []).push(setAsideNote(sinks.setAside));
  }
  const needed = reachable(graph.nodes, graph.outputs);
  try {
    if (opts.resolveVariables) opts.resolveVariables(graph, needed);
    else if (bundle) resolveTf1Variables(graph, bundle, needed, { restoreOp: (mg.saver_def as Msg | undefined)?.restore_op_name as string | undefined });
  } catch (e) {
    // Described with its variables unbound (listed among what cannot run); run and compare refuse.
    if (!opts.describe || !(e instanceof FormatError)) throw e;
    (graph.notes ??= []).push(`cannot run: ${errorMessage(e)}`);
  }
  return graph;
}

function chooseSignature(sigs: SignatureInfo[], wanted: string | undefined, file: string): SignatureInfo | undefined {
  if (wanted !== undefined) {
    const s = sigs.find((x) => x.name === wanted);
    if (s) return s;
    if (!sigs.length && wanted === 'serving_default') return undefined;
    // Only the default may fall back: with one signature there is no doubt which is meant.
    if (wanted === 'serving_default' && sigs.length === 1) return sigs[0];
    throw new FormatError(
      `${file}: no signature '${wanted}'${suggest(wanted, sigs.map((x) => x.name))}; the model has ${sigs.length ? sigs.map((x) => `'${x.name}'`).join(', ') : 'no signatures'}`,
      { file, node: wanted },
    );
  }
  return sigs.find((x) => x.name === 'serving_default') ?? (sigs.length === 1 ? sigs[0] : undefined);
}

export function reachable(nodes: GraphNode[], targets: string[]): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = targets.map((t) => parseInputRef(t).node);
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    const n = byName.get(name);
    if (!n) continue;
    seen.add(name);
    for (const r of n.inputs) stack.push(parseInputRef(r).node);
  }
  return seen;
}

function stringList(node: GraphNode | undefined): string[] | undefined {
  const v = node?.op === 'Const' ? node.attrs.value : undefined;
  if (v?.type !== 'tensor' || v.value.dtype !== 'string') return undefined;
  const dec = new TextDecoder();
  return (v.value.data as Uint8Array[]).map((b) => dec.decode(b));
}

export interface VariableSource {
  key: string;
  /** RestoreV2's shape_and_slices entry: "" or "<full dims> <slice spec>" for a partition. */
  spec: string;
}

/**
 * Variable node -> checkpoint key as the graph's own Saver restores it: RestoreV2 output i
 * (possibly through Identity) is assigned to a variable, and tensor_names[i] is its key.
 * The Saver named by saver_def wins over other savers in the graph.
 */
export function restoreMapping(nodes: GraphNode[], restoreOp?: string): Map<string, VariableSource> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const source = (ref: string): { node: string; index: number } => {
    let p = parseInputRef(ref);
    for (let hops = 0; hops < 100; hops++) {
      const n = byName.get(p.node);
      if (!n || n.op !== 'Identity' || !n.inputs[0]) break;
      p = parseInputRef(n.inputs[0]);
    }
    return p;
  };
  const preferred = restoreOp ? restoreOp.replace(/:\d+$/, '').replace(/[^/]*$/, '') : '';
  const maps: { scope: string; m: Map<string, VariableSource> }[] = [];
  const perRestore = new Map<string, Map<string, VariableSource>>();
  for (const n of nodes) {
    if (n.op !== 'Assign' && n.op !== 'AssignVariableOp') continue;
    const [target, value] = n.inputs;
    if (!target || !value) continue;
    const src = source(value);
    const restore = byName.get(src.node);
    if (!restore || restore.op !== 'RestoreV2') continue;
    const names = stringList(byName.get(parseInputRef(restore.inputs[1] ?? '').node));
    const specs = stringList(byName.get(parseInputRef(restore.inputs[2] ?? '').node));
    const key = names?.[src.index];
    if (key === undefined) continue;
    let m = perRestore.get(restore.name);
    if (!m) {
      m = new Map();
      perRestore.set(restore.name, m);
      maps.push({ scope: restore.name.replace(/[^/]*$/, ''), m });
    }
    m.set(parseInputRef(target).node, { key, spec: specs?.[src.index] ?? '' });
  }
  maps.sort((a, b) => Number(b.scope === preferred && preferred !== '') - Number(a.scope === preferred && preferred !== ''));
  const out = new Map<string, VariableSource>();
  for (const { m } of maps) for (const [k, v] of m) if (!out.has(k)) out.set(k, v);
  return out;
}

/** Reads the value a variable restores from: whole tensor, or its partition of a sliced one. */
export function readVariableValue(bundle: Bundle, src: VariableSource, varNode: string): HostTensor {
  if (!src.spec) return bundle.read(src.key);
  const parts = src.spec.trim().split(/\s+/);
  const where = `${bundle.indexFile}: variable '${varNode}'`;
  const fullShape = parts.slice(0, -1).map(Number);
  if (parts.length < 2 || fullShape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new FormatError(`${where}: malformed shape_and_slices '${src.spec}'`, { file: bundle.indexFile, node: varNode });
  }
  const info = bundle.info(src.key);
  if (shapeToString(info.shape) !== shapeToString(fullShape)) {
    throw new FormatError(`${where}: '${src.key}' has shape ${shapeToString(info.shape)} in the checkpoint, the graph restores it as part of ${shapeToString(fullShape)}`, { file: bundle.indexFile, node: varNode });
  }
  return bundle.readSlice(src.key, parseSliceSpec(parts[parts.length - 1]!, fullShape.length, where));
}

function declared(node: GraphNode): { dtype?: DType; shape?: number[] | null } {
  const d = node.attrs.dtype;
  const s = node.attrs.shape;
  return { ...(d?.type === 'dtype' ? { dtype: d.value } : {}), ...(s?.type === 'shape' ? { shape: s.value } : {}) };
}

/** Checks a value against the variable's declared dtype/shape (unknown dims match anything). */
export function checkVariableValue(node: GraphNode, value: HostTensor, key: string, file: string, what = `variable '${node.name}'`): void {
  const d = declared(node);
  if (d.dtype && d.dtype !== value.dtype) {
    throw new FormatError(`${file}: ${what} is ${d.dtype} in the graph, but checkpoint tensor '${key}' is ${value.dtype}`, { file, node: node.name });
  }
  const s = d.shape;
  // TF writes shape {} (rank 0) for variables whose shape it did not record, and unknown rank as null.
  if (s && (s.length > 0 || value.shape.length === 0)) {
    const ok = s.length === value.shape.length && s.every((x, i) => x < 0 || x === value.shape[i]);
    if (!ok) {
      throw new FormatError(`${file}: ${what} has shape ${shapeToString(s)} in the graph, but checkpoint tensor '${key}' has ${shapeToString(value.shape)}`, { file, node: node.name });
    }
  }
}

/** Data consumers of each node (by first input), to rewrite the readers of a bound variable. */
export function firstInputConsumers(nodes: GraphNode[]): Map<string, GraphNode[]> {
  const m = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    const r = n.inputs[0];
    if (!r || r.startsWith('^')) continue;
    const src = parseInputRef(r).node;
    const l = m.get(src);
    if (l) l.push(n);
    else m.set(src, [n]);
  }
  return m;
}

/**
 * Replaces a variable node by a Const carrying its value, and makes the ops that read a
 * resource handle read the value instead (ReadVariableOp -> Identity, VariableShape -> Shape).
 */
export function bindVariable(graph: Graph, node: GraphNode, value: HostTensor, consumers: Map<string, GraphNode[]>, key: string | null = node.name): void {
  node.op = 'Const';
  node.inputs = [];
  node.attrs = { value: A.tensor(value), dtype: A.dtype(value.dtype) };
  if (key !== null) {
    if (!graph.variables) graph.variables = new Map();
    graph.variables.set(key, value);
  }
  for (const n of consumers.get(node.name) ?? []) {
    if (n.op === 'ReadVariableOp') {
      n.op = 'Identity';
      n.attrs = { T: A.dtype(value.dtype) };
    } else if (n.op === 'VariableShape') {
      n.op = 'Shape';
      n.attrs = { T: A.dtype(value.dtype), out_type: n.attrs.out_type ?? A.dtype('int32') };
    }
  }
}

/** Stored names closest to any of `queries` (the node name and the key it was looked up by). */
export function nearNames(queries: string[], names: string[], k = 5): string[] {
  // Edit distance is quadratic per pair: rank by a cheap score first, measure only the best few.
  const last = (x: string) => x.split('/').filter((p) => p && p !== '.ATTRIBUTES' && p !== 'VARIABLE_VALUE').pop() ?? x;
  const cheap = (c: string) =>
    Math.max(...queries.map((q) => {
      let p = 0;
      while (p < q.length && p < c.length && q[p] === c[p]) p++;
      return p + (last(q) === last(c) ? 20 : 0);
    }));
  const pool = names.length > 300 ? names.map((c) => ({ c, s: cheap(c) })).sort((a, b) => b.s - a.s).slice(0, 300).map((x) => x.c) : names;
  const dist = (c: string) => Math.min(...queries.map((q) => levenshtein(q, c) / Math.max(q.length, c.length, 1)));
  return pool
    .map((c) => ({ c, d: dist(c) }))
    .filter((x) => x.d < 0.5)
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, k)
    .map((x) => x.c);
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The resource name TF gives a variable node: its shared_name, or else its node name. */
export function resourceName(node: GraphNode): string {
  const shared = node.attrs.shared_name?.type === 'string' ? node.attrs.shared_name.value : '';
  return shared || node.name;
}

/**
 * TF1 variables (VariableV2/Variable, and VarHandleOp resource variables) of the main graph
 * get their values from the bundle, by the Saver's RestoreV2 mapping, then `extra` (TF2's
 * object-graph mapping), or else by node name
 * (resource variables also by shared_name). A variable with no value is an error when the
 * outputs need it or the Saver says the checkpoint has it; others (e.g. local metric
 * variables a Saver skips) stay as they are.
 * Variable nodes inside function bodies are resolved afterwards (resolveFunctionVariables).
 */
export function resolveTf1Variables(
  graph: Graph,
  bundle: Bundle,
  needed: Set<string>,
  opts: { restoreOp?: string; extra?: Map<string, VariableSource>; byVariableName?: Map<string, string> } = {},
): void {
  const mapping = restoreMapping(graph.nodes, opts.restoreOp);
  for (const [k, v] of opts.extra ?? []) if (!mapping.has(k)) mapping.set(k, v);
  const consumers = firstInputConsumers(graph.nodes);
  const missing: { node: string; key: string }[] = [];
  // Resolved main-graph variables by resource name (then node name), for function bodies.
  const byResource = new Map<string, ResolvedVariable>();
  const byNode = new Map<string, ResolvedVariable>();
  for (const n of graph.nodes) {
    if (!VARIABLE_OPS.has(n.op)) continue;
    let src = mapping.get(n.name);
    if (!src) {
      const shared = n.attrs.shared_name?.type === 'string' ? n.attrs.shared_name.value : '';
      const key = bundle.has(n.name) ? n.name : shared && bundle.has(shared) ? shared : n.name;
      src = { key, spec: '' };
    }
    if (!bundle.has(src.key)) {
      if (needed.has(n.name) || mapping.has(n.name)) missing.push({ node: n.name, key: src.key });
      continue;
    }
    const value = readVariableValue(bundle, src, n.name);
    checkVariableValue(n, value, src.key, bundle.indexFile);
    const r: ResolvedVariable = { src, value };
    const res = resourceName(n);
    if (!byResource.has(res)) byResource.set(res, r);
    byNode.set(n.name, r);
    bindVariable(graph, n, value, consumers);
  }
  if (missing.length) throw missingVariablesError(missing, bundle);
  resolveFunctionVariables(graph, bundle, needed, {
    find: (name) => {
      const r = byResource.get(name) ?? byNode.get(name);
      if (r) return r;
      const src = mapping.get(name) ?? (opts.byVariableName?.has(name) ? { key: opts.byVariableName.get(name)!, spec: '' } : bundle.has(name) ? { key: name, spec: '' } : undefined);
      return src && bundle.has(src.key) ? { src } : undefined;
    },
    names: () => [...new Set([...byResource.keys(), ...(opts.byVariableName?.keys() ?? []), ...bundle.names()])],
  });
}

export interface ResolvedVariable {
  src: VariableSource;
  /** Set when a main-graph variable node already holds this value. */
  value?: HostTensor;
}

/** Variable nodes inside function bodies, with whether a needed function's outputs read them. */
export function functionVariableNodes(graph: Graph, needed: Set<string>): { fn: GraphFunction; node: GraphNode; needed: boolean }[] {
  const used = neededFunctionNodes(graph, graph.nodes.filter((n) => needed.has(n.name)));
  const out: { fn: GraphFunction; node: GraphNode; needed: boolean }[] = [];
  for (const fn of graph.functions.values()) {
    for (const n of fn.nodes) if (VARIABLE_OPS.has(n.op)) out.push({ fn, node: n, needed: used.get(fn.name)?.has(n.name) ?? false });
  }
  return out;
}

/**
 * Variable nodes inside function bodies (VarHandleOp, VariableV2) that are not captured inputs:
 * TF finds the variable by resource name (shared_name, else the node name), so `lookup` maps
 * that name to the same checkpoint value the main graph's variable of that name has (or to a
 * checkpoint key by the TF2 SavedVariable names, the Saver's names, or the key itself). The node
 * becomes a Const like a main-graph variable; values not already held by a main-graph
 * variable are kept in graph.variables as `<function>/<node>`. A variable the function's
 * outputs need that no name matches is an error naming the function, the node and the file.
 */
export function resolveFunctionVariables(
  graph: Graph,
  bundle: Bundle | null,
  needed: Set<string>,
  lookup: { find: (name: string) => ResolvedVariable | undefined; names: () => string[] },
): void {
  const file = graph.source.path;
  const stored = new Set<string>();
  for (const { fn, node, needed: isNeeded } of functionVariableNodes(graph, needed)) {
    const name = resourceName(node);
    const r = bundle ? lookup.find(name) : undefined;
    const where = `${file}: function '${fn.name}', node '${node.name}' (${node.op}${name !== node.name ? `, shared_name '${name}'` : ''})`;
    if (!r || !bundle) {
      if (!isNeeded) continue;
      if (!bundle) throw new FormatError(`${where} reads a variable, but the model has no checkpoint (variables/variables.index is missing)`, { file, node: `${fn.name}/${node.name}` });
      const near = nearNames([name], lookup.names(), 3);
      throw new FormatError(
        `${where} reads a variable that matches no variable of the graph and no tensor of ${bundle.indexFile}${near.length ? ` (nearest known names ${near.map((x) => `'${x}'`).join(', ')})` : ''}`,
        { file, node: `${fn.name}/${node.name}` },
      );
    }
    const value = r.value ?? readVariableValue(bundle, r.src, `${fn.name}/${node.name}`);
    checkVariableValue(node, value, r.src.key, bundle.indexFile, `variable '${node.name}' of function '${fn.name}'`);
    // Counted once however many bodies read it, and not again when a main-graph variable holds it.
    const own = !r.value && !stored.has(r.src.key + '\0' + r.src.spec);
    stored.add(r.src.key + '\0' + r.src.spec);
    bindVariable(graph, node, value, bodyConsumers(fn.nodes), own ? `${fn.name}/${node.name}` : null);
  }
}

/** Data consumers (by first input) of each node of a function body. */
function bodyConsumers(nodes: GraphNode[]): Map<string, GraphNode[]> {
  const m = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    const r = n.inputs[0];
    if (!r || r.startsWith('^')) continue;
    const src = bodyNode(r);
    const l = m.get(src);
    if (l) l.push(n);
    else m.set(src, [n]);
  }
  return m;
}

export function missingVariablesError(missing: { node: string; key: string }[], bundle: Bundle): FormatError {
  const names = bundle.names();
  // One line: the first few variables, each with the stored names closest to it.
  const shown = missing.slice(0, 3).map((m) => {
    const near = nearNames([m.node, m.key], names, 3);
    const notes = [...(m.key !== m.node ? [`checkpoint key '${m.key}'`] : []), ...(near.length ? [`nearest stored names ${near.map((x) => `'${x}'`).join(', ')}`] : [])];
    return `'${m.node}'${notes.length ? ` (${notes.join('; ')})` : ''}`;
  });
  const more = missing.length > shown.length ? `, and ${missing.length - shown.length} more` : '';
  return new FormatError(
    `${bundle.indexFile}: ${missing.length} variable(s) of the graph have no value in the checkpoint, which holds ${names.length} tensor${names.length === 1 ? '' : 's'} ` +
      `(written for another version of the graph?): ${shown.join(', ')}${more}`,
    { file: bundle.indexFile, node: missing[0]!.node },
  );
}
