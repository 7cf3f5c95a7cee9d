import type { GraphNode } from '../../graph/ir.js';
import { parseInputRef } from '../../graph/ir.js';
import { sinkOutputs } from '../tensor-proto.js';

/**
 * The default outputs of a graph that declares none (a TF1 training checkpoint's .meta): its
 * inference sinks. Set aside, in this order:
 *
 * 1. machinery: what trains, saves, restores, initialises or summarises (optimizer updates and
 *    slots, `gradients/`, `save/`, `*\/Initializer/`, `init`, summaries);
 * 2. losses and metrics that read labels: a label is a Placeholder a loss depends on (a loss is
 *    what `tf.gradients` differentiates: a node with a `gradients/X_grad/` scope that no other
 *    differentiated node reads, or the input of `gradients/Shape`, `gradients/Fill`)
 *    from which no remaining node reads a variable on the way (the model's input reaches
 *    the loss through the weights, labels do not); everything downstream of a label goes;
 * 3. what reads neither a Placeholder nor a variable (shape bookkeeping of constants), when anything does.
 *
 * Step 2 leaves the tensors the losses and metrics read (the logits, the shape bookkeeping of
 * the loss, an argmax) as sinks: the nearest tensor they all depend on (the logits) is the
 * output in their place.
 */
export interface InferenceOutputs {
  outputs: string[];
  /** What was set aside and why, grouped. */
  setAside: { why: string; nodes: string[] }[];
}

const MACHINERY_SCOPE = /(^|\/)(save(_\d+)?|gradients(_\d+)?|report_uninitialized_variables(_\d+)?|Initializer|Adam(_\d+)?|GradientDescent|Momentum|RMSProp|Adagrad(DA)?|Adadelta|Adamax|Ftrl|Nadam)\//;
const MACHINERY_NAME = /^(init(_\d+)?|init_all_tables|group_deps(_\d+)?|beta[12]_power(\/.*)?)$/;
const MACHINERY_OP = /^((Resource)?(Sparse)?Apply|Assign|(Resource)?Scatter|IsVariableInitialized$|VarIsInitializedOp$|NoOp$|SaveV2$|RestoreV2$|MergeV2Checkpoints$|.*Summary(V2)?$|WriteSummary$|SummaryWriter$|CreateSummary)/;
const VARIABLE_OPS = new Set(['VariableV2', 'Variable', 'VarHandleOp']);
const GRAD_SCOPE = /^gradients(?:_\d+)?\/(.+)_grad\//;
const GRAD_YS = /^gradients(_\d+)?\/(Shape|Fill|grad_ys_\d+)$/;

export function isMachinery(n: GraphNode): boolean {
  return MACHINERY_SCOPE.test(n.name) || MACHINERY_NAME.test(n.name) || MACHINERY_OP.test(n.op);
}

