import { ExecutionError } from '../core/errors.js';
import { A } from '../graph/attrs.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';

/**
 * TF1 while loops (Enter / Merge / Switch / LoopCond / NextIteration / Exit frames) raised into
 * structured loops the topological interpreter can run: each frame becomes one `_ParityTF1Loop`
 * node whose attributes carry a condition graph and a body graph (both ordinary Graphs), and each
 * Exit becomes an Identity of that node's outputs. Frames nested in frames are refused clearly.
 */

const FRAME_OPS = new Set(['Enter', 'RefEnter', 'Merge', 'RefMerge', 'Switch', 'RefSwitch', 'NextIteration', 'RefNextIteration', 'Exit', 'RefExit', 'LoopCond']);

export interface LoopSpec {
  frame: string;
  /** Loop variables: the Merge nodes, their initial Enter, and the NextIteration feeding them back. */
  vars: { merge: string; enter: string; next: string }[];
  /** Loop-invariant inputs: Enter nodes with is_constant (and Enters not feeding a Merge). */
  constants: string[];
  /** Values from outside the frame, in the order the loop node takes them: vars' initial values then constants. */
  outerInputs: string[];
  cond: Graph;
  body: Graph;
  /** Exit node names, with the index of the loop variable each one returns. */
  exits: { name: string; varIndex: number }[];
}

export const LOOP_OP = '_ParityTF1Loop';
const loops = new Map<string, LoopSpec>();

export function loopSpec(node: GraphNode): LoopSpec {
  const key = node.attrs._loop?.type === 'string' ? node.attrs._loop.value : '';
  const spec = loops.get(key);
  if (!spec) throw new ExecutionError(`node '${node.name}': internal loop description missing`, { node: node.name });
  return spec;
}

export function hasFrames(graph: Graph): boolean {
  return graph.nodes.some((n) => n.op === 'Enter' || n.op === 'RefEnter');
}

function frameName(n: GraphNode): string {
  return n.attrs.frame_name?.type === 'string' ? n.attrs.frame_name.value : '';
}

let counter = 0;

