import type { OutputAccount, PairResult, Result, ShapesPart } from '../result.js';

/**
 * Stage 7, decide (pure): the verdict rule, the summary line and why, in words. With failOn
 * 'outputs' (the default) the verdict follows the pairs that are model outputs, or every pair
 * when none is; with 'all' every compared pair counts but those the alignment is unsure of
 * (found by shape alone between layers of different kinds: they are reported, not judged).
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

/** `pairs` densely indexed, `firstDivergence` from diagnose(). */
export function decide(pairs: readonly PairResult[], firstDivergence: number | undefined, failOn: 'outputs' | 'all' = 'outputs', facts: DecideFacts = {}): Decision {
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
  const passes = counted.every((p) => p.pass) && unpairedOutputs.length === 0;
  // Why, in words.
  for (const o of unpairedOutputs) why.push(`the ${o.side}'s output '${o.name}' [${o.shape}] is in no pair: ${o.unpaired}`);
  const failingOutputs = outputs.filter((p) => !p.pass);
  for (const p of failingOutputs.slice(0, 3)) why.push(`the output ${pairName(p)} fails: ${p.failed.join(', ')}`);
  if (failingOutputs.length > 3) why.push(`and ${failingOutputs.length - 3} more outputs fail`);
  if (failOn === 'all' || !outputs.length) {
    const layers = counted.filter((p) => !p.pass && !p.isOutput);
    if (layers.length) why.push(`${layers.length} compared layer${layers.length === 1 ? '' : 's'} fail${layers.length === 1 ? 's' : ''}${failOn === 'all' ? ' (--fail-on all: every layer counts)' : ' (no output is in a pair: every layer counts)'}`);
  }
  if (facts.shapesPart?.isRootCause && !passes) why.push(facts.shapesPart.text);
  if (passes) {
    const outs = facts.outputs?.filter((o) => o.side === 'candidate').length ?? outputs.length;
    if (outputs.length) why.unshift(`every output is paired and within tolerance (${outputs.length} output pair${outputs.length === 1 ? '' : 's'}${outs ? ` for ${outs} candidate output${outs === 1 ? '' : 's'}` : ''})`);
    else why.unshift(`no output of either model is in a pair, and every compared layer passes`);
    if (facts.shapesPart) why.push(`the outputs agree on these inputs, yet ${facts.shapesPart.text.replace(/^shapes part here/, 'the shapes part')}: the conversion computes something else there`);
    const inter = failing.filter((p) => !p.isOutput && !p.unsure);
    if (failOn === 'outputs' && outputs.length && inter.length) {
      why.push(`${inter.length} intermediate layer${inter.length === 1 ? '' : 's'} fail${inter.length === 1 ? 's' : ''}, but the outputs agree on these inputs, so the verdict follows them (they may not agree on others; --fail-on all counts every layer)`);
    }
  }
  for (const o of (facts.outputs ?? []).filter((o) => o.excused)) why.push(`not counted: the ${o.side}'s output '${o.name}': ${o.unpaired}`);
  const unsureFailing = unsure.filter((p) => !p.pass);
  if (unsureFailing.length) {
    why.push(`${unsureFailing.length} failing pair${unsureFailing.length === 1 ? ' is' : 's are'} not judged: the alignment is unsure of ${unsureFailing.length === 1 ? 'it' : 'them'} (${unsureFailing.slice(0, 3).map((p) => `${pairName(p)}: ${p.unsure!.reason}`).join('; ')}${unsureFailing.length > 3 ? '; ...' : ''})`);
  }
  if (passes) {
    return { verdict: 'equivalent', summary: `equivalent: ${pairs.length} pairs compared, ${outputs.length} output(s) within tolerance${noOutputs}`, why };
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
