import { existsSync, readFileSync } from 'node:fs';
import { readBytes } from '../../core/read.js';
import { join } from 'node:path';
import { FormatError, errorMessage } from '../../core/errors.js';
import type { Graph, GraphNode } from '../../graph/ir.js';
import { parseInputRef } from '../../graph/ir.js';
import { tfType } from '../../proto/index.js';
import { parseTextFormat } from '../pbtxt.js';
import { toNum } from '../tensor-proto.js';
import type { Bundle } from './bundle.js';
import { openBundle } from './bundle.js';
import type { SignatureInfo, VariableSource } from './metagraph.js';
import { VARIABLE_OPS, graphFromMetaGraph, metaGraphSignatures, requireNoVariables, resolveTf1Variables } from './metagraph.js';
import { stripPort } from '../../core/names.js';

/**
 * SavedModels: saved_model.pb(txt) holds MetaGraphDefs (chosen by tag set), variables live in
 * the bundle variables/variables.*.
 *
 * TF1 SavedModels keep VariableV2 nodes and a Saver in the main graph: resolved like checkpoints.
 * TF2 SavedModels keep VarHandleOp nodes in the main graph that are passed, as captured inputs,
 * to the StatefulPartitionedCall of each signature; the checkpoint keys variables by object
 * path (`layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`). The link is made through
 * the object graphs: SavedConcreteFunction.bound_inputs names the SavedObjectGraph node behind
 * each captured input, and walking the SavedObjectGraph and the checkpoint's
 * TrackableObjectGraph from their roots by child names pairs that node with its checkpoint key.
 *
 * Either way each main-graph variable node becomes a Const carrying its value and the value is
 * stored in graph.variables under that node's name (for TF2, the VarHandleOp's name, which is
 * what a function call receives for the captured resource input).
 *
 * Function bodies may also create handles themselves (VarHandleOp with a shared_name, e.g.
 * functions built from TF1-style code); those are found by resource name, as TF's resource
 * manager would: the main-graph variable of that name, else the SavedVariable of that name in
 * the object graph, else the Saver's or the checkpoint's own names (resolveFunctionVariables).
 */

type Msg = Record<string, unknown>;

const OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH';

export interface SavedModelOptions {
  signature?: string;
  tags?: string[];
  /** For `inspect`: a missing signature or missing variables are notes on the graph, not errors. */
  describe?: boolean;
}

export function readSavedModel(dir: string): { file: string; sm: Msg } {
  const pb = join(dir, 'saved_model.pb');
  const pbtxt = join(dir, 'saved_model.pbtxt');
  if (existsSync(pb)) {
    const bytes = readBytes(pb);
    if (bytes.length === 0) throw new FormatError(`${pb}: empty file, not a SavedModel`, { file: pb });
    try {
      return { file: pb, sm: tfType('SavedModel').decode(bytes) as unknown as Msg };
    } catch (e) {
      throw new FormatError(`${pb}: not a valid SavedModel (${errorMessage(e)}); truncated file?`, { file: pb, cause: e });
    }
  }
  if (existsSync(pbtxt)) return { file: pbtxt, sm: parseTextFormat(readFileSync(pbtxt, 'utf8'), tfType('SavedModel'), pbtxt) as unknown as Msg };
  throw new FormatError(`${dir}: not a SavedModel folder (no saved_model.pb or saved_model.pbtxt)`, { file: dir });
}

function tagsOf(mg: Msg): string[] {
  return [...(((mg.meta_info_def as Msg | undefined)?.tags as string[] | undefined) ?? [])];
}

/** The MetaGraphDef whose tag set equals `tags` (as TF's loader matches); with no tags asked, 'serve' or the only one. */
export function chooseMetaGraph(sm: Msg, tags: string[] | undefined, file: string): Msg {
  const mgs = (sm.meta_graphs as Msg[] | undefined) ?? [];
  if (!mgs.length) throw new FormatError(`${file}: the SavedModel holds no MetaGraphDef`, { file });
  const want = new Set(tags ?? ['serve']);
  const hit = mgs.find((m) => {
    const t = new Set(tagsOf(m));
    return t.size === want.size && [...want].every((x) => t.has(x));
  });
  if (hit) return hit;
  if (!tags && mgs.length === 1) return mgs[0]!;
  const have = mgs.map((m) => `[${tagsOf(m).join(', ')}]`).join(', ');
  throw new FormatError(`${file}: no MetaGraphDef with tags [${[...want].join(', ')}]; the SavedModel has ${have}`, { file });
}

