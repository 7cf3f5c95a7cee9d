import { stripPort as norm } from '../../core/names.js';
import type { ActInfo, AlignedPair } from '../align/index.js';
import type { ErrorHistogram, MetricValues, ValueStats } from '../metrics.js';
import { checkPasses, checkToString, errorHistogram, withinTolerance, worstElements } from '../metrics.js';
import type { CompareOptions } from '../options.js';
import type { PairResult, Tolerance } from '../result.js';
import type { MeasureEngine } from '../engine.js';
import type { Held, PairValues, Where } from '../store.js';
import { hasValues } from '../store.js';

/** What one iteration measured of one pair. */
export interface Measurement {
  metrics: MetricValues;
  refStats: ValueStats;
  candStats: ValueStats;
  failed: string[];
  histogram: ErrorHistogram;
  worst: PairResult['worst'];
  /** Measured without the histogram and worst elements it should have (a guess: see speculate.ts). */
  partial?: boolean;
}

/** What measuring a pair needs to know of the comparison. */
export interface MeasureContext {
  opts: CompareOptions;
  isOutputPair: (p: { reference: string; candidate: string }) => boolean;
  /** Where and how pairs are measured. */
  engine: MeasureEngine;
}

export function toleranceFor(p: { reference: string; candidate: string }, opts: Pick<CompareOptions, 'tolerance' | 'perTensor'>): Tolerance {
  const per = opts.perTensor;
  if (!per) return opts.tolerance;
  return per[norm(p.reference)] ?? per[norm(p.candidate)] ?? per[p.reference] ?? per[p.candidate] ?? opts.tolerance;
}

/**
 * Which checks fail for these metric values. allclose (atol/rtol, at the scale opts.errorScale
 * says: metrics.ts withinTolerance) always applies; `refStats` are the reference's.
 */
export function failedChecks(m: MetricValues, refStats: ValueStats, tol: Tolerance, p: { reference: string; candidate: string }, opts: Pick<CompareOptions, 'checks' | 'errorScale'>): string[] {
  const failed: string[] = [];
  if (!withinTolerance(m, refStats, tol, opts.errorScale)) failed.push('allclose');
  if (m.nan_mismatch > 0) failed.push('nan');
  if (m.inf_mismatch > 0) failed.push('inf');
  for (const c of opts.checks ?? []) {
    if (c.tensor && norm(c.tensor) !== norm(p.reference) && norm(c.tensor) !== norm(p.candidate)) continue;
    const v = (m as unknown as Record<string, number | undefined>)[c.metric];
    if (!checkPasses(c, v)) failed.push(checkToString(c));
  }
  return [...new Set(failed)];
}

/** Worse of two metric sets for the same pair (iterations keep the worst). */
export function worse(a: MetricValues, b: MetricValues): boolean {
  if (b.allclose !== a.allclose) return b.allclose < a.allclose;
  return b.max_abs > a.max_abs;
}

/**
 * Metrics, checks and (where someone will look: failing pairs and outputs) the histogram and
 * worst elements of one pair; undefined when either side is not float data.
 */
export async function measurePair(
  p: AlignedPair,
  r: Held,
  cInfo: ActInfo,
  c: PairValues,
  ctx: MeasureContext,
  where: Where = 'auto',
  /** false: metrics and checks only (a guessed pair, likely not to be used: see speculate.ts). */
  detail = true,
): Promise<{ result: Promise<Measurement> } | undefined> {
  if (r.dtype !== 'float32' || cInfo.dtype !== 'float32' || !hasValues(r) || !(c.tensor || c.data)) return undefined;
  const { opts } = ctx;
  const isOutput = ctx.isOutputPair(p);
  const tol = toleranceFor(p, opts);
  let failed: string[] = [];
  let partial = false;
  const later = ctx.engine.measure(
    r,
    c,
    p.transform,
    { ...tol, nanEqual: opts.nanEqual, topk: isOutput ? opts.topk : 0 },
    (mp) => {
      failed = failedChecks(mp, mp.refStats, tol, p, opts);
      const wanted = failed.length > 0 || isOutput;
      partial = wanted && !detail;
      return wanted && detail;
    },
    where,
  );
  const result = later.result.then(({ m, host }) => {
    const { refStats, candStats, ...metrics } = m;
    return {
      metrics,
      refStats,
      candStats,
      failed,
      // Histograms and worst elements cost extra passes: only where someone will look.
      histogram: host ? errorHistogram(host.ref, host.cand) : { decades: [], counts: [], zero: m.count, nonfinite: 0 },
      worst: host ? worstElements(host.ref, host.cand, r.shape, 5) : [],
      ...(partial ? { partial } : {}),
    };
  });
  // Awaited later; a failure must not count as unhandled meanwhile.
  result.catch(() => {});
  return { result };
}
