import { type ErrorScale, neededTolerance, referenceScale } from '../compare/metrics.js';
import type { PairResult, Result } from '../compare/result.js';

/**
 * The tolerance that would have made a failing pair pass, in words, at the error scale the run
 * judged it at (Result.run.errorScale: the tensor's scale max|ref|, or each element's |ref|), and
 * saying which: no tolerance covers a NaN or infinity the other model does not match, and no rtol
 * a reference of 0, which says more than "rtol >= inf".
 */
export function wouldPass(p: Pick<PairResult, 'metrics' | 'tolerance' | 'referenceStats' | 'failed'>, scale: ErrorScale = 'tensor'): string {
  const m = p.metrics;
  const tol = p.tolerance;
  if (!Number.isFinite(m.needed_atol)) return 'no tolerance would pass it: a NaN or infinity that the other model does not match';
  if (!p.failed.includes('allclose')) return `its differences are within atol ${tol.atol} rtol ${tol.rtol} already; it fails ${p.failed.join(', ')}`;
  const need = neededTolerance(m, p.referenceStats, tol, scale);
  const how = scale === 'element' ? 'judged element by element' : `judged at the tensor's scale, max|ref| ${num(referenceScale(p.referenceStats))}`;
  const atol = `atol >= ${num(need.atol)} (at rtol ${tol.rtol})`;
  if (!Number.isFinite(need.rtol)) {
    return `${atol}; no rtol would (at atol ${tol.atol}): ${scale === 'element' ? 'an element whose reference is 0 differs by more than atol' : 'the reference is 0 everywhere'} (${how})`;
  }
  return `${atol} or rtol >= ${num(need.rtol)} (at atol ${tol.atol}) (${how})`;
}

/** The error scale a Result's pairs were judged at: Results written before it was recorded judged each element. */
export function errorScaleOf(r: Pick<Result, 'run'>): ErrorScale {
  return r.run.errorScale ?? 'element';
}

/** How many unmatched names each report lists per side before it says how many more there are. */
export const UNMATCHED_SHOWN = 12;

/**
 * The layers of each side that no pair has (Result.unmatched: compared with nothing, so nothing
 * judges them), one line a side, cut after `max` names with a count; none for an empty side.
 */
export function unmatchedLines(r: Pick<Result, 'unmatched'>, max = UNMATCHED_SHOWN, show: { reference?: (n: string) => string; candidate?: (n: string) => string } = {}): string[] {
  const lines: string[] = [];
  for (const side of ['reference', 'candidate'] as const) {
    const names = r.unmatched[side];
    if (!names.length) continue;
    const f = show[side] ?? ((n: string) => n);
    const listed = names.slice(0, max).map(f).join(', ');
    lines.push(`${side} (${names.length}): ${listed}${names.length > max ? `, … and ${names.length - max} more` : ''}`);
  }
  return lines;
}

/** The reference computations between a pair and its inputs that nothing in the candidate pairs with, in words. */
export function unpairedLine(r: Result, p: PairResult): string | undefined {
  if (!p.unpairedBefore?.length) return undefined;
  const ops = new Map(r.graph.map((n) => [n.name, n.op]));
  const list = p.unpairedBefore.map((n) => `${n} (${ops.get(n) ?? '?'})`).join(', ');
  return `between its inputs and it the reference computes ${list}, which no candidate layer pairs with: if the conversion lacks ${p.unpairedBefore.length > 1 ? 'them' : 'it'}, that is the fault`;
}

/** The reference layers before a pair that the candidate computes too but at another shape, in words. */
export function differsLine(p: PairResult): string | undefined {
  if (!p.differsBefore?.length) return undefined;
  const each = p.differsBefore.map((d) => `the reference's ${d.reference} (${d.referenceOp}) gives [${d.referenceShape}] where the candidate's ${d.candidate} (${d.candidateType}) gives [${d.candidateShape}]`);
  return `between its inputs and it ${each.join('; ')}: the conversion computes ${each.length > 1 ? 'them' : 'it'} differently there (neither side pairs)`;
}

/** The hints of a first divergence or root cause about what lies between it and its inputs: lacking, or computed differently. */
export function betweenLines(r: Result, p: PairResult): string[] {
  return [unpairedLine(r, p), differsLine(p)].filter((x): x is string => !!x);
}

