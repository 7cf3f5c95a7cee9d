import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import { ParityError } from '../../core/errors.js';
import { stripPort as norm } from '../../core/names.js';
import type { Activation, Runner } from '../../core/runner.js';
import type { ActInfo, Alignment, Transform } from '../align/index.js';
import type { CompareOptions } from '../options.js';
import type { OwnError, PairResult } from '../result.js';
import type { Held, Holder } from '../store.js';
import { hasValues, measure, valuesTensor } from '../store.js';
import type { BoundFeeds } from './bind.js';
import { failedChecks } from './measure-pair.js';
import type { SideRun } from './observe.js';

/**
 * Stage 5, own error: each failing candidate layer re-run alone on the reference's inputs to it,
 * so that an error it makes itself is told from one it inherits. Runs on the iteration whose
 * measurements it explains (the values it reads are that iteration's).
 */

/** A pair's own error, or why it could not be computed. */
export type OwnOutcome = OwnError | string;

/** The own errors of `failing` (pairs of this iteration, indexed by their place in `alignment`). */
export async function ownErrorStage(
  reference: Runner,
  candidate: Runner,
  feeds: BoundFeeds,
  alignment: Alignment,
  seen: { ref: SideRun; cand: SideRun },
  store: Holder,
  failing: PairResult[],
  opts: CompareOptions,
): Promise<Map<number, OwnOutcome>> {
  if (!failing.length || !candidate.runSingle) return new Map();
  await refillReference(reference, feeds.refFeeds, seen.ref, store, ownErrorNeeds(alignment, failing, seen.cand));
  return ownErrors(alignment, failing, seen.ref, seen.cand, feeds.candFeeds, candidate, opts);
}

/** The reference activations the own-error re-runs of `failing` read (their outputs, and what feeds them). */
function ownErrorNeeds(alignment: Alignment, failing: PairResult[], cand: SideRun): Set<string> {
  const pairByCand = new Map(alignment.pairs.map((p) => [norm(p.candidate), p]));
  const need = new Set<string>();
  const walk = (src: string, depth: number) => {
    const up = pairByCand.get(norm(src));
    if (up) {
      need.add(norm(up.reference));
      return;
    }
    const c = cand.byName.get(norm(src));
    if (c && depth < 4) for (const s2 of c.producedFrom) walk(s2, depth + 1);
  };
  for (const pr of failing) {
    const p = alignment.pairs[pr.index]!;
    need.add(norm(p.reference));
    for (const src of cand.byName.get(norm(p.candidate))?.producedFrom ?? []) walk(src, 0);
  }
  return need;
}

/**
 * Values of reference activations that were let go after their pair was measured, computed
 * again by a second reference run on the same feeds (deterministic: same kernels, same inputs).
 * Only comparisons with failing layers pay for it, and only when those need such values.
 */
async function refillReference(reference: Runner, refFeeds: Map<string, tf.Tensor>, ref: SideRun, store: Holder, need: Set<string>): Promise<void> {
  const missing = new Set([...need].filter((n) => {
    const h = ref.byName.get(n);
    return h && h.dtype === 'float32' && !hasValues(h);
  }));
  if (!missing.size) return;
  // 'all': activations inside function calls and loops are recorded only then.
  for await (const a of reference.run(refFeeds, { record: 'all' }) as AsyncIterable<Activation>) {
    let owned = false;
    try {
      const h = ref.byName.get(norm(a.name));
      if (h && missing.has(norm(a.name)) && a.tensor.dtype === 'float32') owned = await store.hold(h, a.tensor);
    } finally {
      if (!owned) a.tensor.dispose();
    }
  }
}

/**
 * Own error: each failing candidate layer re-run alone on the reference's inputs to it
 * (its inputs' paired reference activations, brought into the candidate's layout).
 */
