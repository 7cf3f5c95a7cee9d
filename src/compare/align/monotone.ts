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

/** What aligning a segment needs besides its activations: the same for every segment of one alignment. */
export interface SegmentContext {
  samples: SampleCache;
  /** Records a pair (and marks both sides used). */
  add: (r: ActInfo, c: ActInfo, s: Strategy, conf: number, t?: Transform) => void;
  refWiring?: Wiring;
  candWiring?: Wiring;
  /** Only pairs whose values match (no pairs by shape alone). */
  valuesOnly: boolean;
}

/** Both sides' activations in run order, those paired so far, and the pairs. */
export interface Paired {
  refs: ActInfo[];
  cands: ActInfo[];
  usedRef: Set<string>;
  usedCand: Set<string>;
  pairs: AlignedPair[];
}

/** The unpaired among `refs` and `cands` aligned as one segment (nothing when either side has none). */
export function alignUnpaired(refs: ActInfo[], cands: ActInfo[], done: Paired, ctx: SegmentContext): void {
  const R = refs.filter((r) => !done.usedRef.has(r.name));
  const C = cands.filter((c) => !done.usedCand.has(c.name));
  if (R.length && C.length) alignSegment(R, C, ctx);
}

/**
 * Dynamic-programming alignment (like sequence alignment) of the unpaired activations,
 * constrained to be monotone in both execution orders and to respect the anchors already
 * paired. A pair scores its sampled similarity when that is high, and a small score when only
 * the shapes fit: such shape-only pairs sit between confident anchors and are how a divergent
 * layer (whose values no longer match) still gets paired and reported.
 */
export function monotoneAlign(done: Paired, ctx: SegmentContext): void {
  const { refs, cands } = done;
  const refPos = new Map(refs.map((r, i) => [r.name, i]));
  const candPos = new Map(cands.map((c, i) => [c.name, i]));
  // Segments between anchors: anchors sorted by candidate position must also be increasing in reference position.
  const anchors = done.pairs
    .map((p) => ({ r: refPos.get(p.reference), c: candPos.get(p.candidate) }))
    .filter((a): a is { r: number; c: number } => a.r !== undefined && a.c !== undefined)
    .sort((a, b) => a.c - b.c);
  const mono: { r: number; c: number }[] = [];
  for (const a of anchors) if (!mono.length || a.r > mono[mono.length - 1]!.r) mono.push(a);
  const bounds = [{ r: -1, c: -1 }, ...mono, { r: refs.length, c: cands.length }];
  for (let s = 0; s + 1 < bounds.length; s++) {
    const from = bounds[s]!;
    const to = bounds[s + 1]!;
    alignUnpaired(refs.slice(Math.max(0, from.r + 1), Math.max(0, to.r)), cands.slice(Math.max(0, from.c + 1), Math.max(0, to.c)), done, ctx);
  }
}

/**
 * The monotone dynamic programme over one segment between anchors: reference R, candidate C
 * (both unpaired, in run order). With `valuesOnly`, only pairs whose values match.
 *
 *   facts of each activation -> which cells fit and which match by values -> a match clearly
 *   worse than the best either side has is none -> the best-scoring monotone path -> its pairs
 */
export function alignSegment(R: ActInfo[], C: ActInfo[], ctx: SegmentContext): void {
  const f = segmentFacts(R, C, ctx);
  const cells = valueMatches(R, C, f);
  dropWeakerMatches(cells, C.length, R.length);
  const choice = bestPath(R, C, f, cells, ctx.valuesOnly);
  addPathPairs(R, C, f, cells, choice, ctx);
}

/**
 * Per activation, once: element counts, data-movement ops, wiring, roles, layer ends, op names,
 * shape classes, sampled values (the cells look these up n·m times: no strings built, no maps
 * of objects), and the similarity of a cell under a transform.
 */
