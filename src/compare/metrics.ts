import { InputError } from '../core/errors.js';
import type { PassA, PassB, WasmMemory } from './simd/metric-pass.js';
import { ownMemory, runMetricPass, runMetricPassB } from './simd/metric-pass.js';

/**
 * Error metrics between a reference and a candidate tensor (same element order).
 * All metrics come out of one pass over the data (accumulate), so metrics cost one read of
 * both arrays whatever is asked for.
 */

export type Direction = 'lower' | 'higher';

export interface MetricDef {
  name: string;
  /** Which way is better. */
  direction: Direction;
  description: string;
}

/** The registry: every metric a check or a report can name. */
export const METRICS: Record<string, MetricDef> = {
  max_abs: { name: 'max_abs', direction: 'lower', description: 'largest |cand - ref|' },
  max_rel: { name: 'max_rel', direction: 'lower', description: 'largest |cand - ref| / |ref| over elements with ref != 0' },
  mean_abs: { name: 'mean_abs', direction: 'lower', description: 'mean |cand - ref|' },
  rmse: { name: 'rmse', direction: 'lower', description: 'root mean squared error' },
  cosine: { name: 'cosine', direction: 'higher', description: 'cosine similarity of the flattened tensors (1 = same direction)' },
  sqnr: { name: 'sqnr', direction: 'higher', description: 'signal-to-quantisation-noise ratio in dB: 10 log10(sum ref^2 / sum (cand-ref)^2)' },
  allclose: { name: 'allclose', direction: 'higher', description: 'share of elements with |cand-ref| <= atol + rtol |ref| (1 = all)' },
  nan_mismatch: { name: 'nan_mismatch', direction: 'lower', description: 'elements where exactly one side is NaN (or both, unless NaN==NaN is allowed)' },
  inf_mismatch: { name: 'inf_mismatch', direction: 'lower', description: 'elements where an infinity is not matched by the same infinity' },
  ref_nonfinite: { name: 'ref_nonfinite', direction: 'lower', description: 'NaN/Inf count in the reference' },
  cand_nonfinite: { name: 'cand_nonfinite', direction: 'lower', description: 'NaN/Inf count in the candidate' },
  topk_agree: { name: 'topk_agree', direction: 'higher', description: 'share of rows whose top-k class sets agree (classifier outputs)' },
};

export interface MetricOptions {
  atol: number;
  rtol: number;
  /** Treat NaN in both at the same place as equal (default true). */
  nanEqual?: boolean;
  /** k for top-k agreement; 0 disables it. */
  topk?: number;
}

export interface MetricValues {
  max_abs: number;
  max_rel: number;
  mean_abs: number;
  rmse: number;
  cosine: number;
  sqnr: number;
  allclose: number;
  nan_mismatch: number;
  inf_mismatch: number;
  ref_nonfinite: number;
  cand_nonfinite: number;
  topk_agree?: number;
  /** Smallest atol that passes allclose at the given rtol. */
  needed_atol: number;
  /** Smallest rtol that passes allclose at the given atol (Infinity when atol alone cannot, e.g. ref == 0). */
  needed_rtol: number;
  /** Flat index of the worst element (largest excess over tolerance). */
  worst_index: number;
  count: number;
}

/** computeMetrics also returns both sides' value statistics, from the same pass. */
export interface MetricPass extends MetricValues {
  refStats: ValueStats;
  candStats: ValueStats;
}

/**
 * Running sums and extremes of one comparison: the metric pass's pass A fields, pass B's, and the
 * non-finite counts only the scalar loop makes.
 */
interface Acc extends PassA, PassB {
  finite: number;
  refBad: number;
  candBad: number;
  nanMis: number;
  infMis: number;
}

function emptyAcc(): Acc {
  return {
    finite: 0, sr: 0, sc: 0, sabs: 0, ssq: 0, dot: 0, nr: 0, nc: 0,
    rmin: Infinity, rmax: -Infinity, cmin: Infinity, cmax: -Infinity,
    maxabs: 0, maxrel: 0, natol: 0, nrtol: 0, close: 0, wex: -Infinity, widx: -1,
    refBad: 0, candBad: 0, nanMis: 0, infMis: 0,
  };
}

/**
 * Scalar accumulation of elements [from, to): the exact definition the SIMD metric pass follows,
 * and the path for data with NaN/Inf (counted and matched here, left out of the finite
 * statistics so one NaN does not turn every metric into NaN and hide the rest).
 */
