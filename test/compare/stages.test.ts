import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { DEFAULT_ENGINE, PLAIN_ENGINE, engineConfigFromEnv, engineFromEnv, fastEngine } from '../../src/compare/engine.js';
import type { Held } from '../../src/compare/store.js';
import type { PairResult } from '../../src/compare/result.js';
import { computeMetricsScalar, referenceScale, withinTolerance } from '../../src/compare/metrics.js';
import { decide, trustedPair } from '../../src/compare/stages/decide.js';
import { failedChecks } from '../../src/compare/stages/measure-pair.js';
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
const ownM = (pass: boolean, max_abs: number, cosine: number) => ({ own: { pass, metrics: { max_abs, cosine } as PairResult['metrics'] } });
const metricsM = (max_abs: number, cosine: number) => ({ metrics: { max_abs, cosine } as PairResult['metrics'] });
const byName = { strategy: 'name', confidence: 1 } as const;
/** bn/add paired by shape after pair 0, reference values in [-10, 20] (max|ref| 20), its own error `own` max_abs. */
const frontier = (index: number, ownMaxAbs: number, extra: Partial<PairResult> = {}) =>
  pair(index, 'bn/add', false, { strategy: 'shape', confidence: 0.5, upstream: [index - 1], referenceStats: { min: -10, max: 20, mean: 0, std: 1, nonfinite: 0 }, ...metricsM(1, 0.9), ...ownM(false, ownMaxAbs, 0.9), ...extra });
