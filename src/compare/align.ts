import { readFileSync } from 'node:fs';
import { FormatError, InputError, errorMessage } from '../core/errors.js';
import type { Layout, OpRole } from '../core/runner.js';

/**
 * Pairs reference nodes with candidate layers. Strategies, applied in this order:
 *  1. a user map file (`map`), 2. names (exact, then Keras layer = last node of its TF scope),
 *  3. numeric: a monotone (topology-consistent) alignment of the remaining activations by
 *     shape and values on the seeded feeds, layout-aware (NCHW vs NHWC, flattened vs not),
 *  4. final outputs paired by position when nothing else paired them.
 */

/** How a candidate tensor is brought into the reference's layout before comparing. */
export interface Transform {
  /** ref = transpose(cand, perm). */
  perm?: number[];
  /** Element counts match but shapes differ (e.g. a Flatten the other side does not have); compared flat. */
  reshape?: boolean;
}

export type Strategy = 'map' | 'name' | 'numeric' | 'shape' | 'output';

export interface AlignedPair {
  reference: string;
  candidate: string;
  strategy: Strategy;
  /** 0..1: 1 for map/exact names, the sampled similarity for numeric matches. */
  confidence: number;
  transform?: Transform;
}

export interface Alignment {
  version: 1;
  reference?: string;
  candidate?: string;
  pairs: AlignedPair[];
  unmatched: { reference: string[]; candidate: string[] };
}

/** What alignment needs to know of one activation. */
export interface ActInfo {
  name: string;
  type: string;
  shape: number[];
  dtype: string;
  index: number;
  layout?: Layout;
  producedFrom: string[];
  /** Host copy of the values (float), used for numeric alignment and metrics. */
  data?: Float32Array;
  /** Which output of its node this is (indexes runSingle's result). */
  outputIndex?: number;
  /** Host copy of int32/bool values (shape tensors, indices), used to re-run single layers. */
  intData?: Int32Array | Uint8Array;
  /**
   * Instead of the values, when there were too many to hold: the sampled values alignment reads
   * (see sampleActivation), by permutation ('' for none).
   */
  samples?: Map<string, Float32Array>;
  /** What kind of layer computed it, when its runner says (Activation.role). */
  role?: OpRole;
}

/** Ops whose outputs are never layer outputs worth pairing. */
const SKIP_REF_OPS = new Set(['Const', 'Constant', 'Shape', 'ShapeN', 'Size', 'Rank', 'NoOp', 'VarHandleOp', 'ReadVariableOp', 'VariableV2', 'Placeholder', 'Range', 'Fill', 'Pack']);

export function isPairable(a: Pick<ActInfo, 'name' | 'type' | 'dtype'>, side: 'reference' | 'candidate'): boolean {
  if (a.dtype !== 'float32') return false;
  // Constants and plumbing are not layer outputs, on either side (graph candidates have them too).
  if (SKIP_REF_OPS.has(a.type)) return false;
  // FusedBatchNorm's extra outputs pass the statistics through; only y is the layer's output.
  if (/^FusedBatchNorm/.test(a.type) && /:\d+$/.test(a.name)) return false;
  if (side === 'candidate' && /InputLayer/.test(a.type)) return false;
  return true;
}

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function transposeShape(s: readonly number[], perm: readonly number[]): number[] {
  return perm.map((p) => s[p]!);
}

/** Layout-to-layout permutations to try, candidate -> reference. */
const PERMS: Record<number, number[][]> = {
  3: [[0, 2, 1]],
  4: [[0, 2, 3, 1], [0, 3, 1, 2]],
  5: [[0, 2, 3, 4, 1], [0, 4, 1, 2, 3]],
};