export async function loadSavedModelGraph(dir: string, opts: SavedModelOptions = {}): Promise<Graph> {
  const { file, sm } = readSavedModel(dir);
  const mg = chooseMetaGraph(sm, opts.tags, file);
  const prefix = join(dir, 'variables', 'variables');
  const bundle = existsSync(prefix + '.index') ? openBundle(prefix) : null;
  const graph = graphFromMetaGraph(mg, { path: file, format: 'saved-model' }, bundle, {
    signature: opts.signature ?? 'serving_default',
    ...(opts.describe ? { describe: true } : {}),
    resolveVariables: (graph, needed) => {
      const vars = graph.nodes.filter((n) => VARIABLE_OPS.has(n.op));
      if (!vars.length && ![...graph.functions.values()].some((f) => f.nodes.some((n) => VARIABLE_OPS.has(n.op)))) return;
      if (!bundle) {
        requireNoVariables(graph, needed, prefix + '.index');
        return;
      }
      const restoreOp = (mg.saver_def as Msg | undefined)?.restore_op_name as string | undefined;
      const { byHandle, byVariableName } = objectGraphMapping(graph, mg, bundle);
      // What TF Serving and the C API do: run the restore op, a call of the traced restore
      // function on the main graph's handles. Its RestoreV2/AssignVariableOp pairs are exact
      // where names are not (two tf.Variables both called 'Variable').
      if (restoreOp) for (const [h, src] of restoreFunctionMapping(graph, restoreOp)) byHandle.set(h, src);
      resolveTf1Variables(graph, bundle, needed, { ...(restoreOp ? { restoreOp } : {}), extra: byHandle, byVariableName });
    },
  });
  await bundle?.settle();
  return graph;
}

/** Every signature of the chosen MetaGraphDef, for `parity inspect`. */
export function listSignatures(dir: string, opts: { tags?: string[] } = {}): SignatureInfo[] {
  const { file, sm } = readSavedModel(dir);
  return metaGraphSignatures(chooseMetaGraph(sm, opts.tags, file), file);
}

/** TrackableObjectGraph stored in a TF2 checkpoint, or undefined for TF1 bundles. */
export function checkpointObjectGraph(bundle: Bundle): Msg | undefined {
  if (!bundle.has(OBJECT_GRAPH_KEY)) return undefined;
  const t = bundle.read(OBJECT_GRAPH_KEY);
  const bytes = t.dtype === 'string' ? (t.data as Uint8Array[])[0] : undefined;
  if (!bytes) throw new FormatError(`${bundle.indexFile}: ${OBJECT_GRAPH_KEY} is not a string scalar`, { file: bundle.indexFile, node: OBJECT_GRAPH_KEY });
  try {
    return tfType('TrackableObjectGraph').decode(bytes) as unknown as Msg;
  } catch (e) {
    throw new FormatError(`${bundle.indexFile}: ${OBJECT_GRAPH_KEY} does not parse as a TrackableObjectGraph (${errorMessage(e)})`, { file: bundle.indexFile, cause: e });
  }
}

function children(node: Msg | undefined): { id: number; name: string }[] {
  return (((node?.children as Msg[] | undefined) ?? [])).map((c) => ({ id: toNum(c.node_id ?? 0), name: (c.local_name as string | undefined) ?? '' }));
}

/**
 * SavedObjectGraph node id -> checkpoint key of its VARIABLE_VALUE, pairing the two object
 * graphs by walking both from the root (node 0) through equally named children.
 */
export function variableKeysByObject(sog: Msg, tog: Msg): Map<number, string> {
  const sNodes = (sog.nodes as Msg[] | undefined) ?? [];
  const tNodes = (tog.nodes as Msg[] | undefined) ?? [];
  const out = new Map<number, string>();
  if (!sNodes.length || !tNodes.length) return out;
  const seen = new Set<number>();
  const queue: [number, number][] = [[0, 0]];
  while (queue.length) {
    const [s, t] = queue.shift()!;
    if (seen.has(s)) continue;
    seen.add(s);
    const tn = tNodes[t];
    const attr = ((tn?.attributes as Msg[] | undefined) ?? []).find((a) => a.name === 'VARIABLE_VALUE');
    if (attr && sNodes[s]?.variable) out.set(s, attr.checkpoint_key as string);
    const tKids = new Map(children(tn).map((c) => [c.name, c.id]));
    for (const c of children(sNodes[s])) {
      const tid = tKids.get(c.name);
      if (tid !== undefined && c.id < sNodes.length && tid < tNodes.length) queue.push([c.id, tid]);
    }
  }
  return out;
}

/**
 * Main-graph VarHandleOp name -> checkpoint key, through the captured inputs of each function
 * call (byHandle); SavedVariable name (without `:0`) -> checkpoint key (byVariableName), which
 * is also how handles created inside function bodies are found by their shared_name.
 */