function segmentFacts(R: ActInfo[], C: ActInfo[], { samples, refWiring, candWiring }: SegmentContext) {
  const numelC = C.map((c) => numElements(c.shape));
  const numelR = R.map((r) => numElements(r.shape));
  // Roles, where both runners say; an unknown one (-1 here, -2 there) equals nothing.
  // A layer end without a role of its own has its layer's (a decomposed PReLU's last Add).
  const roleCode = { affine: 1, activation: 2, pool: 3 } as const;
  const roleOf = (a: ActInfo, w: Wiring | undefined) => a.role ?? w?.layerRole.get(a.name);
  const opName = (t: string) => (t === 'AddV2' ? 'Add' : t);
  const classes = new Map<string, number>();
  const classOf = (a: ActInfo) => {
    const k = `${a.shape.join(',')}|${a.layout ?? ''}`;
    let id = classes.get(k);
    if (id === undefined) classes.set(k, (id = classes.size));
    return id;
  };
  const clsC = Int32Array.from(C, classOf);
  const clsR = Int32Array.from(R, classOf);
  const refS = R.map((r, j) => samples.refSamples(r, numelR[j]!));
  const candS = C.map(() => new Map<number, Float32Array | undefined>());
  const facts = {
    numelC,
    numelR,
    movC: C.map((c) => isMovement(c.type)),
    movR: R.map((r) => isMovement(r.type)),
    inC: C.map((c) => candWiring?.fanIn.get(c.name) ?? -1),
    inR: R.map((r) => refWiring?.fanIn.get(r.name) ?? -2),
    outC: C.map((c) => candWiring?.fanOut.get(c.name) ?? -1),
    outR: R.map((r) => refWiring?.fanOut.get(r.name) ?? -2),
    roleC: C.map((c) => { const q = roleOf(c, candWiring); return q ? roleCode[q] : -1; }),
    roleR: R.map((r) => { const q = roleOf(r, refWiring); return q ? roleCode[q] : -2; }),
    // Whether each is interior to its layer (conv2d_1/Conv2D before conv2d_1/BiasAdd): a layer end pairs with a layer end.
    endC: C.map((c) => !candWiring?.interior.has(normaliseName(c.name))),
    endR: R.map((r) => !refWiring?.interior.has(normaliseName(r.name))),
    opC: C.map((c) => opName(c.type)),
    opR: R.map((r) => opName(r.type)),
    clsC,
    clsR,
    nCls: classes.size,
    /** Transforms per (reference class, candidate class). */
    transformsFor: new Array<Transform[] | undefined>(classes.size * classes.size),
    /**
     * Sampled similarity of C[i] and R[j] under t: SampleCache.similarity, from the arrays
     * above; -1 when the bound of SampleCache.mayMatch rules a strong match out (`bounded`).
     */
    sim: (i: number, j: number, t: Transform, bounded: boolean): number => {
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
    },
    /** The transform a pair cell was scored under. */
    transformAt(cells: Cells, i: number, j: number, m: number): Transform {
      return facts.transformsFor[clsR[j - 1]! * facts.nCls + clsC[i - 1]!]![cells.cellT[i * (m + 1) + j]!]!;
    },
  };
  return facts;
}

type Facts = ReturnType<typeof segmentFacts>;

/** Per cell (i, j) of the programme (C[i-1] with R[j-1], at i·(m+1)+j): whether it can pair, under which transform, its similarity. */
interface Cells {
  /** Shapes fit. */
  fits: Uint8Array;
  /** Index of its transform in transformsFor[...]. */
  cellT: Uint8Array;
  /** Similarity of a value match (NaN until needed; -1: no match). */
  cellSim: Float64Array;
  /** Whether each candidate / reference has a value match in the segment, and its best one. */
  strongC: Uint8Array;
  strongR: Uint8Array;
  bestC: Float64Array;
  bestR: Float64Array;
}

/**
 * Which cells can pair at all (shapes fit), and which match by values, before the programme:
 * an activation whose values match one of the other side's is that one's counterpart, never
 * another's partner by shape alone (a port's /cls_8/Conv, equal to cls_8/BiasAdd, is not
 * paired by shape with cls_8/Conv2D before the bias, the head's Transpose taking the BiasAdd).
 */
function valueMatches(R: ActInfo[], C: ActInfo[], f: Facts): Cells {
  const n = C.length;
  const m = R.length;
  const size = (n + 1) * (m + 1);
  const cells: Cells = {
    fits: new Uint8Array(size),
    cellT: new Uint8Array(size),
    cellSim: new Float64Array(size).fill(NaN),
    strongC: new Uint8Array(n),
    strongR: new Uint8Array(m),
    bestC: new Float64Array(n),
    bestR: new Float64Array(m),
  };
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      if (f.numelC[i - 1] !== f.numelR[j - 1]) continue;
      const combo = f.clsR[j - 1]! * f.nCls + f.clsC[i - 1]!;
      let ts = f.transformsFor[combo];
      if (!ts) f.transformsFor[combo] = ts = candidateTransforms(R[j - 1]!, C[i - 1]!);
      if (!ts.length) continue;
      const at = i * (m + 1) + j;
      cells.fits[at] = 1;
      // chooseTransform: the first transform whose values match, else the most plausible.
      // Only whether a pair matches changes its score here: the similarity of one that
      // does not is needed only for the pairs the path below takes (NaN until then).
      for (let q = 0; q < ts.length; q++) {
        const sq = f.sim(i - 1, j - 1, ts[q]!, true);
        if (sq >= STRONG_SIMILARITY) {
          cells.cellT[at] = q;
          cells.cellSim[at] = sq;
          cells.strongC[i - 1] = 1;
          cells.strongR[j - 1] = 1;
          cells.bestC[i - 1] = Math.max(cells.bestC[i - 1]!, sq);
          cells.bestR[j - 1] = Math.max(cells.bestR[j - 1]!, sq);
          break;
        }
      }
    }
  }
  return cells;
}

/**
 * A value match clearly worse than the best either side has is no match: a port's Conv (bias
 * included) equals cls/BiasAdd and, with a small bias, cls/Conv2D before it to 0.994; it is the
 * BiasAdd's counterpart, and the Conv2D pairing with it would push the BiasAdd onto the head's
 * Transpose after the Conv.
 */