/** How sure the alignment is of a pair, in words (shown where it is unsure or paired by shape alone). */
export function sureness(p: PairResult): string | undefined {
  if (p.unsure) return `the alignment is unsure of this pair: ${p.unsure.reason}${p.unsure.candidates.length > 1 ? `; it hesitated between ${p.unsure.candidates.map((c) => `'${c}'`).join(', ')}` : ''}`;
  if (p.hesitatedWith?.length) return `paired by shape alone (confidence ${p.confidence.toFixed(2)}): the candidate's ${p.hesitatedWith.map((c) => `'${c}'`).join(', ')} ${p.hesitatedWith.length === 1 ? 'has' : 'have'} its size too`;
  return undefined;
}

/** The own error line: measured and claimed, measured but not the layer's alone, or not computed. */
export function ownLine(p: PairResult): string | undefined {
  if (p.own && p.ownDiscounted) return `own error not claimed (max_abs ${num(p.own.metrics.max_abs)} re-run alone): ${p.ownDiscounted}`;
  if (p.own) return `own error (layer re-run on the reference's inputs): max_abs ${num(p.own.metrics.max_abs)} -> ${p.own.pass ? 'passes: error inherited' : 'fails: error is its own'}`;
  if (p.ownSkipped) return `own error not computed: ${p.ownSkipped}`;
  return undefined;
}

/** The outputs in no pair, one line each, when the verdict counts them. */
export function unpairedOutputLines(r: Result): string[] {
  return (r.outputs ?? []).filter((o) => o.unpaired).map((o) => `${o.excused ? 'not counted' : 'UNPAIRED'}: the ${o.side}'s output '${o.name}' [${o.shape}] ${o.dtype}: ${o.unpaired}`);
}

/** Short number for tables: 4 significant digits, exponent when small or large. */
export function num(x: number | undefined): string {
  if (x === undefined) return '-';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-2 ? x.toExponential(2) : String(Number(x.toPrecision(4)));
}

function pairLine(p: PairResult): string {
  const m = p.metrics;
  return (
    `#${p.index} ${p.reference} (${p.referenceOp}) ~ ${p.candidate} (${p.candidateType}) ` +
    `max_abs ${num(m.max_abs)} max_rel ${num(m.max_rel)} cosine ${m.cosine.toFixed(6)} allclose ${(m.allclose * 100).toFixed(2)}%` +
    (p.own ? ` | own max_abs ${num(p.own.metrics.max_abs)} (${p.ownDiscounted ? 'not its own alone' : p.own.pass ? 'pass' : 'FAIL'})` : '') +
    (p.unsure ? ` [unsure: ${p.strategy}, confidence ${p.confidence.toFixed(2)}]` : '')
  );
}

