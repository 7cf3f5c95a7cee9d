import { readFileSync } from 'node:fs';
import { FormatError, errorMessage } from '../core/errors.js';
import type { TensorSpec } from '../core/tensor.js';
import { shapeToString } from '../core/tensor.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import { opLabel } from '../graph/tf-op-names.js';
import type { LoopSummary } from '../interpreter/frames.js';
import { describeLoops, raiseFrames } from '../interpreter/frames.js';
import type { UnsupportedOp } from '../interpreter/interpreter.js';
import { findUnsupportedOps } from '../interpreter/interpreter.js';
import { reachable } from './checkpoint/metagraph.js';
import type { GraphStats } from './index.js';
import { detectOriginal, graphStats, loadGraph } from './index.js';
import { parseTextFormat } from './pbtxt.js';
import { decodeShape, dtypeFromEnum, sinkOutputs } from './tensor-proto.js';
import { tfType } from '../proto/index.js';

/**
 * What `parity inspect` says of an original: it describes where run and compare refuse (a
 * SavedModel without serving_default, with its variables missing, an op tf-parity cannot run),
 * so that the user sees the inputs, outputs, signatures and every op it cannot run at once.
 * Unsupported ops are split by reach: those the chosen outputs need (they block a run) and
 * those elsewhere in the file (a classify signature's ParseExample, the save/restore functions,
 * a training graph's optimizer), which never run.
 */
export interface ModelDescription extends GraphStats {
  path: string;
  format: Graph['source']['format'];
  signatures: NonNullable<Graph['signatures']>;
  /** What the reader decided or could not do (default outputs chosen, no serving_default, missing variables). */
  notes: string[];
  /** Ops without a kernel that the outputs need. */
  unsupported: UnsupportedOp[];
  /** Ops without a kernel elsewhere in the file, which the outputs do not need. */
  unreached: UnsupportedOp[];
  loops: LoopSummary[];
}

export async function describeModel(path: string, opts: { signature?: string; tags?: string[] } = {}): Promise<ModelDescription> {
  let graph: Graph;
  try {
    graph = await loadGraph(path, { ...opts, describe: true });
  } catch (e) {
    // A GraphDef with values in a dtype tf-parity does not compute in (a quantize_graph output's
    // quint8 consts): described by its structure alone, with why it cannot run.
    const structure = e instanceof FormatError && UNSUPPORTED_DTYPE.test(e.message) ? structureOnly(path) : undefined;
    if (!structure) throw e;
    graph = structure;
    (graph.notes ??= []).push(`cannot run: ${errorMessage(e)}`);
  }
  const stats = graphStats(graph);
  const all = findUnsupportedOps(graph);
  const needed = reachable(graph.nodes, graph.outputs);
  const unsupported = findUnsupportedOps({ ...graph, nodes: graph.nodes.filter((n) => needed.has(n.name)) });
  const reached = new Set(unsupported.flatMap((u) => u.nodes));
  const unreached = all.map((u) => ({ op: u.op, nodes: u.nodes.filter((n) => !reached.has(n)) })).filter((u) => u.nodes.length);
  let loops: LoopSummary[] = [];
  try {
    const raised = raiseFrames(graph);
    loops = describeLoops(raised);
    // Unused Exits of nested loops are GraphDef sinks, not outputs.
    stats.outputs = raised.outputs;
  } catch {
    // a frame structure that cannot be raised is listed among the unsupported ops
  }
  // Inputs the outputs do not read (a training graph's labels, a dropout rate) are never fed.
  const unread = stats.inputs.filter((s) => !needed.has(parseInputRef(s.name).node));
  const notes = [...(graph.notes ?? [])];
  if (unread.length && unread.length < stats.inputs.length) {
    stats.inputs = stats.inputs.filter((s) => !unread.includes(s));
    notes.push(`inputs the outputs do not read, never fed: ${unread.map((s) => s.name).join(', ')}`);
  }
  return { path, format: graph.source.format, ...stats, signatures: graph.signatures ?? {}, notes, unsupported, unreached, loops };
}

