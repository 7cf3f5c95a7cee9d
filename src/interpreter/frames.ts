import { ExecutionError } from '../core/errors.js';
import { A } from '../graph/attrs.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';

/**
 * TF1 while loops (Enter / Merge / Switch / LoopCond / NextIteration / Exit frames) raised into
 * structured loops the topological interpreter can run: each frame becomes one `_ParityTF1Loop`
 * node whose attributes carry a condition graph and a body graph (both ordinary Graphs), and each
 * Exit becomes an Identity of that node's outputs.
 *
 * Frames nest (a tf.while_loop inside another one's body): the frame tree is worked out first, the
 * way TensorFlow's executor does it (an Enter opens its `frame_name` as a child of the frame its
 * input is in, an Exit returns to the parent, every other node is in the frame of its inputs), and
 * then raised recursively, so an inner frame becomes a loop node inside its outer loop's body graph.
 */

const ENTER = new Set(['Enter', 'RefEnter']);
const EXIT = new Set(['Exit', 'RefExit']);
const MERGE = new Set(['Merge', 'RefMerge']);
const SWITCH = new Set(['Switch', 'RefSwitch']);
const NEXT = new Set(['NextIteration', 'RefNextIteration']);

export interface LoopSpec {
  frame: string;
  /** Frames this loop is nested in, outermost first (empty for a loop outside every other loop). */
  outerFrames: string[];
  /** The original file, for messages (the cond/body graphs' paths carry a `#frame/…` suffix). */
  file: string;
  /** The frame's LoopCond node: the node named when the loop itself fails. */
  loopCond: string;
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
  return graph.nodes.some((n) => ENTER.has(n.op));
}

function frameName(n: GraphNode): string {
  return n.attrs.frame_name?.type === 'string' ? n.attrs.frame_name.value : '';
}

function dataInputs(n: GraphNode): string[] {
  return n.inputs.filter((r) => !r.startsWith('^'));
}

/**
 * Where every node is: its innermost frame (null: outside every loop) and each frame's parent.
 * `free` nodes are input-less Consts: TF would place them in the root frame, but tfjs (and graphs
 * whose loop-body constants lost their control input to the loop pivot) use them inside frames
 * too, so they are copied into every loop graph that reads them instead of being refused.
 */
interface FrameTree {
  frameOf: Map<string, string | null>;
  parentOf: Map<string, string | null>;
  free: Set<string>;
}

const where = (f: string | null): string => (f === null ? 'outside every loop' : `in frame '${f}'`);

function analyseFrames(graph: Graph, fail: (msg: string, node?: string) => never): FrameTree {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const users = new Map<string, string[]>();
  for (const n of graph.nodes) for (const r of n.inputs) {
    const src = parseInputRef(r).node;
    if (!byName.has(src)) continue;
    const list = users.get(src);
    if (list) list.push(n.name);
    else users.set(src, [n.name]);
  }
  const free = new Set(graph.nodes.filter((n) => n.op === 'Const' && n.inputs.length === 0).map((n) => n.name));
  const frameOf = new Map<string, string | null>();
  const parentOf = new Map<string, string | null>();
  /** The input a node was first reached from, and for each frame its first Enter: for messages. */
  const via = new Map<string, string>();
  const firstEnter = new Map<string, { enter: string; from: string }>();
  const queue: string[] = [];
  for (const n of graph.nodes) {
    const srcs = n.inputs.map((r) => parseInputRef(r).node).filter((s) => byName.has(s));
    if (ENTER.has(n.op)) {
      if (dataInputs(n).length === 0) fail(`Enter '${n.name}' has no input`, n.name);
      if (!frameName(n)) fail(`Enter '${n.name}' has no frame_name`, n.name);
      continue;
    }
    if (free.has(n.name)) frameOf.set(n.name, null);
    else if (srcs.every((s) => free.has(s))) {
      frameOf.set(n.name, null);
      queue.push(n.name);
    }
  }
  // The frame a node's outputs are in: its own, or for an Exit the parent of the frame it leaves.
  const outFrame = (name: string): string | null => {
    const f = frameOf.get(name) ?? null;
    if (!EXIT.has(byName.get(name)!.op)) return f;
    if (f === null) fail(`Exit '${name}' is not inside any while-loop frame`, name);
    return parentOf.get(f!) ?? null;
  };
  const describe = (name: string): string => {
    const n = byName.get(name)!;
    return EXIT.has(n.op) ? `'${name}' (the Exit of frame '${frameOf.get(name)}', so ${where(outFrame(name))})` : `'${name}' (${where(outFrame(name))})`;
  };
  const visit = (cur: string): void => {
    const f = outFrame(cur);
    for (const u of users.get(cur) ?? []) {
      const un = byName.get(u)!;
      if (ENTER.has(un.op)) {
        const child = frameName(un);
        const first = firstEnter.get(child);
        // A free Const says nothing about where the frame sits (it is copied wherever needed).
        if (!free.has(cur) && !first) {
          parentOf.set(child, f);
          firstEnter.set(child, { enter: u, from: cur });
        } else if (!free.has(cur) && parentOf.get(child) !== f) {
          fail(
            `Enter '${u}' of frame '${child}' takes ${describe(cur)}, but Enter '${first!.enter}' of the same frame takes ${describe(first!.from)}: ` +
              `the frame's parent cannot be determined (mismatched parent frames)`,
            u,
          );
        }
        if (!frameOf.has(u)) {
          frameOf.set(u, child);
          via.set(u, cur);
          queue.push(u);
        }
        continue;
      }
      if (free.has(cur)) continue;
      const prev = frameOf.get(u);
      if (prev === undefined) {
        frameOf.set(u, f);
        via.set(u, cur);
        queue.push(u);
      } else if (prev !== f) {
        const other = via.get(u);
        fail(
          `node '${u}' (${un.op}) has inputs from different while-loop frames: ${describe(cur)} and ${other ? describe(other) : `its other inputs (${where(prev)})`}` +
            ` (values leave a frame only through its own Exit nodes)`,
          u,
        );
      }
    }
  };
  // Free Consts go last, once everything else reachable is placed: an Enter fed by one must not
  // decide where its frame sits before the frame's other Enters have been reached.
  let qi = 0;
  for (; qi < queue.length; qi++) visit(queue[qi]!);
  for (const c of free) visit(c);
  for (; qi < queue.length; qi++) visit(queue[qi]!);
  return { frameOf, parentOf, free };
}

