import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import { ExecutionError } from '../../core/errors.js';
import type { GraphNode } from '../../graph/ir.js';
import { opFamily } from '../registry.js';
import { ints, scalarInt } from './helpers.js';

const { registerOps } = opFamily('lists');

/**
 * TensorList ops (what TF2 loops use for TensorArrays: Keras RNNs in SavedModels, tf.while_loop).
 * A list is a variant in TF; here it flows between nodes as an int32 scalar handle into a table of
 * lists. Lists are immutable (SetItem makes a new list), so values read in one iteration never
 * change under a later one. The table is emptied when no top-level run is under way any more
 * (a comparison runs two models interleaved, so one ending must not empty the other's lists).
 */
const lists = new Map<number, (tf.Tensor | undefined)[]>();
let nextId = 1;

function handle(items: (tf.Tensor | undefined)[]): tf.Tensor {
  const id = nextId++;
  lists.set(id, items);
  return tf.scalar(id, 'int32');
}

function list(t: tf.Tensor, node: GraphNode): (tf.Tensor | undefined)[] {
  const id = scalarInt(t);
  const l = lists.get(id);
  if (!l) throw new ExecutionError(`node '${node.name}' (${node.op}): input is not a TensorList`, { node: node.name });
  return l;
}

function keep(t: tf.Tensor): tf.Tensor {
  return tf.keep(share(t));
}

function index(i: tf.Tensor, n: number, node: GraphNode): number {
  const k = scalarInt(i);
  if (k < 0 || k >= n) throw new ExecutionError(`node '${node.name}' (${node.op}): index ${k} is out of range for a list of ${n} elements`, { node: node.name });
  return k;
}

let activeRuns = 0;

/** A top-level interpreter run starts. */
export function beginTopLevelRun(): void {
  activeRuns++;
}

/** A top-level interpreter run ended (or was abandoned); the tables go when no other is under way. */
export function endTopLevelRun(): void {
  activeRuns = Math.max(0, activeRuns - 1);
  if (activeRuns === 0) clearTensorLists();
}

/** Disposes every list element. */
export function clearTensorLists(): void {
  const seen = new Set<tf.Tensor>();
  for (const l of lists.values()) for (const t of l) if (t && !seen.has(t)) seen.add(t);
  for (const t of seen) if (!t.isDisposed) t.dispose();
  lists.clear();
  clearTensorArrays();
}

function stack(items: (tf.Tensor | undefined)[], elementShape: number[], node: GraphNode): tf.Tensor {
  if (items.some((t) => !t)) {
    if (items.every((t) => !t) && elementShape.every((d) => d >= 0)) return tf.zeros([items.length, ...elementShape]);
    const missing = items.findIndex((t) => !t);
    throw new ExecutionError(`node '${node.name}' (${node.op}): element ${missing} of the list was never set`, { node: node.name });
  }
  if (!items.length) return tf.zeros([0, ...elementShape.map((d) => Math.max(d, 0))]);
  return tf.stack(items as tf.Tensor[]);
}

registerOps({
  TensorListReserve: ([shape, n]) => {
    void shape;
    return handle(new Array<tf.Tensor | undefined>(scalarInt(n!)).fill(undefined));
  },
  EmptyTensorList: () => handle([]),
  TensorListFromTensor: ([t]) => handle(tf.unstack(t!).map((x) => tf.keep(x))),
  TensorListSetItem: ([h, i, item], node) => {
    const l = list(h!, node);
    const k = index(i!, l.length, node);
    const copy = l.slice();
    copy[k] = keep(item!);
    return handle(copy);
  },
  TensorListGetItem: ([h, i, shape], node) => {
    const l = list(h!, node);
    const k = index(i!, l.length, node);
    const item = l[k];
    if (!item) {
      const s = shape ? ints(shape) : [];
      if (s.every((d) => d >= 0)) return tf.zeros(s);
      throw new ExecutionError(`node '${node.name}' (${node.op}): element ${k} was never set`, { node: node.name });
    }
    return share(item);
  },
  TensorListStack: ([h, shape], node) => stack(list(h!, node), shape ? ints(shape) : [], node),
  TensorListGather: ([h, idx, shape], node) => {
    const l = list(h!, node);
    return stack(ints(idx!).map((k) => l[k < 0 || k >= l.length ? -1 : k]), shape ? ints(shape) : [], node);
  },
  TensorListLength: ([h], node) => tf.scalar(list(h!, node).length, 'int32'),
  TensorListPushBack: ([h, item], node) => handle([...list(h!, node), keep(item!)]),
  TensorListPopBack: ([h], node) => {
    const l = list(h!, node);
    if (!l.length) throw new ExecutionError(`node '${node.name}' (TensorListPopBack): the list is empty`, { node: node.name });
    const last = l[l.length - 1];
    return [handle(l.slice(0, -1)), last ? share(last) : tf.scalar(0)];
  },
  TensorListElementShape: ([h], node) => {
    const l = list(h!, node);
    const first = l.find((t) => t);
    return tf.tensor1d(first ? first.shape : [-1], 'int32');
  },
});