/** Returns the graph with every TF1 loop frame replaced by a loop node (or the graph itself when it has none). */
export function raiseFrames(graph: Graph): Graph {
  if (!hasFrames(graph)) return graph;
  const file = graph.source.path;
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const users = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) for (const r of n.inputs) {
    const src = parseInputRef(r).node;
    users.set(src, [...(users.get(src) ?? []), n]);
  }
  const fail = (msg: string, node?: string): never => {
    throw new ExecutionError(`${file}: ${msg}`, { file, node });
  };
  // Frame membership: forward from each Enter, stopping at Exits.
  const frameOf = new Map<string, string>();
  for (const e of graph.nodes.filter((n) => n.op === 'Enter' || n.op === 'RefEnter')) {
    const f = frameName(e);
    const stack = [e.name];
    while (stack.length) {
      const cur = stack.pop()!;
      const prev = frameOf.get(cur);
      if (prev !== undefined) {
        if (prev !== f) fail(`nested or overlapping while-loop frames ('${prev}' and '${f}' at node '${cur}') are not supported yet`, cur);
        continue;
      }
      frameOf.set(cur, f);
      const n = byName.get(cur)!;
      if (n.op === 'Exit' || n.op === 'RefExit') continue;
      for (const u of users.get(cur) ?? []) if (u.op !== 'Enter' || frameName(u) === f) stack.push(u.name);
    }
  }
  // Nodes reached from inside a frame but fed by the body only through constants also belong to it.
  const frames = [...new Set(frameOf.values())];
  const replaced = new Map<string, GraphNode>();
  const dropped = new Set<string>();
  const loopNodes: GraphNode[] = [];
  for (const f of frames) {
    const members = graph.nodes.filter((n) => frameOf.get(n.name) === f);
    const enters = members.filter((n) => n.op === 'Enter' || n.op === 'RefEnter');
    const merges = members.filter((n) => n.op === 'Merge' || n.op === 'RefMerge');
    const exits = members.filter((n) => n.op === 'Exit' || n.op === 'RefExit');
    const conds = members.filter((n) => n.op === 'LoopCond');
    if (conds.length !== 1) fail(`while-loop frame '${f}' has ${conds.length} LoopCond nodes, expected 1`);
    const loopCond = conds[0]!;
    const vars = merges.map((m) => {
      const ins = m.inputs.filter((r) => !r.startsWith('^')).map((r) => byName.get(parseInputRef(r).node)!);
      const enter = ins.find((n) => n.op === 'Enter' || n.op === 'RefEnter');
      const next = ins.find((n) => n.op === 'NextIteration' || n.op === 'RefNextIteration');
      if (!enter || !next) fail(`Merge '${m.name}' in frame '${f}' is not fed by an Enter and a NextIteration`, m.name);
      return { merge: m.name, enter: enter!.name, next: next!.name };
    });
    const varEnters = new Set(vars.map((v) => v.enter));
    const constants = enters.filter((e) => !varEnters.has(e.name)).map((e) => e.name);
    const outerInputs = [...vars.map((v) => byName.get(v.enter)!.inputs[0]!), ...constants.map((c) => byName.get(c)!.inputs[0]!)];
    // Switch of each loop variable: data input = its Merge, predicate = LoopCond.
    const switchOf = new Map<string, string>();
    for (const s of members.filter((n) => n.op === 'Switch' || n.op === 'RefSwitch')) {
      const data = parseInputRef(s.inputs[0]!).node;
      switchOf.set(s.name, data);
    }
    // Rewrites a frame-internal reference for the cond/body graphs.
    const rewrite = (ref: string): string => {
      if (ref.startsWith('^')) {
        const n = parseInputRef(ref).node;
        return frameOf.get(n) === f && !FRAME_OPS.has(byName.get(n)?.op ?? '') ? `^${n}` : '';
      }
      const r = parseInputRef(ref);
      const n = byName.get(r.node);
      if (!n) return ref;
      if (n.op === 'Switch' || n.op === 'RefSwitch') {
        if (r.index !== 1) fail(`node reads '${ref}', the loop's exit branch, from inside frame '${f}'`);
        return switchOf.get(n.name)!;
      }
      if (n.op === 'Enter' || n.op === 'RefEnter') return varEnters.has(n.name) ? ref : n.name;
      if (n.op === 'LoopCond') return n.inputs[0]!;
      return ref;
    };
    const inner = members.filter((n) => !FRAME_OPS.has(n.op));
    const placeholders: GraphNode[] = [
      ...vars.map((v) => ({ name: v.merge, op: 'Placeholder', inputs: [], attrs: {} })),
      ...constants.map((c) => ({ name: c, op: 'Placeholder', inputs: [], attrs: {} })),
    ];
    const innerNodes = [...placeholders, ...inner.map((n) => ({ ...n, inputs: n.inputs.map(rewrite).filter(Boolean) }))];
    const sub = (outputs: string[], tag: string): Graph => ({
      nodes: innerNodes,
      functions: graph.functions,
      source: { path: `${file}#${f}/${tag}`, format: graph.source.format },
      inputs: placeholders.map((p) => ({ name: p.name, dtype: 'float32', shape: null })),
      outputs,
    });
    const cond = sub([rewrite(loopCond.inputs[0]!)], 'cond');
    const body = sub(vars.map((v) => rewrite(byName.get(v.next)!.inputs[0]!)), 'body');
    const exitSpecs = exits.map((e) => {
      const sw = parseInputRef(e.inputs[0]!).node;
      const merge = switchOf.get(sw);
      const k = vars.findIndex((v) => v.merge === merge);
      if (k < 0) fail(`Exit '${e.name}' is not fed by a loop variable's Switch`, e.name);
      return { name: e.name, varIndex: k };
    });
    const key = `loop${counter++}`;
    loops.set(key, { frame: f, vars, constants, outerInputs, cond, body, exits: exitSpecs });
    const loopName = `${f || 'while'}/_parity_loop`;
    loopNodes.push({ name: loopName, op: LOOP_OP, inputs: outerInputs, attrs: { _loop: A.str(key) } });
    for (const m of members) dropped.add(m.name);
    for (const e of exitSpecs) replaced.set(e.name, { name: e.name, op: 'Identity', inputs: [e.varIndex ? `${loopName}:${e.varIndex}` : loopName], attrs: {} });
  }
  const nodes: GraphNode[] = [];
  for (const n of graph.nodes) {
    if (replaced.has(n.name)) nodes.push(replaced.get(n.name)!);
    else if (!dropped.has(n.name)) nodes.push(n);
  }
  nodes.push(...loopNodes);
  return { ...graph, nodes };
}