/** The console summary: verdict, first divergence and root cause, worst pairs, unmatched counts. */
export function consoleReport(r: Result, opts: { worst?: number; color?: boolean } = {}): string {
  const c = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const lines: string[] = [];
  const verdict =
    r.verdict === 'equivalent' ? c('32;1', 'EQUIVALENT') : r.verdict === 'error' ? c('33;1', 'ERROR') : c('31;1', 'NOT EQUIVALENT');
  lines.push(`${verdict}  ${r.reference.path} vs ${r.candidate.path}`);
  lines.push(
    `  seed ${r.run.seed}, ${r.run.iterations} iteration(s), backend ${r.run.backend}, atol ${r.run.tolerance.atol} rtol ${r.run.tolerance.rtol}${r.run.errorScale === 'element' ? ' (each element)' : r.run.errorScale ? " (at each tensor's scale)" : ''}` +
      (r.run.checks.length ? `, checks ${r.run.checks.join(' ')}` : ''),
  );
  const failing = r.pairs.filter((p) => !p.pass);
  lines.push(
    `  ${r.pairs.length} pairs compared (${r.pairs.filter((p) => p.isOutput).length} outputs), ${failing.length} failing; ` +
      `unmatched: ${r.unmatched.reference.length} reference, ${r.unmatched.candidate.length} candidate`,
  );
  // Why the verdict is what it is, when the outputs alone do not say it (src/compare/stages/decide.ts).
  const outputPairs = r.pairs.filter((p) => p.isOutput);
  if (r.verdict === 'not-equivalent' ? outputPairs.length > 0 && outputPairs.every((p) => p.pass) : r.summary.includes('; not counted: ')) lines.push(`  ${c(r.verdict === 'equivalent' ? '33' : '31', r.summary)}`);
  if (r.pairs.length && !r.pairs.some((p) => p.isOutput)) lines.push(`  ${c('33', 'no output of either model is in a pair: every pair decides the verdict')}`);
  for (const w of r.run.warnings ?? []) lines.push(`  ${c('33', 'warning:')} ${w}`);
  for (const [side, facts] of [['reference', r.reference], ['candidate', r.candidate]] as const) {
    for (const w of facts.warnings ?? []) lines.push(`  ${c('33', `warning (${side}):`)} ${w}`);
  }
  if (r.error) lines.push(`  ${c('33', r.error.message)}`);
  if (r.why?.length) {
    lines.push('', c('1', `Why ${r.verdict === 'equivalent' ? 'equivalent' : r.verdict === 'error' ? 'an error' : 'not equivalent'}:`));
    for (const w of r.why) lines.push(`  - ${w}`);
  }
  const unpairedOuts = unpairedOutputLines(r);
  if (unpairedOuts.length) {
    lines.push('', c('1', 'Outputs in no pair:'));
    for (const u of unpairedOuts) lines.push(`  ${c(u.startsWith('UNPAIRED') ? '31' : '33', u)}`);
  }
  if (r.shapesPart) {
    lines.push('', c('1', r.shapesPart.isRootCause ? 'Root cause (where the shapes part; no pair before it fails):' : 'Where the shapes part (past the first divergence):'), `  ${r.shapesPart.text}`);
  }
  if (r.firstDivergence !== undefined) {
    const p = r.pairs[r.firstDivergence]!;
    // An equivalent verdict with a failing layer: the outputs decide, and they pass.
    lines.push('', c('1', r.verdict === 'equivalent' ? 'First divergence (an intermediate layer; the outputs pass, so the verdict does):' : 'First divergence:'));
    lines.push(`  reference ${p.reference} (${p.referenceOp})  ~  candidate ${p.candidate} (${p.candidateType})  [${p.strategy}, confidence ${p.confidence.toFixed(2)}]`);
    lines.push(
      `  max_abs ${num(p.metrics.max_abs)}  max_rel ${num(p.metrics.max_rel)}  mean_abs ${num(p.metrics.mean_abs)}  cosine ${p.metrics.cosine.toFixed(6)}  sqnr ${num(p.metrics.sqnr)} dB`,
    );
    lines.push(`  would pass with ${wouldPass(p, errorScaleOf(r))}`);
    const o = ownLine(p);
    if (o) lines.push(`  ${o}`);
    const s = sureness(p);
    if (s) lines.push(`  ${c('33', s)}`);
    for (const u of betweenLines(r, p)) lines.push(`  ${c('33', u)}`);
  }
  if (r.rootCause !== undefined && r.rootCause !== r.firstDivergence) {
    const p = r.pairs[r.rootCause]!;
    lines.push('', c('1', 'Root cause (first pair whose own error fails):'), `  ${pairLine(p)}`);
    const s = sureness(p);
    if (s) lines.push(`  ${c('33', s)}`);
    for (const u of betweenLines(r, p)) lines.push(`  ${c('33', u)}`);
  }
  if (failing.length) {
    const worst = [...failing].sort((a, b) => b.metrics.max_abs - a.metrics.max_abs).slice(0, opts.worst ?? 10);
    lines.push('', c('1', `Worst ${worst.length} failing pairs:`));
    for (const p of worst) lines.push(`  ${pairLine(p)}`);
  }
  const unsure = r.pairs.filter((p) => p.unsure && !p.pass);
  if (unsure.length) {
    lines.push('', c('1', `Failing pairs the alignment is unsure of (not judged, not a root cause): ${unsure.length}`));
    for (const p of unsure.slice(0, opts.worst ?? 10)) lines.push(`  #${p.index} ${p.reference} ~ ${p.candidate}: ${sureness(p)}`);
  }
  const unmatched = unmatchedLines(r);
  if (unmatched.length) {
    lines.push('', c('1', 'Unmatched (paired with nothing, so not judged):'));
    for (const u of unmatched) lines.push(`  ${u}`);
  }
  const outs = r.pairs.filter((p) => p.isOutput);
  if (outs.length) {
    lines.push('', c('1', 'Outputs:'));
    for (const p of outs) lines.push(`  ${p.pass ? c('32', 'pass') : c('31', 'FAIL')} ${pairLine(p)}`);
  }
  return lines.join('\n') + '\n';
}
