import type { PairResult, Result } from '../compare/result.js';
import type { ErrorScale } from '../compare/metrics.js';
import { errorScaleOf, num, sureness, wouldPass } from './console.js';

/** XML text and attribute escaping; also strips characters XML 1.0 cannot carry. */
export function xml(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '?')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function failureText(p: PairResult, scale: ErrorScale): string {
  const m = p.metrics;
  return [
    `reference ${p.reference} (${p.referenceOp}) vs candidate ${p.candidate} (${p.candidateType})`,
    `failed: ${p.failed.join(', ')}`,
    `max_abs ${num(m.max_abs)} max_rel ${num(m.max_rel)} mean_abs ${num(m.mean_abs)} cosine ${m.cosine} sqnr ${num(m.sqnr)} dB allclose ${(m.allclose * 100).toFixed(3)}%`,
    `tolerance atol ${p.tolerance.atol} rtol ${p.tolerance.rtol}; would pass with ${wouldPass(p, scale)}`,
    p.own ? `own error (re-run on reference inputs): max_abs ${num(p.own.metrics.max_abs)} ${p.ownDiscounted ? `not claimed: ${p.ownDiscounted}` : p.own.pass ? 'passes (inherited)' : 'fails (own)'}` : '',
    sureness(p) ?? '',
    ...p.worst.slice(0, 3).map((w) => `  at [${w.index.join(',')}]: reference ${w.reference} candidate ${w.candidate}`),
  ]
    .filter(Boolean)
    .join('\n');
}

function testcase(p: PairResult, classname: string, kind: string, scale: ErrorScale): string {
  const name = `${kind} ${p.reference} ~ ${p.candidate}`;
  const head = `    <testcase classname="${xml(classname)}" name="${xml(name)}" time="0">`;
  if (p.pass) return `${head}</testcase>`;
  const msg = `${p.failed.join(', ')}: max_abs ${num(p.metrics.max_abs)}`;
  return `${head}\n      <failure message="${xml(msg)}" type="NotEquivalent">${xml(failureText(p, scale))}</failure>\n    </testcase>`;
}

/**
 * JUnit XML: one testcase per compared output and one per failing layer (passing layers are
 * not listed, so a CI page stays short); the first divergence is named in the suite's properties.
 */
export function junitReport(r: Result, suiteName?: string): string {
  const classname = suiteName ?? `tf-parity.${r.candidate.path}`;
  const cases: string[] = [];
  for (const p of r.pairs.filter((q) => q.isOutput)) cases.push(testcase(p, classname, 'output', errorScaleOf(r)));
  for (const p of r.pairs.filter((q) => !q.isOutput && !q.pass)) cases.push(testcase(p, classname, r.firstDivergence === p.index ? 'first-divergence' : p.unsure ? 'unsure-pair' : 'layer', errorScaleOf(r)));
  // Every model output in no pair is a failing test case (one the verdict excuses is a skipped one), saying why.
  for (const o of (r.outputs ?? []).filter((q) => q.unpaired)) {
    const head = `    <testcase classname="${xml(classname)}" name="${xml(`unpaired ${o.side} output ${o.name}`)}" time="0">`;
    cases.push(o.excused ? `${head}\n      <skipped message="${xml(o.unpaired!)}"/>\n    </testcase>` : `${head}\n      <failure message="${xml(`in no pair: ${o.unpaired}`)}" type="UnpairedOutput">${xml(`the ${o.side}'s output '${o.name}' [${o.shape}] ${o.dtype}: ${o.unpaired}`)}</failure>\n    </testcase>`);
  }
  if (r.shapesPart?.isRootCause) {
    cases.push(`    <testcase classname="${xml(classname)}" name="${xml(`shapes part ${r.shapesPart.reference}`)}" time="0">\n      <failure message="${xml(r.shapesPart.text)}" type="ShapesPart">${xml(r.shapesPart.text)}</failure>\n    </testcase>`);
  }
  if (r.verdict === 'error') {
    cases.push(
      `    <testcase classname="${xml(classname)}" name="comparison" time="0">\n      <error message="${xml(r.error?.message ?? 'error')}" type="${xml(r.error?.code ?? 'error')}"/>\n    </testcase>`,
    );
  }
  if (cases.length === 0) cases.push(`    <testcase classname="${xml(classname)}" name="comparison" time="0"></testcase>`);
  const failures = cases.filter((c) => c.includes('<failure')).length;
  const errors = cases.filter((c) => c.includes('<error')).length;
  const fd = r.firstDivergence !== undefined ? r.pairs[r.firstDivergence] : undefined;
  const props = [
    ['verdict', r.verdict],
    ['reference', r.reference.path],
    ['candidate', r.candidate.path],
    ['seed', String(r.run.seed)],
    ['backend', r.run.backend],
    ...(fd ? [['first_divergence', `${fd.reference} ~ ${fd.candidate}`]] : []),
    ...(r.shapesPart ? [['shapes_part', r.shapesPart.text]] : []),
    ...(r.why?.length ? [['why', r.why.join('; ')]] : []),
  ]
    .map(([k, v]) => `      <property name="${xml(k!)}" value="${xml(v!)}"/>`)
    .join('\n');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="tf-parity" tests="${cases.length}" failures="${failures}" errors="${errors}" time="${(r.run.timings.totalMs / 1000).toFixed(3)}">\n` +
    `  <testsuite name="${xml(classname)}" tests="${cases.length}" failures="${failures}" errors="${errors}" time="${(r.run.timings.totalMs / 1000).toFixed(3)}">\n` +
    `    <properties>\n${props}\n    </properties>\n` +
    cases.join('\n') +
    `\n  </testsuite>\n</testsuites>\n`
  );
}