/** Transforms under which cand's shape becomes ref's shape, most plausible first. */
export function candidateTransforms(ref: ActInfo, cand: ActInfo): Transform[] {
  if (numel(ref.shape) !== numel(cand.shape)) return [];
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

const SAMPLE = 256;

/** Numeric similarity at or above this counts as a confident value match. */
export const STRONG_SIMILARITY = 0.99;

/**
 * The sampled positions for one (reference shape, candidate shape, transform): reference flat
 * indices and the candidate indices holding the same elements. Numeric alignment scores
 * every shape-compatible pair of activations, mostly with the same few shapes, so the index
 * arithmetic is done once per shape combination (bounded: cleared past a few thousand).
 */
const positionCache = new Map<string, { ri: Int32Array; ci: Int32Array }>();

/** The same, by canonical shape arrays (looked up n·m times): no key to build. */
const positionsByShapes = new Map<readonly number[], Map<readonly number[], Map<number, { ri: Int32Array; ci: Int32Array }>>>();

/** A candidate's sampled positions under each permutation, by its canonical shape (the reference shape follows from the permutation). */
const candidatePositions = new Map<readonly number[], Map<number, Int32Array>>();

function permCode(p: readonly number[] | undefined): number {
  let k = 0;
  for (const d of p ?? []) k = k * 8 + d + 1;
  return k;
}

/**
 * One array per distinct shape (each activation has a shape array of its own): positionsByShapes
 * is keyed by these, so a shape seen before finds its positions without a string key. Plain
 * Maps, bounded and cleared together, rather than WeakMaps: a WeakMap lookup cost about 0.13 us
 * here and a new key 0.8 us (an activation's shape is looked up a few times as it arrives).
 */
const shapeByKey = new Map<string, readonly number[]>();
const canonicalShapes = new Map<readonly number[], readonly number[]>();

function canonicalShape(shape: readonly number[]): readonly number[] {
  let c = canonicalShapes.get(shape);
  if (!c) {
    const key = shape.join(',');
    c = shapeByKey.get(key);
    if (!c) {
      if (shapeByKey.size >= 4096) {
        shapeByKey.clear();
        positionsByShapes.clear();
        candidatePositions.clear();
      }
      shapeByKey.set(key, (c = Object.freeze(shape.slice())));
    }
    if (canonicalShapes.size >= 4096) canonicalShapes.clear();
    canonicalShapes.set(shape, c);
  }
  return c;
}

function samplePositions(refShape: readonly number[], candShape: readonly number[], t: Transform, n: number): { ri: Int32Array; ci: Int32Array } {
  const rs = canonicalShape(refShape);
  const cs = canonicalShape(candShape);
  let byCand = positionsByShapes.get(rs);
  if (!byCand) positionsByShapes.set(rs, (byCand = new Map()));
  let byPerm = byCand.get(cs);
  if (!byPerm) byCand.set(cs, (byPerm = new Map()));
  const code = permCode(t.perm);
  let pos = byPerm.get(code);
  // n is the shapes' element count (callers check that both have it).
  if (pos) return pos;
  pos = samplePositionsByKey(refShape, candShape, t, n);
  byPerm.set(code, pos);
  return pos;
}

function samplePositionsByKey(refShape: readonly number[], candShape: readonly number[], t: Transform, n: number): { ri: Int32Array; ci: Int32Array } {
  const key = `${n}|${refShape.join(',')}|${candShape.join(',')}|${t.perm?.join(',') ?? ''}`;
  let pos = positionCache.get(key);
  if (!pos) {
    const step = Math.max(1, Math.floor(n / SAMPLE));
    const count = Math.min(SAMPLE, Math.ceil(n / step));
    pos = { ri: new Int32Array(count), ci: new Int32Array(count) };
    for (let k = 0; k < count; k++) {
      // The k-th of `count` windows of `step` elements, at offset k mod step within it: with
      // k * step alone, a step that is a multiple of the channel count (16 x 16 x 96 has step
      // 96) read channel 0 of every pixel sampled and none of the others.
      const at = k * step + (k % step);
      pos.ri[k] = at;
      pos.ci[k] = mapIndex(at, refShape, candShape, t);
    }
    if (positionCache.size >= 4096) positionCache.clear();
    positionCache.set(key, pos);
  }
  return pos;
}

/** Similarity in [0,1] of ref and transformed cand on a fixed sample of positions. */
export function sampledSimilarity(ref: ActInfo, cand: ActInfo, t: Transform): number {
  const r = ref.data;
  const c = cand.data;
  if (!r || !c || r.length !== c.length) return 0;
  const n = r.length;
  if (n === 0) return 1;
  const { ri, ci } = samplePositions(ref.shape, cand.shape, t, n);
  return scoreSamples(gather(r, ri), gather(c, ci));
}

/** 1 - sum|a-b| / sum(|a|+|b|) over sampled values (a non-finite mismatch counts 1 of 1). */
function scoreSamples(sr: Float32Array, sc: Float32Array): number {
  // Finite values (the usual case) in a loop without the checks: the same sums in the same
  // order. A NaN or infinity anywhere makes them non-finite (finite float32 sums cannot
  // overflow a double), and then the loop below scores them.
  let num = 0;
  let den = 0;
  const len = sr.length;
  for (let k = 0; k < len; k++) {
    const a = sr[k]!;
    const b = sc[k]!;
    num += Math.abs(a - b);
    den += Math.abs(a) + Math.abs(b);
  }
  if (num - num === 0 && den - den === 0) return den === 0 ? 1 : Math.max(0, 1 - num / den);
  return scoreNonFinite(sr, sc);
}

function scoreNonFinite(sr: Float32Array, sc: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let k = 0; k < sr.length; k++) {
    const a = sr[k]!;
    const b = sc[k]!;
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      if (a === b || (a !== a && b !== b)) continue;
      num += 1;
      den += 1;
      continue;
    }
    num += Math.abs(a - b);
    den += Math.abs(a) + Math.abs(b);
  }
  if (den === 0) return 1;
  return Math.max(0, 1 - num / den);
}

