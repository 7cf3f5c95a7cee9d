import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { compare } from '../../src/index.js';
import type { ActInfo } from '../../src/compare/align/index.js';
import { align } from '../../src/compare/align/index.js';
import type { PairResult } from '../../src/compare/result.js';
import { decide } from '../../src/compare/stages/decide.js';
import type { RefNode } from '../../src/compare/stages/diagnose.js';
import { diagnose } from '../../src/compare/stages/diagnose.js';
import { accountOutputs } from '../../src/compare/stages/outputs.js';

/**
 * Issue 23, failures 1, 2 and 5, on the pure stages with activations of their shape (a hand
 * port exported by torch: a Gemm before its Softmax; heads whose outputs the original's
 * signature lists in another order).
 */
const node = (name: string, type: string, index: number, producedFrom: string[], shape: number[], extra: Partial<RefNode> = {}): RefNode => ({ name, type, index, producedFrom, dtype: 'float32', shape, ...extra });

function pair(index: number, reference: string, candidate: string, pass: boolean, extra: Partial<PairResult> = {}): PairResult {
  return {
    index, reference, candidate, referenceOp: 'Op', candidateType: 'Layer', strategy: 'numeric', confidence: 1, pass, isOutput: false, upstream: [], failed: pass ? [] : ['allclose'],
    referenceShape: [1, 4], candidateShape: [1, 4], metrics: { max_abs: pass ? 0 : 1 } as PairResult['metrics'], ...extra,
  } as PairResult;
}
const own = (pass: boolean) => ({ own: { pass, metrics: { max_abs: pass ? 0 : 1 } as PairResult['metrics'] } });

// The reference (a tfjs graph model): conv, a dense head, its softmax, the signature's Identity.
const REF = [
  node('x', 'Placeholder', 0, [], [1, 8]),
  node('conv/Relu', 'Relu', 1, ['x'], [1, 8]),
  node('head/MatMul', 'MatMul', 2, ['conv/Relu'], [1, 4]),
  node('head/BiasAdd', 'BiasAdd', 3, ['head/MatMul'], [1, 4]),
  node('head/Softmax', 'Softmax', 4, ['head/BiasAdd'], [1, 4]),
  node('Identity', 'Identity', 5, ['head/Softmax'], [1, 4]),
];
// The torch export: the Gemm, then its Softmax (the model's output).
const CAND = [
  node('x', 'Placeholder', 0, [], [1, 8]),
  node('/conv/Relu_output_0', 'Relu', 1, ['x'], [1, 8], { role: 'activation' }),
  node('/head/Gemm_output_0', 'Gemm', 2, ['/conv/Relu_output_0'], [1, 4], { role: 'affine' }),
  node('probs', 'Softmax', 3, ['/head/Gemm_output_0'], [1, 4]),
];
/** The Softmax paired by shape alone, at 0.08, with the Gemm before the candidate's softmax; the signature's Identity with the candidate's output. */
const pairs = (headPasses: boolean) => [
  pair(0, 'conv/Relu', '/conv/Relu_output_0', true),
  pair(1, 'head/Softmax', '/head/Gemm_output_0', false, { strategy: 'shape', confidence: 0.08, referenceOp: 'Softmax', candidateType: 'Gemm', ...own(false) }),
  pair(2, 'Identity', 'probs', headPasses, { strategy: 'output', confidence: headPasses ? 1 : 0.6, referenceOp: 'Identity', candidateType: 'Softmax', isOutput: true, ...(headPasses ? {} : own(true)) }),
];

