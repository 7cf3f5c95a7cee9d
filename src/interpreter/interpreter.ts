import { tf } from '../backend/tf.js';
import { runWithFallback, share } from '../backend/index.js';
import { ExecutionError, InputError, ParityError, UnsupportedError, errorMessage, listing } from '../core/errors.js';
import type { Activation, Feeds, OpRole, RunOptions, Runner } from '../core/runner.js';
import { opRole } from '../core/runner.js';
import { attrStrings } from '../graph/attrs.js';
import type { TensorSpec } from '../core/tensor.js';
import { numElements, shapeToString } from '../core/tensor.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef, tensorKey } from '../graph/ir.js';
import { stripPort, suggest } from '../core/names.js';
import { noFeedError } from '../core/feeds.js';
import type { KernelInfo, OpContext } from './registry.js';
import { functionGraph } from './functions.js';
import { neededFunctionNodes } from '../graph/reach.js';
import { opLabel } from '../graph/tf-op-names.js';
import { LOOP_OP, insideLoopNote, loopSpec, raiseFrames } from './frames.js';
import { beginTopLevelRun, endTopLevelRun } from './ops/lists.js';
import { hostToTf, sameView } from '../backend/convert.js';
import { NarrowLog, checkNoWrap, settleOutputs } from './dtypes.js';
import { getKernel } from './registry.js';
import './ops/index.js';

/** A node whose op is a library function: a direct call. */
const FUNCTION_OP: KernelInfo = {
  async: true,
  kernel: (inputs, node, ctx) => ctx.callFunction(node.op, inputs, node.name),
};

function hostToTfValue(h: import('../core/tensor.js').HostTensor, name: string): tf.Tensor {
  return hostToTf(h, `variable '${name}'`);
}

/** Ops that are graph inputs: fed, never executed by a kernel unless they have a default. */
const FEED_OPS = new Set(['Placeholder', 'PlaceholderWithDefault']);

export interface UnsupportedOp {
  op: string;
  nodes: string[];
}

/** Every op in the graph (and the functions it runs) that has no kernel, with the nodes that use it. */
export function findUnsupportedOps(graphIn: Graph): UnsupportedOp[] {
  const byOp = new Map<string, string[]>();
  // TF1 loop frames are raised first; their bodies are checked like any other nodes.
  let graph = graphIn;
  try {
    graph = raiseFrames(graphIn);
  } catch (e) {
    byOp.set('TF1 while-loop frame', [errorMessage(e)]);
  }
  const visit = (nodes: GraphNode[], scope: string) => {
    for (const n of nodes) {
      if (n.op === 'Placeholder') continue;
      if (!getKernel(n.op) && !graph.functions.has(n.op)) {
        const list = byOp.get(n.op) ?? [];
        list.push(scope + n.name);
        byOp.set(n.op, list);
      }
    }
  };
  visit(graph.nodes, '');
  const roots = [...graph.nodes];
  // Loop bodies (the condition's nodes are among them), and the loops nested in them.
  const visitLoops = (nodes: GraphNode[], scope: string) => {
    for (const n of nodes) {
      if (n.op !== LOOP_OP) continue;
      const spec = loopSpec(n);
      const body = spec.body.nodes.filter((b) => b.op !== 'Placeholder');
      visit(body, `${scope}${spec.frame}/`);
      roots.push(...body);
      visitLoops(spec.body.nodes, `${scope}${spec.frame}/`);
    }
  };
  visitLoops(graph.nodes, '');
  // Only the functions these nodes run, and of each body the nodes its outputs need: a
  // SavedModel's library also holds save/restore functions nothing here calls.
  for (const [name, used] of neededFunctionNodes(graph, roots)) {
    const f = graph.functions.get(name)!;
    visit(f.nodes.filter((n) => used.has(n.name)), `${f.name}/`);
  }
  return [...byOp.entries()].map(([op, nodes]) => ({ op, nodes })).sort((a, b) => a.op.localeCompare(b.op));
}