/**
 * sampledSimilarity with each activation's sampled values gathered once: numeric alignment
 * scores every shape-compatible pair, so it reads the same 256 values of an activation many
 * times over. The same positions and the same arithmetic in the same order, so the same
 * numbers as sampledSimilarity.
 */
export class SampleCache {
  private readonly refs = new Map<ActInfo, Float32Array>();
  private readonly cands = new Map<ActInfo, Map<number, Float32Array>>();
  /** Sums of the sampled arrays (mayBeStrong), kept as long as the arrays are: a plain Map, as WeakMap keys are slow to add. */
  readonly sums = new Map<Float32Array, Float64Array>();

  /**
   * Whether similarity(ref, cand, t) can reach STRONG_SIMILARITY. False only when a bound
   * rules it out, never as a guess: the similarity is 1 - sum|a-b| / sum(|a|+|b|), and
   * sum|a-b| is at least |sum|a| - sum|b|| and |sum a - sum b| (the triangle inequality), so
   * when either of those exceeds (1 - STRONG_SIMILARITY) sum(|a|+|b|) (here with a tenth to
   * spare, far beyond the sums' rounding) the similarity is below it. Both sums are kept per
   * sampled array, so ruling a pair out costs a few comparisons instead of reading 2 x 256
   * values; most same-sized activations of a model are ruled out this way. NaN or infinite
   * sums rule nothing out.
   */
  mayMatch(ref: ActInfo, cand: ActInfo, t: Transform): boolean {
    const n = comparableCount(ref, cand);
    if (n <= 0) return n === 0;
    const sr = this.refSamples(ref, n);
    const sc = this.candSamples(cand, ref.shape, t, n);
    return !!sr && !!sc && sr.length === sc.length && mayBeStrong(sr, sc, this.sums);
  }

  similarity(ref: ActInfo, cand: ActInfo, t: Transform): number {
    const n = comparableCount(ref, cand);
    if (n <= 0) return n === 0 ? 1 : 0;
    const sr = this.refSamples(ref, n);
    const sc = this.candSamples(cand, ref.shape, t, n);
    return sr && sc && sr.length === sc.length ? scoreSamples(sr, sc) : 0;
  }

  /** The reference's sampled values at the positions similarity() reads (they depend on its element count `n` only). */
  refSamples(ref: ActInfo, n: number): Float32Array | undefined {
    const r = ref.data;
    if (!r) return ref.samples?.get('');
    let sr = this.refs.get(ref);
    if (!sr) this.refs.set(ref, (sr = gather(r, samplePositions(ref.shape, ref.shape, {}, n).ri)));
    return sr;
  }

  /**
   * Gathers what scoring and sampleActivation() read of `h` (which holds its values), while
   * they are in cache: an activation just produced. Gathered later, each sampled value is a
   * cache miss of its own.
   */
  prime(h: ActInfo, side: 'reference' | 'candidate'): void {
    const d = h.data;
    if (!d) return;
    if (side === 'reference') {
      this.refSamples(h, d.length);
      return;
    }
    this.candSamples(h, h.shape, {}, d.length);
    for (const p of PERMS[h.shape.length] ?? []) this.candSamples(h, transposeShape(h.shape, p), { perm: p }, d.length);
  }

  /** The values refSamples() (reference) or candSamples() (candidate, through `perm`) gathered of `h`, if they have. */
  gathered(h: ActInfo, side: 'reference' | 'candidate', perm?: number[]): Float32Array | undefined {
    return side === 'reference' ? (perm ? undefined : this.refs.get(h)) : this.cands.get(h)?.get(permCode(perm));
  }

  /** The candidate's sampled values, read through `t`, at the positions matching refSamples(). */
  candSamples(cand: ActInfo, refShape: readonly number[], t: Transform, n: number): Float32Array | undefined {
    const c = cand.data;
    if (!c) return cand.samples?.get(t.perm ? t.perm.join(',') : '');
    // Candidate positions depend on the permutation only (it fixes the reference's shape).
    const code = permCode(t.perm);
    let byPerm = this.cands.get(cand);
    if (!byPerm) this.cands.set(cand, (byPerm = new Map()));
    let sc = byPerm.get(code);
    if (!sc) byPerm.set(code, (sc = gather(c, samplePositions(refShape, cand.shape, t, n).ci)));
    return sc;
  }
}

/**
 * The element count both have when they can be scored at all: -1 when either has neither
 * values nor samples, or the counts differ (similarity 0); 0 for empty tensors (similarity 1).
 */
