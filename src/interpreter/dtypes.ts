import { tf } from '../backend/tf.js';
import { exactOf, sameView, setTfView, tfDTypeOf } from '../backend/convert.js';
import type { DType } from '../core/dtype.js';
import { intRange, isIntDType, isNarrowIntDType, isWideDType, toTfjsDType, wrapToNarrowInt } from '../core/dtype.js';
import { ExecutionError } from '../core/errors.js';
import type { GraphNode } from '../graph/ir.js';

/**
 * TensorFlow's dtypes over tfjs' few. tfjs computes every float in float32 and every integer in
 * int32; TF computes each in its own type. After each node the interpreter records what every
 * output stands for in TF (`setTfView`: its TF dtype, and exact values where it has them), so
 * that what a user sees and saves is TF's dtype, and makes the int32 result TF's:
 *  - int8/int16/uint8/uint16: TF's arithmetic wraps at their width, so the int32 result is wrapped;
 *  - int64/uint32/uint64: a result past the int32 range cannot be held; arithmetic that may
 *    produce one is checked (ARITHMETIC_OPS), and such a value is an error naming the node, never
 *    a silently wrapped number;
 *  - float64: computed in float32; values only moved (MOVES: Identity, Reshape, ...) keep the
 *    exact values of the input or constant they came from.
 * Every node computed in a narrower type than TF's is counted (NarrowLog) and reported once per
 * run as a warning.
 */

/** Ops whose output i is their data input `MOVES[op](i)` unchanged (reshaped at most). */
const MOVES: Record<string, (i: number) => number> = {};
for (const op of ['Identity', 'Snapshot', 'StopGradient', 'PreventGradient', 'PlaceholderWithDefault', 'EnsureShape', 'CheckNumerics', 'Reshape', 'ExpandDims', 'Squeeze', 'Switch', 'RefSwitch', 'Enter', 'Exit', 'RefEnter', 'RefExit', 'NextIteration', 'RefIdentity']) MOVES[op] = () => 0;
MOVES.IdentityN = (i) => i;

/**
 * Ops whose output dtype is not their `T`: output i is the attribute named, else the default
 * (TF's op definitions; a graph may leave a default attribute out).
 */
const OUTPUT_DTYPE: Record<string, (i: number) => [attr: string | undefined, def: DType]> = {
  Where: () => [undefined, 'int64'],
  Shape: () => ['out_type', 'int32'],
  ShapeN: () => ['out_type', 'int32'],
  Size: () => ['out_type', 'int32'],
  Rank: () => [undefined, 'int32'],
  ArgMax: () => ['output_type', 'int64'],
  ArgMin: () => ['output_type', 'int64'],
  Unique: (i) => (i === 0 ? ['T', 'float32'] : ['out_idx', 'int32']),
  TensorListGetItem: () => ['element_dtype', 'float32'],
  TensorListStack: () => ['element_dtype', 'float32'],
  TensorListGather: () => ['element_dtype', 'float32'],
  TensorListPopBack: (i) => (i === 1 ? ['element_dtype', 'float32'] : [undefined, 'int32']),
  TensorListLength: () => [undefined, 'int32'],
  // TF1 quantized ops: the values, then their float range.
  QuantizedConv2D: (i) => (i === 0 ? ['out_type', 'qint32'] : [undefined, 'float32']),
  Requantize: (i) => (i === 0 ? ['out_type', 'quint8'] : [undefined, 'float32']),
  QuantizeV2: (i) => (i === 0 ? ['T', 'quint8'] : [undefined, 'float32']),
  QuantizedRelu: (i) => (i === 0 ? ['out_type', 'quint8'] : [undefined, 'float32']),
  QuantizedRelu6: (i) => (i === 0 ? ['out_type', 'quint8'] : [undefined, 'float32']),
};

/** Attributes naming an output dtype, in the order they are tried. */
const DTYPE_ATTRS = ['DstT', 'dtype', 'Tout', 'T', 'output_types', 'Toutput_types'];

/**
 * Integer arithmetic, whose result can leave its inputs' range: int8/int16/uint8/uint16 results
 * wrap as TF's do, int64/uint32/uint64 results are checked to fit in int32. Every other op
 * selects, moves or compares values, or checks its own range (Cast).
 */
export const ARITHMETIC_OPS = new Set([
  'Add', 'AddV2', 'Sub', 'Mul', 'Neg', 'Abs', 'AddN', 'Square', 'SquaredDifference', 'Sum', 'Prod', 'Cumsum', 'Cumprod',
  'MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Pow', 'UnsortedSegmentSum', 'SegmentSum', 'Bincount', 'ScatterNd', 'TensorScatterAdd',
]);

/**
 * The nodes computed in a narrower tfjs type than their TF dtype, per dtype, in the order first
 * met. Kept across runs (a run stopped early, or a loop's later iterations, add nothing new), so
 * a comparison's reference says it once whichever of its runs came last.
 */
export class NarrowLog {
  private readonly byType = new Map<DType, Set<string>>();

  note(dtype: DType, node: string): void {
    const s = this.byType.get(dtype);
    if (s) s.add(node);
    else this.byType.set(dtype, new Set([node]));
  }

  /** One warning per narrowed dtype. */
  warnings(): string[] {
    return [...this.byType].map(([d, nodes]) => {
      const where = `${nodes.size} node(s), first '${nodes.values().next().value}'`;
      if (d === 'float64') return `float64 is computed in float32 (tfjs has no float64) at ${where}: their values carry float32 rounding; float64 inputs and constants that are only moved (Identity, Reshape) keep their exact values`;
      if (isIntDType(d)) return `${d} arithmetic is computed in int32 (tfjs has no ${d}) at ${where}: exact while every value fits in int32, and a value past that range stops the run with an error naming the node`;
      return `${d} is computed in ${toTfjsDType(d)} (tfjs has no ${d}) at ${where}`;
    });
  }
}

