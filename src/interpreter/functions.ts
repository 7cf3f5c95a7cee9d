import { ExecutionError } from '../core/errors.js';
import type { Graph, GraphFunction, GraphNode } from '../graph/ir.js';

/**
 * FunctionDef bodies name tensors `node:output_arg:index` (e.g. `conv/BiasAdd:output:0`,
 * `bn/FusedBatchNormV3:batch_mean:0`); the interpreter addresses node outputs by flat index.
 * This maps one to the other with the output-argument layout of the ops that have more than one
 * output argument (single-argument ops, list outputs included, need no table).
 */
const OUTPUT_ARGS: Record<string, string[]> = {
  FusedBatchNorm: ['y', 'batch_mean', 'batch_variance', 'reserve_space_1', 'reserve_space_2'],
  FusedBatchNormV2: ['y', 'batch_mean', 'batch_variance', 'reserve_space_1', 'reserve_space_2'],
  FusedBatchNormV3: ['y', 'batch_mean', 'batch_variance', 'reserve_space_1', 'reserve_space_2', 'reserve_space_3'],
  TopKV2: ['values', 'indices'],
  TopK: ['values', 'indices'],
  Unique: ['y', 'idx'],
  NonMaxSuppressionV4: ['selected_indices', 'valid_outputs'],
  NonMaxSuppressionV5: ['selected_indices', 'selected_scores', 'valid_outputs'],
  MaxPoolWithArgmax: ['output', 'argmax'],
  Switch: ['output_false', 'output_true'],
  Merge: ['output', 'value_index'],
  ListDiff: ['out', 'idx'],
};

/** Flat output index of `arg:idx` on a node of op `op` (functions: their output args, in order). */
function flatIndex(op: string, arg: string, idx: number, graph: Graph, where: string): number {
  const fn = graph.functions.get(op);
  if (fn) {
    const k = fn.outputArgs.findIndex((a) => a.name === arg);
    if (k < 0) throw new ExecutionError(`${where}: function '${op}' has no output '${arg}'`);
    return k + idx;
  }
  const args = OUTPUT_ARGS[op];
  if (!args) return idx;
  const k = args.indexOf(arg);
  if (k < 0) throw new ExecutionError(`${where}: op ${op} has no output argument '${arg}'`);
  return k + idx;
}

/** Rewrites a function-body tensor reference into the interpreter's `node` / `node:i` form. */
export function bodyRef(ref: string, ops: Map<string, string>, graph: Graph, where: string): string {
  if (ref.startsWith('^')) return ref;
  const parts = ref.split(':');
  if (parts.length === 1) return ref; // a function argument
  if (parts.length === 3) {
    const [node, arg, idx] = parts as [string, string, string];
    const op = ops.get(node);
    if (op === undefined) throw new ExecutionError(`${where}: function body reads '${ref}', which is not a node of the function`);
    const i = flatIndex(op, arg, Number(idx), graph, where);
    return i === 0 ? node : `${node}:${i}`;
  }
  return ref;
}

/**
 * The function's body as a Graph the interpreter can run: arguments become Placeholders, body
 * references are resolved to flat output indices, outputs are the `ret` tensors in output-arg order.
 */
export function functionGraph(fn: GraphFunction, parent: Graph): Graph {
  const where = `${parent.source.path}: function '${fn.name}'`;
  const ops = new Map(fn.nodes.map((n) => [n.name, n.op]));
  const args: GraphNode[] = fn.inputArgs.map((a) => ({ name: a.name, op: 'Placeholder', inputs: [], attrs: {} }));
  const nodes: GraphNode[] = [...args, ...fn.nodes.map((n) => ({ ...n, inputs: n.inputs.map((r) => bodyRef(r, ops, parent, where)) }))];
  const outputs = fn.outputArgs.map((a) => {
    const r = fn.ret[a.name];
    if (!r) throw new ExecutionError(`${where}: output '${a.name}' has no return value`);
    return bodyRef(r, ops, parent, where);
  });
  return {
    nodes,
    functions: parent.functions,
    source: { path: `${parent.source.path}#${fn.name}`, format: parent.source.format },
    inputs: fn.inputArgs.map((a) => ({ name: a.name, dtype: a.dtype ?? 'float32', shape: null })),
    outputs,
    ...(parent.variables ? { variables: parent.variables } : {}),
  };
}