/**
 * TF1 TensorArrays (TensorArrayV3 and friends, what tf.compat.v1 dynamic_rnn and while_loop use).
 * Unlike TensorLists they are mutable: writes go to the array behind the handle, and the "flow"
 * scalar only orders the ops. Handles are int32 scalars into the same table (released with it).
 */
const arrays = new Map<number, { items: (tf.Tensor | undefined)[]; dynamic: boolean }>();

function arrayOf(t: tf.Tensor, node: GraphNode): { items: (tf.Tensor | undefined)[]; dynamic: boolean } {
  const a = arrays.get(scalarInt(t));
  if (!a) throw new ExecutionError(`node '${node.name}' (${node.op}): input is not a TensorArray handle`, { node: node.name });
  return a;
}

function put(a: { items: (tf.Tensor | undefined)[]; dynamic: boolean }, k: number, v: tf.Tensor, node: GraphNode): void {
  if (k < 0 || (k >= a.items.length && !a.dynamic)) throw new ExecutionError(`node '${node.name}' (${node.op}): index ${k} is out of range for a TensorArray of size ${a.items.length}`, { node: node.name });
  const old = a.items[k];
  if (old && !old.isDisposed) old.dispose();
  a.items[k] = tf.keep(share(v));
}

export function clearTensorArrays(): void {
  for (const a of arrays.values()) for (const t of a.items) if (t && !t.isDisposed) t.dispose();
  arrays.clear();
}

const flow = () => tf.scalar(0);

registerOps({
  TensorArrayV3: ([size], node) => {
    const id = nextId++;
    const dyn = node.attrs.dynamic_size?.type === 'bool' ? node.attrs.dynamic_size.value : false;
    arrays.set(id, { items: new Array<tf.Tensor | undefined>(scalarInt(size!)).fill(undefined), dynamic: dyn });
    return [tf.scalar(id, 'int32'), flow()];
  },
  TensorArrayWriteV3: ([h, i, v], node) => {
    put(arrayOf(h!, node), scalarInt(i!), v!, node);
    return flow();
  },
  TensorArrayScatterV3: ([h, idx, v], node) => {
    const a = arrayOf(h!, node);
    const rows = tf.unstack(v!);
    ints(idx!).forEach((k, j) => put(a, k, rows[j]!, node));
    return flow();
  },
  TensorArrayReadV3: ([h, i], node) => {
    const a = arrayOf(h!, node);
    const k = scalarInt(i!);
    const item = a.items[k];
    if (!item) throw new ExecutionError(`node '${node.name}' (TensorArrayReadV3): element ${k} was never written`, { node: node.name });
    return share(item);
  },
  TensorArrayGatherV3: ([h, idx], node) => {
    const a = arrayOf(h!, node);
    const shape = node.attrs.element_shape?.type === 'shape' ? node.attrs.element_shape.value : null;
    return stack(ints(idx!).map((k) => a.items[k]), shape ?? [], node);
  },
  TensorArraySizeV3: ([h], node) => tf.scalar(arrayOf(h!, node).items.length, 'int32'),
  TensorArrayCloseV3: () => [],
});
