import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import { ExecutionError } from '../../core/errors.js';
import { attrFunc } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import type { OpContext } from '../registry.js';
import { opFamily } from '../registry.js';
import { LOOP_OP, loopSpec } from '../frames.js';

const { registerFlowOp, registerOp, registerOps } = opFamily('control');

/**
 * Functions and TF2 functional control flow: PartitionedCall/StatefulPartitionedCall, If/Case,
 * While, and resource reads. Bodies run through the interpreter, so activations inside them are
 * recorded as `call/<node>`, and per loop iteration as `while/body@iter<k>/<node>`.
 * Resource variables arrive as their values (checkpoint/SavedModel loading turns handles into
 * constants), so reading one is the identity and assignments are ignored (the graph is read, not run
 * for training).
 */

/** Loops running longer than this are stopped with an error rather than hanging a CI job. */
export function maxLoopIterations(): number {
  const v = process.env.PARITY_MAX_LOOP_ITERATIONS;
  return v && /^\d+$/.test(v) ? Number(v) : 100_000;
}

/** TF's truth of an If/While condition: a scalar is its value; a non-scalar is true when non-empty. */
async function truth(t: tf.Tensor): Promise<boolean> {
  if (t.rank > 0) return t.size > 0;
  const v: unknown = (await t.data())[0];
  return typeof v === 'string' || v instanceof Uint8Array ? (v as { length: number }).length > 0 : Boolean(v);
}

function funcList(node: GraphNode, name: string): string[] {
  const a = node.attrs[name];
  if (!a || a.type !== 'list') throw new ExecutionError(`node '${node.name}' (${node.op}): attribute '${name}' must be a list of functions`, { node: node.name });
  return a.funcs.map((f) => f.name);
}

async function call(inputs: tf.Tensor[], node: GraphNode, ctx: OpContext): Promise<tf.Tensor[]> {
  return ctx.callFunction(attrFunc(node, 'f').name, inputs, node.name);
}

async function ifOp([cond, ...args]: tf.Tensor[], node: GraphNode, ctx: OpContext): Promise<tf.Tensor[]> {
  const branch = (await truth(cond!)) ? 'then_branch' : 'else_branch';
  return ctx.callFunction(attrFunc(node, branch).name, args, `${node.name}/${branch === 'then_branch' ? 'then' : 'else'}`);
}

async function caseOp([index, ...args]: tf.Tensor[], node: GraphNode, ctx: OpContext): Promise<tf.Tensor[]> {
  const branches = funcList(node, 'branches');
  const i = Number((await index!.data())[0]);
  // TF runs the last branch for an out-of-range index (the default branch).
  const k = Number.isInteger(i) && i >= 0 && i < branches.length ? i : branches.length - 1;
  return ctx.callFunction(branches[k]!, args, `${node.name}/branch${k}`);
}

async function whileOp(inputs: tf.Tensor[], node: GraphNode, ctx: OpContext): Promise<tf.Tensor[]> {
  const cond = attrFunc(node, 'cond').name;
  const body = attrFunc(node, 'body').name;
  const limit = maxLoopIterations();
  let vars = inputs.map((t) => share(t));
  try {
    for (let k = 0; ; k++) {
      const [c, ...rest] = await ctx.callFunction(cond, vars, `${node.name}/cond@iter${k}`);
      rest.forEach((t) => t.dispose());
      const go = await truth(c!);
      c!.dispose();
      if (!go) return vars;
      if (k >= limit) {
        throw new ExecutionError(`node '${node.name}' (While): still looping after ${limit} iterations (PARITY_MAX_LOOP_ITERATIONS)`, { node: node.name });
      }
      const next = await ctx.callFunction(body, vars, `${node.name}/body@iter${k}`);
      if (next.length !== vars.length) {
        next.forEach((t) => t.dispose());
        throw new ExecutionError(`node '${node.name}' (While): body returned ${next.length} values for ${vars.length} loop variables`, { node: node.name });
      }
      vars.forEach((t) => t.dispose());
      vars = next;
    }
  } catch (e) {
    vars.forEach((t) => t.dispose());
    throw e;
  }
}

for (const op of ['PartitionedCall', 'StatefulPartitionedCall']) registerOp(op, call, { async: true });
for (const op of ['If', 'StatelessIf']) registerOp(op, ifOp, { async: true });
for (const op of ['Case', 'StatelessCase']) registerOp(op, caseOp, { async: true });
for (const op of ['While', 'StatelessWhile']) registerOp(op, whileOp, { async: true });

registerOps({
  ReadVariableOp: ([x]) => share(x!),
  AssignVariableOp: () => [],
  AssignAddVariableOp: () => [],
  AssignSubVariableOp: () => [],
  VarIsInitializedOp: () => tf.scalar(true, 'bool'),
});

