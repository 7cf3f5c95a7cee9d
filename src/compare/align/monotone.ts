import { numElements } from '../../core/tensor.js';
import type { SampleCache } from './similarity.js';
import { STRONG_SIMILARITY, comparableCount, mayBeStrong, permCode, similarity } from './similarity.js';
import { candidateTransforms, sameShape } from './transforms.js';
import type { ActInfo, AlignedPair, Strategy, Transform } from './types.js';
import { isMovement, normaliseName } from './types.js';
import type { Wiring } from './wiring.js';

/**
 * The monotone alignment's scoring weights, in one place. A pair cell scores `valuesMatch +
 * similarity` when the sampled values match strongly (>= STRONG_SIMILARITY), else a small score
 * for fitting shapes only, plus preferences that break ties between equal-valued chains; the
 * path with the highest total wins. The weights are ordered so that one value match outweighs
 * any number of shape-only pairs in a segment of a real model.
 */
export const SCORE = {
  /** A strong value match: this plus the similarity. */
  valuesMatch: 1,
  /** Shapes fit, same rank, no reshape. */
  shapeSameRank: 0.05,
  /** Shapes fit through a reshape or across ranks. */
  shapeReshaped: 0.01,
  /** Data movement with a computing layer by shape alone: only fills a gap. */
  movementWithComputation: 0.005,
  /** Like pairs with like (data movement with data movement). */
  likeKind: 0.01,
  /** Exactly the same shape, no permutation. */
  exactShape: 0.005,
  /** Without a value match: the same number of activation inputs, readers, layer role. */
  sameFanIn: 0.02,
  sameFanOut: 0.02,
  sameRole: 0.02,
  /** Times j/m: later reference nodes win ties (a layer pairs with the last node of an identity chain). */
  laterReference: 1e-6,
  /** A value match this much below the best match either side has in its segment is none. */
  matchMargin: 0.002,
  /** Largest confidence a shape-only pair is given. */
  shapeConfidence: 0.5,
} as const;

/**
 * Dynamic-programming alignment (like sequence alignment) of the unpaired activations,
 * constrained to be monotone in both execution orders and to respect the anchors already
 * paired. A pair scores its sampled similarity when that is high, and a small score when only
 * the shapes fit: such shape-only pairs sit between confident anchors and are how a divergent
 * layer (whose values no longer match) still gets paired and reported.
 */
export function monotoneAlign(
  refs: ActInfo[],
  cands: ActInfo[],
  usedRef: Set<string>,
  usedCand: Set<string>,
  pairs: AlignedPair[],
  samples: SampleCache,
  add: (r: ActInfo, c: ActInfo, s: Strategy, conf: number, t?: Transform) => void,
  refWiring?: Wiring,
  candWiring?: Wiring,
  valuesOnly = false,
): void {
  const refPos = new Map(refs.map((r, i) => [r.name, i]));
  const candPos = new Map(cands.map((c, i) => [c.name, i]));
  // Segments between anchors: anchors sorted by candidate position must also be increasing in reference position.
  const anchors = pairs
    .map((p) => ({ r: refPos.get(p.reference), c: candPos.get(p.candidate) }))
    .filter((a): a is { r: number; c: number } => a.r !== undefined && a.c !== undefined)
    .sort((a, b) => a.c - b.c);
  const mono: { r: number; c: number }[] = [];
  for (const a of anchors) if (!mono.length || a.r > mono[mono.length - 1]!.r) mono.push(a);
  const bounds = [{ r: -1, c: -1 }, ...mono, { r: refs.length, c: cands.length }];
  for (let s = 0; s + 1 < bounds.length; s++) {
    const r0 = bounds[s]!.r + 1;
    const r1 = bounds[s + 1]!.r;
    const c0 = bounds[s]!.c + 1;
    const c1 = bounds[s + 1]!.c;
    const R = refs.slice(Math.max(0, r0), Math.max(0, r1)).filter((r) => !usedRef.has(r.name));
    const C = cands.slice(Math.max(0, c0), Math.max(0, c1)).filter((c) => !usedCand.has(c.name));
    if (!R.length || !C.length) continue;
    alignSegment(R, C, samples, add, refWiring, candWiring, valuesOnly);
  }
}

/**
 * The monotone dynamic programme over one segment between anchors: reference R, candidate C
 * (both unpaired, in run order). With `valuesOnly`, only pairs whose values match.
 */