describe('confidence-aware diagnosis (issue 23, failures 2 and 5)', () => {
  it('a correct port: a Softmax paired by shape at 0.08 with a Gemm is no first divergence, no root cause, no own error, and does not fail --fail-on all', () => {
    const d = diagnose(pairs(true), REF, CAND);
    expect(d.firstDivergence).toBeUndefined();
    expect(d.rootCause).toBeUndefined();
    const p = d.pairs[1]!;
    expect(p.unsure?.reason).toMatch(/^paired by shape alone \(confidence 0\.08\), and the reference's Softmax \(activation\) is not the same kind of layer as the candidate's Gemm \(affine\)/);
    // It hesitated between the Gemm it took and the Softmax after it, both of its size.
    expect(p.unsure?.candidates).toEqual(['/head/Gemm_output_0', 'probs']);
    expect(p.ownDiscounted).toMatch(/^the alignment is unsure of the pair: paired by shape alone/);
    const all = decide(d.pairs, d.firstDivergence, 'all', { outputs: [] });
    expect(all.verdict).toBe('equivalent');
    expect(all.why.join('\n')).toMatch(/1 failing pair is not judged: the alignment is unsure of it/);
    expect(decide(d.pairs, d.firstDivergence, 'outputs').verdict).toBe('equivalent');
  });

  it("one head's dense weight broken: the root cause is not the false Softmax~Gemm pair, and the dense layer is named", () => {
    const d = diagnose(pairs(false), REF, CAND);
    expect(d.rootCause).not.toBe(1);
    expect(d.firstDivergence).toBe(2);
    expect(d.rootCause).toBe(2);
    // What lies between the output and the last sure pair: the dense layer (and the softmax, paired unsurely).
    expect(d.pairs[2]!.unpairedBefore).toEqual(['head/MatMul', 'head/BiasAdd', 'head/Softmax']);
    const dec = decide(d.pairs, d.firstDivergence, 'outputs', { outputs: [] });
    expect(dec.verdict).toBe('not-equivalent');
    expect(dec.summary).toMatch(/^not equivalent: first divergence at 'Identity'/);
  });

  it('a shape-only pair between layers of the same kind stays usable, its hesitation stated', () => {
    const ps = [pair(0, 'conv/Relu', '/conv/Relu_output_0', true), pair(1, 'head/BiasAdd', '/head/Gemm_output_0', false, { strategy: 'shape', confidence: 0.3, referenceOp: 'BiasAdd', candidateType: 'Gemm', ...own(false) })];
    const d = diagnose(ps, REF, CAND);
    expect(d.pairs[1]!.unsure).toBeUndefined();
    expect(d.pairs[1]!.hesitatedWith).toEqual(['probs']);
    expect(d.firstDivergence).toBe(1);
    expect(d.rootCause).toBe(1);
  });
});

describe('what stays claimable past a slip and through a fused layer', () => {
  // TF: a conv with its ReLU fused, then a batch norm's Mul; the port: Conv, Relu, Mul.
  const ref = [node('x', 'Placeholder', 0, [], [1, 8, 8, 4]), node('a/Relu', '_FusedConv2D', 1, ['x'], [1, 8, 8, 4], { role: 'activation' }), node('bn/Mul', 'Mul', 2, ['a/Relu'], [1, 8, 8, 4])];
  const cand = [
    node('x', 'Placeholder', 0, [], [1, 4, 8, 8]),
    node('/c/Conv', 'Conv', 1, ['x'], [1, 4, 8, 8], { role: 'affine' }),
    node('/Relu', 'Relu', 2, ['/c/Conv'], [1, 4, 8, 8], { role: 'activation' }),
    node('/Mul', 'Mul', 3, ['/Relu'], [1, 4, 8, 8]),
  ];
  it('a conv paired with the Conv before its ReLU, that ReLU with the next layer, all by shape and failing: the conv stays the root cause', () => {
    const ps = [
      pair(0, 'a/Relu', '/c/Conv', false, { strategy: 'shape', confidence: 0.3, referenceShape: [1, 8, 8, 4], candidateShape: [1, 4, 8, 8], ...own(false) }),
      pair(1, 'bn/Mul', '/Relu', false, { strategy: 'shape', confidence: 0.3, referenceShape: [1, 8, 8, 4], candidateShape: [1, 4, 8, 8], ...own(false) }),
    ];
    const d = diagnose(ps, ref, cand);
    expect(d.pairs[0]!.unsure).toBeUndefined();
    expect(d.firstDivergence).toBe(0);
    expect(d.rootCause).toBe(0);
  });
  it("a fused conv+ReLU paired with the port's Relu: re-running it re-ran the Conv too, which is inside the fused layer: the own error counts", () => {
    const ps = [pair(0, 'a/Relu', '/Relu', false, { strategy: 'shape', confidence: 0.5, referenceShape: [1, 8, 8, 4], candidateShape: [1, 4, 8, 8], ...own(false) })];
    const d = diagnose(ps, ref, cand);
    expect(d.pairs[0]!.ownDiscounted).toBeUndefined();
    expect(d.rootCause).toBe(0);
  });
});

