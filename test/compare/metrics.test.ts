import { describe, expect, it } from 'vitest';
import { checkPasses, computeMetrics, errorHistogram, parseCheck, topkAgreement, worstElements } from '../../src/compare/metrics.js';

describe('metrics', () => {
  it('computes every metric of a hand-worked pair', () => {
    const ref = [1, -2, 4, 0];
    const cand = [1.5, -2, 3, 0.25];
    const m = computeMetrics(ref, cand, { atol: 0.1, rtol: 0.1 });
    // diffs 0.5, 0, -1, 0.25
    expect(m.max_abs).toBe(1);
    expect(m.max_rel).toBe(0.5); // 0.5/1 (ref 0 excluded)
    expect(m.mean_abs).toBeCloseTo(1.75 / 4, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt((0.25 + 0 + 1 + 0.0625) / 4), 12);
    // dot = 1.5 + 4 + 12 + 0 = 17.5; |ref|^2 = 21; |cand|^2 = 2.25+4+9+0.0625 = 15.3125
    expect(m.cosine).toBeCloseTo(17.5 / Math.sqrt(21 * 15.3125), 12);
    expect(m.sqnr).toBeCloseTo(10 * Math.log10(21 / 1.3125), 10);
    // tolerances 0.2, 0.3, 0.5, 0.1: element 1 only passes
    expect(m.allclose).toBe(0.25);
    // needed atol at rtol .1: max(0.5-0.1, 0-0.2, 1-0.4, 0.25-0) = 0.6
    expect(m.needed_atol).toBeCloseTo(0.6, 12);
    // needed rtol at atol .1: (0.5-.1)/1=.4, (1-.1)/4=.225, ref 0 with 0.25 > atol -> inf
    expect(m.needed_rtol).toBe(Infinity);
    expect(m.worst_index).toBe(2);
  });

  it('matches NaN with NaN by default, and infinities only with the same infinity', () => {
    const m = computeMetrics([NaN, Infinity, -Infinity, 1], [NaN, Infinity, Infinity, 1], { atol: 0, rtol: 0 });
    expect(m.nan_mismatch).toBe(0);
    expect(m.inf_mismatch).toBe(1);
    expect(m.allclose).toBe(0.75);
    expect(m.max_abs).toBe(0); // non-finite elements do not poison the finite statistics
    const strict = computeMetrics([NaN], [NaN], { atol: 0, rtol: 0, nanEqual: false });
    expect(strict.nan_mismatch).toBe(1);
    expect(strict.allclose).toBe(0);
  });

  it('identical tensors are a perfect match', () => {
    const m = computeMetrics([1, 2, 3], [1, 2, 3], { atol: 0, rtol: 0 });
    expect(m).toMatchObject({ max_abs: 0, cosine: 1, sqnr: Infinity, allclose: 1, needed_atol: 0, needed_rtol: 0 });
  });

  it('top-k agreement, checks, histogram, worst elements', () => {
    // rows: [0.1,0.7,0.2] vs [0.1,0.6,0.3] agree on top-1; [0.5,0.4,0.1] vs [0.3,0.6,0.1] do not
    expect(topkAgreement([0.1, 0.7, 0.2, 0.5, 0.4, 0.1], [0.1, 0.6, 0.3, 0.3, 0.6, 0.1], 3, 1)).toBe(0.5);
    expect(topkAgreement([0.1, 0.7, 0.2, 0.5, 0.4, 0.1], [0.1, 0.6, 0.3, 0.3, 0.6, 0.1], 3, 2)).toBe(1);
    const c = parseCheck('logits:cosine>=0.999');
    expect(c).toEqual({ tensor: 'logits', metric: 'cosine', op: '>=', value: 0.999 });
    expect(checkPasses(c, 0.9995)).toBe(true);
    expect(checkPasses(c, 0.99)).toBe(false);
    expect(() => parseCheck('cosnie>=1')).toThrow(/unknown metric 'cosnie'/);
    const h = errorHistogram([0, 0, 0, 0], [0, 1e-7, 5e-3, 20]);
    expect(h.zero).toBe(1);
    expect(h.counts[-7 + 12]).toBe(1);
    expect(h.counts[-3 + 12]).toBe(1);
    expect(h.counts[1 + 12]).toBe(1);
    const w = worstElements([0, 0, 0, 0, 0, 0], [0, 3, 0, 0, -5, 1], [2, 3], 2);
    expect(w).toEqual([
      { index: [1, 1], reference: 0, candidate: -5, abs: 5 },
      { index: [0, 1], reference: 0, candidate: 3, abs: 3 },
    ]);
  });
});