export function alignSegment(
  R: ActInfo[],
  C: ActInfo[],
  samples: SampleCache,
  add: (r: ActInfo, c: ActInfo, s: Strategy, conf: number, t?: Transform) => void,
  refWiring?: Wiring,
  candWiring?: Wiring,
  valuesOnly = false,
): void {
  const n = C.length;
  const m = R.length;
  // Per activation, once: element counts, data-movement ops, shape classes, sampled values
  // (the cells below look these up n·m times: no strings built, no maps of objects).
  const numelC = C.map((c) => numElements(c.shape));
  const numelR = R.map((r) => numElements(r.shape));
  const movC = C.map((c) => isMovement(c.type));
  const movR = R.map((r) => isMovement(r.type));
  const inC = C.map((c) => candWiring?.fanIn.get(c.name) ?? -1);
  const inR = R.map((r) => refWiring?.fanIn.get(r.name) ?? -2);
  const outC = C.map((c) => candWiring?.fanOut.get(c.name) ?? -1);
  const outR = R.map((r) => refWiring?.fanOut.get(r.name) ?? -2);
  // Roles, where both runners say; an unknown one (-1 here, -2 there) equals nothing.
  // A layer end without a role of its own has its layer's (a decomposed PReLU's last Add).
  const roleCode = { affine: 1, activation: 2, pool: 3 } as const;
  const roleOf = (a: ActInfo, w: Wiring | undefined) => a.role ?? w?.layerRole.get(a.name);
  const roleC = C.map((c) => { const q = roleOf(c, candWiring); return q ? roleCode[q] : -1; });
  const roleR = R.map((r) => { const q = roleOf(r, refWiring); return q ? roleCode[q] : -2; });
  // Whether each is interior to its layer (conv2d_1/Conv2D before conv2d_1/BiasAdd): a layer end pairs with a layer end.
  const endC = C.map((c) => !candWiring?.interior.has(normaliseName(c.name)));
  const opName = (t: string) => (t === 'AddV2' ? 'Add' : t);
  const opC = C.map((c) => opName(c.type));
  const opR = R.map((r) => opName(r.type));
  const endR = R.map((r) => !refWiring?.interior.has(normaliseName(r.name)));
  const classes = new Map<string, number>();
  const classOf = (a: ActInfo) => {
    const k = `${a.shape.join(',')}|${a.layout ?? ''}`;
    let id = classes.get(k);
    if (id === undefined) classes.set(k, (id = classes.size));
    return id;
  };
  const clsC = Int32Array.from(C, classOf);
  const clsR = Int32Array.from(R, classOf);
  const nCls = classes.size;
  /** Transforms per (reference class, candidate class). */
  const transformsFor: (Transform[] | undefined)[] = new Array(nCls * nCls);
  const refS = R.map((r, j) => samples.refSamples(r, numelR[j]!));
  const candS = C.map(() => new Map<number, Float32Array | undefined>());
  /**
   * Sampled similarity of C[i] and R[j] under t: SampleCache.similarity, from the arrays
   * above; -1 when the bound of SampleCache.mayMatch rules a strong match out (`bounded`).
   */
  const sim = (i: number, j: number, t: Transform, bounded: boolean): number => {
    const r = R[j]!;
    const c = C[i]!;
    if (!(r.data || r.samples) || !(c.data || c.samples)) return 0;
    const cnt = comparableCount(r, c);
    if (cnt <= 0) return cnt === 0 ? 1 : 0;
    const sr = refS[j];
    const code = permCode(t.perm);
    const byPerm = candS[i]!;
    let sc = byPerm.get(code);
    if (sc === undefined && !byPerm.has(code)) byPerm.set(code, (sc = samples.candSamples(c, r.shape, t, cnt)));
    if (!sr || !sc || sr.length !== sc.length) return 0;
    return bounded && !mayBeStrong(sr, sc, samples.sums) ? -1 : similarity(sr, sc);
  };
  // score[i][j]: best total aligning C[0..i) with R[0..j)
  const score = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
  const choice = Array.from({ length: n + 1 }, () => new Uint8Array(m + 1)); // 0 skip ref, 1 skip cand, 2 pair
  // For pair cells: which transform (its index in transformsFor[...]) and its similarity.
  const cellT = new Uint8Array((n + 1) * (m + 1));
  const cellSim = new Float64Array((n + 1) * (m + 1)).fill(NaN);
  // Which cells can pair at all (shapes fit), and which match by values, before the programme:
  // an activation whose values match one of the other side's is that one's counterpart, never
  // another's partner by shape alone (a port's /cls_8/Conv, equal to cls_8/BiasAdd, is not
  // paired by shape with cls_8/Conv2D before the bias, the head's Transpose taking the BiasAdd).
  const fits = new Uint8Array((n + 1) * (m + 1));
  const strongC = new Uint8Array(n);
  const strongR = new Uint8Array(m);
  const bestC = new Float64Array(n);
  const bestR = new Float64Array(m);
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      if (numelC[i - 1] !== numelR[j - 1]) continue;
      const combo = clsR[j - 1]! * nCls + clsC[i - 1]!;
      let ts = transformsFor[combo];
      if (!ts) transformsFor[combo] = ts = candidateTransforms(R[j - 1]!, C[i - 1]!);
      if (!ts.length) continue;
      const at = i * (m + 1) + j;
      fits[at] = 1;
      // chooseTransform: the first transform whose values match, else the most plausible.
      // Only whether a pair matches changes its score here: the similarity of one that
      // does not is needed only for the pairs the path below takes (NaN until then).
      for (let q = 0; q < ts.length; q++) {
        const sq = sim(i - 1, j - 1, ts[q]!, true);
        if (sq >= STRONG_SIMILARITY) {
          cellT[at] = q;
          cellSim[at] = sq;
          strongC[i - 1] = 1;
          strongR[j - 1] = 1;
          bestC[i - 1] = Math.max(bestC[i - 1]!, sq);
          bestR[j - 1] = Math.max(bestR[j - 1]!, sq);
          break;
        }
      }
    }
  }
  // A value match clearly worse than the best either side has is no match: a port's Conv
  // (bias included) equals cls/BiasAdd and, with a small bias, cls/Conv2D before it to 0.994; it
  // is the BiasAdd's counterpart, and the Conv2D pairing with it would push the BiasAdd onto
  // the head's Transpose after the Conv.
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const at = i * (m + 1) + j;
      const s0 = cellSim[at]!;
      if (s0 >= STRONG_SIMILARITY && (s0 < bestC[i - 1]! - SCORE.matchMargin || s0 < bestR[j - 1]! - SCORE.matchMargin)) cellSim[at] = -1;
    }
  }
  for (let i = 1; i <= n; i++) {
    const prev = score[i - 1]!;
    const row = score[i]!;
    const chRow = choice[i]!;
    for (let j = 1; j <= m; j++) {
      let best = row[j - 1]!;
      let ch = 0;
      if (prev[j]! > best) {
        best = prev[j]!;
        ch = 1;
      }
      const at = i * (m + 1) + j;
      const s0 = cellSim[at]!;
      // By shape alone, a node interior to its layer (a conv's Conv2D before its BiasAdd, a batch
      // norm's Mul) pairs only with an interior node: with a layer's end it is not the same
      // computation (TF's fused conv+Relu pairs with the port's Relu, the BN's Add with its
      // BatchNormalization; not the conv with the Conv, the Mul with the Relu and the Add with the
      // BatchNormalization, one off).
      // Unless both are the same op: a port that splits a frozen batch norm into Mul and Add too.
      const byShape = !valuesOnly && !strongC[i - 1] && !strongR[j - 1] && (endR[j - 1] === endC[i - 1] || opR[j - 1] === opC[i - 1]);
      if (fits[at] && s0 !== -1 && (s0 >= STRONG_SIMILARITY || byShape)) {
        {
          const t = transformsFor[clsR[j - 1]! * nCls + clsC[i - 1]!]![cellT[at]!]!;
          const sameRank = R[j - 1]!.shape.length === C[i - 1]!.shape.length;
          // Small preferences break ties between equal-valued chains (Relu6 -> Transpose ->
          // Reshape): like pairs with like (data movement with data movement), exact shapes win.
          const affinity = movR[j - 1] === movC[i - 1] ? SCORE.likeKind : 0;
          const exact = sameShape(R[j - 1]!.shape, C[i - 1]!.shape) && !t.perm ? SCORE.exactShape : 0;
          // Past a divergence values match nothing, and a chain of same-shaped layers (a
          // depthwise conv, a conv, an add, a relu) pairs one layer off throughout unless the
          // wiring says which is which: an add reads two activations, a relu that feeds a
          // residual branch has two readers.
          // Nor does wiring tell a conv with a fused activation from the conv of an unfused one
          // (both read one value, are read once): their roles do, a conv's PReLU pairing with
          // the PRelu after the Conv.
          const wired =
            s0 >= STRONG_SIMILARITY ? 0 : (inR[j - 1] === inC[i - 1] ? SCORE.sameFanIn : 0) + (outR[j - 1] === outC[i - 1] ? SCORE.sameFanOut : 0) + (roleR[j - 1] === roleC[i - 1] ? SCORE.sameRole : 0);
          // By shape alone, data movement (a port's layout Transpose) is no match for a
          // computing layer: such a pair only fills a gap.
          const mixed = !(s0 >= STRONG_SIMILARITY) && movR[j - 1] !== movC[i - 1];
          const sc = mixed ? SCORE.movementWithComputation : (s0 >= STRONG_SIMILARITY ? SCORE.valuesMatch + s0 : sameRank && !t.reshape ? SCORE.shapeSameRank : SCORE.shapeReshaped) + affinity + exact + wired;
          // Later reference nodes win ties: a layer pairs with the last node of an identity chain.
          const total = prev[j - 1]! + sc + SCORE.laterReference * (j / m);
          if (total > best) {
            best = total;
            ch = 2;
          }
        }
      }
      row[j] = best;
      chRow[j] = ch;
    }
  }
  let i = n;
  let j = m;
  while (i > 0 && j > 0) {
    const ch = choice[i]![j]!;
    if (ch === 2) {
      const at = i * (m + 1) + j;
      const t = transformsFor[clsR[j - 1]! * nCls + clsC[i - 1]!]![cellT[at]!]!;
      let s = cellSim[at]!;
      if (Number.isNaN(s)) s = sim(i - 1, j - 1, t, false);
      const strong = s >= STRONG_SIMILARITY;
      add(R[j - 1]!, C[i - 1]!, strong ? 'numeric' : 'shape', strong ? s : Math.min(SCORE.shapeConfidence, s), t);
      i--;
      j--;
    } else if (ch === 1) i--;
    else j--;
  }
}
