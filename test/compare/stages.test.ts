import { describe, expect, it } from 'vitest';
import { PLAIN_ENGINE, engineConfigFromEnv } from '../../src/compare/engine.js';
import type { PairResult } from '../../src/compare/result.js';
import { decide } from '../../src/compare/stages/decide.js';
import type { RefNode } from '../../src/compare/stages/diagnose.js';
import { diagnose } from '../../src/compare/stages/diagnose.js';

/**
 * The pure stages alone, table-driven, on a reference chain x -> conv1/Conv2D -> conv1/Relu ->
 * act/Relu6 -> t/Transpose -> bn/add -> out whose pairs are conv1/Relu, bn/add and out.
 */
const node = (name: string, type: string, index: number, producedFrom: string[]): RefNode => ({ name, type, index, producedFrom, dtype: 'float32' });
const REF: RefNode[] = [
  node('x', 'Placeholder', 0, []),
  node('conv1/Conv2D', 'Conv2D', 1, ['x']),
  node('conv1/Relu', 'Relu', 2, ['conv1/Conv2D']),
  node('act/Relu6', 'Relu6', 3, ['conv1/Relu']),
  node('t/Transpose', 'Transpose', 4, ['act/Relu6']),
  node('bn/add', 'AddV2', 5, ['t/Transpose']),
  node('out', 'Softmax', 6, ['bn/add']),
];

function pair(index: number, reference: string, pass: boolean, extra: Partial<PairResult> = {}): PairResult {
  return { index, reference, candidate: `c_${reference}`, referenceOp: 'Op', candidateType: 'Layer', pass, isOutput: reference === 'out', upstream: [], failed: pass ? [] : ['allclose'], ...extra } as PairResult;
}
const own = (pass: boolean) => ({ own: { pass, metrics: {} as PairResult['metrics'] } });

describe('diagnose (pure)', () => {
  const cases: { what: string; pairs: PairResult[]; first?: number; root?: number; upstream: number[][]; unpairedBefore?: [number, string[]] }[] = [
    { what: 'all pass: no divergence', pairs: [pair(0, 'conv1/Relu', true), pair(1, 'bn/add', true), pair(2, 'out', true)], upstream: [[], [0], [1]] },
    {
      what: 'a failure inherited downstream: the first failing pair whose inputs pass',
      pairs: [pair(0, 'conv1/Relu', true), pair(1, 'bn/add', false), pair(2, 'out', false)],
      first: 1,
      root: 1,
      upstream: [[], [0], [1]],
      // act/Relu6 computes, outside bn's scope, and pairs with nothing; the Transpose only moves data.
      unpairedBefore: [1, ['act/Relu6']],
    },
    {
      what: 'own errors: the root cause is the first failing pair whose own error fails too',
      pairs: [pair(0, 'conv1/Relu', false, own(true)), pair(1, 'bn/add', false, own(false)), pair(2, 'out', false, own(true))],
      first: 0,
      root: 1,
      upstream: [[], [0], [1]],
      unpairedBefore: [1, ['act/Relu6']],
    },
    {
      what: 'own errors all pass: the root cause is the first divergence',
      pairs: [pair(0, 'conv1/Relu', true), pair(1, 'bn/add', false, own(true)), pair(2, 'out', false, own(true))],
      first: 1,
      root: 1,
      upstream: [[], [0], [1]],
      unpairedBefore: [1, ['act/Relu6']],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const before = JSON.stringify(c.pairs);
      const d = diagnose(c.pairs, REF);
      expect(d.firstDivergence).toBe(c.first);
      expect(d.rootCause).toBe(c.root);
      expect(d.pairs.map((p) => p.upstream)).toEqual(c.upstream);
      if (c.unpairedBefore) expect(d.pairs[c.unpairedBefore[0]]!.unpairedBefore).toEqual(c.unpairedBefore[1]);
      else expect(d.pairs.every((p) => !p.unpairedBefore)).toBe(true);
      // Pure: its input is left as it was.
      expect(JSON.stringify(c.pairs)).toBe(before);
    });
  }
});

describe('decide (pure)', () => {
  const cases: { what: string; pairs: PairResult[]; first?: number; failOn?: 'outputs' | 'all'; verdict: string; summary: RegExp }[] = [
    { what: 'no pairs: an error', pairs: [], verdict: 'error', summary: /^error: no reference node could be paired/ },
    { what: 'outputs pass, an intermediate fails: equivalent by default', pairs: [pair(0, 'conv1/Relu', false), pair(1, 'out', true)], verdict: 'equivalent', summary: /^equivalent: 2 pairs compared, 1 output\(s\) within tolerance$/ },
    { what: "the same with failOn 'all': not equivalent", pairs: [pair(0, 'conv1/Relu', false), pair(1, 'out', true)], first: 0, failOn: 'all', verdict: 'not-equivalent', summary: /^not equivalent: first divergence at 'conv1\/Relu' \(Op\) ~ 'c_conv1\/Relu' \(Layer\); 1 of 2 pairs fail$/ },
    { what: 'an output fails', pairs: [pair(0, 'conv1/Relu', true), pair(1, 'out', false)], first: 1, verdict: 'not-equivalent', summary: /first divergence at 'out'/ },
    { what: 'no output in a pair: every pair counts, and the summary says so', pairs: [pair(0, 'conv1/Relu', false)], first: 0, verdict: 'not-equivalent', summary: /no output of either model is in a pair/ },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const d = decide(c.pairs, c.first, c.failOn);
      expect(d.verdict).toBe(c.verdict);
      expect(d.summary).toMatch(c.summary);
      expect(!!d.error).toBe(c.verdict === 'error');
    });
  }
});

describe('EngineConfig', () => {
  it('is read from the environment in one place; the plain engine guesses nothing and holds everything', () => {
    expect(engineConfigFromEnv({})).toMatchObject({ guess: true, metricsThread: true, guessMinElements: 4096 });
    expect(engineConfigFromEnv({ PARITY_GUESS: '0', PARITY_METRICS_THREAD: '0', PARITY_HOLD_BYTES: '3000', PARITY_GUESS_MIN: 'x' })).toMatchObject({
      guess: false,
      metricsThread: false,
      holdBytes: 3000,
      guessMinElements: 4096,
    });
    expect(PLAIN_ENGINE).toMatchObject({ guess: false, metricsThread: false, holdBytes: Infinity });
  });
});