/** What raising learnt about a graph, kept for messages about nodes that disappeared into loops. */
interface Raised {
  tree: FrameTree;
  byName: Map<string, GraphNode>;
}
const raisedInfo = new WeakMap<Graph, Raised>();

let counter = 0;

/** Returns the graph with every TF1 loop frame replaced by a loop node (or the graph itself when it has none). */
export function raiseFrames(graph: Graph): Graph {
  if (!hasFrames(graph)) return graph;
  const file = graph.source.path;
  const fail = (msg: string, node?: string): never => {
    throw new ExecutionError(`${file}: ${msg}`, { file, node });
  };
  const tree = analyseFrames(graph, fail);
  const nodes = raiseLevel(graph.nodes, null, [], tree, graph, fail);
  // TF gives every loop variable an Exit, used or not; an unused Exit of a nested loop is a sink of
  // the GraphDef (so an inferred output) but a value inside the outer loop, never a model output.
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const nestedExit = (out: string): boolean => {
    const name = parseInputRef(out).node;
    const f = tree.frameOf.get(name);
    return EXIT.has(byName.get(name)?.op ?? '') && f !== undefined && f !== null && (tree.parentOf.get(f) ?? null) !== null;
  };
  const raised = { ...graph, nodes, outputs: graph.outputs.filter((o) => !nestedExit(o)) };
  raisedInfo.set(raised, { tree, byName });
  return raised;
}

/**
 * Replaces the frames directly inside `level` (null: the top level) by loop nodes. `nodes` are the
 * level's nodes including everything nested in its frames; their names are the original ones, so
 * the frame tree answers for all of them.
 */