function dropWeakerMatches(cells: Cells, n: number, m: number): void {
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const at = i * (m + 1) + j;
      const s0 = cells.cellSim[at]!;
      if (s0 >= STRONG_SIMILARITY && (s0 < cells.bestC[i - 1]! - SCORE.matchMargin || s0 < cells.bestR[j - 1]! - SCORE.matchMargin)) cells.cellSim[at] = -1;
    }
  }
}

/** The score of pairing C[i-1] with R[j-1] (a cell that may pair), by the weights of SCORE. */
function pairScore(R: ActInfo[], C: ActInfo[], f: Facts, cells: Cells, i: number, j: number): number {
  const m = R.length;
  const s0 = cells.cellSim[i * (m + 1) + j]!;
  const r = j - 1;
  const c = i - 1;
  const t = f.transformAt(cells, i, j, m);
  const sameRank = R[r]!.shape.length === C[c]!.shape.length;
  const strong = s0 >= STRONG_SIMILARITY;
  // By shape alone, data movement (a port's layout Transpose) is no match for a computing
  // layer: such a pair only fills a gap.
  if (!strong && f.movR[r] !== f.movC[c]) return SCORE.movementWithComputation;
  // Small preferences break ties between equal-valued chains (Relu6 -> Transpose -> Reshape):
  // like pairs with like (data movement with data movement), exact shapes win.
  const affinity = f.movR[r] === f.movC[c] ? SCORE.likeKind : 0;
  const exact = sameShape(R[r]!.shape, C[c]!.shape) && !t.perm ? SCORE.exactShape : 0;
  // Past a divergence values match nothing, and a chain of same-shaped layers (a depthwise
  // conv, a conv, an add, a relu) pairs one layer off throughout unless the wiring says which
  // is which: an add reads two activations, a relu that feeds a residual branch has two readers.
  // Nor does wiring tell a conv with a fused activation from the conv of an unfused one (both
  // read one value, are read once): their roles do, a conv's PReLU pairing with the PRelu after the Conv.
  const wired = strong ? 0 : (f.inR[r] === f.inC[c] ? SCORE.sameFanIn : 0) + (f.outR[r] === f.outC[c] ? SCORE.sameFanOut : 0) + (f.roleR[r] === f.roleC[c] ? SCORE.sameRole : 0);
  const base = strong ? SCORE.valuesMatch + s0 : sameRank && !t.reshape ? SCORE.shapeSameRank : SCORE.shapeReshaped;
  return base + affinity + exact + wired;
}

/**
 * The programme: score[i][j] is the best total aligning C[0..i) with R[0..j); returns each
 * cell's choice (0 skip the reference, 1 skip the candidate, 2 pair them).
 */
function bestPath(R: ActInfo[], C: ActInfo[], f: Facts, cells: Cells, valuesOnly: boolean): Uint8Array[] {
  const n = C.length;
  const m = R.length;
  const score = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
  const choice = Array.from({ length: n + 1 }, () => new Uint8Array(m + 1));
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
      const s0 = cells.cellSim[at]!;
      // By shape alone, a node interior to its layer (a conv's Conv2D before its BiasAdd, a batch
      // norm's Mul) pairs only with an interior node: with a layer's end it is not the same
      // computation (TF's fused conv+Relu pairs with the port's Relu, the BN's Add with its
      // BatchNormalization; not the conv with the Conv, the Mul with the Relu and the Add with the
      // BatchNormalization, one off).
      // Unless both are the same op: a port that splits a frozen batch norm into Mul and Add too.
      const byShape = !valuesOnly && !cells.strongC[i - 1] && !cells.strongR[j - 1] && (f.endR[j - 1] === f.endC[i - 1] || f.opR[j - 1] === f.opC[i - 1]);
      if (cells.fits[at] && s0 !== -1 && (s0 >= STRONG_SIMILARITY || byShape)) {
        // Later reference nodes win ties: a layer pairs with the last node of an identity chain.
        const total = prev[j - 1]! + pairScore(R, C, f, cells, i, j) + SCORE.laterReference * (j / m);
        if (total > best) {
          best = total;
          ch = 2;
        }
      }
      row[j] = best;
      chRow[j] = ch;
    }
  }
  return choice;
}

/** Follows the best path back from its end and adds the pairs it takes. */
function addPathPairs(R: ActInfo[], C: ActInfo[], f: Facts, cells: Cells, choice: Uint8Array[], ctx: SegmentContext): void {
  const m = R.length;
  let i = C.length;
  let j = m;
  while (i > 0 && j > 0) {
    const ch = choice[i]![j]!;
    if (ch === 2) {
      const t = f.transformAt(cells, i, j, m);
      let s = cells.cellSim[i * (m + 1) + j]!;
      if (Number.isNaN(s)) s = f.sim(i - 1, j - 1, t, false);
      const strong = s >= STRONG_SIMILARITY;
      ctx.add(R[j - 1]!, C[i - 1]!, strong ? 'numeric' : 'shape', strong ? s : Math.min(SCORE.shapeConfidence, s), t);
      i--;
      j--;
    } else if (ch === 1) i--;
    else j--;
  }
}