async function ownErrors(
  alignment: Alignment,
  failing: PairResult[],
  ref: SideRun,
  cand: SideRun,
  candFeeds: Map<string, tf.Tensor>,
  candidate: Runner,
  opts: CompareOptions,
): Promise<Map<number, OwnOutcome>> {
  const out = new Map<number, OwnOutcome>();
  const pairByCand = new Map(alignment.pairs.map((p) => [norm(p.candidate), p]));
  for (const pr of failing) {
    const p = alignment.pairs[pr.index]!;
    const c = cand.byName.get(norm(p.candidate));
    const r = ref.byName.get(norm(p.reference));
    if (!c || !hasValues(r)) continue;
    const made: tf.Tensor[] = [];
    /**
     * The value a candidate layer input takes when everything upstream is the reference: a feed,
     * a paired activation (in the candidate's layout), the candidate's own constant, or, for an
     * unpaired candidate layer (e.g. a ZeroPadding2D the original folds into its conv), that
     * layer re-run on such values, a few levels deep.
     */
    const valueFor = async (src: string, depth: number): Promise<tf.Tensor | string> => {
      const feed = candFeeds.get(src) ?? candFeeds.get(norm(src));
      if (feed) return feed;
      const up = pairByCand.get(norm(src));
      const upCand = cand.byName.get(norm(src));
      const upRef = up ? ref.byName.get(norm(up.reference)) : undefined;
      if (up && upCand && hasValues(upRef)) {
        const t = referenceInCandidateLayout(upRef, upCand, up.transform);
        made.push(t);
        return t;
      }
      if (upCand && (upCand.type === 'Const' || upCand.dtype !== 'float32')) {
        const own = upCand.data ?? upCand.intData;
        if (own || upCand.tensor) {
          const t = upCand.tensor ? share(upCand.tensor) : tf.tensor(own!, upCand.shape, upCand.dtype as 'float32' | 'int32' | 'bool');
          made.push(t);
          return t;
        }
      }
      if (upCand && depth < 4) {
        const ins: tf.Tensor[] = [];
        for (const s2 of upCand.producedFrom) {
          const v = await valueFor(s2, depth + 1);
          if (typeof v === 'string') return v;
          ins.push(v);
        }
        const outs = await candidate.runSingle!(upCand.name, ins);
        for (const t of outs) if (t) made.push(t);
        return outs[upCand.outputIndex ?? 0] ?? `re-running '${src}' gave no output`;
      }
      return `its input '${src}' has no paired reference activation`;
    };
    try {
      const inputs: tf.Tensor[] = [];
      let skip: string | undefined;
      for (const src of c.producedFrom) {
        const v = await valueFor(src, 0);
        if (typeof v === 'string') {
          skip = v;
          break;
        }
        inputs.push(v);
      }
      if (skip) {
        out.set(pr.index, skip);
        continue;
      }
      const outs = await candidate.runSingle!(p.candidate, inputs);
      for (const t of outs) if (t) made.push(t);
      const o = outs[c.outputIndex ?? 0] ?? outs[0];
      if (!o) {
        out.set(pr.index, 'the layer produced no output when re-run alone');
      } else {
        const { refStats, candStats: _c, ...m } = measure(r, { tensor: o, shape: o.shape }, p.transform, { ...pr.tolerance, nanEqual: opts.nanEqual }, () => false).m;
        out.set(pr.index, { metrics: m, pass: failedChecks(m, refStats, pr.tolerance, p, opts).length === 0 });
      }
    } catch (e) {
      out.set(pr.index, e instanceof ParityError ? e.message : `re-running the layer alone failed: ${(e as Error).message}`);
    } finally {
      for (const t of made) if (!t.isDisposed) t.dispose();
    }
  }
  return out;
}

/** The reference activation as a tensor in the candidate's layout and shape. */
function referenceInCandidateLayout(r: Held, c: ActInfo, t: Transform | undefined): tf.Tensor {
  const refT = valuesTensor(r);
  if (t?.perm) {
    const back = tf.transpose(refT, inversePerm(t.perm));
    refT.dispose();
    return back;
  }
  if (t?.reshape || r.shape.join() !== c.shape.join()) {
    const re = tf.reshape(refT, c.shape);
    refT.dispose();
    return re;
  }
  return refT;
}

function inversePerm(p: number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}
