import { stripPort as norm, } from '../../core/names.js';
import { numElements } from '../../core/tensor.js';
import type { Runner } from '../../core/runner.js';
import type { AlignedPair, Alignment } from '../align/index.js';
import { isPairable, pairKey } from '../align/index.js';
import type { PairResult } from '../result.js';
import type { Held } from '../store.js';
import type { Holder } from '../store.js';
import { hasValues } from '../store.js';
import type { BoundFeeds } from './bind.js';
import type { MeasureContext, Measurement } from './measure-pair.js';
import { measurePair, toleranceFor } from './measure-pair.js';
import type { Observation } from './observe.js';
import { observeAgain } from './observe.js';

/**
 * Stage 4, measure: every aligned pair's metrics and checks in one iteration. Pairs measured
 * while the models ran (or guessed, with all their detail) are taken as they are; the rest are
 * measured now, split between the metrics thread and this one; pairs whose values were not held
 * (past the hold budget only samples were) are measured in a second run of both models.
 */

/** One iteration's measurement of every aligned pair, by its index in the alignment. */
export type IterationPairs = Map<number, PairResult>;

export interface MeasureStage {
  pairs: IterationPairs;
  /** Time the second run took (counted as runs, not as comparing). */
  rerun: { referenceMs: number; candidateMs: number };
}

export async function measureAligned(
  reference: Runner,
  candidate: Runner,
  feeds: BoundFeeds,
  alignment: Alignment,
  seen: Observation,
  store: Holder,
  ctx: MeasureContext,
  progress: (msg: string) => void,
): Promise<MeasureStage> {
  const { ref, cand, measured, spec } = seen;
  const later = new Map<number, Promise<Measurement>>();
  const rerunMs = { referenceMs: 0, candidateMs: 0 };
  // The models are done, so both threads measure: the metrics thread takes the first half
  // of the elements (in place on a shared tfjs heap), this thread the rest, and they end
  // at about the same time.
  const todo: { p: AlignedPair; r?: Held; c?: Held; m?: Promise<Measurement>; n: number }[] = [];
  for (const p of alignment.pairs) {
    const r = ref.byName.get(norm(p.reference));
    const c = cand.byName.get(norm(p.candidate));
    let m = r && c ? measured.get(pairKey(p.reference, p.candidate)) : undefined;
    if (r && c && !m && spec) {
      // A guess measured without its detail (it fails, or is an output) is measured again
      // now, or in the second run when its values were let go.
      // A guess that failed to measure is as if not made.
      const g = spec.take(p.reference, p.candidate, p.transform);
      const gm = g ? await g.catch(() => undefined) : undefined;
      if (g && gm && !gm.partial) m = g;
    }
    todo.push({ p, r, c, m, n: r && c && !m && hasValues(r) && hasValues(c) ? numElements(r.shape) : 0 });
  }
  const half = todo.reduce((a, x) => a + x.n, 0) / 2;
  let given = 0;
  for (const [idx, { p, r, c, m: known, n }] of todo.entries()) {
    if (!r || !c) continue;
    let m = known;
    if (!m && n > 0) {
      m = (await measurePair(p, r, c, c, ctx, given < half ? 'thread' : 'here'))?.result;
      given += n;
    }
    if (m) later.set(idx, m);
  }
  // Pairs whose values were not held (past the hold budget only samples were): both models
  // run again, streaming, with the alignment known, and those pairs are measured as they come.
  const rerun = todo.filter((x) => x.r && x.c && !x.m && x.n === 0 && x.r.dtype === 'float32' && x.c.dtype === 'float32' && (x.r.samples || x.c.samples));
  if (rerun.length) {
    for (const m of later.values()) await m.catch(() => undefined);
    // What the first run held is not needed any more (own error re-runs the reference for what it needs).
    for (const a of [...ref.acts, ...cand.acts]) if (isPairable(a, ref.byName.get(norm(a.name)) === a ? 'reference' : 'candidate')) store.release(a);
    progress(`running both again to measure ${rerun.length} pairs whose values were not held`);
    const store2 = ctx.engine.holder();
    try {
      // Both stop once the last of those pairs is measured (often early in the models).
      const keys = rerun.map((x) => pairKey(x.p.reference, x.p.candidate));
      const again = await observeAgain(reference, candidate, feeds, store2, rerun.map((x) => x.p), seen.onPair, () => keys.every((k) => measured.has(k)));
      rerunMs.referenceMs = again.ref.ms;
      rerunMs.candidateMs = again.cand.ms;
    } finally {
      store2.dispose();
    }
    for (const [idx, x] of todo.entries()) {
      const m = measured.get(pairKey(x.p.reference, x.p.candidate));
      if (m && !later.has(idx)) later.set(idx, m);
    }
  }
  const results: (Measurement | undefined)[] = [];
  for (const [idx, m] of later) results[idx] = await m;
  const pairs: IterationPairs = new Map();
  alignment.pairs.forEach((p, idx) => {
    const r = ref.byName.get(norm(p.reference));
    const c = cand.byName.get(norm(p.candidate));
    const m = results[idx];
    if (!r || !c || !m) return;
    pairs.set(idx, {
      index: idx,
      reference: p.reference,
      candidate: p.candidate,
      referenceOp: r.type,
      candidateType: c.type,
      strategy: p.strategy,
      confidence: p.confidence,
      ...(p.transform ? { transform: p.transform } : {}),
      referenceShape: r.shape,
      candidateShape: c.shape,
      metrics: m.metrics,
      tolerance: toleranceFor(p, ctx.opts),
      pass: m.failed.length === 0,
      failed: m.failed,
      isOutput: ctx.isOutputPair(p),
      upstream: [],
      referenceStats: m.refStats,
      candidateStats: m.candStats,
      histogram: m.histogram,
      worst: m.worst,
    });
  });
  return { pairs, rerun: rerunMs };
}
