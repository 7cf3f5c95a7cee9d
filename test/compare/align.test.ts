import { describe, expect, it } from 'vitest';
import type { ActInfo } from '../../src/compare/align/index.js';
import { STRONG_SIMILARITY, SampleCache, align, applyTransform, candidateTransforms, sampleActivation, sampledSimilarity, validateAlignment } from '../../src/compare/align/index.js';
import { wiring } from '../../src/compare/align/wiring.js';
import { opRole } from '../../src/core/runner.js';

function act(name: string, type: string, shape: number[], data: number[] | Float32Array, producedFrom: string[] = [], layout?: 'NCHW' | 'NHWC'): ActInfo {
  return { name, type, shape, dtype: 'float32', index: 0, producedFrom, data: Float32Array.from(data), ...(layout ? { layout } : {}) };
}

function seq(n: number, k = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i * k + 1));
}

describe('alignment', () => {
  it('pairs a Keras layer with the last node of its TF scope', () => {
    const refs = [
      act('x', 'Placeholder', [1, 4], seq(4)),
      act('dense/MatMul', 'MatMul', [1, 3], seq(3, 2)),
      act('dense/BiasAdd', 'BiasAdd', [1, 3], seq(3, 3)),
      act('dense/Relu', 'Relu', [1, 3], seq(3, 4)),
    ];
    const cands = [act('dense', 'Dense', [1, 3], seq(3, 9))];
    const a = align(refs, cands, { namesOnly: true });
    expect(a.pairs).toEqual([{ reference: 'dense/Relu', candidate: 'dense', strategy: 'name', confidence: 0.9 }]);
    expect(a.unmatched.reference).toEqual(['dense/MatMul', 'dense/BiasAdd']);
  });

  it('aligns by values when names share nothing, transposing NCHW candidates', () => {
    const h = seq(2 * 3 * 4, 0.7); // NHWC [1,2,3,4]
    // the same values in NCHW order
    const nchw = new Float32Array(24);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 4; c++) nchw[c * 6 + y * 3 + x] = h[y * 12 + x * 4 + c]!;
    const refs = [act('conv/Relu', 'Relu', [1, 2, 3, 4], h), act('pool', 'MaxPool', [1, 6], seq(6, 5)), act('out', 'Softmax', [1, 6], seq(6, 8))];
    const cands = [act('node_7', 'Relu', [1, 4, 2, 3], nchw, [], 'NCHW'), act('node_9', 'Softmax', [1, 6], seq(6, 8))];
    const a = align(refs, cands);
    expect(a.pairs.map((p) => [p.reference, p.candidate, p.strategy])).toEqual([
      ['conv/Relu', 'node_7', 'numeric'],
      ['out', 'node_9', 'numeric'],
    ]);
    expect(a.pairs[0]!.transform).toEqual({ perm: [0, 2, 3, 1] });
    expect(Array.from(applyTransform(cands[0]!.data!, [1, 2, 3, 4], [1, 4, 2, 3], a.pairs[0]!.transform))).toEqual(Array.from(Float32Array.from(h)));
  });

  it('still pairs a divergent layer between two confident anchors (shape only)', () => {
    const refs = [act('a', 'Relu', [1, 8], seq(8, 1)), act('b', 'Conv2D', [1, 5], seq(5, 2)), act('c', 'Relu', [1, 3], seq(3, 3))];
    const cands = [act('l1', 'ReLU', [1, 8], seq(8, 1)), act('l2', 'Conv2D', [1, 5], seq(5, 7)), act('l3', 'ReLU', [1, 3], seq(3, 3))];
    const a = align(refs, cands);
    expect(a.pairs.map((p) => [p.reference, p.candidate, p.strategy])).toEqual([
      ['a', 'l1', 'numeric'],
      ['b', 'l2', 'shape'],
      ['c', 'l3', 'numeric'],
    ]);
  });

  it('past a divergence, the wiring says which same-shaped layer is which (fan-in, fan-out)', () => {
    // TF: a conv with its Relu fused, then two residual blocks (depthwise, pointwise, add, relu).
    // The port: the conv and its Relu are two activations. Every value past the input differs
    // (the conv diverged), so only shapes and wiring are left to pair by; the output is an anchor.
    const S = [1, 4, 4, 2];
    const v = (k: number) => seq(32, k);
    const refs = [
      act('x', 'Placeholder', [1, 4, 4, 3], seq(48, 0.3)),
      act('conv/Relu', '_FusedConv2D', S, v(1), ['x', 'conv/kernel']),
      act('dw1', 'DepthwiseConv2dNative', S, v(2), ['conv/Relu', 'dw1/kernel']),
      act('pw1', '_FusedConv2D', S, v(3), ['dw1']),
      act('add1', 'AddV2', S, v(4), ['conv/Relu', 'pw1']),
      act('relu1', 'Relu', S, v(5), ['add1']),
      act('dw2', 'DepthwiseConv2dNative', S, v(6), ['relu1']),
      act('pw2', '_FusedConv2D', S, v(7), ['dw2']),
      act('add2', 'AddV2', S, v(8), ['relu1', 'pw2']),
      act('relu2', 'Relu', S, v(9), ['add2']),
      act('out', 'Softmax', [1, 32], seq(32, 20), ['relu2']),
    ];
    const cands = [
      act('t_in', 'Placeholder', [1, 4, 4, 3], seq(48, 0.3)),
      act('t2', 'Conv', S, v(11), ['t_in', 'w0', 'b0']),
      act('t3', 'Relu', S, v(12), ['t2']),
      act('t5', 'Conv', S, v(13), ['t3', 'w1']),
      act('t8', 'Conv', S, v(14), ['t5', 'w2', 'b2']),
      act('t9', 'Add', S, v(15), ['t3', 't8']),
      act('t10', 'Relu', S, v(16), ['t9']),
      act('t12', 'Conv', S, v(17), ['t10', 'w3']),
      act('t15', 'Conv', S, v(18), ['t12', 'w4', 'b4']),
      act('t16', 'Add', S, v(19), ['t10', 't15']),
      act('t17', 'Relu', S, v(21), ['t16']),
      act('t_out', 'Softmax', [1, 32], seq(32, 20), ['t17']),
    ];
    const a = align(refs, cands);
    expect(a.pairs.map((p) => [p.reference, p.candidate])).toEqual([
      ['conv/Relu', 't3'],
      ['dw1', 't5'],
      ['pw1', 't8'],
      ['add1', 't9'],
      ['relu1', 't10'],
      ['dw2', 't12'],
      ['pw2', 't15'],
      ['add2', 't16'],
      ['relu2', 't17'],
      ['out', 't_out'],
    ]);
    expect(a.unmatched.candidate).toEqual(['t2']);
    expect(a.pairs.filter((p) => p.strategy === 'shape').length).toBe(9);
  });

  it('validates map files with clear errors', () => {
    expect(() => validateAlignment({ pairs: [{ reference: 'a' }] }, 'map.json')).toThrow(/map.json: pairs\[0\].candidate/);
    expect(() => validateAlignment({ pairs: [{ reference: 'a', candidate: 'b', transform: { perm: [0, 0, 1] } }] }, 'm.json')).toThrow(/permutation/);
    expect(validateAlignment({ pairs: [{ reference: 'a', candidate: 'b' }] }, 'm.json').pairs[0]).toMatchObject({ strategy: 'map' });
  });
});

