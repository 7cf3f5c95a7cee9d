import { numElements } from '../../core/tensor.js';
import type { ActInfo, Transform } from './types.js';

/** Layout transforms: how a candidate tensor is read in the reference's layout and element order. */

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function transposeShape(s: readonly number[], perm: readonly number[]): number[] {
  return perm.map((p) => s[p]!);
}

/** Layout-to-layout permutations to try, candidate -> reference. */
export const PERMS: Record<number, number[][]> = {
  3: [[0, 2, 1]],
  4: [[0, 2, 3, 1], [0, 3, 1, 2]],
  5: [[0, 2, 3, 4, 1], [0, 4, 1, 2, 3]],
};

/** Transforms under which cand's shape becomes ref's shape, most plausible first. */
export function candidateTransforms(ref: ActInfo, cand: ActInfo): Transform[] {
  if (numElements(ref.shape) !== numElements(cand.shape)) return [];
  const out: Transform[] = [];
  // The reference's layout is channels-last unless it says (the interpreter leaves it unset): a
  // candidate marked NCHW differs from it. This order decides a shape-only pair's transform,
  // where values cannot (past a divergence), and square activations ([1,32,32,32]) fit both.
  const layoutDiffers = !!cand.layout && (ref.layout ? cand.layout !== ref.layout : cand.layout.startsWith('NC'));
  const perms = ref.shape.length === cand.shape.length ? PERMS[ref.shape.length] ?? [] : [];
  const permOk = perms.filter((p) => sameShape(transposeShape(cand.shape, p), ref.shape));
  if (sameShape(ref.shape, cand.shape) && !layoutDiffers) out.push({});
  // Candidate layouts marked NCHW prefer the NCHW->NHWC permutation even when shapes are square.
  if (cand.layout?.startsWith('NC') && ref.shape.length >= 4) {
    const p = perms[0]!;
    if (sameShape(transposeShape(cand.shape, p), ref.shape)) out.push({ perm: p });
  }
  for (const p of permOk) if (!out.some((t) => t.perm && sameShape(t.perm, p))) out.push({ perm: p });
  if (sameShape(ref.shape, cand.shape) && layoutDiffers) out.push({});
  if (!sameShape(ref.shape, cand.shape)) out.push({ reshape: true });
  return out;
}

/** Index in cand's flat data of the element at flat position `i` of ref's layout. */
export function mapIndex(i: number, refShape: readonly number[], candShape: readonly number[], t: Transform): number {
  if (!t.perm) return i;
  // ref index -> multi-index in ref -> cand multi-index via inverse perm.
  const rank = refShape.length;
  const refIdx = new Array<number>(rank);
  let rem = i;
  for (let a = rank - 1; a >= 0; a--) {
    refIdx[a] = rem % refShape[a]!;
    rem = Math.floor(rem / refShape[a]!);
  }
  // ref axis a == cand axis perm[a]
  let flat = 0;
  const candIdx = new Array<number>(rank);
  for (let a = 0; a < rank; a++) candIdx[t.perm[a]!] = refIdx[a]!;
  for (let a = 0; a < rank; a++) flat = flat * candShape[a]! + candIdx[a]!;
  return flat;
}

/** Candidate values rearranged into the reference's element order. */
export function applyTransform(cand: Float32Array, refShape: readonly number[], candShape: readonly number[], t: Transform | undefined): Float32Array {
  if (!t || !t.perm) return cand;
  const out = new Float32Array(cand.length);
  const rank = refShape.length;
  // Strides of cand for each ref axis.
  const candStrides = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) candStrides[a] = candStrides[a + 1]! * candShape[a + 1]!;
  const stride = refShape.map((_, a) => candStrides[t.perm![a]!]!);
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = cand[off]!;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      off += stride[a]!;
      if (idx[a]! < refShape[a]!) break;
      off -= stride[a]! * refShape[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

/** Whether candidate values of `c`'s shape become `r`'s under `t` (same element count; a permutation that maps the shapes). */
export function transformFits(r: { shape: readonly number[] }, c: { shape: readonly number[] }, t: Transform | undefined): boolean {
  if (numElements(r.shape) !== numElements(c.shape)) return false;
  if (!t?.perm) return true;
  return t.perm.length === c.shape.length && sameShape(transposeShape(c.shape, t.perm), r.shape);
}
