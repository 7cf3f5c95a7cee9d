import { stripPort as norm } from '../core/names.js';
import type { Runner } from '../core/runner.js';
import type { ActInfo, Alignment } from './align/index.js';
import { align } from './align/index.js';
import type { MeasureEngine } from './engine.js';
import { engineFromEnv } from './engine.js';
import type { CompareOptions } from './options.js';
import type { InputFacts, PairResult, Result } from './result.js';
import { withHeapViews } from './store.js';
import { assembleResult } from './stages/assemble.js';
import { bindFeeds } from './stages/bind.js';
import { decide } from './stages/decide.js';
import { diagnose } from './stages/diagnose.js';
import { accountOutputs } from './stages/outputs.js';
import type { MeasureContext } from './stages/measure-pair.js';
import { worse } from './stages/measure-pair.js';
import { measureAligned } from './stages/measure.js';
import type { Observation } from './stages/observe.js';
import { observe } from './stages/observe.js';
import type { OwnOutcome } from './stages/own-error.js';
import { ownErrorStage } from './stages/own-error.js';

/**
 * The comparison of a reference and a candidate runner on the same seeded feeds, as stages with
 * plain data between them (docs/DESIGN.md, "The comparison as stages"):
 *
 *   per iteration: bind feeds -> observe (run both, stream activations) -> align (first
 *   iteration) -> measure -> own error (failing pairs whose worst iteration this is)
 *   then: diagnose (first divergence, root cause) -> decide (verdict) -> Result
 *
 * Returns the Result; never throws for a model that merely differs (that is 'not-equivalent').
 */
export async function compareRunners(reference: Runner, candidate: Runner, opts: CompareOptions): Promise<Result> {
  const started = new Date();
  const tStart = performance.now();
  const engine = opts.engine ?? engineFromEnv();
  // No per-tensor tolerances: toleranceFor looks nothing up (an empty object's misses cost a string lookup each).
  if (opts.perTensor && Object.keys(opts.perTensor).length === 0) opts = { ...opts, perTensor: undefined };
  engine.start();
  const sofar: SoFar = { kept: new Map(), own: new Map(), refNodes: [], candNodes: [], inputFacts: [], feedWarnings: new Set(), timings: { referenceMs: 0, candidateMs: 0, compareMs: 0, ownErrorMs: 0, totalMs: 0 } };
  const iterations = Math.max(1, opts.iterations);
  for (let it = 0; it < iterations; it++) await iterate(reference, candidate, opts, engine, it, iterations, sofar);

  const { pairs, firstDivergence, rootCause, shapesPart } = diagnose(densePairs(sofar.kept, sofar.own), sofar.refNodes, sofar.candNodes);
  const outputs = accountOutputs({ referenceOutputs: reference.outputs(), candidateOutputs: candidate.outputs(), refNodes: sofar.refNodes, candNodes: sofar.candNodes, pairs });
  const decision = decide(pairs, firstDivergence, opts.failOn, { outputs, ...(shapesPart ? { shapesPart } : {}), ...(rootCause !== undefined ? { rootCause } : {}) });
  engine.dispose();
  sofar.timings.totalMs = performance.now() - tStart;
  return assembleResult({ reference, candidate, opts, iterations, started, timings: sofar.timings, inputFacts: sofar.inputFacts, feedWarnings: [...sofar.feedWarnings], refNodes: sofar.refNodes, alignment: sofar.alignment!, pairs, firstDivergence, rootCause, shapesPart, outputs, decision });
}

/** What the iterations have found so far. */
interface SoFar {
  alignment?: Alignment;
  /** The reference's activations in run order (first iteration). */
  refNodes: ActInfo[];
  /** The candidate's activations in run order (first iteration). */
  candNodes: ActInfo[];
  inputFacts: InputFacts[];
  /** Feeds run in another shape than declared (every iteration's, once each). */
  feedWarnings: Set<string>;
  /** Each pair's worst iteration, and the own error measured on that iteration. */
  kept: Map<number, PairResult>;
  own: Map<number, OwnOutcome>;
  timings: Result['run']['timings'];
}