function scalarAcc(ref: ArrayLike<number>, cand: ArrayLike<number>, from: number, to: number, atol: number, rtol: number, nanEqual: boolean, acc: Acc): void {
  let { finite, sr, sc, sabs, ssq, dot, nr, nc, rmin, rmax, cmin, cmax, maxabs, maxrel, natol, nrtol, close, wex, widx } = acc;
  for (let i = from; i < to; i++) {
    const r = ref[i]!;
    const c = cand[i]!;
    const d = c - r;
    if (d - d !== 0) {
      // Kept out of this loop so that it stays optimised: a NaN/Inf element.
      if (nonFinite(r, c, nanEqual, acc)) close++;
      else if (wex < Infinity) {
        wex = Infinity;
        widx = i;
      }
      continue;
    }
    // Math.abs, not `r < 0 ? -r : r`: that keeps -0, and (|d| - atol) / -0 would be -Infinity.
    const ad = Math.abs(d);
    const ar = Math.abs(r);
    finite++;
    if (r < rmin) rmin = r;
    if (r > rmax) rmax = r;
    if (c < cmin) cmin = c;
    if (c > cmax) cmax = c;
    sr += r;
    sc += c;
    sabs += ad;
    ssq += d * d;
    dot += r * c;
    nr += r * r;
    nc += c * c;
    if (ad > maxabs) maxabs = ad;
    if (ar > 0) {
      const rel = ad / ar;
      if (rel > maxrel) maxrel = rel;
    }
    const na = ad - rtol * ar;
    if (na > natol) natol = na;
    if (na <= atol) close++;
    else {
      const nrt = (ad - atol) / ar; // +Infinity where ref is 0: no rtol can pass it
      if (nrt > nrtol) nrtol = nrt;
      const ex = na - atol;
      if (ex > wex) {
        wex = ex;
        widx = i;
      }
    }
  }
  Object.assign(acc, { finite, sr, sc, sabs, ssq, dot, nr, nc, rmin, rmax, cmin, cmax, maxabs, maxrel, natol, nrtol, close, wex, widx });
}

/** Counts one element with a NaN or an infinity; true when it matches. */
function nonFinite(r: number, c: number, nanEqual: boolean, acc: Acc): boolean {
  if (!Number.isFinite(r)) acc.refBad++;
  if (!Number.isFinite(c)) acc.candBad++;
  const rNaN = r !== r;
  const cNaN = c !== c;
  if (rNaN || cNaN) {
    if (rNaN && cNaN && nanEqual) return true;
    acc.nanMis++;
    return false;
  }
  // At least one infinity: equal only when both are the same infinity.
  if (r === c) return true;
  acc.infMis++;
  return false;
}

/** Elements below this go through the scalar loop (the copy and call are not worth it). */
const SIMD_MIN = 64;

/**
 * Accumulates with the SIMD metric pass over float32 data at byte offsets of `memory` (with the
 * last element of an odd count done by the scalar loop). Returns null when the metric pass cannot
 * run here or the data holds NaN/Inf (the caller then takes the scalar path).
 */
function simdAcc(memory: WasmMemory, rOff: number, cOff: number, n: number, atol: number, rtol: number, nanEqual: boolean): Acc | null {
  const pairs = n >>> 1;
  const k = runMetricPass(memory, rOff, cOff, pairs, atol, rtol, false);
  if (!k) return null;
  let b: PassB | null = null;
  if (Number.isFinite(k.a.sr) && Number.isFinite(k.a.sc) && k.a.close < pairs * 2) {
    b = runMetricPassB(memory, rOff, cOff, pairs, atol, rtol);
    if (!b) return null;
  }
  return accFromPasses(memory, rOff, cOff, n, k.a, b, atol, rtol, nanEqual);
}

/** The metric pass's two passes (pass B when pass A found elements outside the tolerance) and the odd last element, as one Acc; null for NaN/Inf data. */
function accFromPasses(memory: WasmMemory, rOff: number, cOff: number, n: number, a: PassA, b: PassB | null, atol: number, rtol: number, nanEqual: boolean): Acc | null {
  const pairs = n >>> 1;
  // A NaN or infinity on either side makes that side's sum non-finite (float32 sums cannot overflow a double).
  if (!Number.isFinite(a.sr) || !Number.isFinite(a.sc)) return null;
  const acc: Acc = { ...emptyAcc(), ...a, finite: pairs * 2 };
  if (b) {
    acc.close = b.close;
    acc.nrtol = b.nrtol;
    // Only a failing element counts as the worst one.
    if (b.wex > 0) {
      acc.wex = b.wex;
      acc.widx = b.widx;
    }
  }
  if (n & 1) {
    const last = n - 1;
    // Index the single values as element `last` of the whole tensor.
    const r = { length: n, [last]: new Float32Array(memory.buffer, rOff + last * 4, 1)[0]! } as unknown as ArrayLike<number>;
    const c = { length: n, [last]: new Float32Array(memory.buffer, cOff + last * 4, 1)[0]! } as unknown as ArrayLike<number>;
    scalarAcc(r, c, last, n, atol, rtol, nanEqual, acc);
    if (acc.refBad || acc.candBad) return null;
  }
  return acc;
}

