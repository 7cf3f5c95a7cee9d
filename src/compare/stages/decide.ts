import type { PairResult, Result } from '../result.js';

/**
 * Stage 7, decide (pure): the verdict rule and the summary line. With failOn 'outputs' (the
 * default) the verdict follows the pairs that are model outputs, or every pair when none is;
 * with 'all' every compared pair counts. No pair at all is an error: nothing was compared.
 */

export interface Decision {
  verdict: Result['verdict'];
  summary: string;
  error?: Result['error'];
}

/** Said in the summary when no pair is an output: then every pair decides the verdict. */
const NO_OUTPUTS = '; no output of either model is in a pair (every pair decides the verdict)';

/** `pairs` densely indexed, `firstDivergence` from diagnose(). */
export function decide(pairs: readonly PairResult[], firstDivergence: number | undefined, failOn: 'outputs' | 'all' = 'outputs'): Decision {
  if (pairs.length === 0) {
    const error = { message: 'no reference node could be paired with a candidate layer; give an alignment map (--map)', code: 'alignment' };
    return { verdict: 'error', summary: `error: ${error.message}`, error };
  }
  const outputs = pairs.filter((p) => p.isOutput);
  const counted = failOn === 'all' || outputs.length === 0 ? pairs : outputs;
  const noOutputs = outputs.length ? '' : NO_OUTPUTS;
  if (counted.every((p) => p.pass)) {
    return { verdict: 'equivalent', summary: `equivalent: ${pairs.length} pairs compared, ${outputs.length} output(s) within tolerance${noOutputs}` };
  }
  const fd = firstDivergence !== undefined ? pairs[firstDivergence] : undefined;
  return {
    verdict: 'not-equivalent',
    summary:
      `not equivalent: first divergence at ${fd ? `'${fd.reference}' (${fd.referenceOp}) ~ '${fd.candidate}' (${fd.candidateType})` : 'an output'}; ` +
      `${pairs.filter((p) => !p.pass).length} of ${pairs.length} pairs fail${noOutputs}`,
  };
}