export function assertSupported(graph: Graph): void {
  const missing = findUnsupportedOps(graph);
  if (missing.length === 0) return;
  const lines = missing.map((m) => `${opLabel(m.op)}: ${m.nodes.slice(0, 5).join(', ')}${m.nodes.length > 5 ? `, … (${m.nodes.length} nodes)` : ''}`);
  // The one multi-line message: a summary line, then one line per op type (as `parity inspect` lists them).
  throw new UnsupportedError(listing(`${graph.source.path}: ${missing.length} op type(s) cannot be executed by tf-parity yet:`, lines), missing, {
    file: graph.source.path,
    multiline: true,
  });
}

/** Topological order of `nodes` restricted to `needed`, stable in graph order; control deps count. */
export function topoOrder(nodes: GraphNode[], needed: Set<string>, file: string): GraphNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const indeg = new Map<string, number>();
  const users = new Map<string, string[]>();
  for (const n of nodes) {
    if (!needed.has(n.name)) continue;
    let d = 0;
    for (const ref of n.inputs) {
      const src = parseInputRef(ref).node;
      if (!needed.has(src)) continue;
      d++;
      const u = users.get(src) ?? [];
      u.push(n.name);
      users.set(src, u);
    }
    indeg.set(n.name, d);
  }
  // Stable Kahn: a min-heap on graph position would be ideal; a sorted ready queue by position is enough.
  const pos = new Map(nodes.map((n, i) => [n.name, i]));
  const ready: string[] = [];
  for (const [name, d] of indeg) if (d === 0) ready.push(name);
  ready.sort((a, b) => pos.get(b)! - pos.get(a)!);
  const order: GraphNode[] = [];
  while (ready.length) {
    const name = ready.pop()!;
    order.push(byName.get(name)!);
    const us = users.get(name);
    if (!us) continue;
    let pushed = false;
    for (const u of us) {
      const d = indeg.get(u)! - 1;
      indeg.set(u, d);
      if (d === 0) {
        ready.push(u);
        pushed = true;
      }
    }
    if (pushed) ready.sort((a, b) => pos.get(b)! - pos.get(a)!);
  }
  if (order.length !== indeg.size) {
    const stuck = [...indeg.entries()].filter(([, d]) => d > 0).map(([n]) => n);
    throw new ExecutionError(
      `${file}: the graph has a cycle through ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', …' : ''} ` +
        `(TF1 while-loop frames need the control-flow executor)`,
      { file, node: stuck[0] },
    );
  }
  return order;
}

/** Names of the nodes needed to compute `targets`, following data and control inputs. */
export function neededNodes(graph: Graph, targets: string[]): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  const stack = targets.map((t) => parseInputRef(t).node);
  while (stack.length) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    const n = byName.get(name);
    if (!n) continue;
    needed.add(name);
    for (const ref of n.inputs) stack.push(parseInputRef(ref).node);
  }
  return needed;
}

export interface InterpreterOptions {
  /** Outputs to compute; defaults to graph.outputs. */
  outputs?: string[];
  /** Nesting depth of function calls (internal: bounds recursion). */
  depth?: number;
  /**
   * Activations inside loops: 'all' records every iteration (`loop/body@iter3/node`), 'last' only
   * the final iteration's, without the iteration mark (`loop/body/node`).
   */
  loopActivations?: 'all' | 'last';
  /** Where nodes computed in a narrower type than TF's are counted (internal: shared with nested interpreters). */
  narrowLog?: NarrowLog;
  /** Graphs whose constants take at most this many bytes keep them on the backend between runs (default: constCacheBytes()). */
  constCacheBytes?: number;
}