/**
 * Metrics from the metric pass's sums computed elsewhere (a worker) over arrays at byte offsets of
 * `memory`; data with NaN/Inf goes through the scalar loop on those arrays.
 */
export function metricsFromPasses(memory: WasmMemory, rOff: number, cOff: number, n: number, a: PassA, b: PassB | null, opts: MetricOptions, shape?: readonly number[]): MetricPass {
  const acc = accFromPasses(memory, rOff, cOff, n, a, b, opts.atol, opts.rtol, opts.nanEqual ?? true);
  const r = new Float32Array(memory.buffer, rOff, n);
  const c = new Float32Array(memory.buffer, cOff, n);
  return withTopk(acc ? finish(acc, n) : scalarMetrics(r, c, opts), r, c, opts, shape);
}

function finish(acc: Acc, n: number): MetricPass {
  const { finite, nr, nc, dot, ssq } = acc;
  const cosine = nr === 0 && nc === 0 ? 1 : nr === 0 || nc === 0 ? 0 : dot / Math.sqrt(nr * nc);
  const sqnr = ssq === 0 ? Infinity : nr === 0 ? -Infinity : 10 * Math.log10(nr / ssq);
  const stats = (min: number, max: number, sum: number, sq: number, bad: number): ValueStats => {
    const mean = finite ? sum / finite : 0;
    // `+ 0` makes -0 into 0: which zero a minimum is depends on the order the extremes were taken in.
    return { min: finite ? min + 0 : 0, max: finite ? max + 0 : 0, mean, std: finite ? Math.sqrt(Math.max(0, sq / finite - mean * mean)) : 0, nonfinite: bad };
  };
  const mismatchedNonFinite = acc.nanMis + acc.infMis > 0;
  return {
    refStats: stats(acc.rmin, acc.rmax, acc.sr, nr, acc.refBad),
    candStats: stats(acc.cmin, acc.cmax, acc.sc, nc, acc.candBad),
    max_abs: acc.maxabs,
    max_rel: acc.maxrel,
    mean_abs: finite ? acc.sabs / finite : 0,
    rmse: finite ? Math.sqrt(ssq / finite) : 0,
    cosine: Math.max(-1, Math.min(1, cosine)),
    sqnr,
    allclose: n ? acc.close / n : 1,
    nan_mismatch: acc.nanMis,
    inf_mismatch: acc.infMis,
    ref_nonfinite: acc.refBad,
    cand_nonfinite: acc.candBad,
    needed_atol: mismatchedNonFinite ? Infinity : acc.natol,
    needed_rtol: mismatchedNonFinite ? Infinity : acc.nrtol,
    worst_index: acc.widx,
    count: n,
  };
}

/**
 * All metrics of a pair (same element order) in one pass over both arrays: the SIMD metric pass
 * for float32 data (copied into the metric pass's memory), the scalar loop otherwise and for data
 * with NaN/Inf. `worst_index` is -1 when every element is within tolerance.
 */
export function computeMetrics(ref: ArrayLike<number>, cand: ArrayLike<number>, opts: MetricOptions, shape?: readonly number[]): MetricPass {
  const n = ref.length;
  if (cand.length !== n) throw new InputError(`cannot compare tensors of ${n} and ${cand.length} elements`);
  let acc: Acc | null = null;
  if (n >= SIMD_MIN && ref instanceof Float32Array && cand instanceof Float32Array) {
    const mem = ownMemory(n * 8);
    if (mem) {
      new Float32Array(mem.buffer, 0, n).set(ref);
      new Float32Array(mem.buffer, n * 4, n).set(cand);
      acc = simdAcc(mem, 0, n * 4, n, opts.atol, opts.rtol, opts.nanEqual ?? true);
    }
  }
  return withTopk(acc ? finish(acc, n) : scalarMetrics(ref, cand, opts), ref, cand, opts, shape);
}

