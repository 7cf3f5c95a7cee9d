import { referenceScale } from '../metrics.js';
import type { FailOn, OutputAccount, PairResult, Result, ShapesPart } from '../result.js';

/**
 * Stage 7, decide (pure): the verdict rule, the summary line and why, in words. With failOn
 * 'layers' (the default) the verdict follows the pairs that are model outputs (every pair when
 * none is) and every pair the alignment is sure of (trustedPair): a layer that computes
 * something different makes the comparison not equivalent even when these inputs do not carry
 * it to the outputs. 'outputs': the outputs only; 'all': every compared pair counts but those
 * the alignment is unsure of (found by shape alone between layers of different kinds: they are
 * reported, not judged). Each pair is judged at its tensor's scale or elementwise (metrics.ts
 * withinTolerance).
 * Every model output of either side must be in a pair: one that is not (and not excused, see
 * outputs.ts) makes the comparison NOT EQUIVALENT. No pair at all is an error: nothing was
 * compared.
 */

export interface Decision {
  verdict: Result['verdict'];
  summary: string;
  why: string[];
  error?: Result['error'];
}

/** What decide() reads besides the pairs: the outputs' accounts, the shapes' parting, the root cause (from diagnose). */
export interface DecideFacts {
  outputs?: readonly OutputAccount[];
  shapesPart?: ShapesPart;
  rootCause?: number;
}

/** Said in the summary when no pair is an output: then every pair decides the verdict. */
const NO_OUTPUTS = '; no output of either model is in a pair (every pair decides the verdict)';

const pairName = (p: PairResult) => `'${p.reference}' (${p.referenceOp}) ~ '${p.candidate}' (${p.candidateType})`;

/**
 * Smallest confidence of a pair whose own error may fail the verdict. Read off the sweep
 * (bench/README.md): every pair found by name or by values has confidence >= 0.9 (numeric pairs
 * start at the strong similarity 0.99), every shape-only pair <= 0.5.
 */
export const TRUSTED_CONFIDENCE = 0.9;

/**
 * A pair the alignment is sure of (a map, names, or values that match strongly): only such a
 * pair's own error decides the verdict. A shape-only pair may join two different computations
 * (a Softmax with the Gemm before it), so its own error never fails the verdict by itself.
 */
export function trustedPair(p: Pick<PairResult, 'strategy' | 'confidence'>): boolean {
  return (p.strategy === 'map' || p.strategy === 'name' || p.strategy === 'numeric') && p.confidence >= TRUSTED_CONFIDENCE;
}

/**
 * How large, against its tensor's scale (max|ref|), the own error of a pair found by shape alone
 * must be for it to count (frontierPair). Read off the sweep (bench/README.md): the five liveness
 * faults whose pairs are all shape-only from the planted layer on have own errors of 0.09-3.7
 * times max|ref| at that layer; equivalent candidates have no such pair at all.
 */
export const FRONTIER_OWN_SCALE = 1e-2;

/**
 * A pair found by shape alone that counts like a sure one: it sits right after the last layers
 * the alignment is sure of and that agree (every upstream pair trusted and passing), and its
 * candidate layer, re-run alone on the reference's inputs, computes something clearly different
 * (own error failing by at least FRONTIER_OWN_SCALE of the tensor's scale, claimed as the
 * layer's own: no unpaired layer re-run with it, not unsure). Past a divergence values match
 * nothing, so such a layer is paired by shape only; its inputs being exactly the sure pairs'
 * is what makes its own error say something (issue 23: a 2-class softmax that saturates hides
 * every fault of the liveness port from the outputs).
 */
export function frontierPair(p: PairResult, pairs: readonly PairResult[]): boolean {
  if (p.pass || p.unsure || trustedPair(p) || !p.own || p.own.pass || p.ownDiscounted || !p.upstream.length) return false;
  if (!p.upstream.every((u) => pairs[u] && pairs[u]!.pass && !pairs[u]!.unsure && trustedPair(pairs[u]!))) return false;
  return p.own.metrics.max_abs >= FRONTIER_OWN_SCALE * referenceScale(p.referenceStats);
}