function comparableCount(ref: ActInfo, cand: ActInfo): number {
  const r = ref.data;
  const c = cand.data;
  if ((!r && !ref.samples) || (!c && !cand.samples)) return -1;
  const n = r ? r.length : numel(ref.shape);
  return (c ? c.length : numel(cand.shape)) === n ? n : -1;
}

/**
 * The sampled values of an activation, for alignment without its values: the reference's at the
 * sampled positions; the candidate's also read through each permutation a reference of its
 * rank could need (the permutation fixes the reference's shape, so the positions are known).
 * `known` gives what was gathered at those positions already (SampleCache.gathered).
 */
export function sampleActivation(data: Float32Array, shape: readonly number[], side: 'reference' | 'candidate', known?: (perm?: number[]) => Float32Array | undefined): Map<string, Float32Array> {
  const n = data.length;
  const out = new Map<string, Float32Array>();
  out.set('', known?.() ?? gather(data, samplePositions(shape, shape, {}, n).ri));
  if (side === 'candidate') {
    const cs = canonicalShape(shape);
    let byPerm = candidatePositions.get(cs);
    if (!byPerm) candidatePositions.set(cs, (byPerm = new Map()));
    for (const p of PERMS[shape.length] ?? []) {
      const code = permCode(p);
      let ci = byPerm.get(code);
      const had = known?.(p);
      if (had) {
        out.set(p.join(','), had);
        continue;
      }
      if (!ci) byPerm.set(code, (ci = samplePositionsByKey(transposeShape(shape, p), shape, { perm: p }, n).ci));
      out.set(p.join(','), gather(data, ci));
    }
  }
  return out;
}

/** A sampled array's sum of absolute values and its sum (in double, in order), kept in `sums`. */
function sumsOf(a: Float32Array, sums: Map<Float32Array, Float64Array>): Float64Array {
  let s = sums.get(a);
  if (!s) {
    let l1 = 0;
    let sum = 0;
    for (let k = 0; k < a.length; k++) {
      const v = a[k]!;
      l1 += Math.abs(v);
      sum += v;
    }
    sums.set(a, (s = Float64Array.of(l1, sum)));
  }
  return s;
}

/** What the similarity must leave room for: 1 - STRONG_SIMILARITY and a tenth more. */
const MATCH_SLACK = (1 - STRONG_SIMILARITY) * 1.1;

/** False when scoreSamples(sr, sc) is certainly below STRONG_SIMILARITY (see SampleCache.mayMatch). */
function mayBeStrong(sr: Float32Array, sc: Float32Array, sums: Map<Float32Array, Float64Array>): boolean {
  const a = sumsOf(sr, sums);
  const b = sumsOf(sc, sums);
  const room = MATCH_SLACK * (a[0]! + b[0]!);
  // Written so that NaN (a non-finite sum) rules nothing out.
  return !(Math.abs(a[0]! - b[0]!) > room || Math.abs(a[1]! - b[1]!) > room);
}

function gather(data: Float32Array, at: Int32Array): Float32Array {
  const out = new Float32Array(at.length);
  for (let k = 0; k < at.length; k++) out[k] = data[at[k]!]!;
  return out;
}

export function normaliseName(n: string): string {
  return n.endsWith(':0') ? n.slice(0, -2) : n;
}

export interface AlignOptions {
  map?: Alignment;
  /** Pairs decided while the candidate ran (see EarlyPairs), kept as they are. */
  decided?: AlignedPair[];
  /** Disable numeric alignment (names and map only). */
  namesOnly?: boolean;
  /** Final outputs of each side, in order (paired positionally as a last resort). */
  referenceOutputs?: string[];
  candidateOutputs?: string[];
  /** Samples already gathered (while the models ran: see speculate.ts). */
  samples?: SampleCache;
}

/** Ops that only move data around (TF and ONNX/Keras names). */
const MOVEMENT = /^(Reshape|Transpose|Flatten|Identity|Squeeze|Unsqueeze|ExpandDims|Permute|Cast|Snapshot|StopGradient|Dropout|InputLayer)$/;
export function isMovement(type: string): boolean {
  return MOVEMENT.test(type);
}


/** Whether candidate values of `c`'s shape become `r`'s under `t` (same element count; a permutation that maps the shapes). */
export function transformFits(r: { shape: readonly number[] }, c: { shape: readonly number[] }, t: Transform | undefined): boolean {
  if (numel(r.shape) !== numel(c.shape)) return false;
  if (!t?.perm) return true;
  return t.perm.length === c.shape.length && sameShape(transposeShape(c.shape, t.perm), r.shape);
}

export function pairKey(reference: string, candidate: string): string {
  return normaliseName(reference) + '\u0000' + normaliseName(candidate);
}