/** One iteration: bind feeds -> observe -> align (first iteration) -> measure -> own error. */
async function iterate(reference: Runner, candidate: Runner, opts: CompareOptions, engine: MeasureEngine, it: number, iterations: number, sofar: SoFar): Promise<void> {
  const { timings } = sofar;
  const progress = opts.onProgress ?? (() => {});
  const say = (msg: string) => progress(`iteration ${it + 1}/${iterations}: ${msg}`);
  const ctx = measureContext(reference, candidate, opts, engine);
  const feeds = bindFeeds(reference, candidate, opts, it);
  const store = engine.holder();
  try {
    if (it === 0) sofar.inputFacts = feeds.inputFacts;
    for (const w of feeds.warnings) sofar.feedWarnings.add(w);
    say('running reference and candidate');
    const known = sofar.alignment;
    const seen = await observe(reference, candidate, feeds, store, { ctx, pinned: pinnedNames(reference, candidate, opts), ...(known ? { alignment: known } : {}) });
    timings.referenceMs += seen.ref.ms;
    timings.candidateMs += seen.cand.ms;
    timings.compareMs += seen.inRunMs;
    const t0 = performance.now();
    const alignment = (sofar.alignment ??= alignObserved(seen, reference, candidate, opts));
    if (!known) {
      sofar.refNodes = seen.ref.acts;
      sofar.candNodes = seen.cand.acts;
    }
    const measured = await measureAligned(reference, candidate, feeds, alignment, seen, store, ctx, say);
    timings.referenceMs += measured.rerun.referenceMs;
    timings.candidateMs += measured.rerun.candidateMs;
    const worst = keepWorst(sofar.kept, measured.pairs);
    timings.compareMs += performance.now() - t0 - measured.rerun.referenceMs - measured.rerun.candidateMs;
    if (opts.ownError === false || !candidate.runSingle) return;
    const t1 = performance.now();
    for (const i of worst) sofar.own.delete(i);
    const failing = [...sofar.kept.values()].filter((q) => !q.pass).sort((x, y) => x.index - y.index).slice(0, opts.maxOwnError ?? 50).filter((q) => worst.has(q.index));
    if (failing.length) progress(`computing own error of ${failing.length} failing layer${failing.length === 1 ? '' : 's'}`);
    for (const [i, o] of await ownErrorStage(reference, candidate, feeds, alignment, seen, store, failing, opts)) sofar.own.set(i, o);
    timings.ownErrorMs += performance.now() - t1;
  } finally {
    store.dispose();
    feeds.dispose();
  }
}

/**
 * A pair is an output when either side is one of its model's outputs: a converted model's
 * outputs are what it is for, even where the reference's are other nodes (a training graph
 * from a checkpoint ends in its loss; its prediction is the SavedModel's output).
 */
function measureContext(reference: Runner, candidate: Runner, opts: CompareOptions, engine: MeasureEngine): MeasureContext {
  const refOutputs = new Set(reference.outputs().map(norm));
  const candOutputs = new Set(candidate.outputs().map(norm));
  return { opts, engine, isOutputPair: (p) => refOutputs.has(norm(p.reference)) || candOutputs.has(norm(p.candidate)) };
}

/**
 * Never let go early: model outputs (their pairs need histograms and worst elements) and what
 * the map pairs (its pair is measured when the other side arrives).
 */
function pinnedNames(reference: Runner, candidate: Runner, opts: CompareOptions): { reference: Set<string>; candidate: Set<string> } {
  const mapped = opts.map?.pairs ?? [];
  return {
    reference: new Set([...reference.outputs().map(norm), ...mapped.map((p) => norm(p.reference))]),
    candidate: new Set([...candidate.outputs().map(norm), ...mapped.map((p) => norm(p.candidate))]),
  };
}

/** Stage 3, align: the reference's activations paired with the candidate's (align.ts). */
function alignObserved(seen: Observation, reference: Runner, candidate: Runner, opts: CompareOptions): Alignment {
  const { ref, cand, decided, spec } = seen;
  return withHeapViews([...ref.acts, ...cand.acts], () =>
    align(ref.acts, cand.acts, {
      map: opts.map,
      decided,
      namesOnly: opts.namesOnly,
      referenceOutputs: reference.outputs(),
      candidateOutputs: candidate.outputs(),
      ...(spec ? { samples: spec.samples } : {}),
    }),
  );
}

/** Keeps each pair's worst iteration (iterations keep the worst); returns the pairs this iteration is now the worst of. */
function keepWorst(kept: Map<number, PairResult>, iteration: Map<number, PairResult>): Set<number> {
  const now = new Set<number>();
  for (const [idx, q] of iteration) {
    const prev = kept.get(idx);
    if (prev && !worse(prev.metrics, q.metrics)) continue;
    kept.set(idx, q);
    now.add(idx);
  }
  return now;
}

/** The kept pairs in reference order, indexed densely, with their own errors. */
function densePairs(kept: Map<number, PairResult>, own: Map<number, OwnOutcome>): PairResult[] {
  return [...kept.values()]
    .sort((a, b) => a.index - b.index)
    .map((p, i) => {
      const o = own.get(p.index);
      return { ...p, index: i, ...(o !== undefined ? (typeof o === 'string' ? { ownSkipped: o } : { own: o }) : {}) };
    });
}
