import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import { attrBool, attrString } from '../../graph/attrs.js';
import type { GraphNode } from '../../graph/ir.js';
import { numElements } from '../../core/tensor.js';
import { opFamily } from '../registry.js';
import { fail } from './helpers.js';
import { fusedMatMul } from './conv.js';

const { registerOps } = opFamily('matmul');

/**
 * MatMul family and Einsum. Batch dims broadcast numpy-style (BatchMatMulV2/V3). tfjs backends
 * refuse int32 matmul, which TF computes (wrapping in int32): that runs as a host loop.
 */

/** [B,M,K] x [B,K,N] with optional transposes of the last two dims; int32 exact with wrap-around. */
function matMul3(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  if (a.dtype !== 'int32' && b.dtype !== 'int32') return tf.matMul(a, b, ta, tb);
  const [B, ar, ac] = a.shape as [number, number, number];
  const [, br, bc] = b.shape as [number, number, number];
  const M = ta ? ac : ar;
  const K = ta ? ar : ac;
  const N = tb ? br : bc;
  const av = a.dataSync() as Int32Array;
  const bv = b.dataSync() as Int32Array;
  const out = new Int32Array(B * M * N);
  for (let p = 0; p < B; p++) {
    const ao = p * ar * ac;
    const bo = p * br * bc;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const x = av[ao + (ta ? k * ac + i : i * ac + k)]!;
          const y = bv[bo + (tb ? j * bc + k : k * bc + j)]!;
          s = (s + Math.imul(x, y)) | 0;
        }
        out[(p * M + i) * N + j] = s;
      }
    }
  }
  return tf.tensor(out, [B, M, N], 'int32');
}

function innerCheck(n: GraphNode, a: readonly number[], b: readonly number[], ta: boolean, tb: boolean): void {
  const k1 = ta ? a[a.length - 2] : a[a.length - 1];
  const k2 = tb ? b[b.length - 1] : b[b.length - 2];
  if (k1 !== k2) fail(n, `inner dimensions differ: [${a}]${ta ? ' (transposed)' : ''} x [${b}]${tb ? ' (transposed)' : ''} contracts ${k1} with ${k2}`);
}

/**
 * Batch matmul: both sides are broadcast to the common batch shape and flattened to rank 3,
 * which every backend handles.
 */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, adjA: boolean, adjB: boolean, n: GraphNode, broadcast = true): tf.Tensor {
  if (a.rank < 2 || b.rank < 2) fail(n, `needs inputs of rank >= 2, found [${a.shape}] and [${b.shape}]`);
  innerCheck(n, a.shape, b.shape, adjA, adjB);
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  if (!broadcast && ba.join() !== bb.join()) fail(n, `batch dims must match (BatchMatMul does not broadcast), found [${ba}] and [${bb}]`);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...new Array<number>(rank - ba.length).fill(1), ...ba];
  const pb = [...new Array<number>(rank - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => {
    const e = pb[i]!;
    if (d !== e && d !== 1 && e !== 1) fail(n, `batch dims [${ba}] and [${bb}] do not broadcast`);
    return d === 1 ? e : d;
  });
  const total = numElements(batch);
  const a3 = tf.reshape(tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]), [total, ...a.shape.slice(-2)]);
  const b3 = tf.reshape(tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)]), [total, ...b.shape.slice(-2)]);
  const y = matMul3(a3, b3, adjA, adjB);
  return tf.reshape(y, [...batch, ...y.shape.slice(-2)]);
}

// ---- Einsum ---------------------------------------------------------------------------------

interface Operand {
  t: tf.Tensor;
  labels: string[];
}

/** Labels of one term with '...' expanded to ellipsis labels ('.0', '.1', ... aligned right). */
function expandTerm(term: string, rank: number, ellRank: number, n: GraphNode, what: string): string[] {
  const parts = term.split('...');
  if (parts.length > 2) fail(n, `${what} '${term}' has more than one ellipsis`);
  for (const p of parts) if (!/^[a-zA-Z]*$/.test(p)) fail(n, `${what} '${term}' may contain only letters and one '...'`);
  const letters = parts.join('').length;
  if (parts.length === 1) {
    if (rank >= 0 && letters !== rank) fail(n, `${what} '${term}' has ${letters} labels but the operand has rank ${rank}`);
    return [...parts[0]!];
  }
  const e = rank >= 0 ? rank - letters : ellRank;
  if (e < 0) fail(n, `${what} '${term}' has ${letters} labels but the operand has rank ${rank}`);
  const ell = Array.from({ length: e }, (_, i) => `.${ellRank - e + i}`);
  return [...parts[0]!, ...ell, ...parts[1]!];
}