function raiseLevel(nodes: GraphNode[], level: string | null, outerFrames: string[], tree: FrameTree, graph: Graph, fail: (msg: string, node?: string) => never): GraphNode[] {
  const file = graph.source.path;
  const parent = (f: string): string | null => tree.parentOf.get(f) ?? null;
  // The frame directly inside `level` that contains the node, if any.
  const childAt = (name: string): string | undefined => {
    if (tree.free.has(name)) return undefined;
    let f = tree.frameOf.get(name) ?? null;
    while (f !== null && f !== level && parent(f) !== level) f = parent(f);
    return f === null || f === level ? undefined : f;
  };
  const groups = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    const f = childAt(n.name);
    if (f === undefined) continue;
    const list = groups.get(f);
    if (list) list.push(n);
    else groups.set(f, [n]);
  }
  if (groups.size === 0) return nodes;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const replaced = new Map<string, GraphNode>();
  const loopNodes: GraphNode[] = [];
  for (const [f, members] of groups) {
    const own = (n: GraphNode | undefined, ops: Set<string>): boolean => !!n && ops.has(n.op) && tree.frameOf.get(n.name) === f;
    const nodeOf = (ref: string) => byName.get(parseInputRef(ref).node);
    const conds = members.filter((n) => n.op === 'LoopCond' && tree.frameOf.get(n.name) === f);
    if (conds.length !== 1) fail(`while-loop frame '${f}' has ${conds.length} LoopCond nodes, expected 1`, conds[1]?.name ?? members[0]?.name);
    const loopCond = conds[0]!;
    const enters = members.filter((n) => own(n, ENTER));
    // Loop variables: Merges fed by one of the frame's Enters and one of its NextIterations. Other
    // Merges and Switches in the frame (a TF1 tf.cond in the body) stay ordinary nodes of the
    // loop's graphs, run there with dead-tensor semantics (ops/control.ts).
    const vars: LoopSpec['vars'] = [];
    for (const m of members.filter((n) => own(n, MERGE))) {
      const ins = dataInputs(m).map(nodeOf);
      const enter = ins.find((n) => own(n, ENTER));
      const next = ins.find((n) => own(n, NEXT));
      if (!enter && !next) continue;
      if (!enter || !next || ins.length !== 2) fail(`Merge '${m.name}' in frame '${f}' is not fed by exactly one Enter and one NextIteration of the frame`, m.name);
      vars.push({ merge: m.name, enter: enter!.name, next: next!.name });
    }
    const loopMerges = new Set(vars.map((v) => v.merge));
    const varEnters = new Set(vars.map((v) => v.enter));
    const constants = enters.filter((e) => !varEnters.has(e.name)).map((e) => e.name);
    // Switch of each loop variable: data input = its Merge, predicate = the LoopCond.
    const switchOf = new Map<string, string>();
    for (const s of members.filter((n) => own(n, SWITCH))) {
      const [data, pred] = dataInputs(s);
      if (!pred || nodeOf(pred) !== loopCond) continue;
      const merge = nodeOf(data!);
      if (!merge || !loopMerges.has(merge.name)) fail(`Switch '${s.name}' on the LoopCond of frame '${f}' does not switch a loop variable's Merge`, s.name);
      switchOf.set(s.name, merge!.name);
    }
    const exits = members.filter((n) => own(n, EXIT));
    const ownOps = new Set([...enters, ...exits, ...members.filter((n) => own(n, NEXT))].map((n) => n.name).concat([...loopMerges, ...switchOf.keys(), loopCond.name]));
    const placeholders: GraphNode[] = [...vars.map((v) => v.merge), ...constants].map((name) => ({ name, op: 'Placeholder', inputs: [], attrs: {} }));
    const kept = members.filter((n) => !ownOps.has(n.name));
    const inside = new Set([...placeholders, ...kept].map((n) => n.name));
    const freeUsed = new Set<string>();
    // A reference made inside the frame, as the cond/body graphs see it.
    const rewrite = (ref: string, reader: string): string => {
      if (ref.startsWith('^')) {
        const n = parseInputRef(ref).node;
        return inside.has(n) ? `^${n}` : '';
      }
      const r = parseInputRef(ref);
      const n = byName.get(r.node);
      if (!n) return ref;
      if (switchOf.has(n.name)) {
        if (r.index !== 1) fail(`node '${reader}' reads '${ref}', the exit branch of a loop variable's Switch, from inside frame '${f}'`, reader);
        return switchOf.get(n.name)!;
      }
      if (n === loopCond) return rewrite(dataInputs(n)[0]!, reader);
      if (own(n, ENTER)) {
        if (varEnters.has(n.name)) fail(`node '${reader}' reads '${ref}', the Enter of a loop variable, instead of its Merge`, reader);
        return n.name;
      }
      if (loopMerges.has(n.name) && r.index !== 0) fail(`node '${reader}' reads '${ref}', the value_index of a loop variable's Merge, which is not supported`, reader);
      if (ownOps.has(n.name) && !loopMerges.has(n.name)) fail(`node '${reader}' reads '${ref}' (${n.op}) from inside frame '${f}'`, reader);
      if (tree.free.has(n.name) && !inside.has(n.name)) freeUsed.add(n.name);
      return ref;
    };
    const rewritten = kept.map((n) => ({ ...n, inputs: n.inputs.map((r) => rewrite(r, n.name)).filter(Boolean) }));
    const predicate = rewrite(dataInputs(loopCond)[0] ?? fail(`LoopCond '${loopCond.name}' has no input`, loopCond.name), loopCond.name);
    const nextValues = vars.map((v) => rewrite(dataInputs(byName.get(v.next)!)[0] ?? fail(`NextIteration '${v.next}' has no input`, v.next), v.next));
    const exitSpecs = exits.map((e) => {
      const src = dataInputs(e)[0];
      const sw = src === undefined ? undefined : parseInputRef(src);
      const merge = sw && sw.index === 0 ? switchOf.get(sw.node) : undefined;
      const k = vars.findIndex((v) => v.merge === merge);
      if (k < 0) fail(`Exit '${e.name}' is not fed by the exit branch of a loop variable's Switch`, e.name);
      return { name: e.name, varIndex: k };
    });
    const freeCopies = [...freeUsed].map((name) => byName.get(name)!);
    // Frames nested in this one become loop nodes of its cond/body graphs.
    const inner = raiseLevel([...placeholders, ...freeCopies, ...rewritten], f, [...outerFrames, f], tree, graph, fail);
    const sub = (outputs: string[], tag: string): Graph => ({
      nodes: inner,
      functions: graph.functions,
      ...(graph.variables ? { variables: graph.variables } : {}),
      source: { path: `${file}#${f}/${tag}`, format: graph.source.format },
      inputs: placeholders.map((p) => ({ name: p.name, dtype: 'float32', shape: null })),
      outputs,
    });
    const outerInputs = [...vars.map((v) => v.enter), ...constants].map((e) => dataInputs(byName.get(e)!)[0]!);
    const key = `loop${counter++}`;
    loops.set(key, { frame: f, outerFrames, file, loopCond: loopCond.name, vars, constants, outerInputs, cond: sub([predicate], 'cond'), body: sub(nextValues, 'body'), exits: exitSpecs });
    const loopName = `${f}/_parity_loop`;
    loopNodes.push({ name: loopName, op: LOOP_OP, inputs: outerInputs, attrs: { _loop: A.str(key) } });
    for (const e of exitSpecs) replaced.set(e.name, { name: e.name, op: 'Identity', inputs: [e.varIndex ? `${loopName}:${e.varIndex}` : loopName], attrs: {} });
  }
  const out: GraphNode[] = [];
  for (const n of nodes) {
    const r = replaced.get(n.name);
    if (r) out.push(r);
    else if (childAt(n.name) === undefined) out.push(n);
  }
  out.push(...loopNodes);
  return out;
}

