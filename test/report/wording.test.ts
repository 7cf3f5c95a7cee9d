import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { compare } from '../../src/index.js';
import type { PairResult } from '../../src/compare/result.js';
import { consoleReport, num, unmatchedLines, wouldPass } from '../../src/report/console.js';
import { htmlReport, scriptJson } from '../../src/report/html.js';
import { markdownReport, md } from '../../src/report/markdown.js';
import { junitReport } from '../../src/report/junit.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const tol = { atol: 1e-4, rtol: 1e-4 };

/** A failing pair's numbers: the largest |difference| 0.03; the reference spans [-2, 1.5] (max|ref| 2). */
function pair(m: { max_abs: number; needed_atol: number; needed_rtol: number }, ref = { min: -2, max: 1.5 }, failed = ['allclose']) {
  return { metrics: m as PairResult['metrics'], tolerance: tol, referenceStats: { ...ref, mean: 0, std: 1, nonfinite: 0 }, failed };
}

describe('the tolerance that would have passed a pair, in words, at the error scale in force', () => {
  it("at the tensor's scale (the default): max_abs <= atol + rtol*max|ref| solved for each", () => {
    // atol >= 0.03 - 1e-4*2 = 0.0298; rtol >= (0.03 - 1e-4)/2 = 0.01495. The elementwise needs are not used.
    expect(wouldPass(pair({ max_abs: 0.03, needed_atol: 0.0299, needed_rtol: 0.5 }), 'tensor')).toBe(
      "atol >= 0.0298 (at rtol 0.0001) or rtol >= 0.01495 (at atol 0.0001) (judged at the tensor's scale, max|ref| 2)",
    );
  });

  it('element by element: the metric pass\'s needs, and it says so', () => {
    expect(wouldPass(pair({ max_abs: 0.03, needed_atol: 0.5, needed_rtol: 0.25 }), 'element')).toBe(
      'atol >= 0.5 (at rtol 0.0001) or rtol >= 0.25 (at atol 0.0001) (judged element by element)',
    );
  });

  it('says why no rtol would, instead of "rtol >= inf"', () => {
    const s = wouldPass(pair({ max_abs: 3.669, needed_atol: 3.669, needed_rtol: Infinity }), 'element');
    expect(s).toBe('atol >= 3.669 (at rtol 0.0001); no rtol would (at atol 0.0001): an element whose reference is 0 differs by more than atol (judged element by element)');
    expect(s).not.toContain('inf');
    // At the tensor's scale an element whose reference is 0 is judged at max|ref| 2: rtol >= (3.669 - 1e-4)/2 = 1.834 (4 digits).
    expect(wouldPass(pair({ max_abs: 3.669, needed_atol: 3.669, needed_rtol: Infinity }), 'tensor')).toBe(
      "atol >= 3.669 (at rtol 0.0001) or rtol >= 1.834 (at atol 0.0001) (judged at the tensor's scale, max|ref| 2)",
    );
    // Only a reference that is 0 everywhere leaves no rtol at that scale.
    expect(wouldPass(pair({ max_abs: 0.5, needed_atol: 0.5, needed_rtol: Infinity }, { min: 0, max: 0 }), 'tensor')).toBe(
      "atol >= 0.5 (at rtol 0.0001); no rtol would (at atol 0.0001): the reference is 0 everywhere (judged at the tensor's scale, max|ref| 0)",
    );
  });

  it('says no tolerance would, for a NaN or infinity the other model does not match', () => {
    expect(wouldPass(pair({ max_abs: NaN, needed_atol: Infinity, needed_rtol: Infinity }), 'tensor')).toMatch(/^no tolerance would pass it: a NaN or infinity/);
  });

  it('a pair failing another check only: no tolerance to give', () => {
    expect(wouldPass(pair({ max_abs: 1e-5, needed_atol: 0, needed_rtol: 0 }, undefined, ['cosine>=0.999']), 'tensor')).toBe('its differences are within atol 0.0001 rtol 0.0001 already; it fails cosine>=0.999');
  });

  it('is what the console and JUnit reports print for a failing pair, and the atol it gives passes that pair', async () => {
    const r = await compare('cases/models/cnn.pb', 'cases/models/cnn-buggy.keras', { seed: 0 });
    expect(r.run.errorScale).toBe('tensor');
    const fd = r.pairs[r.firstDivergence!]!;
    // dw1's ReLU6 is 0 where the buggy candidate's is not: elementwise no rtol would pass it; at the tensor's scale one does.
    expect(fd.metrics.needed_rtol).toBe(Infinity);
    const text = wouldPass(fd, 'tensor');
    const scale = Math.max(Math.abs(fd.referenceStats.min), Math.abs(fd.referenceStats.max));
    expect(text).toContain(`atol >= ${num(fd.metrics.max_abs - fd.tolerance.rtol * scale)} (at rtol ${fd.tolerance.rtol})`);
    expect(text).toContain(`or rtol >= ${num((fd.metrics.max_abs - fd.tolerance.atol) / scale)}`);
    expect(consoleReport(r, { color: false })).toContain(`would pass with ${text}`);
    expect(junitReport(r)).toContain(text.replace(/>/g, '&gt;').replace(/'/g, '&apos;'));
    // The page shows the text computed here (one wouldPass), from its embedded data.
    expect(htmlReport(r)).toContain(scriptJson(text));
    // The same run at the atol it names (1% above): that pair passes; 1% below, it still fails.
    const need = fd.metrics.max_abs - fd.tolerance.rtol * scale;
    for (const [f, pass] of [[1.01, true], [0.99, false]] as const) {
      const again = await compare('cases/models/cnn.pb', 'cases/models/cnn-buggy.keras', { seed: 0, atol: need * f, rtol: fd.tolerance.rtol });
      expect(again.pairs.find((p) => p.reference === fd.reference && p.candidate === fd.candidate)!.failed.includes('allclose')).toBe(!pass);
    }
  });
});

describe('the layers paired with nothing, by name, in every report', () => {
  it('console, Markdown and HTML list each side, and cut a long list with a count', async () => {
    const r = await compare('test/fixtures/handport-failures/branches/model.json', 'test/fixtures/handport-failures/branches/correct.onnx', { seed: 1 });
    expect(r.unmatched.reference.length + r.unmatched.candidate.length).toBeGreaterThan(0);
    const long = { ...r, unmatched: { reference: Array.from({ length: 15 }, (_, i) => `StatefulPartitionedCall/model/n${i}/Relu`), candidate: ['/a/Conv_output_0', '/b/Reshape_output_0'] } };
    const lines = unmatchedLines(long);
    // 12 shown (UNMATCHED_SHOWN), then how many more.
    expect(lines).toEqual([
      `reference (15): ${Array.from({ length: 12 }, (_, i) => `StatefulPartitionedCall/model/n${i}/Relu`).join(', ')}, … and 3 more`,
      'candidate (2): /a/Conv_output_0, /b/Reshape_output_0',
    ]);
    // An empty side says nothing.
    expect(unmatchedLines({ unmatched: { reference: [], candidate: ['x'] } })).toEqual(['candidate (1): x']);
    const text = consoleReport(long, { color: false });
    expect(text).toContain(`Unmatched (paired with nothing, so not judged):\n  ${lines[0]}\n  ${lines[1]}\n`);
    const mdText = markdownReport(long);
    expect(mdText).toContain(`**Unmatched** (paired with nothing, so not judged):\n- ${md(lines[0]!)}\n- ${md(lines[1]!)}`);
    // The page shows names without the scope most share, 40 a side.
    const html = htmlReport(long);
    expect(html).toContain(scriptJson(`reference (15): ${Array.from({ length: 15 }, (_, i) => `n${i}/Relu`).join(', ')}`));
    // The real comparison: each unmatched name of the reference is in the console report.
    const real = consoleReport(r, { color: false });
    for (const n of r.unmatched.reference.slice(0, 12)) expect(real).toContain(n);
  });
});