export function objectGraphMapping(graph: Graph, mg: Msg, bundle: Bundle): { byHandle: Map<string, VariableSource>; byVariableName: Map<string, string> } {
  const out = new Map<string, VariableSource>();
  const byVarName = new Map<string, string>();
  const sog = mg.object_graph_def as Msg | undefined;
  if (!sog) return { byHandle: out, byVariableName: byVarName };
  const tog = checkpointObjectGraph(bundle);
  if (!tog) return { byHandle: out, byVariableName: byVarName };
  const keys = variableKeysByObject(sog, tog);
  const concrete = (sog.concrete_functions as Record<string, Msg> | undefined) ?? {};
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const handleOf = (ref: string): GraphNode | undefined => {
    let n = byName.get(parseInputRef(ref).node);
    for (let hops = 0; n && n.op === 'Identity' && n.inputs[0] && hops < 100; hops++) n = byName.get(parseInputRef(n.inputs[0]).node);
    return n?.op === 'VarHandleOp' ? n : undefined;
  };
  for (const n of graph.nodes) {
    const f = n.attrs.f;
    if (f?.type !== 'func') continue;
    const bound = ((concrete[f.value.name]?.bound_inputs as unknown[] | undefined) ?? []).map((x) => toNum(x));
    if (!bound.length) continue;
    // Captured inputs follow the function's own arguments.
    const data = n.inputs.filter((r) => !r.startsWith('^'));
    const captures = data.slice(data.length - bound.length);
    bound.forEach((objId, j) => {
      const h = captures[j] !== undefined ? handleOf(captures[j]!) : undefined;
      const key = keys.get(objId);
      if (h && key !== undefined && !out.has(h.name)) out.set(h.name, { key, spec: '' });
    });
  }
  // VarHandleOps no call captures (e.g. only the restore function reads them) can still be matched by SavedVariable.name.
  const sNodes = (sog.nodes as Msg[] | undefined) ?? [];
  keys.forEach((key, id) => {
    const name = (sNodes[id]?.variable as Msg | undefined)?.name as string | undefined;
    if (name) byVarName.set(stripPort(name), key);
  });
  for (const n of graph.nodes) {
    if (n.op !== 'VarHandleOp' || out.has(n.name)) continue;
    const shared = n.attrs.shared_name?.type === 'string' ? n.attrs.shared_name.value : '';
    const key = byVarName.get(n.name) ?? (shared ? byVarName.get(shared) : undefined);
    if (key !== undefined) out.set(n.name, { key, spec: '' });
  }
  return { byHandle: out, byVariableName: byVarName };
}

/** A function-body reference (`node:out:2`, `node`, an argument) as node and output position. */
function bodyRef(ref: string): { node: string; index: number } {
  const parts = ref.split(':');
  return { node: parts[0]!, index: parts.length >= 3 ? Number(parts[2]) : parts.length === 2 ? Number(parts[1]) : 0 };
}

/**
 * Main-graph VarHandleOp -> checkpoint key, as TF2's restore op restores it: saver_def's
 * restore_op_name is a call of `__inference__traced_restore_N` whose arguments after the file
 * prefix are the variables' handles; in its body each AssignVariableOp writes output i of a
 * RestoreV2 (possibly through Identity) into one handle argument, and that RestoreV2's
 * tensor_names[i] is the key. Empty when the restore op is not such a call.
 */
export function restoreFunctionMapping(graph: Graph, restoreOp: string): Map<string, VariableSource> {
  const out = new Map<string, VariableSource>();
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const call = byName.get(restoreOp.replace(/:\d+$/, ''));
  const f = call?.attrs.f;
  const fn = f?.type === 'func' ? graph.functions.get(f.value.name) : call ? graph.functions.get(call.op) : undefined;
  if (!call || !fn) return out;
  const body = new Map(fn.nodes.map((n) => [n.name, n]));
  const argIndex = new Map(fn.inputArgs.map((a, i) => [a.name, i]));
  const strings = (ref: string | undefined): string[] | undefined => {
    const v = ref ? body.get(bodyRef(ref).node)?.attrs.value : undefined;
    if (v?.type !== 'tensor' || v.value.dtype !== 'string') return undefined;
    return (v.value.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));
  };
  const data = call.inputs.filter((r) => !r.startsWith('^'));
  const handleOf = (ref: string): GraphNode | undefined => {
    let n = byName.get(parseInputRef(ref).node);
    for (let hops = 0; n && n.op === 'Identity' && n.inputs[0] && hops < 100; hops++) n = byName.get(parseInputRef(n.inputs[0]).node);
    return n?.op === 'VarHandleOp' ? n : undefined;
  };
  for (const n of fn.nodes) {
    if (n.op !== 'AssignVariableOp') continue;
    const [target, value] = n.inputs;
    const arg = target !== undefined ? argIndex.get(target) : undefined;
    if (arg === undefined || value === undefined) continue;
    let src = bodyRef(value);
    for (let hops = 0; body.get(src.node)?.op === 'Identity' && hops < 100; hops++) src = bodyRef(body.get(src.node)!.inputs[0]!);
    const restore = body.get(src.node);
    if (restore?.op !== 'RestoreV2') continue;
    const key = strings(restore.inputs[1])?.[src.index];
    const spec = strings(restore.inputs[2])?.[src.index] ?? '';
    const h = data[arg] !== undefined ? handleOf(data[arg]!) : undefined;
    if (h && key !== undefined) out.set(h.name, { key, spec });
  }
  return out;
}