/** A failing pair whose difference decides the verdict with failOn 'layers': trusted, or on the frontier of the trusted ones. */
function countedLayer(p: PairResult, pairs: readonly PairResult[]): boolean {
  return !p.pass && !p.unsure && (trustedPair(p) || frontierPair(p, pairs));
}

const num = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2));

/**
 * With failOn 'layers': the words for a layer that makes the comparison fail though the outputs
 * pass, or undefined. A trusted pair outside tolerance at its tensor's scale shows the candidate
 * computes something different on the way to it: in that layer when its own error fails too,
 * else before it (in layers paired less surely). The first such layer with an own error that
 * fails is named, else the first such layer.
 */
function differingLayer(pairs: readonly PairResult[]): string | undefined {
  const failing = pairs.filter((p) => countedLayer(p, pairs));
  if (!failing.length) return undefined;
  const more = failing.length > 1 ? `; ${failing.length - 1} more layer${failing.length > 2 ? 's' : ''} paired as surely differ${failing.length > 2 ? '' : 's'} too` : '';
  const own = failing.find((p) => p.own && !p.own.pass);
  if (own) {
    const how = trustedPair(own) ? '' : `; paired by shape alone, right after layers paired surely that agree, whose values it is re-run on`;
    return `${pairName(own)} computes something different (its own error max_abs ${num(own.own!.metrics.max_abs)}, cosine ${own.own!.metrics.cosine.toFixed(6)}${how}${more})`;
  }
  const p = failing[0]!;
  const why = p.own ? 'its own error passes: it inherits the difference from before it' : 'its own error was not computed';
  return `${pairName(p)} differs (max_abs ${num(p.metrics.max_abs)}, cosine ${p.metrics.cosine.toFixed(6)}; ${why}${more})`;
}