describe('sampledSimilarity', () => {
  const act = (name: string, shape: number[], data: Float32Array): ActInfo => ({ name, type: 'X', shape, dtype: 'float32', index: 0, producedFrom: [], data });

  it('reads the candidate through the transform, and each pair of activations by its own values', () => {
    // NHWC reference [1,3,4,5] (60 elements: all of them are sampled) and its NCHW transposition.
    const shape = [1, 3, 4, 5];
    const ref = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i + 1));
    const nchw = new Float32Array(60);
    for (let h = 0; h < 3; h++) for (let w = 0; w < 4; w++) for (let c = 0; c < 5; c++) nchw[c * 12 + h * 4 + w] = ref[h * 20 + w * 5 + c]!;
    const r = act('r', shape, ref);
    const c = act('c', [1, 5, 3, 4], nchw);
    expect(sampledSimilarity(r, c, { perm: [0, 2, 3, 1] })).toBe(1);
    // Read flat instead, the same values score 1 - sum|a-b| / sum(|a|+|b|), worked out here.
    let num = 0;
    let den = 0;
    for (let i = 0; i < 60; i++) {
      num += Math.abs(ref[i]! - nchw[i]!);
      den += Math.abs(ref[i]!) + Math.abs(nchw[i]!);
    }
    expect(sampledSimilarity(r, c, { reshape: true })).toBeCloseTo(1 - num / den, 12);
    // Same shapes, other values (the sampled positions are shared, the values are not).
    const half = act('h', [1, 5, 3, 4], nchw.map((v) => v / 2));
    expect(sampledSimilarity(r, half, { perm: [0, 2, 3, 1] })).toBeCloseTo(1 - 0.5 / 1.5, 6);
  });

  it("sampleActivation takes what a SampleCache gathered at its positions, and gathers the rest: the same samples either way", () => {
    // NCHW candidate [1,8,30,40] and its NHWC reference [1,30,40,8]: scored through the cache,
    // identity for the reference, the permutation for the candidate.
    const n = 8 * 30 * 40;
    const cData = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.01) + i / n);
    const c = act('c', [1, 8, 30, 40], cData);
    const r = act('r', [1, 30, 40, 8], applyTransform(cData, [1, 30, 40, 8], [1, 8, 30, 40], { perm: [0, 2, 3, 1] }));
    const cache = new SampleCache();
    expect(cache.similarity(r, c, { perm: [0, 2, 3, 1] })).toBe(1);
    expect(cache.gathered(r, 'reference')).toBeDefined();
    expect(cache.gathered(c, 'candidate', [0, 2, 3, 1])).toBeDefined();
    expect(cache.gathered(c, 'candidate')).toBeUndefined();
    for (const [h, side] of [[r, 'reference'], [c, 'candidate']] as const) {
      const asked: string[] = [];
      const reused = sampleActivation(h.data!, h.shape, side, (p) => {
        asked.push(p?.join(',') ?? '');
        return cache.gathered(h, side, p);
      });
      expect(reused).toEqual(sampleActivation(h.data!, h.shape, side));
      expect(asked[0]).toBe('');
    }
    // What the cache had is what it gives (not a copy gathered again).
    const again = sampleActivation(c.data!, c.shape, 'candidate', (p) => cache.gathered(c, 'candidate', p));
    expect(again.get('0,2,3,1')).toBe(cache.gathered(c, 'candidate', [0, 2, 3, 1]));
  });

  it('samples 256 evenly spaced positions of a large tensor', () => {
    const n = 256 * 1000 + 7;
    const ref = new Float32Array(n).fill(1);
    const cand = new Float32Array(n).fill(1);
    // Differences off the sampled positions (the k-th of 256 windows of 1000 elements, at
    // offset k in it: 0, 1001, 2002, 3003, ...) are not seen; one on them is.
    cand[500] = 100;
    cand[3000] = 100;
    expect(sampledSimilarity(act('r', [n], ref), act('c', [n], cand), {})).toBe(1);
    cand[3003] = 3;
    expect(sampledSimilarity(act('r', [n], ref), act('c', [n], cand), {})).toBeCloseTo(1 - 2 / (2 * 256 + 2), 12);
  });

  it('samples every channel of an NHWC activation whose sampling step is a multiple of its channel count', () => {
    // 16 x 16 x 96: a step of 96 elements, one pixel. Every channel but 0 differs.
    const shape = [1, 16, 16, 96];
    const ref = new Float32Array(16 * 16 * 96).fill(1);
    const cand = ref.map((_, i) => (i % 96 === 0 ? 1 : 3));
    const sim = sampledSimilarity(act('r', shape, ref), act('c', shape, cand), {});
    // 253 of the 256 samples are off channel 0 (k mod 96 = 0 for k = 0, 96, 192): |d| 2 of 4 each.
    expect(sim).toBeCloseTo(1 - (253 * 2) / (3 * 2 + 253 * 4), 12);
  });

  it('scores NaN and infinities: matching ones are skipped, each mismatch counts 1 of 1', () => {
    const n = 8;
    const ref = new Float32Array(n).fill(2);
    const cand = new Float32Array(n).fill(2);
    ref[1] = NaN;
    cand[1] = NaN;
    ref[2] = Infinity;
    cand[2] = Infinity;
    expect(sampledSimilarity(act('r', [n], ref), act('c', [n], cand), {})).toBe(1);
    // NaN against 2, -Inf against Inf, and 3 against 2 (|d| 1 of |a|+|b| 5): the 4 matching 2s add 16 to the denominator.
    cand[3] = NaN;
    cand[2] = -Infinity;
    cand[4] = 3;
    expect(sampledSimilarity(act('r', [n], ref), act('c', [n], cand), {})).toBeCloseTo(1 - (1 + 1 + 1) / (1 + 1 + 5 + 4 * 4), 12);
  });

  it('rules out by its bound only pairs whose sampled similarity is below the strong threshold, and rules most different pairs out', () => {
    // Pairs around the threshold: a reference and copies of it with noise, scaled, shifted,
    // with zeros, NaN or infinity in them; the bound must never rule out a strong one.
    let state = 7;
    const rnd = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const n = 4096;
    const base = Float32Array.from({ length: n }, rnd);
    let strong = 0;
    let ruledOut = 0;
    let weak = 0;
    for (let k = 0; k < 400; k++) {
      const noise = (k % 40) * 0.002;
      const scale = 1 + ((k % 7) - 3) * 0.004;
      const shift = ((k % 5) - 2) * 0.003;
      const c = base.map((v) => v * scale + shift + noise * rnd());
      if (k % 50 === 3) c[k] = NaN;
      if (k % 50 === 4) c[k] = Infinity;
      if (k % 9 === 0) for (let i = 0; i < n; i += 3) c[i] = 0;
      const cache = new SampleCache();
      const r = act('r', [1, 16, 16, 16], base);
      const ca = act('c', [1, 16, 16, 16], c);
      const s = cache.similarity(r, ca, {});
      const may = cache.mayMatch(r, ca, {});
      if (s >= STRONG_SIMILARITY) {
        strong++;
        expect(may, `pair ${k}: similarity ${s}`).toBe(true);
      } else {
        weak++;
        if (!may) ruledOut++;
      }
    }
    expect(strong).toBeGreaterThan(20);
    // Different activations of the same size: a layer and the next (scaled, Relu'd), or unrelated values.
    const cache = new SampleCache();
    const r = act('r', [64, 64], base);
    const relu = act('relu', [64, 64], base.map((v) => Math.max(0, v)));
    const doubled = act('x2', [64, 64], base.map((v) => 2 * v));
    expect(cache.mayMatch(r, relu, {})).toBe(false);
    expect(cache.mayMatch(r, doubled, {})).toBe(false);
    expect(cache.mayMatch(r, act('same', [64, 64], base), {})).toBe(true);
    expect(weak).toBeGreaterThan(0);
    // Noisy copies below the threshold are ruled out too, not only scored.
    expect(ruledOut).toBeGreaterThan(0);
  });
});

