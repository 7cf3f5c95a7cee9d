import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { compare } from '../../src/index.js';
import { consoleReport, wouldPass } from '../../src/report/console.js';
import { junitReport } from '../../src/report/junit.js';
import { htmlReport } from '../../src/report/html.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const tol = { atol: 1e-4, rtol: 1e-4 };

describe('the tolerance that would have passed a pair, in words', () => {
  it('gives both when both are finite', () => {
    expect(wouldPass({ needed_atol: 0.5, needed_rtol: 0.25 }, tol)).toBe('atol >= 0.5 (at rtol 0.0001) or rtol >= 0.25 (at atol 0.0001)');
  });

  it('says why no rtol would, instead of "rtol >= inf"', () => {
    const s = wouldPass({ needed_atol: 3.669, needed_rtol: Infinity }, tol);
    expect(s).toBe('atol >= 3.669 (at rtol 0.0001); no rtol would (at atol 0.0001): an element whose reference is 0 differs by more than atol');
    expect(s).not.toContain('inf');
  });

  it('says no tolerance would, for a NaN or infinity the other model does not match', () => {
    expect(wouldPass({ needed_atol: Infinity, needed_rtol: Infinity }, tol)).toMatch(/^no tolerance would pass it: a NaN or infinity/);
  });

  it('is what the console, JUnit and HTML reports print for a failing pair', async () => {
    const r = await compare('cases/models/cnn.pb', 'cases/models/cnn-buggy.keras', { seed: 0 });
    const fd = r.pairs[r.firstDivergence!]!;
    // dw1's ReLU6 is 0 where the buggy candidate's is not: atol alone passes it, no rtol does.
    expect(fd.metrics.needed_rtol).toBe(Infinity);
    const text = wouldPass(fd.metrics, fd.tolerance);
    expect(consoleReport(r, { color: false })).toContain(`would pass with ${text}`);
    expect(junitReport(r)).toContain(text.replace(/>/g, '&gt;'));
    // The page shows the text computed here (one wouldPass), from its embedded data.
    expect(htmlReport(r)).toContain(`"${fd.index}":${JSON.stringify(text).replace(/>/g, "\\u003e")}`);
  });
});
