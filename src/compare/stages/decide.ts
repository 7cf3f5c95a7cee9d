import type { FailOn, PairResult, Result } from '../result.js';

/**
 * Stage 7, decide (pure): the verdict rule and the summary line. With failOn 'layers' (the
 * default) the verdict follows the pairs that are model outputs (every pair when none is) and
 * the own error of every pair the alignment is sure of (trustedPair): a layer that computes
 * something different makes the comparison not equivalent even when these inputs do not carry
 * it to the outputs. 'outputs': the outputs only; 'all': every compared pair counts. No pair at
 * all is an error: nothing was compared.
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
    const ownFails = failOn === 'layers' ? pairs.filter((p) => p.own && !p.own.pass) : [];
    const wrong = ownFails.find(trustedPair);
    if (wrong) {
      const n = ownFails.filter(trustedPair).length;
      return {
        verdict: 'not-equivalent',
        summary:
          `not equivalent: ${pairWords(wrong)} computes something different (its own error max_abs ${num(wrong.own!.metrics.max_abs)}, cosine ${wrong.own!.metrics.cosine.toFixed(6)}` +
          `${n > 1 ? `; ${n - 1} more layer${n > 2 ? 's' : ''} too` : ''}); the outputs agree on these inputs; they may not on others${noOutputs}`,
      };
    }
    // A verdict the tool is unsure of says so: an own error it did not count, and why.
    const unsure = ownFails[0];
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