/**
 * The most plausible transform (layout first) unless another one makes the values match: a
 * divergent layer must not be "explained" by a transposition that happens to score higher.
 */
export function chooseTransform(r: ActInfo, c: ActInfo, transforms?: Transform[], samples?: SampleCache): { t: Transform; sim: number } | undefined {
  const ts = transforms ?? candidateTransforms(r, c);
  if (!ts.length) return undefined;
  // Activations held as samples only are read through a SampleCache.
  const cache = samples ?? (r.samples || c.samples ? new SampleCache() : undefined);
  // The first that matches strongly, else the first: later ones are scored only when needed.
  let first: { t: Transform; sim: number } | undefined;
  for (const t of ts) {
    // Past the first (whose similarity is returned when none matches), a transform the
    // bound rules out is not scored.
    if (first && cache && !cache.mayMatch(r, c, t)) continue;
    const x = { t, sim: (r.data || r.samples) && (c.data || c.samples) ? (cache ? cache.similarity(r, c, t) : sampledSimilarity(r, c, t)) : 0 };
    if (x.sim >= STRONG_SIMILARITY) return x;
    first ??= x;
  }
  return first;
}

/**
 * The first transform under which the values match strongly, and its similarity: what
 * chooseTransform returns when it is strong, without scoring what the bound rules out.
 */
export function strongTransform(r: ActInfo, c: ActInfo, samples: SampleCache): { t: Transform; sim: number } | undefined {
  if (!(r.data || r.samples) || !(c.data || c.samples)) return undefined;
  for (const t of candidateTransforms(r, c)) {
    if (!samples.mayMatch(r, c, t)) continue;
    const sim = samples.similarity(r, c, t);
    if (sim >= STRONG_SIMILARITY) return { t, sim };
  }
  return undefined;
}

function exactNameMatch(refByName: Map<string, ActInfo>, c: ActInfo): ActInfo | undefined {
  const exact = refByName.get(normaliseName(c.name));
  return exact && isPairable(exact, 'reference') && numel(exact.shape) === numel(c.shape) ? exact : undefined;
}

/**
 * The pairs alignment makes whatever else the candidate yields: map entries and exact names
 * (they come first and depend on nothing but the two activations). Knowing them as each
 * candidate activation arrives lets the comparison compute that pair at once and let the
 * candidate's tensor go, instead of holding every activation until the run ends.
 */
export class EarlyPairs {
  private readonly mapByCand = new Map<string, AlignedPair[]>();
  private readonly mapRefs = new Map<string, number>();
  private readonly taken = new Set<string>();

  /** `refByName`: the reference activations so far, by name without ':0' (it may grow while pairs are decided). */
  constructor(
    private readonly refByName: Map<string, ActInfo>,
    map?: Alignment,
  ) {
    for (const p of map?.pairs ?? []) {
      const k = normaliseName(p.candidate);
      this.mapByCand.set(k, [...(this.mapByCand.get(k) ?? []), p]);
      const r = normaliseName(p.reference);
      this.mapRefs.set(r, (this.mapRefs.get(r) ?? 0) + 1);
    }
  }

  /** The reference names `c` may pair with early: wait for these before calling decide(). */
  wanted(c: ActInfo): string[] {
    const mapped = this.mapByCand.get(normaliseName(c.name));
    if (mapped) return mapped.map((p) => normaliseName(p.reference));
    return isPairable(c, 'candidate') ? [normaliseName(c.name)] : [];
  }

  /** How many early pairs may read reference `name` (map entries can pair one reference with several layers). */
  partners(name: string): number {
    return this.mapRefs.get(normaliseName(name)) ?? 1;
  }

  /** The reference activations candidate `c` pairs with, and how, or [] when alignment must decide. */
  decide(c: ActInfo): { ref: ActInfo; strategy: 'map' | 'name'; transform?: Transform }[] {
    const mapped = this.mapByCand.get(normaliseName(c.name));
    if (mapped) {
      const out: { ref: ActInfo; strategy: 'map'; transform?: Transform }[] = [];
      for (const p of mapped) {
        const r = this.refByName.get(normaliseName(p.reference));
        // Unknown names and shapes that do not fit are reported by align().
        if (!r || (p.transform ? !transformFits(r, c, p.transform) : !candidateTransforms(r, c).length)) return [];
        out.push({ ref: r, strategy: 'map', ...(p.transform ? { transform: p.transform } : {}) });
      }
      return out;
    }
    if (!isPairable(c, 'candidate')) return [];
    const exact = exactNameMatch(this.refByName, c);
    if (!exact || this.mapRefs.has(normaliseName(exact.name)) || this.taken.has(exact.name)) return [];
    this.taken.add(exact.name);
    return [{ ref: exact, strategy: 'name' }];
  }
}