describe('shapes that part under passing outputs (issue 23, failure 3)', () => {
  it('the verdict follows the outputs, and why says where the shapes part', () => {
    const shapesPart = { reference: 'pool/MaxPool', referenceOp: 'MaxPool', referenceShape: [1, 7, 7, 6], candidate: '/pool/MaxPool_output_0', candidateType: 'MaxPool', candidateShape: [1, 6, 8, 8], isRootCause: true, text: 'shapes part here: reference `pool/MaxPool` (MaxPool) gives [1,7,7,6], the candidate\'s `/pool/MaxPool_output_0` (MaxPool) gives [1,6,8,8]' };
    const dec = decide([pair(0, 'conv/Relu', 'c', false), pair(1, 'Identity', 'probs', true, { isOutput: true })], 0, 'outputs', { outputs: [], shapesPart });
    expect(dec.verdict).toBe('equivalent');
    expect(dec.why).toContain("the outputs agree on these inputs, yet the shapes part: reference `pool/MaxPool` (MaxPool) gives [1,7,7,6], the candidate's `/pool/MaxPool_output_0` (MaxPool) gives [1,6,8,8]: the conversion computes something else there");
  });
});

describe('every output is accounted for (issue 23, failure 1)', () => {
  // Three heads; the original's signature lists them c, a, b; the port's outputs a, b, c (torch's names).
  const ref = [
    node('x', 'Placeholder', 0, [], [1, 8]),
    node('head_a/Softmax', 'Softmax', 1, ['x'], [1, 4]),
    node('head_b/Softmax', 'Softmax', 2, ['x'], [1, 4]),
    node('head_c/Softmax', 'Softmax', 3, ['x'], [1, 3]),
    node('Identity', 'Identity', 4, ['head_c/Softmax'], [1, 3]),
    node('Identity_1', 'Identity', 5, ['head_a/Softmax'], [1, 4]),
    node('Identity_2', 'Identity', 6, ['head_b/Softmax'], [1, 4]),
  ];
  const cand = [
    node('x', 'Placeholder', 0, [], [1, 8]),
    node('output_0', 'Softmax', 1, ['x'], [1, 4]),
    node('output_1', 'Softmax', 2, ['x'], [1, 4]),
    node('output_2', 'Softmax', 3, ['x'], [1, 3]),
  ];
  // head_b is broken: its values pair with nothing; the other two pair by values.
  const ps = [
    pair(0, 'head_a/Softmax', 'output_0', true, { isOutput: true }),
    pair(1, 'head_c/Softmax', 'output_2', true, { isOutput: true, referenceShape: [1, 3], candidateShape: [1, 3] }),
  ];
  const outputs = accountOutputs({ referenceOutputs: ['Identity', 'Identity_1', 'Identity_2'], candidateOutputs: ['output_0', 'output_1', 'output_2'], refNodes: ref, candNodes: cand, pairs: ps });

  it('an output in no pair makes the comparison not equivalent, and says which and why', () => {
    expect(outputs.filter((o) => o.pair !== undefined).map((o) => `${o.side}:${o.name}`)).toEqual(['reference:Identity', 'reference:Identity_1', 'candidate:output_0', 'candidate:output_2']);
    const b = outputs.find((o) => o.name === 'Identity_2')!;
    expect(b.unpaired).toBe("its shape [1,4] fits the candidate's unpaired output 'output_1', but neither names nor values tie it to it (in the order the models list their outputs it would meet the candidate's 'output_2' [1,3], of another shape)");
    const c = outputs.find((o) => o.name === 'output_1')!;
    expect(c.unpaired).toMatch(/^its shape \[1,4\] fits the reference's unpaired output 'Identity_2'/);
    const dec = decide(ps, undefined, 'outputs', { outputs });
    expect(dec.verdict).toBe('not-equivalent');
    expect(dec.summary).toBe("not equivalent: 2 outputs in no pair ('Identity_2', 'output_1'); 0 of 2 pairs fail");
    expect(dec.why[0]).toBe("the reference's output 'Identity_2' [1,4] is in no pair: " + b.unpaired);
  });

  it('with every output paired, the same pairs are equivalent and say so', () => {
    const all = [...ps, pair(2, 'head_b/Softmax', 'output_1', true, { isOutput: true })];
    const acc = accountOutputs({ referenceOutputs: ['Identity', 'Identity_1', 'Identity_2'], candidateOutputs: ['output_0', 'output_1', 'output_2'], refNodes: ref, candNodes: cand, pairs: all });
    expect(acc.every((o) => o.pair !== undefined)).toBe(true);
    const dec = decide(all, undefined, 'outputs', { outputs: acc });
    expect(dec.verdict).toBe('equivalent');
    expect(dec.why[0]).toBe('every output is paired and within tolerance (3 output pairs for 3 candidate outputs)');
  });
});

// Real material (skipped where /work/shared is absent): a Keras 3 MLP and its tfjs export, in
// which Keras renamed dense -> dense_1: the reference's dense_1 scope names the candidate's
// dense_1, one layer off. Before issue 23 that false pair was a first divergence, and
// --fail-on all exited 1 on a correct export.
const MLP = '/work/shared/models/keras-real/k3_mlp_l2_tfjs';
describe.skipIf(!existsSync(MLP))('a real Keras 3 MLP against its tfjs export (names one off)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('is equivalent, also with --fail-on all, with no first divergence; the off-by-one pair is stated as unsure', async () => {
    for (const failOn of ['outputs', 'all'] as const) {
      const r = await compare(join(MLP, 'tfjs_model_mlp', 'model.json'), join(MLP, 'Digit_Recognition_MLP.keras'), { seed: 1, failOn });
      expect(r.verdict).toBe('equivalent');
      expect(r.firstDivergence).toBeUndefined();
      expect(r.rootCause).toBeUndefined();
      expect(r.outputs.every((o) => o.pair !== undefined)).toBe(true);
      const off = r.pairs.find((p) => p.candidate === 'dense_1' && !p.pass);
      if (off) expect(off.unsure?.candidates).toEqual(['dense_1', 'dense']);
    }
  }, 120_000);
});