function inputLine(s: TensorSpec): string {
  const key = s.alias !== undefined && s.alias !== s.name ? `  (signature key ${s.alias})` : '';
  return `  ${s.name}  ${s.dtype}${shapeToString(s.shape)}${key}`;
}

function opLines(list: UnsupportedOp[]): string[] {
  return list.map((u) => `  ${opLabel(u.op)}: ${u.nodes.slice(0, 8).join(', ')}${u.nodes.length > 8 ? `, … (${u.nodes.length} nodes)` : ''}`);
}

/** The description as `parity inspect` prints it. */
export function formatDescription(d: ModelDescription): string {
  const out: string[] = [];
  out.push(`${d.path} (${d.format}): ${d.nodes} nodes, ${d.parameters.toLocaleString('en-US')} parameters${d.functions ? `, ${d.functions} functions` : ''}`);
  out.push('inputs:');
  for (const s of d.inputs) out.push(inputLine(s));
  if (!d.inputs.length) out.push('  (none)');
  out.push('outputs:');
  for (const o of d.outputs) out.push(`  ${o}`);
  if (Object.keys(d.signatures).length) {
    out.push('signatures:');
    for (const [name, sig] of Object.entries(d.signatures)) {
      const side = (m: Record<string, TensorSpec>) => Object.entries(m).map(([k, v]) => `${k}: ${v.dtype}${shapeToString(v.shape)}`).join(', ');
      out.push(`  ${name}: (${side(sig.inputs)}) -> (${side(sig.outputs)})`);
    }
  }
  out.push('ops:');
  for (const [op, n] of d.ops) out.push(`  ${String(n).padStart(6)}  ${op}`);
  if (d.loops.length) {
    out.push(`TF1 while loops (${d.loops.length}):`);
    const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
    for (const l of d.loops) out.push(`  ${'  '.repeat(l.outerFrames.length)}${l.frame}: ${plural(l.variables, 'loop variable')}, ${plural(l.invariants, 'invariant')}, ${plural(l.exits, 'exit')}`);
  }
  if (d.unsupported.length) {
    out.push(`not executable yet (${d.unsupported.length} op types):`);
    out.push(...opLines(d.unsupported));
  } else out.push('every op is executable');
  if (d.unreached.length) {
    out.push(`not needed by the outputs, never run (${d.unreached.length} op types tf-parity cannot execute):`);
    out.push(...opLines(d.unreached));
  }
  for (const n of d.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

const UNSUPPORTED_DTYPE = /dtype DT_\w+ is not supported/;

/**
 * A binary or text GraphDef as nodes, ops and edges only (attributes left undecoded), or
 * undefined for other kinds of original. Inputs are the Placeholders whose dtype tf-parity knows.
 */
function structureOnly(path: string): Graph | undefined {
  const kind = detectOriginal(path);
  if (kind !== 'pb' && kind !== 'pbtxt') return undefined;
  const T = tfType('GraphDef');
  let msg: Record<string, unknown>;
  try {
    msg = (kind === 'pb' ? T.decode(readFileSync(path)) : parseTextFormat(readFileSync(path, 'utf8'), T, path)) as unknown as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const raw = (msg.node as Record<string, unknown>[] | undefined) ?? [];
  const nodes: GraphNode[] = raw.map((n) => ({ name: String(n.name ?? ''), op: String(n.op ?? ''), inputs: ((n.input as string[] | undefined) ?? []).map(String), attrs: {} }));
  const inputs: TensorSpec[] = [];
  raw.forEach((n, i) => {
    if (nodes[i]!.op !== 'Placeholder') return;
    const attr = (n.attr as Record<string, Record<string, unknown>> | undefined) ?? {};
    try {
      inputs.push({ name: nodes[i]!.name, dtype: dtypeFromEnum(attr.dtype?.type ?? 1, {}), shape: attr.shape?.shape ? decodeShape(attr.shape.shape as Record<string, unknown>) : null });
    } catch {
      // a dtype tf-parity has no name for: the note says why the graph cannot run
    }
  });
  return { nodes, functions: new Map(), source: { path, format: kind }, inputs, outputs: sinkOutputs(nodes) };
}