export function align(refActs: ActInfo[], candActs: ActInfo[], opts: AlignOptions = {}): Alignment {
  const refs = refActs.filter((a) => isPairable(a, 'reference'));
  const cands = candActs.filter((a) => isPairable(a, 'candidate'));
  const refByName = new Map(refActs.map((a) => [normaliseName(a.name), a]));
  const candByName = new Map(candActs.map((a) => [normaliseName(a.name), a]));
  const pairs: AlignedPair[] = [];
  const usedRef = new Set<string>();
  const usedCand = new Set<string>();
  const add = (r: ActInfo, c: ActInfo, strategy: Strategy, confidence: number, transform?: Transform) => {
    pairs.push({ reference: r.name, candidate: c.name, strategy, confidence, ...(transform && (transform.perm || transform.reshape) ? { transform } : {}) });
    usedRef.add(r.name);
    usedCand.add(c.name);
  };
  const samples = opts.samples ?? new SampleCache();
  const bestTransform = (r: ActInfo, c: ActInfo, ts?: Transform[]) => chooseTransform(r, c, ts, samples);

  // 0. pairs decided while the candidate ran
  const decidedKeys = new Set<string>();
  for (const p of opts.decided ?? []) {
    const r = refByName.get(normaliseName(p.reference));
    const c = candByName.get(normaliseName(p.candidate));
    if (!r || !c) continue;
    pairs.push(p);
    usedRef.add(r.name);
    usedCand.add(c.name);
    decidedKeys.add(pairKey(p.reference, p.candidate));
  }

  // 1. map file
  if (opts.map) {
    for (const p of opts.map.pairs) {
      if (decidedKeys.has(pairKey(p.reference, p.candidate))) continue;
      const r = refByName.get(normaliseName(p.reference));
      const c = candByName.get(normaliseName(p.candidate));
      if (!r) throw new InputError(`alignment map: reference '${p.reference}' is not an activation of the reference model`);
      if (!c) throw new InputError(`alignment map: candidate '${p.candidate}' is not an activation of the candidate model`);
      const t = p.transform ?? bestTransform(r, c)?.t;
      if (!transformFits(r, c, t)) {
        const how = p.transform ? ` under the transform ${JSON.stringify(p.transform)}` : '';
        throw new InputError(`alignment map: '${p.reference}' [${r.shape}] and '${p.candidate}' [${c.shape}] cannot be compared${how}: ${numel(r.shape) !== numel(c.shape) ? 'different element counts' : 'the permutation does not turn one shape into the other'}`);
      }
      add(r, c, 'map', 1, t);
    }
  }

  // 2. names: exact names first (whatever the order), then TF scopes
  for (const c of cands) {
    if (usedCand.has(c.name)) continue;
    const exact = exactNameMatch(refByName, c);
    if (exact && !usedRef.has(exact.name)) add(exact, c, 'name', 1, bestTransform(exact, c)?.t);
  }
  // Each reference's scope path and element count, once (every candidate reads them all).
  const refScopes = refs.map((r) => ({ r, path: '/' + normaliseName(r.name) + '/', n: numel(r.shape) }));
  for (const c of cands) {
    if (usedCand.has(c.name)) continue;
    const cn = normaliseName(c.name);
    const inScope = '/' + cn + '/';
    const kernel = '/' + cn + '/kernel/';
    const cnt = numel(c.shape);
    // Keras layer `conv2d_3` ~ TF scope `…/conv2d_3/…`: the last node of that scope in execution order.
    const scoped = refScopes
      .filter((x) => x.n === cnt && !usedRef.has(x.r.name) && x.path.includes(inScope) && !x.path.endsWith(kernel))
      .map((x) => x.r);
    if (scoped.length) {
      const r = scoped[scoped.length - 1]!;
      const bt = bestTransform(r, c);
      add(r, c, 'name', 0.9, bt?.t);
    }
  }

  // 3. numeric, monotone between the anchors found so far.
  if (!opts.namesOnly) numericAlign(refs, cands, usedRef, usedCand, pairs, samples, add, wiring(refActs), wiring(candActs));

  // 4. outputs by position
  const ro = opts.referenceOutputs ?? [];
  const co = opts.candidateOutputs ?? [];
  for (let i = 0; i < Math.min(ro.length, co.length); i++) {
    const r = refByName.get(normaliseName(ro[i]!));
    const c = candByName.get(normaliseName(co[i]!));
    if (!r || !c || usedRef.has(r.name) || usedCand.has(c.name)) continue;
    if (numel(r.shape) !== numel(c.shape)) continue;
    const bt = bestTransform(r, c);
    add(r, c, 'output', bt ? bt.sim : 0, bt?.t);
  }

  const order = new Map(refActs.map((a, i) => [a.name, i]));
  pairs.sort((a, b) => order.get(a.reference)! - order.get(b.reference)!);
  return {
    version: 1,
    pairs,
    unmatched: {
      reference: refs.filter((r) => !usedRef.has(r.name)).map((r) => r.name),
      candidate: cands.filter((c) => !usedCand.has(c.name)).map((c) => c.name),
    },
  };
}

