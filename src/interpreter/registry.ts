import type * as tf from '@tensorflow/tfjs-core';
import type { Graph, GraphNode } from '../graph/ir.js';

/** What a kernel can ask of the interpreter besides its inputs. */
export interface OpContext {
  graph: Graph;
  /** File the graph came from, for error messages. */
  file: string;
  /**
   * Runs a function from the graph's library on `inputs` (PartitionedCall, If/While bodies).
   * Activations inside it are recorded under `scope/…`.
   */
  callFunction(name: string, inputs: tf.Tensor[], scope: string, attrs?: GraphNode['attrs']): Promise<tf.Tensor[]>;
  /**
   * Runs a graph (a raised TF1 loop's condition or body) on feeds keyed by its placeholder names
   * and returns its outputs; activations are recorded under `scope/…`. `key` caches the compiled graph.
   */
  runGraph(key: string, graph: Graph, feeds: Map<string, tf.Tensor>, scope: string): Promise<tf.Tensor[]>;
  /** Value of a resource/variable by name (checkpoints, SavedModels). */
  variable(name: string): tf.Tensor | undefined;
}

/**
 * An op kernel: TensorFlow semantics, attribute defaults included. Inputs are owned by the
 * interpreter (never dispose them); intermediates are disposed by the tidy around sync kernels.
 * Returns one tensor per op output, in TF output order.
 */
export type OpKernel = (inputs: tf.Tensor[], node: GraphNode, ctx: OpContext) => tf.Tensor[] | tf.Tensor | Promise<tf.Tensor[] | tf.Tensor>;

/**
 * A TF1 dead-tensor kernel (Switch, Merge): an output it leaves `undefined` is *dead* (TF's
 * no-value entry), and with `KernelInfo.runsOnDead` a dead data input arrives as `undefined`.
 */
export type FlowKernel = (inputs: (tf.Tensor | undefined)[], node: GraphNode, ctx: OpContext) => Promise<(tf.Tensor | undefined)[]>;

export interface KernelInfo {
  kernel: OpKernel;
  /** True when the kernel returns a Promise (cannot be wrapped in tf.tidy). */
  async?: boolean;
  /** TF1 control flow whose outputs can be dead: run instead of `kernel` (see FlowKernel). */
  flow?: FlowKernel;
  /**
   * Runs when some data inputs are dead, ignoring dead control inputs, and is dead only when all
   * its data inputs are (TF's Merge); any other node with a dead input does not run and is dead.
   */
  runsOnDead?: boolean;
  /** Never dead: runs even when its inputs are (TF's ControlTrigger). */
  neverDead?: boolean;
}

const registry = new Map<string, KernelInfo & { family: string }>();

/**
 * Adds `op` to the table; an op registered twice (by two families, or twice by one) is a
 * programming error that would silently keep whichever module loaded last: it throws at load.
 */
function add(family: string, op: string, info: KernelInfo): void {
  const before = registry.get(op);
  if (before) throw new Error(`op ${op} is registered twice: by the ${before.family} ops and by the ${family} ops`);
  registry.set(op, { ...info, family });
}

/** The registration functions of one op family (`ops/math.ts` is 'math'): every op it registers is tagged with it. */
export function opFamily(family: string) {
  const registerOp = (op: string, kernel: OpKernel, opts: Omit<KernelInfo, 'kernel'> = {}): void => add(family, op, { kernel, ...opts });
  return {
    registerOp,
    /** Register several sync kernels: `registerOps({ Relu: ([x]) => tf.relu(x) })`. */
    registerOps(kernels: Record<string, OpKernel>): void {
      for (const [op, k] of Object.entries(kernels)) registerOp(op, k);
    },
    /** Registers a FlowKernel; its plain `kernel` is never called by the interpreter. */
    registerFlowOp(op: string, flow: FlowKernel, opts: { runsOnDead?: boolean } = {}): void {
      add(family, op, {
        kernel: (_inputs, node) => {
          throw new Error(`${node.op} '${node.name}' is run by the interpreter's dead-tensor executor`);
        },
        async: true,
        flow,
        ...opts,
      });
    },
  };
}

/** The family that registered `op` (for messages and tests). */
export function familyOf(op: string): string | undefined {
  return registry.get(op)?.family;
}

export function getKernel(op: string): KernelInfo | undefined {
  return registry.get(op);
}

export function supportedOps(): string[] {
  return [...registry.keys()].sort();
}