describe('outputs left unpaired pair by shape, never by order alone (issue 23, failure 1)', () => {
  const act = (name: string, index: number, shape: number[]): ActInfo => ({ name, type: 'Softmax', shape, dtype: 'float32', index, producedFrom: ['x'] });
  const refActs = [act('head_a', 0, [1, 4]), act('head_b', 1, [1, 3])];
  const candActs = [act('out_a', 0, [1, 4]), act('out_b', 1, [1, 3])];
  it('the signature lists the heads b, a; the port a, b: each pairs with the output of its shape', () => {
    const a = align(refActs, candActs, { namesOnly: true, referenceOutputs: ['head_b', 'head_a'], candidateOutputs: ['out_a', 'out_b'] });
    expect(a.pairs.map((p) => `${p.reference}~${p.candidate}:${p.strategy}`).sort()).toEqual(['head_a~out_a:output', 'head_b~out_b:output']);
  });
  it('two outputs of one shape that names do not tell apart stay unpaired (the order does not decide)', () => {
    const two = [act('p', 0, [1, 4]), act('q', 1, [1, 4])];
    const a = align(two, [act('u', 0, [1, 4]), act('v', 1, [1, 4])], { namesOnly: true, referenceOutputs: ['p', 'q'], candidateOutputs: ['u', 'v'] });
    expect(a.pairs).toEqual([]);
  });
});
