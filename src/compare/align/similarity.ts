import { numElements } from '../../core/tensor.js';
import { PERMS, candidateTransforms, mapIndex, transposeShape } from './transforms.js';
import type { ActInfo, Transform } from './types.js';

/**
 * The similarity of two activations, in one place: `similarity(sr, sc)` over values sampled at
 * fixed positions (256 of them), 1 - sum|a-b| / sum(|a|+|b|). Every other score (sampledSimilarity,
 * SampleCache.similarity, chooseTransform, the monotone alignment's cells) gathers the samples
 * and calls it. Plus the bound that rules a strong match out without scoring (mayBeStrong), and
 * the samples kept of activations whose values are not held (sampleActivation).
 */

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

export function permCode(p: readonly number[] | undefined): number {
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
  return similarity(gather(r, ri), gather(c, ci));
}

/** 1 - sum|a-b| / sum(|a|+|b|) over sampled values (a non-finite mismatch counts 1 of 1). */
export function similarity(sr: Float32Array, sc: Float32Array): number {
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
    return sr && sc && sr.length === sc.length ? similarity(sr, sc) : 0;
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
export function comparableCount(ref: ActInfo, cand: ActInfo): number {
  const r = ref.data;
  const c = cand.data;
  if ((!r && !ref.samples) || (!c && !cand.samples)) return -1;
  const n = r ? r.length : numElements(ref.shape);
  return (c ? c.length : numElements(cand.shape)) === n ? n : -1;
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

/** False when similarity(sr, sc) is certainly below STRONG_SIMILARITY (see SampleCache.mayMatch). */
export function mayBeStrong(sr: Float32Array, sc: Float32Array, sums: Map<Float32Array, Float64Array>): boolean {
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

/**
 * The most plausible transform (layout first) unless another one makes the values match: a
 * divergent layer must not be "explained" by a transposition that happens to score higher.
 * With `strongOnly`, only a transform under which the values match strongly (else undefined),
 * scoring none that the bound rules out.
 */
export function chooseTransform(r: ActInfo, c: ActInfo, transforms?: Transform[], samples?: SampleCache, strongOnly = false): { t: Transform; sim: number } | undefined {
  const scorable = !!(r.data || r.samples) && !!(c.data || c.samples);
  if (strongOnly && !scorable) return undefined;
  const ts = transforms ?? candidateTransforms(r, c);
  if (!ts.length) return undefined;
  // Activations held as samples only are read through a SampleCache.
  const cache = samples ?? (r.samples || c.samples ? new SampleCache() : undefined);
  // The first that matches strongly, else the first: later ones are scored only when needed.
  let first: { t: Transform; sim: number } | undefined;
  for (const t of ts) {
    // Past the first (whose similarity is returned when none matches), a transform the
    // bound rules out is not scored.
    if ((first || strongOnly) && cache && !cache.mayMatch(r, c, t)) continue;
    const x = { t, sim: scorable ? (cache ? cache.similarity(r, c, t) : sampledSimilarity(r, c, t)) : 0 };
    if (x.sim >= STRONG_SIMILARITY) return x;
    if (!strongOnly) first ??= x;
  }
  return first;
}