/** Default bytes of constants a graph may have for the interpreter to keep them on the backend between runs. */
const DEFAULT_CONST_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * A graph whose constants take at most this many bytes (PARITY_CONST_CACHE_BYTES, default 32 MiB)
 * keeps them on the backend between runs. A bigger one uploads each constant from its host bytes
 * (its file's buffer) each time a run needs it and frees it after its last reader: its weights
 * then sit in memory once, not also in the backend and, on wasm, in XNNPACK's packed copy of each
 * dense and convolution weight (kept as long as the weight's tensor lives). Keeping only part of
 * them measured worse (a ResNet-50-like graph, 97 MiB: 338 MB peak RSS keeping 32 MiB of them,
 * 282 MB keeping 8 MiB, 246 MB keeping none).
 */
export function constCacheBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.PARITY_CONST_CACHE_BYTES);
  return env.PARITY_CONST_CACHE_BYTES !== undefined && Number.isFinite(v) && v >= 0 ? v : DEFAULT_CONST_CACHE_BYTES;
}

/** Keeps only the last iteration of every loop scope and drops the `@iterK` marks. */
export function lastIterations<T extends { name: string }>(acts: T[]): T[] {
  const re = /@iter(\d+)/g;
  const maxOf = new Map<string, number>();
  for (const a of acts) for (const m of a.name.matchAll(re)) {
    const key = a.name.slice(0, m.index);
    maxOf.set(key, Math.max(maxOf.get(key) ?? -1, Number(m[1])));
  }
  return acts
    .filter((a) => [...a.name.matchAll(re)].every((m) => Number(m[1]) === maxOf.get(a.name.slice(0, m.index))))
    .map((a) => ({ ...a, name: a.name.replace(re, '') }));
}

/** Function calls nested deeper than this are refused (recursive or hostile graphs). */
export const MAX_CALL_DEPTH = 32;

/**
 * TF's dead tensors in one run (TF1 conditionals): nodes that did not run because an input was
 * dead, and single dead outputs of nodes that ran (a Switch's untaken output), each with the
 * reason traced back to the Switch that started it, for messages.
 */
interface Deadness {
  nodes: Map<string, string>;
  keys: Map<string, string>;
}

interface Step {
  node: GraphNode;
  /** Data inputs as tensor keys, and the node producing each. */
  inputKeys: string[];
  inputNodes: string[];
  /** Control inputs (`^x`), by node name. */
  controls: string[];
  producedFrom: string[];
  info: KernelInfo | undefined;
  /** Requested outputs of this node (`node`, `node:1`). */
  targets: string[];
}

/**
 * The reference interpreter: executes a Graph node by node in tfjs kernels and yields every
 * node's outputs in execution order. Tensors are disposed as soon as no later node needs them.
 */
export class Interpreter implements Runner {
  readonly kind = 'reference';
  readonly source: string;
  private readonly targets: string[];
  private readonly byName: Map<string, GraphNode>;
  private readonly order: GraphNode[];
  private readonly constCache = new Map<string, tf.Tensor>();
  /** Whether constants stay on the backend between runs (constCacheBytes). */
  private readonly keepConsts: boolean;
  private readonly constCacheBudget: number;
  private readonly targetSet: Set<string>;
  private readonly plan: Step[];
  private readonly consumers = new Map<string, number>();
  private readonly depth: number;
  private readonly subs = new Map<string, Interpreter>();
  /** Activations recorded inside function calls of the node being executed, yielded before it. */
  private pending: Activation[] = [];
  private recordInner = true;
  private readonly loopActivations: 'all' | 'last';
  private readonly narrow: NarrowLog;
  /**
   * The reader's notes on the graph (default outputs chosen, a checkpoint found beside its state
   * file), then what its runs computed differently from TF: dtypes tfjs computes in a narrower
   * type (one line each; updated as each run ends).
   */
  readonly warnings: string[];
  /** The same array as `warnings`, which each run updates in place (a wrapper may shadow `warnings`). */
  private readonly narrowWarnings: string[] = [];

  readonly graph: Graph;
  private readonly notes: readonly string[];