/**
 * The same for float32 data already in a wasm memory (e.g. two tensors on the tfjs wasm
 * backend's heap): nothing is copied. Null when the metric pass cannot run on that memory.
 */
export function computeMetricsInMemory(memory: WasmMemory, rOff: number, cOff: number, n: number, opts: MetricOptions, shape?: readonly number[]): MetricPass | null {
  const views = () => [new Float32Array(memory.buffer, rOff, n), new Float32Array(memory.buffer, cOff, n)] as const;
  const acc = n >= SIMD_MIN ? simdAcc(memory, rOff, cOff, n, opts.atol, opts.rtol, opts.nanEqual ?? true) : null;
  const [r, c] = views();
  return withTopk(acc ? finish(acc, n) : scalarMetrics(r, c, opts), r, c, opts, shape);
}

function scalarMetrics(ref: ArrayLike<number>, cand: ArrayLike<number>, opts: MetricOptions): MetricPass {
  const acc = emptyAcc();
  scalarAcc(ref, cand, 0, ref.length, opts.atol, opts.rtol, opts.nanEqual ?? true, acc);
  return finish(acc, ref.length);
}

function withTopk(m: MetricPass, ref: ArrayLike<number>, cand: ArrayLike<number>, opts: MetricOptions, shape?: readonly number[]): MetricPass {
  if (opts.topk && opts.topk > 0 && shape && shape.length >= 1) m.topk_agree = topkAgreement(ref, cand, shape[shape.length - 1]!, opts.topk);
  return m;
}

/** The scalar path alone (tests check the metric pass against it). */
export function computeMetricsScalar(ref: ArrayLike<number>, cand: ArrayLike<number>, opts: MetricOptions): MetricPass {
  return scalarMetrics(ref, cand, opts);
}

/** Share of rows (last axis = classes) whose top-k index sets agree. */
export function topkAgreement(ref: ArrayLike<number>, cand: ArrayLike<number>, classes: number, k: number): number {
  if (classes <= 0) return 1;
  const rows = Math.floor(ref.length / classes);
  const kk = Math.min(k, classes);
  let agree = 0;
  for (let r = 0; r < rows; r++) {
    const a = topIdx(ref, r * classes, classes, kk);
    const b = topIdx(cand, r * classes, classes, kk);
    if (a.every((x) => b.includes(x))) agree++;
  }
  return rows ? agree / rows : 1;
}

function topIdx(x: ArrayLike<number>, off: number, n: number, k: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => x[off + b]! - x[off + a]! || a - b);
  return idx.slice(0, k);
}

/**
 * What a pair's rtol multiplies (CompareOptions.errorScale). 'tensor' (the default): the larger of
 * the element's |ref| and the tensor's scale, max|ref| — a near-zero element of a large-scale
 * tensor is judged at that scale, not as if it stood alone; since max|ref| >= |ref| everywhere
 * this is `max_abs <= atol + rtol * max|ref|`. 'element': each element's own |ref|
 * (`|cand - ref| <= atol + rtol |ref|` everywhere: numpy's allclose, Polygraphy's elemwise).
 * A pair within tolerance elementwise is within it at its tensor's scale.
 */
export type ErrorScale = 'tensor' | 'element';

/** The tensor's scale: the reference's largest |value| (over its finite values). */
export function referenceScale(ref: Pick<ValueStats, 'min' | 'max'>): number {
  return Math.max(Math.abs(ref.min), Math.abs(ref.max));
}

/** Whether a pair's differences are within atol/rtol at the given scale (NaN/Inf mismatches are checks of their own). */
export function withinTolerance(m: Pick<MetricValues, 'allclose' | 'max_abs'>, ref: Pick<ValueStats, 'min' | 'max'>, tol: { atol: number; rtol: number }, scale: ErrorScale = 'tensor'): boolean {
  if (scale === 'element') return m.allclose >= 1;
  return m.max_abs <= tol.atol + tol.rtol * referenceScale(ref);
}

/**
 * The smallest atol (at the pair's rtol) and the smallest rtol (at its atol) that would have made
 * a pair's differences pass at the given scale (see withinTolerance): at the tensor's scale S =
 * max|ref|, max_abs <= atol + rtol*S, so atol >= max_abs - rtol*S and rtol >= (max_abs - atol)/S;
 * element by element, the metric pass's needed_atol/needed_rtol. Infinity where none would: a
 * NaN/Inf mismatch (atol and rtol), a reference of 0 (rtol).
 */