/** One TF1 loop of a raised graph, for `parity inspect`. */
export interface LoopSummary {
  frame: string;
  /** Frames it is nested in, outermost first. */
  outerFrames: string[];
  variables: number;
  invariants: number;
  exits: number;
}

/** Every TF1 loop in a raised graph, each followed by the loops nested in it. */
export function describeLoops(graph: Graph): LoopSummary[] {
  const out: LoopSummary[] = [];
  const visit = (nodes: GraphNode[]) => {
    for (const n of nodes) {
      if (n.op !== LOOP_OP) continue;
      const s = loopSpec(n);
      out.push({ frame: s.frame, outerFrames: s.outerFrames, variables: s.vars.length, invariants: s.constants.length, exits: s.exits.length });
      visit(s.body.nodes);
    }
  };
  visit(graph.nodes);
  return out;
}

/**
 * When `name` was a node of the graph before raising and now lives inside a loop, says where
 * (and, for a node that is inside a frame only because it reads a nested loop's Exit, why).
 */
export function insideLoopNote(raised: Graph, name: string): string | undefined {
  const info = raisedInfo.get(raised);
  const f = info?.tree.frameOf.get(name);
  if (!info || f === undefined || f === null || info.tree.free.has(name)) return undefined;
  const chain: string[] = [];
  for (let p: string | null = f; p !== null; p = info.tree.parentOf.get(p) ?? null) chain.unshift(p);
  const scope = chain.map((c) => `${c}/body@iterK/`).join('');
  // A node is in a frame without being part of its loop's own computation when it reads the
  // Exit of a loop nested in that frame: say so, it is the usual way such a graph goes wrong.
  let cause: string | undefined;
  const seen = new Set<string>();
  const stack = [name];
  while (stack.length && cause === undefined) {
    const n = info.byName.get(stack.pop()!);
    if (!n || seen.has(n.name)) continue;
    seen.add(n.name);
    for (const r of dataInputs(n)) {
      const src = info.byName.get(parseInputRef(r).node);
      const sf = src ? info.tree.frameOf.get(src.name) : undefined;
      if (!src || sf === undefined || sf === null) continue;
      if (EXIT.has(src.op) && info.tree.parentOf.get(sf) === f) {
        cause = src.name;
        break;
      }
      if (sf === f && !ENTER.has(src.op) && !MERGE.has(src.op)) stack.push(src.name);
    }
  }
  const nested = chain.length > 1 ? ` (nested in '${chain[chain.length - 2]}')` : '';
  const because = cause ? ` (it is inside '${f}' because it reads '${cause}', the Exit of frame '${info.tree.frameOf.get(cause)}', which leads back into '${f}')` : '';
  return `'${name}' is inside TF1 while-loop frame '${f}'${nested}: only values leaving a frame through its Exit nodes can be read outside it${because}; its value in each iteration is recorded as '${scope}${name}' (cond@iterK for what only the loop condition computes)`;
}