  constructor(graphIn: Graph, opts: InterpreterOptions = {}) {
    // TF1 while-loop frames become structured loop nodes first (a no-op for graphs without them).
    const graph = raiseFrames(graphIn);
    this.graph = graph;
    this.notes = graph.notes ?? [];
    this.source = graph.source.path;
    this.depth = opts.depth ?? 0;
    this.loopActivations = opts.loopActivations ?? 'all';
    this.narrow = opts.narrowLog ?? new NarrowLog();
    this.constCacheBudget = opts.constCacheBytes ?? constCacheBytes();
    this.narrowWarnings.push(...this.notes);
    this.warnings = this.narrowWarnings;
    this.byName = new Map(graph.nodes.map((n) => [n.name, n]));
    this.targets = (opts.outputs ?? graph.outputs).map(stripPort);
    for (const t of this.targets) {
      const node = parseInputRef(t).node;
      const inLoop = this.byName.has(node) ? undefined : insideLoopNote(graph, node);
      if (inLoop) {
        // The model's own outputs inside a loop are a malformed graph; a requested one is a usage error.
        const at = { file: this.source, node };
        throw opts.outputs ? new InputError(`${this.source}: output ${inLoop}`, at) : new ExecutionError(`${this.source}: the graph's output ${inLoop}`, at);
      }
      if (!this.byName.has(node)) {
        throw new InputError(`${this.source}: output '${t}' is not a node of the graph${suggest(node, [...this.byName.keys()])}`, {
          file: this.source,
          node,
        });
      }
    }
    const needed = neededNodes(graph, this.targets);
    const sub: Graph = { ...graph, nodes: graph.nodes.filter((n) => needed.has(n.name)) };
    assertSupported(sub);
    this.order = topoOrder(graph.nodes, needed, this.source);
    this.keepConsts = constBytes(this.order) <= this.constCacheBudget;
    // The run plan is computed once: input keys, producers and consumer counts per node.
    this.targetSet = new Set(this.targets);
    const targetsOf = new Map<string, string[]>();
    for (const t of this.targets) {
      const n = parseInputRef(t).node;
      targetsOf.set(n, [...(targetsOf.get(n) ?? []), t]);
    }
    this.plan = this.order.map((node) => {
      const dataInputs = node.inputs.filter((r) => !r.startsWith('^'));
      const refs = dataInputs.map((r) => parseInputRef(r));
      const inputKeys = refs.map((p) => tensorKey(p.node, p.index));
      for (const k of inputKeys) this.consumers.set(k, (this.consumers.get(k) ?? 0) + 1);
      // Constants are the node's own parameters (like a Keras layer's weights), not activations.
      const producedFrom = dataInputs.filter((r) => this.byName.get(parseInputRef(r).node)?.op !== 'Const').map(stripPort);
      const controls = node.inputs.filter((r) => r.startsWith('^')).map((r) => r.slice(1));
      const info = getKernel(node.op) ?? (this.graph.functions.has(node.op) ? FUNCTION_OP : undefined);
      return { node, inputKeys, inputNodes: refs.map((p) => p.node), controls, producedFrom, info, targets: targetsOf.get(node.name) ?? [] };
    });
  }

  inputs(): TensorSpec[] {
    const needed = new Set(this.order.map((n) => n.name));
    return this.graph.inputs.filter((s) => needed.has(stripPort(s.name)));
  }

  outputs(): string[] {
    return this.targets.slice();
  }


  /** Nodes in execution order. */
  executionOrder(): readonly GraphNode[] {
    return this.order;
  }