describe('what alignment reads when values match nothing', () => {
  it('opRole: a fused op is what its last fused op is; TF and ONNX ops alike', () => {
    expect(opRole('_FusedConv2D', ['BiasAdd', 'Prelu'])).toBe('activation');
    expect(opRole('_FusedConv2D', ['BiasAdd', 'Relu'])).toBe('activation');
    expect(opRole('_FusedConv2D', ['BiasAdd'])).toBe('affine');
    expect(opRole('_FusedMatMul', ['BiasAdd'])).toBe('affine');
    expect(opRole('FusedDepthwiseConv2dNative', ['BiasAdd', 'Relu6'])).toBe('activation');
    for (const op of ['DepthwiseConv2dNative', 'Conv2D', 'BiasAdd', 'FusedBatchNormV3', 'Conv', 'Gemm', 'BatchNormalization']) expect(opRole(op), op).toBe('affine');
    for (const op of ['Relu', 'Relu6', 'Prelu', 'PRelu', 'Clip', 'Sigmoid', 'LeakyRelu']) expect(opRole(op), op).toBe('activation');
    for (const op of ['MaxPool', 'AvgPool', 'AveragePool', 'GlobalAveragePool']) expect(opRole(op), op).toBe('pool');
    for (const op of ['AddV2', 'Add', 'Reshape', 'Transpose', 'Mean', 'Conv2D_typo']) expect(opRole(op), op).toBeUndefined();
  });

  it('a square activation of an NCHW candidate is read transposed when only its shape can pair it', () => {
    // [1,4,4,4]: NHWC and NCHW have the same shape. Values match nothing (a divergence upstream).
    const r = act('r', 'Conv2D', [1, 4, 4, 4], seq(64, 1));
    const c = act('c', 'Conv', [1, 4, 4, 4], seq(64, 7), [], 'NCHW');
    expect(candidateTransforms(r, c)[0]).toEqual({ perm: [0, 2, 3, 1] });
    const a = align([act('x', 'Placeholder', [1, 4], seq(4)), r], [c]);
    expect(a.pairs).toMatchObject([{ reference: 'r', candidate: 'c', strategy: 'shape', transform: { perm: [0, 2, 3, 1] } }]);
    // Without a layout (an NHWC candidate), the same shape is read as it is.
    expect(candidateTransforms(r, act('c2', 'Conv', [1, 4, 4, 4], seq(64, 7)))[0]).toEqual({});
  });

  it('a conv with a fused activation pairs with the activation after the conv, not the conv', () => {
    // The reference fuses conv+PReLU into one node; the candidate has Conv then PRelu, then a
    // depthwise Conv. Same shapes, values matching nothing: roles decide.
    const sh = [1, 6];
    // An input both read, equal on both sides (an anchor), then a chain every node of which
    // reads one value and is read once (wiring cannot tell them apart).
    const refs = [act('in', 'Relu', sh, seq(6, 9)), act('fused', '_FusedConv2D', sh, seq(6, 1), ['in']), act('dw', 'DepthwiseConv2dNative', sh, seq(6, 2), ['fused'])];
    refs[1]!.role = 'activation';
    refs[2]!.role = 'affine';
    const cands = [act('cin', 'Relu', sh, seq(6, 9)), act('conv', 'Conv', sh, seq(6, 3), ['cin']), act('prelu', 'PRelu', sh, seq(6, 4), ['conv']), act('dwc', 'Conv', sh, seq(6, 5), ['prelu'])];
    cands[1]!.role = 'affine';
    cands[2]!.role = 'activation';
    cands[3]!.role = 'affine';
    const a = align(refs, cands);
    expect(a.pairs.map((p) => `${p.reference}~${p.candidate}`).sort()).toEqual(['dw~dwc', 'fused~prelu', 'in~cin']);
    expect(a.unmatched.candidate).toEqual(['conv']);
  });
});

