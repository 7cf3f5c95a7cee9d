import type { Result } from '../compare/result.js';
import { betweenLines, num, sureness, unmatchedLines, unpairedOutputLines } from './console.js';

/** Markdown cell text: pipes and newlines would break the table; backticks and HTML are neutralised. */
export function md(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/`/g, "'");
}

/** A short summary for a pull-request comment or a CI step summary. */
export function markdownReport(r: Result, opts: { worst?: number } = {}): string {
  const icon = r.verdict === 'equivalent' ? '✅' : r.verdict === 'error' ? '⚠️' : '❌';
  const lines: string[] = [];
  lines.push(`### ${icon} tf-parity: ${r.verdict.replace('-', ' ')}`);
  lines.push('');
  lines.push(`**${md(r.reference.path)}** vs **${md(r.candidate.path)}** — ${md(r.summary)}`);
  lines.push('');
  lines.push(
    `seed ${r.run.seed} · ${r.run.iterations} iteration(s) · backend ${md(r.run.backend)} · atol ${r.run.tolerance.atol} · rtol ${r.run.tolerance.rtol}` +
      ` · ${r.pairs.length} pairs · unmatched ${r.unmatched.reference.length}/${r.unmatched.candidate.length} (reference/candidate)`,
  );
  for (const w of r.run.warnings ?? []) lines.push('', `> ⚠️ ${md(w)}`);
  for (const [side, facts] of [['reference', r.reference], ['candidate', r.candidate]] as const) {
    for (const w of facts.warnings ?? []) lines.push('', `> ⚠️ ${side}: ${md(w)}`);
  }
  if (r.why?.length) {
    lines.push('', '**Why:**');
    for (const w of r.why) lines.push(`- ${md(w)}`);
  }
  const unpairedOuts = unpairedOutputLines(r);
  if (unpairedOuts.length) {
    lines.push('', '**Outputs in no pair:**');
    for (const u of unpairedOuts) lines.push(`- ${md(u)}`);
  }
  if (r.shapesPart) lines.push('', `**${r.shapesPart.isRootCause ? 'Root cause' : 'Past the first divergence'}:** ${md(r.shapesPart.text)}`);
  if (r.firstDivergence !== undefined) {
    const p = r.pairs[r.firstDivergence]!;
    lines.push('');
    lines.push(
      `**First divergence:** \`${md(p.reference)}\` (${md(p.referenceOp)}) ~ \`${md(p.candidate)}\` (${md(p.candidateType)}): ` +
        `max_abs ${num(p.metrics.max_abs)}, cosine ${p.metrics.cosine.toFixed(6)}` +
        (p.own ? `; own error ${num(p.own.metrics.max_abs)} (${p.ownDiscounted ? 'not the layer alone' : p.own.pass ? 'inherited' : 'its own'})` : '') +
        ` [${p.strategy}, confidence ${p.confidence.toFixed(2)}]`,
    );
    const s = sureness(p);
    if (s) lines.push('', `> ${md(s)}`);
    for (const u of betweenLines(r, p)) lines.push('', `> ${md(u)}`);
  }
  if (r.rootCause !== undefined && r.rootCause !== r.firstDivergence) {
    const p = r.pairs[r.rootCause]!;
    lines.push('', `**Root cause:** \`${md(p.reference)}\` ~ \`${md(p.candidate)}\` (own max_abs ${num(p.own?.metrics.max_abs)}) [${p.strategy}, confidence ${p.confidence.toFixed(2)}]`);
    const s = sureness(p);
    if (s) lines.push('', `> ${md(s)}`);
    for (const u of betweenLines(r, p)) lines.push('', `> ${md(u)}`);
  }
  const rows = [...r.pairs.filter((p) => p.isOutput), ...r.pairs.filter((p) => !p.isOutput && !p.pass).sort((a, b) => b.metrics.max_abs - a.metrics.max_abs).slice(0, opts.worst ?? 10)];
  if (rows.length) {
    lines.push('', '| | reference | candidate | max_abs | max_rel | cosine | allclose |', '|---|---|---|---|---|---|---|');
    for (const p of rows) {
      lines.push(
        `| ${p.pass ? 'pass' : '**FAIL**'}${p.isOutput ? ' (output)' : ''}${p.unsure ? ` (unsure: ${p.strategy}, confidence ${p.confidence.toFixed(2)})` : ''} | \`${md(p.reference)}\` | \`${md(p.candidate)}\` | ${num(p.metrics.max_abs)} | ${num(p.metrics.max_rel)} | ${p.metrics.cosine.toFixed(6)} | ${(p.metrics.allclose * 100).toFixed(2)}% |`,
      );
    }
  }
  const unmatched = unmatchedLines(r);
  if (unmatched.length) {
    lines.push('', '**Unmatched** (paired with nothing, so not judged):');
    for (const u of unmatched) lines.push(`- ${md(u)}`);
  }
  return lines.join('\n') + '\n';
}