  async *run(feeds: Feeds, opts: RunOptions = {}): AsyncIterable<Activation> {
    const record = opts.record ?? 'all';
    const recordSet = record === 'all' ? null : new Set(record.map(stripPort));
    const normFeeds = new Map<string, tf.Tensor>();
    for (const [k, v] of feeds) normFeeds.set(stripPort(k), v);
    for (const k of normFeeds.keys()) {
      const node = parseInputRef(k).node;
      if (!this.byName.has(node)) {
        throw new InputError(`${this.source}: feed '${k}' is not a node of the graph${suggest(node, [...this.byName.keys()])}`, {
          file: this.source,
          node: k,
        });
      }
    }

    // Remaining consumers per tensor key; a tensor is disposed when it reaches zero.
    const remaining = new Map(this.consumers);
    this.recordInner = recordSet === null;
    this.pending = [];
    const live = new Map<string, tf.Tensor>();
    const dead: Deadness = { nodes: new Map(), keys: new Map() };
    const ctx = this.context();
    let index = 0;
    // What the consumer has not been handed yet, or this run has not placed (live or disposed):
    // disposed in `finally` when the consumer stops the run early (return() at a yield).
    const unplaced = new Set<tf.Tensor>();
    if (this.depth === 0) beginTopLevelRun();
    try {
      for (const step of this.plan) {
        const node = step.node;
        // A fed node is live whatever its inputs (a feed replaces the node).
        const why = normFeeds.has(node.name) ? undefined : deadInput(step, dead);
        let outs: (tf.Tensor | undefined)[] = [];
        let producedFrom = step.producedFrom;
        if (why !== undefined) dead.nodes.set(node.name, why);
        else {
          outs = await this.execNode(node, normFeeds, live, ctx, step.inputKeys, dead);
          if (step.info?.runsOnDead && !normFeeds.has(node.name)) {
            // A Merge was produced from the input it forwarded, not from the dead ones.
            const k = step.inputKeys.findIndex((key) => live.has(key));
            producedFrom = step.producedFrom.filter((p) => p === stripPort(node.inputs.filter((r) => !r.startsWith('^'))[k] ?? ''));
          }
        }
        for (const t of outs) if (t) unplaced.add(t);
        if (this.pending.length) {
          let inner = this.pending;
          this.pending = [];
          if (this.loopActivations === 'last' && this.depth === 0) {
            const kept = new Set(lastIterations(inner.map((a, i) => ({ name: a.name, i }))).map((x) => x.i));
            for (const [i, a] of inner.entries()) if (!kept.has(i)) a.tensor.dispose();
            inner = lastIterations(inner.filter((_, i) => kept.has(i)));
          }
          for (const a of inner) unplaced.add(a.tensor);
          for (const a of inner) {
            unplaced.delete(a.tensor);
            yield { ...a, index: index++ };
          }
        }
        for (let i = 0; i < outs.length; i++) {
          const key = i === 0 ? node.name : `${node.name}:${i}`;
          const t = outs[i];
          if (!t) {
            // Dead: never recorded, never an input (Switch is the op that leaves an output dead).
            dead.keys.set(key, SWITCH_OPS.has(node.op) ? `the untaken output '${key}' of Switch '${node.name}' (its predicate '${node.inputs.filter((r) => !r.startsWith('^'))[1]}' was ${i === 0})` : `output '${key}' of ${node.op} '${node.name}', which has no value`);
            continue;
          }
          // Placed before it is handed out: a consumer may end the run at this yield.
          unplaced.delete(t);
          const keep = (remaining.get(key) ?? 0) > 0;
          if (keep) live.set(key, t);
          const drop = !keep && normFeeds.get(key) !== t;
          if ((recordSet === null && node.op !== 'Const') || recordSet?.has(key) || this.targetSet.has(key)) {
            try {
              const role = roleOf(node);
              yield { name: key, type: node.op, tensor: sameView(share(t), t), producedFrom, index: index++, outputIndex: i, ...(role ? { role } : {}) };
            } finally {
              if (drop) t.dispose();
            }
          } else if (drop) t.dispose();
        }
        for (const target of step.targets) {
          const w = dead.nodes.get(node.name) ?? dead.keys.get(target);
          if (w !== undefined) {
            throw new ExecutionError(
              `${this.source}: requested output '${target}' has no value in this run (it is on the untaken branch of a TF1 conditional): '${node.name}' (${node.op}) depends on ${w}`,
              { file: this.source, node: node.name },
            );
          }
        }
        // Release inputs no longer needed.
        for (const key of step.inputKeys) {
          const left = (remaining.get(key) ?? 0) - 1;
          remaining.set(key, left);
          if (left <= 0) {
            const t = live.get(key);
            live.delete(key);
            if (t && normFeeds.get(key) !== t) t.dispose();
          }
        }
      }
    } finally {
      for (const [k, t] of live) if (normFeeds.get(k) !== t) t.dispose();
      live.clear();
      for (const t of unplaced) if (!t.isDisposed && ![...normFeeds.values()].includes(t)) t.dispose();
      // A node that failed inside a function or loop body: what the body recorded before it failed.
      for (const a of this.pending) if (!a.tensor.isDisposed) a.tensor.dispose();
      this.pending = [];
      if (this.depth === 0) {
        endTopLevelRun();
        this.narrowWarnings.splice(0, this.narrowWarnings.length, ...this.notes, ...this.narrow.warnings());
      }
    }
  }