export function neededTolerance(
  m: Pick<MetricValues, 'max_abs' | 'needed_atol' | 'needed_rtol'>,
  ref: Pick<ValueStats, 'min' | 'max'>,
  tol: { atol: number; rtol: number },
  scale: ErrorScale = 'tensor',
): { atol: number; rtol: number } {
  if (!Number.isFinite(m.needed_atol)) return { atol: Infinity, rtol: Infinity };
  if (scale === 'element') return { atol: m.needed_atol, rtol: m.needed_rtol };
  const s = referenceScale(ref);
  const over = m.max_abs - tol.atol;
  return { atol: Math.max(0, m.max_abs - tol.rtol * s), rtol: over <= 0 ? 0 : s > 0 ? over / s : Infinity };
}

/** A threshold check like `cosine>=0.999` or `max_abs<=1e-3`. */
export interface Check {
  metric: string;
  op: '>=' | '<=' | '>' | '<' | '==';
  value: number;
  /** Limits the check to one tensor (`logits:cosine>=0.99`); undefined = every pair. */
  tensor?: string;
}

export function parseCheck(s: string): Check {
  const m = /^(?:(.+):)?([a-z_]+)\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|inf|-inf)$/i.exec(s.trim());
  if (!m) throw new InputError(`--check '${s}': expected METRIC OP VALUE, e.g. 'cosine>=0.999' or 'logits:max_abs<=1e-3'`);
  const metric = m[2]!.toLowerCase();
  if (!METRICS[metric]) throw new InputError(`--check '${s}': unknown metric '${metric}' (known: ${Object.keys(METRICS).join(', ')})`);
  const v = m[4]!.toLowerCase();
  return { tensor: m[1], metric, op: m[3] as Check['op'], value: v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v) };
}

export function checkPasses(c: Check, value: number | undefined): boolean {
  if (value === undefined) return true;
  switch (c.op) {
    case '>=': return value >= c.value;
    case '<=': return value <= c.value;
    case '>': return value > c.value;
    case '<': return value < c.value;
    case '==': return value === c.value;
  }
}

export function checkToString(c: Check): string {
  return `${c.tensor ? c.tensor + ':' : ''}${c.metric}${c.op}${c.value}`;
}

/** Summary statistics of one side, kept for reports instead of the tensor itself. */
export interface ValueStats {
  min: number;
  max: number;
  mean: number;
  std: number;
  nonfinite: number;
}

/** Histogram of log10 |cand - ref| in fixed decades from 1e-12 to 1e+4 (plus exact-zero and non-finite bins). */
export interface ErrorHistogram {
  /** Lower edges as log10 exponents: -12 .. 3. */
  decades: number[];
  counts: number[];
  zero: number;
  nonfinite: number;
}

export function errorHistogram(ref: ArrayLike<number>, cand: ArrayLike<number>): ErrorHistogram {
  const decades = Array.from({ length: 16 }, (_, i) => i - 12);
  const counts = new Array<number>(decades.length).fill(0);
  let zero = 0;
  let bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(cand[i]! - ref[i]!);
    if (d === 0) zero++;
    else if (!Number.isFinite(d)) {
      if (!(ref[i] === cand[i])) bad++;
      else zero++;
    } else {
      const e = Math.floor(Math.log10(d));
      counts[Math.max(0, Math.min(decades.length - 1, e + 12))]!++;
    }
  }
  return { decades, counts, zero, nonfinite: bad };
}

/** The k worst elements (largest |cand - ref|), with their multi-dimensional indices. */
export function worstElements(
  ref: ArrayLike<number>,
  cand: ArrayLike<number>,
  shape: readonly number[],
  k = 5,
): { index: number[]; reference: number; candidate: number; abs: number }[] {
  const best: { i: number; d: number }[] = [];
  for (let i = 0; i < ref.length; i++) {
    let d = Math.abs(cand[i]! - ref[i]!);
    if (d !== d) d = ref[i] !== ref[i] && cand[i] !== cand[i] ? 0 : Infinity;
    if (d === 0) continue;
    if (best.length < k || d > best[best.length - 1]!.d) {
      best.push({ i, d });
      best.sort((a, b) => b.d - a.d);
      if (best.length > k) best.pop();
    }
  }
  return best.map(({ i, d }) => ({ index: unravel(i, shape), reference: ref[i]!, candidate: cand[i]!, abs: d }));
}

export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let a = shape.length - 1; a >= 0; a--) {
    const s = shape[a]!;
    if (s > 0) {
      idx[a] = flat % s;
      flat = Math.floor(flat / s);
    }
  }
  return idx;
}