export function inferenceOutputs(nodes: GraphNode[]): InferenceOutputs {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const machinery = nodes.filter(isMachinery).map((n) => n.name);
  const gone = new Set(machinery);
  const kept = () => nodes.filter((n) => !gone.has(n.name));
  const consumers = new Map<string, string[]>();
  for (const n of nodes) for (const r of n.inputs) {
    if (r.startsWith('^')) continue;
    const src = parseInputRef(r).node;
    consumers.set(src, [...(consumers.get(src) ?? []), n.name]);
  }
  const downstream = (start: string[], skip: Set<string>): Set<string> => {
    const seen = new Set<string>();
    const stack = [...start];
    while (stack.length) {
      const m = stack.pop()!;
      if (seen.has(m) || skip.has(m)) continue;
      seen.add(m);
      stack.push(...(consumers.get(m) ?? []));
    }
    return seen;
  };
  const upstream = (start: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [start];
    while (stack.length) {
      const m = stack.pop()!;
      if (seen.has(m)) continue;
      seen.add(m);
      for (const r of byName.get(m)?.inputs ?? []) if (!r.startsWith('^')) stack.push(parseInputRef(r).node);
    }
    return seen;
  };
  // Whether a node reads a variable directly or through Identity (`w/read`).
  const readsVariable = (n: GraphNode): boolean =>
    n.inputs.some((r) => {
      let m = byName.get(parseInputRef(r).node);
      for (let hops = 0; m && (m.op === 'Identity' || m.op === 'ReadVariableOp') && hops < 10; hops++) m = byName.get(parseInputRef(m.inputs[0] ?? '').node);
      return m !== undefined && VARIABLE_OPS.has(m.op);
    });
  // 2. Labels and what reads them.
  const losses = new Set<string>();
  for (const n of nodes) if (GRAD_YS.test(n.name)) for (const r of n.inputs) if (!r.startsWith('^') && !gone.has(parseInputRef(r).node)) losses.add(parseInputRef(r).node);
  // tf.gradients scopes the gradient of each forward node X as `gradients/X_grad/`: the
  // differentiated nodes that no differentiated node reads are the losses.
  const differentiated = new Set<string>();
  for (const n of nodes) {
    const m = GRAD_SCOPE.exec(n.name);
    if (m && byName.has(m[1]!) && !gone.has(m[1]!)) differentiated.add(m[1]!);
  }
  for (const x of differentiated) if (!(consumers.get(x) ?? []).some((c) => differentiated.has(c))) losses.add(x);
  const placeholders = nodes.filter((n) => n.op === 'Placeholder' || n.op === 'PlaceholderWithDefault');
  const labelDependent = new Set<string>();
  const labels: string[] = [];
  if (losses.size) {
    const lossInputs = new Set<string>();
    for (const l of losses) for (const m of upstream(l)) lossInputs.add(m);
    for (const p of placeholders) {
      if (!lossInputs.has(p.name)) continue;
      const after = downstream([p.name], gone);
      if ([...after].some((m) => m !== p.name && readsVariable(byName.get(m)!))) continue;
      labels.push(p.name);
      for (const m of after) labelDependent.add(m);
    }
  }
  for (const m of labelDependent) gone.add(m);
  // 3. What reads no placeholder.
  const sources = nodes.filter((n) => !gone.has(n.name) && (n.op === 'Placeholder' || n.op === 'PlaceholderWithDefault' || VARIABLE_OPS.has(n.op))).map((n) => n.name);
  const fedBy = downstream(sources, gone);
  const constantOnly: string[] = [];
  if (fedBy.size) for (const n of kept()) if (!fedBy.has(n.name) && n.op !== 'Const') constantOnly.push(n.name);
  let outputs = sinkOutputs(kept()).filter((s) => !fedBy.size || fedBy.has(s));
  // What the losses and metrics read (the logits, the loss's shape bookkeeping, an argmax) hangs
  // from one tensor, the nearest all of it depends on: that is the output, in place of the
  // sinks that only those readers consumed.
  if (labelDependent.size) {
    const exposed = nodes.filter((n) => fedBy.has(n.name) && (consumers.get(n.name) ?? []).some((c) => labelDependent.has(c))).map((n) => n.name);
    let common: Set<string> | undefined;
    for (const s of exposed) {
      const up = upstream(s);
      common = common ? new Set([...common].filter((x) => up.has(x))) : up;
    }
    let best: string | undefined;
    let bestSize = -1;
    for (const c of common ?? []) {
      if (!fedBy.has(c) || sources.includes(c)) continue;
      const size = upstream(c).size;
      if (size > bestSize) {
        best = c;
        bestSize = size;
      }
    }
    if (best !== undefined) {
      const kept = outputs.filter((s) => !exposed.includes(s) && !upstream(best!).has(s));
      outputs = [...kept, best].sort((a, b) => order(nodes, a) - order(nodes, b));
    }
  }
  const setAside: InferenceOutputs['setAside'] = [];
  if (machinery.length) setAside.push({ why: 'training, initialising, saving or summary nodes', nodes: machinery });
  if (labelDependent.size) setAside.push({ why: `losses and metrics that read labels (${labels.join(', ')})`, nodes: [...labelDependent] });
  if (constantOnly.length) setAside.push({ why: 'nodes computed from constants alone', nodes: constantOnly });
  return { outputs, setAside };
}

function order(nodes: GraphNode[], name: string): number {
  return nodes.findIndex((n) => n.name === name);
}

/** One line for `inspect` and reports: what the default outputs left out. */
export function setAsideNote(setAside: InferenceOutputs['setAside']): string {
  return `default outputs are the inference sinks; set aside: ${setAside.map((s) => `${s.nodes.length} ${s.why}`).join('; ')}`;
}