  private context(): OpContext {
    return {
      graph: this.graph,
      file: this.source,
      callFunction: (name, inputs, scope) => this.callFunction(name, inputs, scope),
      runGraph: (key, graph, feeds, scope) => this.runSubgraph(key, () => graph, feeds, scope),
      variable: (name) => {
        const v = this.graph.variables?.get(name);
        return v ? hostToTfValue(v, name) : undefined;
      },
    };
  }

  /**
   * Runs one node on its inputs in `live`. Only a FlowKernel (Switch, Merge) leaves outputs
   * `undefined` (dead); for a Merge, inputs that `dead` knows of are passed as `undefined`.
   */
  private async execNode(node: GraphNode, feeds: Map<string, tf.Tensor>, live: Map<string, tf.Tensor>, ctx: OpContext, inputKeys?: string[], dead?: Deadness): Promise<(tf.Tensor | undefined)[]> {
    const fed = feeds.get(node.name);
    if (fed) return settleOutputs(node, [], [sameView(share(fed), fed)], this.narrow, true);
    if (node.op === 'Placeholder') throw noFeedError(this.source, node.name, feeds);
    if (node.op === 'Const') {
      const cached = this.constCache.get(node.name);
      if (cached) return [sameView(share(cached), cached)];
    }
    const info = getKernel(node.op) ?? (this.graph.functions.has(node.op) ? FUNCTION_OP : undefined);
    if (!info) throw new ExecutionError(`${this.source}: node '${node.name}': no kernel for op ${node.op}`, { file: this.source, node: node.name });
    const inputs: (tf.Tensor | undefined)[] = [];
    const keys = inputKeys ?? node.inputs.filter((r) => !r.startsWith('^')).map((ref) => {
      const p = parseInputRef(ref);
      return tensorKey(p.node, p.index);
    });
    for (const key of keys) {
      const t = live.get(key);
      if (!t && info.runsOnDead && dead && (dead.keys.has(key) || dead.nodes.has(parseInputRef(key).node))) {
        inputs.push(undefined);
        continue;
      }
      if (!t) {
        const r = parseInputRef(key);
        const ref = key;
        const src = this.byName.get(r.node);
        throw new ExecutionError(
          `${this.source}: node '${node.name}' (${node.op}) reads '${ref}', which ${src ? `node '${r.node}' (${src.op}) did not produce` : 'is not a node of the graph'}`,
          { file: this.source, node: node.name },
        );
      }
      inputs.push(t);
    }
    let outs: (tf.Tensor | undefined)[];
    try {
      if (info.flow) {
        outs = await info.flow(inputs, node, ctx);
      } else if (info.async) {
        const r = await info.kernel(inputs as tf.Tensor[], node, ctx);
        outs = Array.isArray(r) ? r : [r];
      } else {
        const kernel = (xs: tf.Tensor[]) => {
          const r = info.kernel(xs, node, ctx) as tf.Tensor | tf.Tensor[];
          return Array.isArray(r) ? r : [r];
        };
        outs = runWithFallback(() => tf.tidy(() => kernel(inputs as tf.Tensor[])));
        try {
          checkNoWrap(node, inputs, outs, (xs) => runWithFallback(() => kernel(xs)));
        } catch (e) {
          for (const t of outs) t?.dispose();
          throw e;
        }
      }
    } catch (e) {
      if (e instanceof ParityError) {
        if (e.node) throw e;
        throw new ExecutionError(`${this.source}: node '${node.name}' (${node.op}): ${e.message}`, { file: this.source, node: node.name, cause: e });
      }
      const shapes = inputs.map((t) => (t ? `${t.dtype}[${t.shape.join(',')}]` : 'dead')).join(', ');
      throw new ExecutionError(`${this.source}: node '${node.name}' (${node.op}) failed on inputs (${shapes}): ${errorMessage(e)}`, {
        file: this.source,
        node: node.name,
        cause: e,
      });
    }
    // A kernel must not hand back an input tensor itself: the interpreter owns both.
    outs = outs.map((t) => (t && inputs.includes(t) ? share(t) : t));
    // What each output is in TF: its dtype, exact values where it has them, narrow integers wrapped.
    outs = settleOutputs(node, inputs, outs, this.narrow, false);
    if (node.op === 'Const' && outs[0] && this.keepConsts) this.constCache.set(node.name, sameView(share(outs[0]), outs[0]));
    return outs;
  }