const byValues = (confidence: number) => ({ strategy: 'numeric', confidence }) as const;

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
  const cases: { what: string; pairs: PairResult[]; first?: number; failOn?: 'layers' | 'outputs' | 'all'; verdict: string; summary: RegExp }[] = [
    { what: 'no pairs: an error', pairs: [], verdict: 'error', summary: /^error: no reference node could be paired/ },
    { what: 'outputs pass, an intermediate paired by shape fails: equivalent by default', pairs: [pair(0, 'conv1/Relu', false, { strategy: 'shape', confidence: 0.5 }), pair(1, 'out', true)], verdict: 'equivalent', summary: /^equivalent: 2 pairs compared, 1 output\(s\) within tolerance$/ },
    { what: "the same with failOn 'all': not equivalent", pairs: [pair(0, 'conv1/Relu', false), pair(1, 'out', true)], first: 0, failOn: 'all', verdict: 'not-equivalent', summary: /^not equivalent: first divergence at 'conv1\/Relu' \(Op\) ~ 'c_conv1\/Relu' \(Layer\); 1 of 2 pairs fail$/ },
    { what: 'an output fails', pairs: [pair(0, 'conv1/Relu', true), pair(1, 'out', false)], first: 1, verdict: 'not-equivalent', summary: /first divergence at 'out'/ },
    { what: 'no output in a pair: every pair counts, and the summary says so', pairs: [pair(0, 'conv1/Relu', false)], first: 0, verdict: 'not-equivalent', summary: /no output of either model is in a pair/ },
    // A layer that computes something different: its own error fails, the outputs pass.
    {
      what: 'outputs pass, a layer paired by name has an own error that fails: not equivalent by default, said in words',
      pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...ownM(false, 0.38, 0.992) }), pair(1, 'out', true, byName)],
      first: 0,
      verdict: 'not-equivalent',
      summary: /^not equivalent: 'conv1\/Relu' \(Op\) ~ 'c_conv1\/Relu' \(Layer\) computes something different \(its own error max_abs 0\.38, cosine 0\.992000\); the outputs agree on these inputs; they may not on others$/,
    },
    { what: "the same with failOn 'outputs' (today's rule): equivalent", pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...ownM(false, 0.38, 0.992) }), pair(1, 'out', true, byName)], first: 0, failOn: 'outputs', verdict: 'equivalent', summary: /^equivalent: 2 pairs compared, 1 output\(s\) within tolerance$/ },
    { what: "the same with failOn 'all': not equivalent at the first divergence", pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...ownM(false, 0.38, 0.992) }), pair(1, 'out', true, byName)], first: 0, failOn: 'all', verdict: 'not-equivalent', summary: /^not equivalent: first divergence at 'conv1\/Relu'/ },
    {
      what: 'two such layers: the first is named, the other counted',
      pairs: [pair(0, 'conv1/Relu', false, { ...byValues(0.995), ...ownM(false, 2, 0.5) }), pair(1, 'bn/add', false, { ...byValues(1), ...ownM(false, 1e-3, 1) }), pair(2, 'out', true, byName)],
      first: 0,
      verdict: 'not-equivalent',
      summary: /^not equivalent: 'conv1\/Relu' .* computes something different \(its own error max_abs 2, cosine 0\.500000; 1 more layer paired as surely differs too\); the outputs agree/,
    },
    {
      what: 'the own error fails on a shape-only pair (confidence 0.5): never fails the verdict by itself; the summary says it was not counted',
      pairs: [pair(0, 'conv1/Relu', false, { strategy: 'shape', confidence: 0.5, ...ownM(false, 0.38, 0.992) }), pair(1, 'out', true, byName)],
      first: 0,
      verdict: 'equivalent',
      summary: /^equivalent: 2 pairs compared, 1 output\(s\) within tolerance; not counted: 'conv1\/Relu' \(Op\) ~ 'c_conv1\/Relu' \(Layer\) has an own error but is paired by shape alone \(confidence 0\.50\)$/,
    },
    { what: 'a numeric pair under the trusted confidence (0.85): not counted', pairs: [pair(0, 'conv1/Relu', false, { ...byValues(0.85), ...ownM(false, 1, 0.9) }), pair(1, 'out', true, byName)], first: 0, verdict: 'equivalent', summary: /not counted: .* paired by numeric \(confidence 0\.85\)$/ },
    {
      what: 'a layer paired by name differs though its own error passes: not equivalent, the difference inherited from before it',
      pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...metricsM(3.5e-3, 0.9999), ...ownM(true, 1e-5, 1) }), pair(1, 'out', true, byName)],
      first: 0,
      verdict: 'not-equivalent',
      summary: /^not equivalent: 'conv1\/Relu' \(Op\) ~ 'c_conv1\/Relu' \(Layer\) differs \(max_abs 0\.0035, cosine 0\.999900; its own error passes: it inherits the difference from before it\); the outputs agree on these inputs; they may not on others$/,
    },
    { what: 'the same without own errors (--no-own-error)', pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...metricsM(0.5, 0.9) }), pair(1, 'out', true, byName)], first: 0, verdict: 'not-equivalent', summary: /differs \(max_abs 0\.5, cosine 0\.900000; its own error was not computed\); the outputs agree/ },
    { what: "the same with failOn 'outputs': equivalent", pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...metricsM(0.5, 0.9) }), pair(1, 'out', true, byName)], first: 0, failOn: 'outputs', verdict: 'equivalent', summary: /^equivalent: 2 pairs compared, 1 output\(s\) within tolerance$/ },
    // A shape-only pair right after sure pairs that agree (the frontier), own error >= 1e-2 * max|ref| (max|ref| 20: 0.2).
    {
      what: 'a shape-only pair right after sure agreeing pairs, its own error 0.5 at max|ref| 20: counts, said in words',
      pairs: [pair(0, 'conv1/Relu', true, byName), frontier(1, 0.5), pair(2, 'out', true, { ...byName, upstream: [1] })],
      first: 1,
      verdict: 'not-equivalent',
      summary: /^not equivalent: 'bn\/add' \(Op\) ~ 'c_bn\/add' \(Layer\) computes something different \(its own error max_abs 0\.5, cosine 0\.900000; paired by shape alone, right after layers paired surely that agree, whose values it is re-run on\); the outputs agree/,
    },
    { what: 'the same with its own error 0.1 (under 1e-2 * 20): not counted', pairs: [pair(0, 'conv1/Relu', true, byName), frontier(1, 0.1), pair(2, 'out', true, byName)], first: 1, verdict: 'equivalent', summary: /not counted: 'bn\/add' .* paired by shape alone/ },
    { what: 'the same after a pair found by shape too: not counted', pairs: [pair(0, 'conv1/Relu', true, { strategy: 'shape', confidence: 0.5 }), frontier(1, 0.5), pair(2, 'out', true, byName)], first: 1, verdict: 'equivalent', summary: /not counted/ },
    { what: 'the same after a sure pair that fails: not counted (past the divergence)', pairs: [pair(0, 'conv1/Relu', false, { ...byName, ...metricsM(0.3, 0.99), ...ownM(true, 0, 1) }), frontier(1, 0.5), pair(2, 'out', true, byName)], first: 0, verdict: 'not-equivalent', summary: /^not equivalent: 'conv1\/Relu' .* differs/ },
    { what: 'the same with the own error not the layer\'s alone: not counted', pairs: [pair(0, 'conv1/Relu', true, byName), frontier(1, 0.5, { ownDiscounted: 're-ran unpaired candidate layers before it too' }), pair(2, 'out', true, byName)], first: 1, verdict: 'equivalent', summary: /^equivalent/ },
    { what: 'the same when the alignment is unsure of it: not counted', pairs: [pair(0, 'conv1/Relu', true, byName), frontier(1, 0.5, { unsure: { reason: 'different kinds', candidates: [] } }), pair(2, 'out', true, byName)], first: 1, verdict: 'equivalent', summary: /^equivalent/ },
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

describe('which pairs may fail the verdict by their own error (pure)', () => {
  const cases: [PairResult['strategy'], number, boolean][] = [
    ['map', 1, true], ['name', 1, true], ['name', 0.9, true], ['numeric', 0.99, true], ['numeric', 0.89, false],
    ['shape', 0.5, false], ['shape', 1, false], ['output', 1, false],
  ];
  for (const [strategy, confidence, trusted] of cases) it(`${strategy} at ${confidence}: ${trusted ? 'counts' : 'does not count'}`, () => expect(trustedPair({ strategy, confidence })).toBe(trusted));
});