/** `pairs` densely indexed, `firstDivergence` from diagnose(). */
export function decide(pairs: readonly PairResult[], firstDivergence: number | undefined, failOn: FailOn = 'layers', facts: DecideFacts = {}): Decision {
  if (pairs.length === 0) {
    const error = { message: 'no reference node could be paired with a candidate layer; give an alignment map (--map)', code: 'alignment' };
    return { verdict: 'error', summary: `error: ${error.message}`, why: [error.message], error };
  }
  const outputs = pairs.filter((p) => p.isOutput);
  const unsure = pairs.filter((p) => p.unsure && !p.isOutput);
  const counted = failOn === 'all' ? pairs.filter((p) => p.isOutput || !p.unsure) : outputs.length === 0 ? pairs : outputs;
  const noOutputs = outputs.length ? '' : NO_OUTPUTS;
  const unpairedOutputs = (facts.outputs ?? []).filter((o) => o.unpaired && !o.excused);
  const failing = pairs.filter((p) => !p.pass);
  const why: string[] = [];
  // With failOn 'layers': a layer paired surely that fails though the outputs pass.
  const layer = failOn === 'layers' ? differingLayer(pairs) : undefined;
  const passes = counted.every((p) => p.pass) && unpairedOutputs.length === 0 && !layer;
  // Why, in words.
  for (const o of unpairedOutputs) why.push(`the ${o.side}'s output '${o.name}' [${o.shape}] is in no pair: ${o.unpaired}`);
  const failingOutputs = outputs.filter((p) => !p.pass);
  for (const p of failingOutputs.slice(0, 3)) why.push(`the output ${pairName(p)} fails: ${p.failed.join(', ')}`);
  if (failingOutputs.length > 3) why.push(`and ${failingOutputs.length - 3} more outputs fail`);
  if (failOn === 'all' || !outputs.length) {
    const layers = counted.filter((p) => !p.pass && !p.isOutput);
    if (layers.length) why.push(`${layers.length} compared layer${layers.length === 1 ? '' : 's'} fail${layers.length === 1 ? 's' : ''}${failOn === 'all' ? ' (--fail-on all: every layer counts)' : ' (no output is in a pair: every layer counts)'}`);
  }
  // Said only where it decides: when the outputs fail, they say so themselves.
  if (layer && counted.every((p) => p.pass) && unpairedOutputs.length === 0) why.push(`${layer}; the outputs agree on these inputs; they may not on others`);
  if (facts.shapesPart?.isRootCause && !passes) why.push(facts.shapesPart.text);
  if (passes) {
    const outs = facts.outputs?.filter((o) => o.side === 'candidate').length ?? outputs.length;
    if (outputs.length) why.unshift(`every output is paired and within tolerance (${outputs.length} output pair${outputs.length === 1 ? '' : 's'}${outs ? ` for ${outs} candidate output${outs === 1 ? '' : 's'}` : ''})`);
    else why.unshift(`no output of either model is in a pair, and every compared layer passes`);
    if (facts.shapesPart) why.push(`the outputs agree on these inputs, yet ${facts.shapesPart.text.replace(/^shapes part here/, 'the shapes part')}: the conversion computes something else there`);
    const inter = failing.filter((p) => !p.isOutput && !p.unsure);
    if (failOn !== 'all' && outputs.length && inter.length) {
      why.push(`${inter.length} intermediate layer${inter.length === 1 ? '' : 's'} fail${inter.length === 1 ? 's' : ''}, but the outputs agree on these inputs, so the verdict follows them (they may not agree on others; --fail-on all counts every layer)`);
    }
  }
  for (const o of (facts.outputs ?? []).filter((o) => o.excused)) why.push(`not counted: the ${o.side}'s output '${o.name}': ${o.unpaired}`);
  const unsureFailing = unsure.filter((p) => !p.pass);
  if (unsureFailing.length) {
    why.push(`${unsureFailing.length} failing pair${unsureFailing.length === 1 ? ' is' : 's are'} not judged: the alignment is unsure of ${unsureFailing.length === 1 ? 'it' : 'them'} (${unsureFailing.slice(0, 3).map((p) => `${pairName(p)}: ${p.unsure!.reason}`).join('; ')}${unsureFailing.length > 3 ? '; ...' : ''})`);
  }
  // A verdict the tool is unsure of says so: an own error it did not count, and why.
  const notCountedPair = failOn === 'layers' ? pairs.find((p) => p.own && !p.own.pass && (p.unsure || !trustedPair(p)) && !frontierPair(p, pairs)) : undefined;
  const notCounted = notCountedPair ? `; not counted: ${pairName(notCountedPair)} has an own error but is paired by ${notCountedPair.strategy === 'shape' ? 'shape alone' : notCountedPair.strategy} (confidence ${notCountedPair.confidence.toFixed(2)})` : '';
  if (passes) {
    if (notCounted) why.push(notCounted.slice(2));
    return { verdict: 'equivalent', summary: `equivalent: ${pairs.length} pairs compared, ${outputs.length} output(s) within tolerance${noOutputs}${notCounted}`, why };
  }
  if (layer && counted.every((p) => p.pass) && unpairedOutputs.length === 0) {
    return { verdict: 'not-equivalent', summary: `not equivalent: ${layer}; the outputs agree on these inputs; they may not on others${noOutputs}`, why };
  }
  const fd = firstDivergence !== undefined ? pairs[firstDivergence] : undefined;
  const unpairedNote = unpairedOutputs.length ? `${unpairedOutputs.length} output${unpairedOutputs.length === 1 ? '' : 's'} in no pair (${unpairedOutputs.map((o) => `'${o.name}'`).join(', ')})` : '';
  const where = facts.shapesPart?.isRootCause
    ? `shapes part at '${facts.shapesPart.reference}' (${facts.shapesPart.referenceOp})`
    : fd ? `first divergence at ${pairName(fd)}` : failing.length ? 'first divergence at an output' : unpairedNote;
  return {
    verdict: 'not-equivalent',
    summary: `not equivalent: ${where}; ${failing.length} of ${pairs.length} pairs fail${unpairedNote && where !== unpairedNote ? `; ${unpairedNote}` : ''}${noOutputs}`,
    why,
  };
}