/** The TF dtype `node`'s output `i` has, held by tfjs as `t`. */
export function outputDType(node: GraphNode, i: number, t: tf.Tensor): DType {
  const fits = (d: DType | undefined): d is DType => d !== undefined && toTfjsDType(d) === t.dtype;
  const attr = (name: string | undefined): DType | undefined => {
    const a = name === undefined ? undefined : node.attrs[name];
    return a?.type === 'dtype' ? a.value : a?.type === 'list' ? (a.dtypes[i] ?? (a.dtypes.length === 1 ? a.dtypes[0] : undefined)) : undefined;
  };
  const fixed = OUTPUT_DTYPE[node.op]?.(i);
  if (fixed) {
    const d = attr(fixed[0]) ?? fixed[1];
    return fits(d) ? d : (t.dtype as DType);
  }
  for (const name of DTYPE_ATTRS) {
    const d = attr(name);
    if (fits(d)) return d;
  }
  return t.dtype as DType;
}

/**
 * Records what each output of `node` stands for in TF, and makes narrow integer results TF's
 * (wrapped). Outputs a kernel already described (a constant, a function's results) keep that.
 * May replace an output (a wrapped copy; the original is disposed).
 */
export function settleOutputs(node: GraphNode, inputs: readonly (tf.Tensor | undefined)[], outs: (tf.Tensor | undefined)[], log: NarrowLog, fed: boolean): (tf.Tensor | undefined)[] {
  return outs.map((t, i) => {
    if (!t) return t;
    if (fed) {
      // A feed is the placeholder's dtype; its exact values came with it when it was made from a file.
      const d = outputDType(node, i, t);
      const exact = exactOf(t);
      return setTfView(t, d, exact?.dtype === d ? exact : undefined);
    }
    const move = MOVES[node.op];
    const src = move ? inputs[move(i)] : node.op === 'Merge' || node.op === 'RefMerge' ? (i === 0 ? inputs.find((x) => x) : undefined) : undefined;
    if (src) return sameView(t, src);
    if (tfDTypeOf(t) !== t.dtype || exactOf(t)) return t;
    const d = outputDType(node, i, t);
    if (d === t.dtype) return t;
    if (isNarrowIntDType(d) && ARITHMETIC_OPS.has(node.op)) return setTfView(wrapNarrow(t, d), d);
    if (d === 'float64' || (isWideDType(d) && ARITHMETIC_OPS.has(node.op))) log.note(d, node.name);
    return setTfView(t, d);
  });
}

/** An int32 tensor wrapped to a narrow integer dtype, as TF's arithmetic in that dtype gives it. */
function wrapNarrow(t: tf.Tensor, d: DType): tf.Tensor {
  const v = t.dataSync() as Int32Array;
  const { min, max } = intRange(d);
  let inRange = true;
  for (let k = 0; k < v.length && inRange; k++) inRange = v[k]! >= min && v[k]! <= max;
  if (inRange) return t;
  const w = Int32Array.from(v, (x) => wrapToNarrowInt(x, d));
  const out = tf.tensor(w, t.shape, 'int32');
  t.dispose();
  return out;
}

/** 2^31: a wrapped int32 result differs from the true one by a multiple of 2^32. */
const WRAP_GAP = 2 ** 31;

/**
 * Integer arithmetic whose TF dtype is int64/uint32/uint64, computed in int32: the node is run
 * again on its inputs as float32 (within float32 rounding of the true result), and a result the
 * int32 one differs from by 2^31 or more, or one outside the dtype's range (a negative uint32),
 * is an error naming the node and the value (Cast checks its own values). `rerun` runs the
 * node's kernel on the given inputs.
 */
export function checkNoWrap(node: GraphNode, inputs: readonly (tf.Tensor | undefined)[], outs: readonly (tf.Tensor | undefined)[], rerun: (inputs: tf.Tensor[]) => (tf.Tensor | undefined)[]): void {
  const wide = outs.map((t, i) => (t && t.dtype === 'int32' ? outputDType(node, i, t) : undefined));
  if (!wide.some((d) => d && isWideDType(d) && d !== 'float64')) return;
  const fail = (d: DType, v: number, k: number): never => {
    throw new ExecutionError(`node '${node.name}' (${node.op}): its ${d} result ${v} at element ${k} does not fit in int32, which tfjs computes ${d} in (TF would hold it; tf-parity does not wrap it)`, { node: node.name });
  };
  const xs = inputs.map((x) => (x && x.dtype === 'int32' ? tf.cast(x, 'float32') : x!));
  // A kernel may hand back one of its inputs (a sum over no axes): only new tensors are disposed.
  const mine = (t: tf.Tensor | undefined): t is tf.Tensor => !!t && !inputs.includes(t) && !xs.includes(t);
  let floats: (tf.Tensor | undefined)[] = [];
  try {
    floats = tf.tidy(() => rerun(xs).map((t) => (mine(t) ? tf.keep(t) : t)));
    wide.forEach((d, i) => {
      if (!d || !isWideDType(d) || d === 'float64') return;
      const got = outs[i]!.dataSync() as Int32Array;
      const want = floats[i]?.dataSync() as Float32Array | undefined;
      const { min } = intRange(d);
      for (let k = 0; k < got.length; k++) {
        if (got[k]! < min) fail(d, got[k]!, k);
        if (want && Math.abs(want[k]! - got[k]!) >= WRAP_GAP) fail(d, want[k]!, k);
      }
    });
  } finally {
    for (const t of floats) if (mine(t)) t.dispose();
    for (const x of xs) if (!inputs.includes(x)) x.dispose();
  }
}
