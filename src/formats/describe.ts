import type { TensorSpec } from '../core/tensor.js';
import { shapeToString } from '../core/tensor.js';
import type { Graph } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';
import { opLabel } from '../graph/tf-op-names.js';
import type { LoopSummary } from '../interpreter/frames.js';
import { describeLoops, raiseFrames } from '../interpreter/frames.js';
import type { UnsupportedOp } from '../interpreter/interpreter.js';
import { findUnsupportedOps } from '../interpreter/interpreter.js';
import { reachable } from './checkpoint/metagraph.js';
import type { GraphStats } from './index.js';
import { graphStats, loadGraph } from './index.js';

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
  const graph = await loadGraph(path, { ...opts, describe: true });
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