/** Takes the diagonal over every label repeated within one operand ('ii->i'), by gathering. */
function diagonals(op: Operand, n: GraphNode): Operand {
  let { t, labels } = op;
  for (;;) {
    const i = labels.findIndex((l, k) => labels.indexOf(l) !== k);
    if (i < 0) return { t, labels };
    const first = labels.indexOf(labels[i]!);
    const d = t.shape[first]!;
    if (t.shape[i] !== d) fail(n, `label '${labels[i]}' is repeated with different sizes ${d} and ${t.shape[i]}`);
    const rest = labels.map((_, k) => k).filter((k) => k !== first && k !== i);
    const moved = tf.transpose(t, [...rest, first, i]);
    const flat = tf.reshape(moved, [...rest.map((k) => t.shape[k]!), d * d]);
    const idx = tf.tensor1d(Array.from({ length: d }, (_, k) => k * (d + 1)), 'int32');
    t = tf.gather(flat, idx, flat.rank - 1);
    labels = [...rest.map((k) => labels[k]!), labels[first]!];
  }
}

function sumOut(op: Operand, keep: Set<string>): Operand {
  const drop = op.labels.map((l, i) => (keep.has(l) ? -1 : i)).filter((i) => i >= 0);
  if (!drop.length) return op;
  return { t: tf.sum(op.t, drop), labels: op.labels.filter((l) => keep.has(l)) };
}

function permuteTo(op: Operand, order: string[]): tf.Tensor {
  const perm = order.map((l) => op.labels.indexOf(l));
  return perm.every((p, i) => p === i) ? op.t : tf.transpose(op.t, perm);
}

/**
 * General Einsum for one or two operands (TF's Einsum op takes no more): diagonals for repeated
 * labels, labels found nowhere else summed out, then one batched matmul over
 * [batch, free, contracted] groups. tfjs' own einsum refuses ellipses and repeated labels and
 * runs on cpu only under wasm; the matmul route covers every equation TF accepts.
 */