/**
 * How many recorded float activations each activation reads (its fan-in: a Conv's weights are
 * not activations, an Add's two operands are) and how many read it (its fan-out), by name. The same
 * layer has the same wiring in any format, fused or not: TF's Conv2D with a fused Relu and
 * ONNX's Conv followed by a Relu both hand one value to every consumer of the Relu.
 */
interface Wiring {
  fanIn: Map<string, number>;
  fanOut: Map<string, number>;
}

function wiring(acts: ActInfo[]): Wiring {
  // Float values only: a shape a graph computes (Shape, Pack) is an initializer in another format.
  const names = new Set(acts.filter((a) => a.dtype === 'float32').map((a) => normaliseName(a.name)));
  const fanIn = new Map<string, number>();
  const fanOut = new Map<string, number>();
  for (const a of acts) {
    const ins = new Set(a.producedFrom.map(normaliseName).filter((n) => names.has(n)));
    fanIn.set(a.name, ins.size);
    for (const n of ins) fanOut.set(n, (fanOut.get(n) ?? 0) + 1);
  }
  for (const a of acts) fanOut.set(a.name, fanOut.get(normaliseName(a.name)) ?? 0);
  return { fanIn, fanOut };
}

/**
 * Dynamic-programming alignment (like sequence alignment) of the unpaired activations,
 * constrained to be monotone in both execution orders and to respect the anchors already
 * paired. A pair scores its sampled similarity when that is high, and a small score when only
 * the shapes fit: such shape-only pairs sit between confident anchors and are how a divergent
 * layer (whose values no longer match) still gets paired and reported.
 */
function numericAlign(
  refs: ActInfo[],
  cands: ActInfo[],
  usedRef: Set<string>,
  usedCand: Set<string>,
  pairs: AlignedPair[],
  samples: SampleCache,
  add: (r: ActInfo, c: ActInfo, s: Strategy, conf: number, t?: Transform) => void,
  refWiring?: Wiring,
  candWiring?: Wiring,
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
    const n = C.length;
    const m = R.length;
    // Per activation, once: element counts, data-movement ops, shape classes, sampled values
    // (the cells below look these up n·m times: no strings built, no maps of objects).
    const numelC = C.map((c) => numel(c.shape));
    const numelR = R.map((r) => numel(r.shape));
    const movC = C.map((c) => isMovement(c.type));
    const movR = R.map((r) => isMovement(r.type));
    const inC = C.map((c) => candWiring?.fanIn.get(c.name) ?? -1);
    const inR = R.map((r) => refWiring?.fanIn.get(r.name) ?? -2);
    const outC = C.map((c) => candWiring?.fanOut.get(c.name) ?? -1);
    const outR = R.map((r) => refWiring?.fanOut.get(r.name) ?? -2);
    // Roles, where both runners say; an unknown one (-1 here, -2 there) equals nothing.
    const roleCode = { affine: 1, activation: 2, pool: 3 } as const;
    const roleC = C.map((c) => (c.role ? roleCode[c.role] : -1));
    const roleR = R.map((r) => (r.role ? roleCode[r.role] : -2));
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
      return bounded && !mayBeStrong(sr, sc, samples.sums) ? -1 : scoreSamples(sr, sc);
    };
    // score[i][j]: best total aligning C[0..i) with R[0..j)
    const score = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
    const choice = Array.from({ length: n + 1 }, () => new Uint8Array(m + 1)); // 0 skip ref, 1 skip cand, 2 pair
    // For pair cells: which transform (its index in transformsFor[...]) and its similarity.
    const cellT = new Uint8Array((n + 1) * (m + 1));
    const cellSim = new Float64Array((n + 1) * (m + 1));
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
        if (numelC[i - 1] === numelR[j - 1]) {
          const combo = clsR[j - 1]! * nCls + clsC[i - 1]!;
          let ts = transformsFor[combo];
          if (!ts) transformsFor[combo] = ts = candidateTransforms(R[j - 1]!, C[i - 1]!);
          if (ts.length) {
            // chooseTransform: the first transform whose values match, else the most plausible.
            // Only whether a pair matches changes its score here: the similarity of one that
            // does not is needed only for the pairs the path below takes (NaN until then).
            let k = 0;
            let s0 = NaN;
            for (let q = 0; q < ts.length; q++) {
              const sq = sim(i - 1, j - 1, ts[q]!, true);
              if (sq >= STRONG_SIMILARITY) {
                k = q;
                s0 = sq;
                break;
              }
            }
            const t = ts[k]!;
            const sameRank = R[j - 1]!.shape.length === C[i - 1]!.shape.length;
            // Small preferences break ties between equal-valued chains (Relu6 -> Transpose ->
            // Reshape): like pairs with like (data movement with data movement), exact shapes win.
            const affinity = movR[j - 1] === movC[i - 1] ? 0.01 : 0;
            const exact = sameShape(R[j - 1]!.shape, C[i - 1]!.shape) && !t.perm ? 0.005 : 0;
            // Past a divergence values match nothing, and a chain of same-shaped layers (a
            // depthwise conv, a conv, an add, a relu) pairs one layer off throughout unless the
            // wiring says which is which: an add reads two activations, a relu that feeds a
            // residual branch has two readers.
            // Nor does wiring tell a conv with a fused activation from the conv of an unfused one
            // (both read one value, are read once): their roles do, a conv's PReLU pairing with
            // the PRelu after the Conv.
            const wired =
              s0 >= STRONG_SIMILARITY ? 0 : (inR[j - 1] === inC[i - 1] ? 0.02 : 0) + (outR[j - 1] === outC[i - 1] ? 0.02 : 0) + (roleR[j - 1] === roleC[i - 1] ? 0.02 : 0);
            // By shape alone, data movement (a port's layout Transpose) is no match for a
            // computing layer: such a pair only fills a gap.
            const mixed = !(s0 >= STRONG_SIMILARITY) && movR[j - 1] !== movC[i - 1];
            const sc = mixed ? 0.005 : (s0 >= STRONG_SIMILARITY ? 1 + s0 : sameRank && !t.reshape ? 0.05 : 0.01) + affinity + exact + wired;
            // Later reference nodes win ties: a layer pairs with the last node of an identity chain.
            const total = prev[j - 1]! + sc + 1e-6 * (j / m);
            if (total > best) {
              best = total;
              ch = 2;
              cellT[i * (m + 1) + j] = k;
              cellSim[i * (m + 1) + j] = s0;
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
        add(R[j - 1]!, C[i - 1]!, strong ? 'numeric' : 'shape', strong ? s : Math.min(0.5, s), t);
        i--;
        j--;
      } else if (ch === 1) i--;
      else j--;
    }
  }
}