describe('the wiring of an activation built from elementwise pieces at the root scope (issue 23, failure 7)', () => {
  const act = (name: string, type: string, producedFrom: string[], index: number): ActInfo => ({ name, type, shape: [1, 4, 4, 2], dtype: 'float32', index, producedFrom, role: opRole(type) });
  it("a PReLU as Maximum(x, 0) + alpha * Minimum(x, 0), named Maximum_1, Minimum_1, mul_1, add_1: one layer, an activation, read once from x", () => {
    const acts = [
      act('m/dw/BiasAdd', 'BiasAdd', [], 0),
      act('Maximum_1', 'Maximum', ['m/dw/BiasAdd', 'Maximum_1/y'], 1),
      act('Minimum_1', 'Minimum', ['m/dw/BiasAdd', 'Minimum_1/y'], 2),
      act('mul_1', 'Mul', ['m/alpha', 'Minimum_1'], 3),
      act('add_1', 'AddV2', ['Maximum_1', 'mul_1'], 4),
      act('m/pw/Conv2D', 'Conv2D', ['add_1'], 5),
    ];
    const w = wiring(acts);
    expect([...w.interior].sort()).toEqual(['Maximum_1', 'Minimum_1', 'mul_1']);
    expect(w.fanOut.get('m/dw/BiasAdd')).toBe(1);
    expect(w.fanIn.get('add_1')).toBe(1);
    expect(w.layerRole.get('add_1')).toBe('activation');
  });
  it('x * Sigmoid(x) (swish) is one layer too', () => {
    const w = wiring([act('m/c/BiasAdd', 'BiasAdd', [], 0), act('Sigmoid', 'Sigmoid', ['m/c/BiasAdd'], 1), act('mul', 'Mul', ['m/c/BiasAdd', 'Sigmoid'], 2)]);
    expect([...w.interior]).toEqual(['Sigmoid']);
    expect(w.fanIn.get('mul')).toBe(1);
  });
  it('a residual Add of x and a batch norm of x (Mul, Add: nothing bends) stays two inputs', () => {
    const w = wiring([act('m/c/BiasAdd', 'BiasAdd', [], 0), act('m/bn/Mul', 'Mul', ['m/c/BiasAdd', 'm/bn/scale'], 1), act('m/bn/add', 'AddV2', ['m/bn/Mul', 'm/bn/offset'], 2), act('add', 'AddV2', ['m/c/BiasAdd', 'm/bn/add'], 3)]);
    expect(w.interior.has('m/bn/add')).toBe(false);
    expect(w.fanIn.get('add')).toBe(2);
    expect(w.layerRole.get('add')).toBeUndefined();
  });
  it('a Maximum read by two layers is not a piece of one', () => {
    const w = wiring([act('x', 'BiasAdd', [], 0), act('Maximum', 'Maximum', ['x'], 1), act('Minimum', 'Minimum', ['x'], 2), act('add', 'AddV2', ['Maximum', 'Minimum'], 3), act('other', 'Conv2D', ['Maximum'], 4)]);
    expect(w.interior.has('Maximum')).toBe(false);
  });
});