/**
 * TF1 conditionals (`tf.cond` in TF1 graphs, and Switch/Merge anywhere that are not a while
 * loop's own plumbing), with TensorFlow's dead-tensor semantics (core/common_runtime/
 * propagator_state.cc): Switch(data, pred) forwards `data` to output 1 when `pred` is true and to
 * output 0 when false, and the other output is dead. The interpreter does not run a node any of
 * whose inputs (data or control) is dead; all its outputs are dead. Merge is the exception: it
 * forwards its first live data input, with that input's index as output 1 (`value_index`), and is
 * dead only when all its data inputs are. Dead outputs are never recorded.
 */
async function switchOp([data, pred]: (tf.Tensor | undefined)[], node: GraphNode): Promise<(tf.Tensor | undefined)[]> {
  // The interpreter adds the file and node to these messages.
  const refs = node.inputs.filter((r) => !r.startsWith('^'));
  if (!data || !pred || refs.length !== 2) throw new ExecutionError(`takes 2 inputs (data, pred), it has ${refs.length}`);
  if (pred.dtype !== 'bool' || pred.rank !== 0) {
    throw new ExecutionError(`the predicate '${refs[1]}' must be a bool scalar, it is ${pred.dtype}[${pred.shape.join(',')}]`);
  }
  const taken = (await pred.data())[0] ? 1 : 0;
  return taken === 1 ? [undefined, share(data)] : [share(data), undefined];
}

async function mergeOp(inputs: (tf.Tensor | undefined)[]): Promise<(tf.Tensor | undefined)[]> {
  const i = inputs.findIndex((t) => t !== undefined);
  return i < 0 ? [undefined, undefined] : [share(inputs[i]!), tf.scalar(i, 'int32')];
}

for (const op of ['Switch', 'RefSwitch']) registerFlowOp(op, switchOp);
for (const op of ['Merge', 'RefMerge']) registerFlowOp(op, mergeOp, { runsOnDead: true });
// A ControlTrigger runs (and is live) even when its inputs are dead; it has no outputs.
registerOp('ControlTrigger', () => [], { neverDead: true });

/**
 * A TF1 while loop raised from its Enter/Merge/Switch/NextIteration/Exit frame (see frames.ts):
 * inputs are the loop variables' initial values then the loop constants; outputs are the loop
 * variables' final values. Each iteration's body is recorded as `<frame>/body@iter<k>/…`; a loop
 * nested in it runs inside that body, so its activations read
 * `<outer frame>/body@iter<k>/<inner frame>/body@iter<j>/…`. Every loop, nested or not, has its
 * own iteration limit. `parallel_iterations` only lets TF overlap iterations; the values are those
 * of running them one after another, which is what happens here.
 */
registerOp(
  LOOP_OP,
  async (inputs, node, ctx) => {
    const spec = loopSpec(node);
    const nv = spec.vars.length;
    const constants = new Map(spec.constants.map((c, i) => [c, inputs[nv + i]!]));
    let vars = inputs.slice(0, nv).map((t) => share(t));
    const limit = maxLoopIterations();
    const scope = spec.frame || node.name;
    const nested = spec.outerFrames.length ? ` (nested in '${spec.outerFrames[spec.outerFrames.length - 1]}')` : '';
    // Errors from inside an iteration say which one: with nesting, one note per enclosing loop.
    const inIteration = async <T>(k: number, run: () => Promise<T>): Promise<T> => {
      try {
        return await run();
      } catch (e) {
        if (!(e instanceof ExecutionError)) throw e;
        throw new ExecutionError(`${e.message} (in iteration ${k} of while loop '${scope}')`, { file: e.file, node: e.node, cause: e });
      }
    };
    try {
      for (let k = 0; ; k++) {
        const feeds = new Map([...spec.vars.map((v, i) => [v.merge, vars[i]!] as const), ...constants]);
        const [c] = await inIteration(k, () => ctx.runGraph(`${node.name}/cond`, spec.cond, feeds, `${scope}/cond@iter${k}`));
        const go = await truth(c!);
        c!.dispose();
        if (!go) return vars;
        if (k >= limit) {
          throw new ExecutionError(`${spec.file}: while loop '${scope}'${nested} (LoopCond '${spec.loopCond}'): still looping after ${limit} iterations (PARITY_MAX_LOOP_ITERATIONS)`, {
            file: spec.file,
            node: spec.loopCond,
          });
        }
        const next = await inIteration(k, () => ctx.runGraph(`${node.name}/body`, spec.body, feeds, `${scope}/body@iter${k}`));
        vars.forEach((t) => t.dispose());
        vars = next;
      }
    } catch (e) {
      vars.forEach((t) => t.dispose());
      throw e;
    }
  },
  { async: true },
);