/** Reads a (possibly hand-edited) alignment map. */
export function readAlignmentFile(path: string): Alignment {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`alignment map ${path} does not exist`, { file: path });
    throw new FormatError(`${path}: not valid JSON (${errorMessage(e)})`, { file: path });
  }
  return validateAlignment(obj, path);
}

export function validateAlignment(obj: unknown, file: string): Alignment {
  const fail = (msg: string): never => {
    throw new FormatError(`${file}: ${msg}`, { file });
  };
  if (!obj || typeof obj !== 'object') fail('expected an object with "pairs"');
  const o = obj as Record<string, unknown>;
  if (!Array.isArray(o.pairs)) fail('"pairs" must be a list of {reference, candidate}');
  const pairs: AlignedPair[] = (o.pairs as unknown[]).map((p, i) => {
    if (!p || typeof p !== 'object') fail(`pairs[${i}] must be an object`);
    const q = p as Record<string, unknown>;
    if (typeof q.reference !== 'string' || !q.reference) fail(`pairs[${i}].reference must be a non-empty string`);
    if (typeof q.candidate !== 'string' || !q.candidate) fail(`pairs[${i}].candidate must be a non-empty string`);
    let transform: Transform | undefined;
    if (q.transform !== undefined) {
      const t = q.transform as Record<string, unknown>;
      if (!t || typeof t !== 'object') fail(`pairs[${i}].transform must be an object`);
      if (t.perm !== undefined) {
        const perm = t.perm as unknown[];
        if (!Array.isArray(perm) || !perm.every((x) => Number.isInteger(x)) || [...perm].sort().some((x, k) => x !== k)) {
          fail(`pairs[${i}].transform.perm must be a permutation like [0,2,3,1]`);
        }
      }
      transform = { ...(t.perm ? { perm: t.perm as number[] } : {}), ...(t.reshape ? { reshape: true } : {}) };
    }
    return {
      reference: q.reference as string,
      candidate: q.candidate as string,
      strategy: 'map' as Strategy,
      confidence: 1,
      ...(transform ? { transform } : {}),
    };
  });
  const um = (o.unmatched ?? { reference: [], candidate: [] }) as { reference?: unknown; candidate?: unknown };
  return {
    version: 1,
    pairs,
    unmatched: {
      reference: Array.isArray(um.reference) ? (um.reference as string[]) : [],
      candidate: Array.isArray(um.candidate) ? (um.candidate as string[]) : [],
    },
  };
}