describe('a pair within tolerance at its tensor\'s scale or elementwise (pure, values by hand)', () => {
  const tol = { atol: 1e-4, rtol: 1e-4 };
  // ref, cand; whether within tolerance at the tensor's scale (max|ref|) and elementwise.
  const cases: { what: string; ref: number[]; cand: number[]; tensor: boolean; element: boolean }[] = [
    // max|ref| 50: bound 1e-4 + 1e-4*50 = 5.1e-3; the element 0.001 alone: 1e-4 + 1e-7 = 1.001e-4 < 3.5e-4.
    { what: 'a near-zero element of a large-scale tensor off by 3.5e-4 (rounding)', ref: [50, -20, 0.001], cand: [50, -20, 0.00135], tensor: true, element: false },
    // max|ref| 2: bound 1e-4 + 2e-4 = 3e-4 < 5e-4.
    { what: 'off by 5e-4 at the largest element of a tensor of scale 2', ref: [1, -2], cand: [1, -2.0005], tensor: false, element: false },
    // Bound 1e-4 + 4e-4 = 5e-4: 4.9e-4 passes, 5.1e-4 fails, at any element.
    { what: 'just under the bound (scale 4)', ref: [-4, 0], cand: [-4, 4.9e-4], tensor: true, element: false },
    { what: 'just over the bound (scale 4)', ref: [-4, 0], cand: [-4, 5.1e-4], tensor: false, element: false },
    // All zero: the scale is 0, atol alone.
    { what: 'a zero reference: atol alone (5e-5 passes)', ref: [0, 0], cand: [5e-5, 0], tensor: true, element: true },
    { what: 'a zero reference: atol alone (2e-4 fails)', ref: [0, 0], cand: [2e-4, 0], tensor: false, element: false },
    // Elementwise passing implies passing at the scale: 1e-4 + 1e-4*10 = 1.1e-3 >= 1e-3.
    { what: 'within elementwise: within at the scale', ref: [10, 1], cand: [10.001, 1], tensor: true, element: true },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const m = computeMetricsScalar(Float64Array.from(c.ref), Float64Array.from(c.cand), tol);
      expect(referenceScale(m.refStats)).toBe(Math.max(...c.ref.map(Math.abs)));
      expect(withinTolerance(m, m.refStats, tol, 'tensor')).toBe(c.tensor);
      expect(withinTolerance(m, m.refStats, tol, 'element')).toBe(c.element);
      // The default is the tensor's scale; failedChecks names a failure 'allclose' under either.
      expect(withinTolerance(m, m.refStats, tol)).toBe(c.tensor);
      const p = { reference: 'r', candidate: 'c' };
      expect(failedChecks(m, m.refStats, tol, p, {})).toEqual(c.tensor ? [] : ['allclose']);
      expect(failedChecks(m, m.refStats, tol, p, { errorScale: 'element' })).toEqual(c.element ? [] : ['allclose']);
    });
  }
});

describe('MeasureEngine', () => {
  it("the fast engine's settings are read from the environment in one place", () => {
    expect(engineConfigFromEnv({})).toMatchObject({ guess: true, metricsThread: true, guessMinElements: 4096 });
    expect(engineConfigFromEnv({ PARITY_GUESS: '0', PARITY_METRICS_THREAD: '0', PARITY_HOLD_BYTES: '3000', PARITY_GUESS_MIN: 'x' })).toMatchObject({
      guess: false,
      metricsThread: false,
      holdBytes: 3000,
      guessMinElements: 4096,
    });
    expect(engineFromEnv({}).name).toBe('fast');
    expect(engineFromEnv({ PARITY_ENGINE: 'plain' })).toBe(PLAIN_ENGINE);
  });

  it('the plain engine holds host copies, measures at once and never guesses', async () => {
    const holder = PLAIN_ENGINE.holder();
    const t = tf.tensor([1, 2, 3, 4], [1, 4]);
    const h: Held = { name: 'r', type: 'Relu', shape: [1, 4], dtype: 'float32', index: 0, producedFrom: [] };
    // Not owned: the caller disposes the tensor; the values stay as a host copy.
    expect(await holder.hold(h, t, 'reference')).toBe(false);
    t.dispose();
    expect(Array.from(h.data!)).toEqual([1, 2, 3, 4]);
    expect(h.tensor).toBeUndefined();
    const m = await PLAIN_ENGINE.measure(h, { data: new Float32Array([1, 2, 3, 5]), shape: [1, 4] }, undefined, { atol: 0, rtol: 0, nanEqual: true, topk: 0 }, () => false).result;
    expect(m.m.max_abs).toBe(1);
    expect(PLAIN_ENGINE.guesser(() => false, true)).toBeUndefined();
    holder.release(h);
    expect(h.data).toBeUndefined();
    // The fast engine guesses unless told not to.
    expect(fastEngine({ ...DEFAULT_ENGINE, metricsThread: false }).guesser(() => false, true)?.minElements).toBe(4096);
    expect(fastEngine({ ...DEFAULT_ENGINE, guess: false }).guesser(() => false, true)).toBeUndefined();
  });
});