  /**
   * Runs a library function on `inputs`; its activations are recorded as `scope/<node>` and
   * yielded before the calling node's own outputs.
   */
  async callFunction(name: string, inputs: tf.Tensor[], scope: string): Promise<tf.Tensor[]> {
    const fn = this.graph.functions.get(name);
    if (!fn) throw new ExecutionError(`${this.source}: function '${name}' is not in the graph's library`, { file: this.source, node: scope });
    if (this.depth + 1 > MAX_CALL_DEPTH) {
      throw new ExecutionError(`${this.source}: function calls nested deeper than ${MAX_CALL_DEPTH} levels at '${scope}' (recursive function?)`, { file: this.source, node: scope });
    }
    if (inputs.length !== fn.inputArgs.length) {
      throw new ExecutionError(`${this.source}: '${scope}' calls function '${name}' with ${inputs.length} inputs, it takes ${fn.inputArgs.length}`, { file: this.source, node: scope });
    }
    const feeds = new Map(fn.inputArgs.map((a, i) => [a.name, inputs[i]!]));
    return this.runSubgraph(`fn:${name}`, () => functionGraph(fn, this.graph), feeds, scope);
  }

  /** Runs a (cached) sub-graph on feeds; its activations are queued as `scope/<node>`. */
  private async runSubgraph(key: string, make: () => Graph, feeds: Map<string, tf.Tensor>, scope: string): Promise<tf.Tensor[]> {
    let sub = this.subs.get(key);
    if (!sub) {
      sub = new Interpreter(make(), { depth: this.depth + 1, narrowLog: this.narrow, constCacheBytes: this.constCacheBudget });
      this.subs.set(key, sub);
    }
    const wanted = sub.outputs();
    const got = new Map<string, tf.Tensor>();
    try {
      for await (const a of sub.run(feeds, { record: this.recordInner ? 'all' : wanted })) {
        if (wanted.includes(a.name) && !got.has(a.name)) got.set(a.name, sameView(share(a.tensor), a.tensor));
        if (this.recordInner) this.pending.push({ ...a, name: `${scope}/${a.name}`, producedFrom: a.producedFrom.map((p) => `${scope}/${p}`) });
        else a.tensor.dispose();
      }
    } catch (e) {
      for (const t of got.values()) t.dispose();
      throw e;
    }
    const outs = wanted.map((w) => sameView(share(got.get(w)!), got.get(w)!));
    for (const t of got.values()) t.dispose();
    return outs;
  }

