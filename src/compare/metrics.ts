import { InputError } from '../core/errors.js';

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
 * One pass over both arrays. Non-finite elements are counted and matched separately
 * (NaN==NaN by option, +Inf==+Inf) and excluded from the finite error statistics, so one
 * NaN does not turn every metric into NaN and hide the rest of the comparison.
 */
export function computeMetrics(ref: ArrayLike<number>, cand: ArrayLike<number>, opts: MetricOptions, shape?: readonly number[]): MetricPass {
  const n = ref.length;
  if (cand.length !== n) throw new InputError(`cannot compare tensors of ${n} and ${cand.length} elements`);
  const { atol, rtol } = opts;
  const nanEqual = opts.nanEqual ?? true;
  let maxAbs = 0;
  let maxRel = 0;
  let sumAbs = 0;
  let sumSq = 0;
  let dot = 0;
  let nr = 0;
  let nc = 0;
  let close = 0;
  let nanMis = 0;
  let infMis = 0;
  let refBad = 0;
  let candBad = 0;
  let neededAtol = 0;
  let neededRtol = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  let finite = 0;
  let rMin = Infinity, rMax = -Infinity, rSum = 0, cMin = Infinity, cMax = -Infinity, cSum = 0;
  for (let i = 0; i < n; i++) {
    const r = ref[i]!;
    const c = cand[i]!;
    const d = c - r;
    // Fast path: both finite (d finite). Divisions only when a maximum may change.
    if (d - d === 0) {
      const ad = d < 0 ? -d : d;
      const ar = r < 0 ? -r : r;
      finite++;
      if (r < rMin) rMin = r;
      if (r > rMax) rMax = r;
      if (c < cMin) cMin = c;
      if (c > cMax) cMax = c;
      rSum += r;
      cSum += c;
      sumAbs += ad;
      sumSq += d * d;
      dot += r * c;
      nr += r * r;
      nc += c * c;
      if (ad > maxAbs) maxAbs = ad;
      if (ad > maxRel * ar && ar > 0) maxRel = ad / ar;
      const na = ad - rtol * ar;
      if (na > neededAtol) neededAtol = na;
      const excess = na - atol;
      if (excess <= 0) close++;
      else {
        const nrt = ar > 0 ? (ad - atol) / ar : Infinity;
        if (nrt > neededRtol) neededRtol = nrt;
      }
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
      continue;
    }
    const rBad = !Number.isFinite(r);
    const cBad = !Number.isFinite(c);
    if (rBad) refBad++;
    if (cBad) candBad++;
    const rNaN = r !== r;
    const cNaN = c !== c;
    let ok: boolean;
    if (rNaN || cNaN) {
      ok = rNaN && cNaN && nanEqual;
      if (!ok) nanMis++;
    } else {
      // At least one infinity: equal only when both are the same infinity.
      ok = r === c;
      if (!ok) infMis++;
    }
    if (ok) close++;
    else {
      neededAtol = Infinity;
      neededRtol = Infinity;
      if (worstExcess < Infinity) {
        worstExcess = Infinity;
        worst = i;
      }
    }
  }
  const cosine = nr === 0 && nc === 0 ? 1 : nr === 0 || nc === 0 ? 0 : dot / Math.sqrt(nr * nc);
  const sqnr = sumSq === 0 ? Infinity : nr === 0 ? -Infinity : 10 * Math.log10(nr / sumSq);
  const stats = (min: number, max: number, sum: number, sq: number, bad: number): ValueStats => {
    const mean = finite ? sum / finite : 0;
    return { min: finite ? min : 0, max: finite ? max : 0, mean, std: finite ? Math.sqrt(Math.max(0, sq / finite - mean * mean)) : 0, nonfinite: bad };
  };
  const out: MetricPass = {
    refStats: stats(rMin, rMax, rSum, nr, refBad),
    candStats: stats(cMin, cMax, cSum, nc, candBad),
    max_abs: maxAbs,
    max_rel: maxRel,
    mean_abs: finite ? sumAbs / finite : 0,
    rmse: finite ? Math.sqrt(sumSq / finite) : 0,
    cosine: Math.max(-1, Math.min(1, cosine)),
    sqnr,
    allclose: n ? close / n : 1,
    nan_mismatch: nanMis,
    inf_mismatch: infMis,
    ref_nonfinite: refBad,
    cand_nonfinite: candBad,
    needed_atol: neededAtol,
    needed_rtol: neededRtol,
    worst_index: worst,
    count: n,
  };
  if (opts.topk && opts.topk > 0 && shape && shape.length >= 1) {
    out.topk_agree = topkAgreement(ref, cand, shape[shape.length - 1]!, opts.topk);
  }
  return out;
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

export function valueStats(x: ArrayLike<number>): ValueStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  let bad = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      bad++;
      continue;
    }
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sq += v * v;
  }
  const mean = n ? sum / n : 0;
  return { min: n ? min : 0, max: n ? max : 0, mean, std: n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : 0, nonfinite: bad };
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