function einsum(inputs: tf.Tensor[], n: GraphNode): tf.Tensor {
  const eq = attrString(n, 'equation').replace(/\s+/g, '');
  const arrow = eq.split('->');
  if (arrow.length > 2) fail(n, `equation '${eq}' has more than one '->'`);
  const terms = arrow[0]!.split(',');
  if (terms.length !== inputs.length) fail(n, `equation '${eq}' names ${terms.length} operands but the node has ${inputs.length} inputs`);
  if (terms.length < 1 || terms.length > 2) fail(n, `Einsum takes 1 or 2 operands, equation '${eq}' has ${terms.length}`);
  const ellRanks = terms.map((term, i) => (term.includes('...') ? inputs[i]!.rank - term.replace('...', '').length : 0));
  const ellRank = Math.max(0, ...ellRanks);
  const ops: Operand[] = terms.map((term, i) => ({ t: inputs[i]!, labels: expandTerm(term, inputs[i]!.rank, ellRank, n, 'input subscript') }));

  let outLabels: string[];
  if (arrow.length === 2) {
    outLabels = expandTerm(arrow[1]!, -1, ellRank, n, 'output subscript');
    if (new Set(outLabels).size !== outLabels.length) fail(n, `output subscript '${arrow[1]}' repeats a label`);
    if (ellRank > 0 && !arrow[1]!.includes('...')) fail(n, `equation '${eq}' has '...' in its inputs but not in its output`);
  } else {
    // Implicit form: ellipsis dims first, then every label used exactly once, alphabetically.
    const count = new Map<string, number>();
    for (const o of ops) for (const l of o.labels) if (!l.startsWith('.')) count.set(l, (count.get(l) ?? 0) + 1);
    outLabels = [...Array.from({ length: ellRank }, (_, i) => `.${i}`), ...[...count].filter(([, c]) => c === 1).map(([l]) => l).sort()];
  }

  // Sizes per label: letters must agree; ellipsis dims broadcast (1 against n).
  const size = new Map<string, number>();
  for (const o of ops) {
    o.labels.forEach((l, i) => {
      const d = o.t.shape[i]!;
      const prev = size.get(l);
      if (prev === undefined || prev === 1) size.set(l, d);
      else if (d !== prev && !(l.startsWith('.') && d === 1)) fail(n, `label '${l.startsWith('.') ? '...' : l}' has size ${prev} in one place and ${d} in another (equation '${eq}')`);
    });
  }
  for (const l of outLabels) if (!size.has(l)) fail(n, `output label '${l}' does not appear in any input of '${eq}'`);

  const diag = ops.map((o) => diagonals(o, n));
  const outSet = new Set(outLabels);
  if (diag.length === 1) {
    const op = sumOut(diag[0]!, outSet);
    return share(permuteTo(op, outLabels));
  }
  const [A0, B0] = diag as [Operand, Operand];
  const A = sumOut(A0, new Set([...outLabels, ...B0.labels]));
  const B = sumOut(B0, new Set([...outLabels, ...A.labels]));
  const inB = new Set(B.labels);
  const inA = new Set(A.labels);
  const batch = A.labels.filter((l) => inB.has(l) && outSet.has(l));
  const contract = A.labels.filter((l) => inB.has(l) && !outSet.has(l));
  const freeA = A.labels.filter((l) => !inB.has(l));
  const freeB = B.labels.filter((l) => !inA.has(l));
  const sz = (ls: string[]) => ls.map((l) => size.get(l)!);
  const prod = (ls: string[]) => numElements(sz(ls));
  const at = tf.broadcastTo(permuteTo(A, [...batch, ...freeA, ...contract]), sz([...batch, ...freeA, ...contract]));
  const bt = tf.broadcastTo(permuteTo(B, [...batch, ...contract, ...freeB]), sz([...batch, ...contract, ...freeB]));
  const y = matMul3(
    tf.reshape(at, [prod(batch), prod(freeA), prod(contract)]),
    tf.reshape(bt, [prod(batch), prod(contract), prod(freeB)]),
    false,
    false,
  );
  const labels = [...batch, ...freeA, ...freeB];
  return share(permuteTo({ t: tf.reshape(y, sz(labels)), labels }, outLabels));
}

registerOps({
  MatMul: ([a, b], n) => {
    if (a!.rank !== 2 || b!.rank !== 2) fail(n, `MatMul needs 2-D inputs, found [${a!.shape}] and [${b!.shape}]`);
    const ta = attrBool(n, 'transpose_a', false);
    const tb = attrBool(n, 'transpose_b', false);
    innerCheck(n, a!.shape, b!.shape, ta, tb);
    if (a!.dtype === 'int32') return tf.squeeze(matMul3(tf.expandDims(a!, 0), tf.expandDims(b!, 0), ta, tb), [0]);
    return tf.matMul(a!, b!, ta, tb);
  },
  BatchMatMul: ([a, b], n) => batchMatMul(a!, b!, attrBool(n, 'adj_x', false), attrBool(n, 'adj_y', false), n, false),
  BatchMatMulV2: ([a, b], n) => batchMatMul(a!, b!, attrBool(n, 'adj_x', false), attrBool(n, 'adj_y', false), n),
  BatchMatMulV3: ([a, b], n) => batchMatMul(a!, b!, attrBool(n, 'adj_x', false), attrBool(n, 'adj_y', false), n),
  Einsum: (xs, n) => einsum(xs, n),
  // The fused tail (BiasAdd + activation, refusal of unknown fused_ops) is shared with _FusedConv2D.
  _FusedMatMul: ([a, b, ...args], n) => {
    if (a!.rank !== 2 || b!.rank !== 2) fail(n, `_FusedMatMul needs 2-D inputs, found [${a!.shape}] and [${b!.shape}]`);
    const ta = attrBool(n, 'transpose_a', false);
    const tb = attrBool(n, 'transpose_b', false);
    innerCheck(n, a!.shape, b!.shape, ta, tb);
    // tfjs-wasm's fused matmul gives wrong values when either transpose flag is set (4.22): transpose first.
    return fusedMatMul(ta ? tf.transpose(a!) : a!, tb ? tf.transpose(b!) : b!, args, n, false, false);
  },
});