  /**
   * Runs one node alone on the given inputs (its data inputs, in order). Used to measure a
   * node's own error on the reference's inputs when this graph is the candidate.
   */
  async runSingle(name: string, inputs: tf.Tensor[]): Promise<(tf.Tensor | undefined)[]> {
    const node = this.byName.get(parseInputRef(stripPort(name)).node);
    if (!node) throw new InputError(`${this.source}: no node '${name}'`, { file: this.source, node: name });
    if (getKernel(node.op)?.runsOnDead) {
      // A Merge's activation was produced from the one input it forwarded; which of its inputs
      // that was (its value_index) is not known from the value alone.
      if (inputs.length !== 1) throw new InputError(`${this.source}: node '${node.name}' (${node.op}) is re-run on the one input it forwarded, not ${inputs.length}`, { file: this.source, node: node.name });
      return [share(inputs[0]!), undefined];
    }
    const live = new Map<string, tf.Tensor>();
    const rewired: GraphNode = { ...node, inputs: [] };
    const ctx = this.context();
    const owned: tf.Tensor[] = [];
    let k = 0;
    let slot = 0;
    try {
      for (const ref of node.inputs) {
        if (ref.startsWith('^')) continue;
        const key = `__single_input_${slot++}`;
        const src = this.byName.get(parseInputRef(ref).node);
        let t: tf.Tensor | undefined;
        if (src?.op === 'Const') {
          // The node's own constants come from the graph; `inputs` are its data inputs only.
          t = (await this.execNode(src, new Map(), new Map(), ctx))[0];
          if (t) owned.push(t);
        } else {
          t = inputs[k++];
          if (!t) throw new InputError(`${this.source}: node '${node.name}' needs more than ${inputs.length} data inputs`, { file: this.source, node: node.name });
        }
        live.set(key, t!);
        rewired.inputs.push(key);
      }
      return await this.execNode(rewired, new Map(), live, ctx);
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  dispose(): void {
    for (const sub of this.subs.values()) sub.dispose();
    this.subs.clear();
    for (const t of this.constCache.values()) t.dispose();
    this.constCache.clear();
  }
}

const SWITCH_OPS = new Set(['Switch', 'RefSwitch']);

/** Bytes the backend takes for the constants among `nodes` (tfjs holds every numeric type in 4 bytes). */
function constBytes(nodes: readonly GraphNode[]): number {
  let bytes = 0;
  for (const n of nodes) {
    const v = n.op === 'Const' ? n.attrs.value : undefined;
    if (v?.type === 'tensor') bytes += numElements(v.value.shape) * (v.value.dtype.startsWith('complex') ? 8 : 4);
  }
  return bytes;
}

/**
 * Why `step` cannot run in this run (a dead input), or undefined: TF's executor rule. A node with
 * a dead data or control input is dead, except a Merge (dead only when every data input is; dead
 * control inputs ignored) and a ControlTrigger (never dead).
 */
function deadInput(step: Step, dead: Deadness): string | undefined {
  if (dead.nodes.size === 0 && dead.keys.size === 0) return undefined;
  if (step.info?.neverDead) return undefined;
  const of = (i: number) => dead.keys.get(step.inputKeys[i]!) ?? dead.nodes.get(step.inputNodes[i]!);
  if (step.info?.runsOnDead) {
    let first: string | undefined;
    for (let i = 0; i < step.inputKeys.length; i++) {
      const w = of(i);
      if (w === undefined) return undefined;
      first ??= w;
    }
    return first;
  }
  for (let i = 0; i < step.inputKeys.length; i++) {
    const w = of(i);
    if (w !== undefined) return w;
  }
  for (const c of step.controls) {
    const w = dead.nodes.get(c);
    if (w !== undefined) return w;
  }
  return undefined;
}

export { suggest } from '../core/names.js';

const roles = new WeakMap<GraphNode, OpRole | null>();

/** A node's output role (core/runner.ts opRole), its fused ops read once per node. */
function roleOf(node: GraphNode): OpRole | undefined {
  let r = roles.get(node);
  if (r === undefined) {
    let fused: string[] | undefined;
    try {
      fused = node.attrs.fused_ops ? attrStrings(node, 'fused_ops') : undefined;
    } catch {
      fused = undefined;
    }
    r = opRole(node.op, fused) ?? null;
    roles.set(node, r);
  }
  return r ?? undefined;
}
