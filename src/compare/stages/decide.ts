import type { FailOn, PairResult, Result } from '../result.js';

/**
 * Stage 7, decide (pure): the verdict rule and the summary line. With failOn 'layers' (the
 * default) the verdict follows the pairs that are model outputs (every pair when none is) and
 * every pair the alignment is sure of (trustedPair): a layer that computes something different
 * makes the comparison not equivalent even when these inputs do not carry it to the outputs.
 * 'outputs': the outputs only; 'all': every compared pair counts. Each pair is judged at its
 * tensor's scale or elementwise (metrics.ts withinTolerance). No pair at all is an error:
 * nothing was compared.
 */

export interface Decision {
  verdict: Result['verdict'];
  summary: string;
  error?: Result['error'];
}

/** Said in the summary when no pair is an output: then every pair decides the verdict. */
const NO_OUTPUTS = '; no output of either model is in a pair (every pair decides the verdict)';

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

const pairWords = (p: PairResult) => `'${p.reference}' (${p.referenceOp}) ~ '${p.candidate}' (${p.candidateType})`;
const num = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2));

/**
 * With failOn 'layers': the words for a layer that makes the comparison fail though the outputs
 * pass, or undefined. A trusted pair outside tolerance at its tensor's scale shows the candidate
 * computes something different on the way to it: in that layer when its own error fails too,
 * else before it (in layers paired less surely). The first such layer with an own error that
 * fails is named, else the first such layer.
 */
function differingLayer(pairs: readonly PairResult[]): string | undefined {
  const failing = pairs.filter((p) => !p.pass && trustedPair(p));
  if (!failing.length) return undefined;
  const more = failing.length > 1 ? `; ${failing.length - 1} more layer${failing.length > 2 ? 's' : ''} paired as surely differ${failing.length > 2 ? '' : 's'} too` : '';
  const own = failing.find((p) => p.own && !p.own.pass);
  if (own) return `${pairWords(own)} computes something different (its own error max_abs ${num(own.own!.metrics.max_abs)}, cosine ${own.own!.metrics.cosine.toFixed(6)}${more})`;
  const p = failing[0]!;
  const why = p.own ? 'its own error passes: it inherits the difference from before it' : 'its own error was not computed';
  return `${pairWords(p)} differs (max_abs ${num(p.metrics.max_abs)}, cosine ${p.metrics.cosine.toFixed(6)}; ${why}${more})`;
}

/** `pairs` densely indexed, `firstDivergence` from diagnose(). */
export function decide(pairs: readonly PairResult[], firstDivergence: number | undefined, failOn: FailOn = 'layers'): Decision {
  if (pairs.length === 0) {
    const error = { message: 'no reference node could be paired with a candidate layer; give an alignment map (--map)', code: 'alignment' };
    return { verdict: 'error', summary: `error: ${error.message}`, error };
  }
  const outputs = pairs.filter((p) => p.isOutput);
  const counted = failOn === 'all' || outputs.length === 0 ? pairs : outputs;
  const noOutputs = outputs.length ? '' : NO_OUTPUTS;
  if (counted.every((p) => p.pass)) {
    const layer = failOn === 'layers' ? differingLayer(pairs) : undefined;
    if (layer) return { verdict: 'not-equivalent', summary: `not equivalent: ${layer}; the outputs agree on these inputs; they may not on others${noOutputs}` };
    // A verdict the tool is unsure of says so: an own error it did not count, and why.
    const unsure = failOn === 'layers' ? pairs.find((p) => p.own && !p.own.pass) : undefined;
    const notCounted = unsure ? `; not counted: ${pairWords(unsure)} has an own error but is paired by ${unsure.strategy === 'shape' ? 'shape alone' : unsure.strategy} (confidence ${unsure.confidence.toFixed(2)})` : '';
    return { verdict: 'equivalent', summary: `equivalent: ${pairs.length} pairs compared, ${outputs.length} output(s) within tolerance${noOutputs}${notCounted}` };
  }
  const fd = firstDivergence !== undefined ? pairs[firstDivergence] : undefined;
  return {
    verdict: 'not-equivalent',
    summary:
      `not equivalent: first divergence at ${fd ? pairWords(fd) : 'an output'}; ` +
      `${pairs.filter((p) => !p.pass).length} of ${pairs.length} pairs fail${noOutputs}`,
  };
}
