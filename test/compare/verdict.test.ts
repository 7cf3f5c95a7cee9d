import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceScale } from '../../src/compare/metrics.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { writeTfjsGraphModel } from '../../src/formats/tfjs-graph-writer.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/ir.js';
import { compare } from '../../src/index.js';

/**
 * The two real failures of issue 23's verdict, each with a graph of its shape (the original a
 * frozen .pb, the candidate a tfjs graph model under the same names, so every pair is by name):
 *
 * - rounding that failed: weights differing by one part in a million gave an output of scale
 *   ~50 an error of 3.5e-4 at an element near 0, judged as if that element stood alone;
 * - a wrong layer that passed: one conv's weights scaled by 1.3 behind a softmax that hides it.
 */
const dir = mkdtempSync(join(tmpdir(), 'parity-verdict-'));
const T = { T: A.dtype('float32') };

/** x [1,64] -> dense (MatMul [64,8] + bias): an output of scale 50 whose element 0 is near 0 for x = 1. */
function denseGraph(W: Float32Array, b: Float32Array): Graph {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', [1, 64]);
  g.const('dense/kernel', host('float32', [64, 8], W));
  g.const('dense/bias', host('float32', [8], b));
  g.op('MatMul', 'dense/MatMul', ['x', 'dense/kernel'], { ...T, transpose_a: A.bool(false), transpose_b: A.bool(false) });
  g.op('BiasAdd', 'dense/BiasAdd', ['dense/MatMul', 'dense/bias'], { ...T, data_format: A.str('NHWC') });
  return g.build(['dense/BiasAdd'], 'dense.pb');
}

describe('rounds differently: weights one part in a million apart, an output of scale 50 with an element near 0', () => {
  // W[i][j] = 10 sin(7i + 3j + 1); for x = 1 the output is the column sums plus the bias:
  // element 0 is 0.001, the others 50 (up to float32 rounding of the sums).
  const W = Float32Array.from({ length: 64 * 8 }, (_, k) => 10 * Math.sin(7 * Math.floor(k / 8) + 3 * (k % 8) + 1));
  const colSum = (j: number) => Array.from({ length: 64 }, (_, i) => W[i * 8 + j]!).reduce((a, v) => a + v, 0);
  const b = Float32Array.from({ length: 8 }, (_, j) => (j === 0 ? 0.001 : 50) - colSum(j));
  // The candidate's weights: each moved by one part in a million toward +inf (w (1 + 1e-6 sign w)).
  const W2 = Float32Array.from(W, (w) => w * (1 + 1e-6 * Math.sign(w)));
  // By hand: for x = 1 element 0 moves by 1e-6 * sum_i |W[i][0]| (about 4e-4), up to the float32
  // rounding of the weights and of the sums (a few 1e-5).
  const expected0 = 1e-6 * Array.from({ length: 64 }, (_, i) => Math.abs(W[i * 8]!)).reduce((a, v) => a + v, 0);
  const original = join(dir, 'dense.pb');
  writeFileSync(original, encodeGraphDef(denseGraph(W, b)));
  const candidate = writeTfjsGraphModel(denseGraph(W2, b), join(dir, 'dense-jitter'));
  const opts = { seed: 1, inputs: ['x=constant(1)'] };

  it('the premise: the elementwise rule fails the near-zero element (numpy allclose at atol = rtol = 1e-4)', async () => {
    const r = await compare(original, candidate, { ...opts, errorScale: 'element' });
    expect(r.run.errorScale).toBe('element');
    expect(r.verdict).toBe('not-equivalent');
    const out = r.pairs.find((p) => p.isOutput)!;
    expect(out.reference).toBe('dense/BiasAdd');
    expect(out.metrics.max_abs).toBeGreaterThan(1e-4);
    expect(expected0).toBeGreaterThan(3e-4);
    expect(Math.abs(out.metrics.max_abs - expected0)).toBeLessThan(1e-4);
    // Only element 0 (the near-zero one) is outside atol + rtol |ref|: the others have |ref| = 50.
    expect(out.metrics.worst_index).toBe(0);
    expect(out.metrics.allclose).toBe(7 / 8);
    expect(out.metrics.cosine).toBeGreaterThan(0.999999);
    expect(referenceScale(out.referenceStats)).toBeGreaterThan(49.9);
  });

  it('is equivalent by default: the error is judged at the tensor\'s scale (1e-4 + 1e-4 * 50 = 5.1e-3)', async () => {
    const r = await compare(original, candidate, opts);
    expect(r.run).toMatchObject({ errorScale: 'tensor', failOn: 'layers' });
    expect(r.verdict).toBe('equivalent');
    expect(r.summary).toMatch(/^equivalent: 2 pairs compared, 1 output\(s\) within tolerance$/);
    const out = r.pairs.find((p) => p.isOutput)!;
    expect(out.pass).toBe(true);
    // Still measured elementwise, in the JSON: some element is outside atol + rtol |ref|.
    expect(out.metrics.allclose).toBeLessThan(1);
    expect(out.metrics.max_abs).toBeLessThan(1e-4 + 1e-4 * referenceScale(out.referenceStats));
  });
});

/**
 * x [1,8,8,3] -> conv1 (Conv2D 3x3 SAME + bias, ReLU) -> gap (Mean over H, W) -> fc (MatMul
 * [4,3] + bias [40, 0, 0]) -> probs (Softmax): class 0 wins by ~40, so the softmax output does
 * not move when conv1's weights are scaled by `convScale`.
 */
function hiddenConvGraph(convScale: number): Graph {
  const g = new GraphBuilder();
  const nhwc = { data_format: A.str('NHWC') };
  g.placeholder('x', 'float32', [1, 8, 8, 3]);
  const k = Float32Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => 0.3 * Math.cos(1.7 * i + 0.5) * convScale);
  g.const('conv1/kernel', host('float32', [3, 3, 3, 4], k));
  g.const('conv1/bias', host('float32', [4], [0.1, -0.1, 0.05, 0]));
  g.op('Conv2D', 'conv1/Conv2D', ['x', 'conv1/kernel'], { ...nhwc, ...T, strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), dilations: A.ints([1, 1, 1, 1]) });
  g.op('BiasAdd', 'conv1/BiasAdd', ['conv1/Conv2D', 'conv1/bias'], { ...nhwc, ...T });
  g.op('Relu', 'conv1/Relu', ['conv1/BiasAdd'], T);
  g.const('gap/axes', host('int32', [2], [1, 2]));
  g.op('Mean', 'gap/Mean', ['conv1/Relu', 'gap/axes'], { ...T, Tidx: A.dtype('int32'), keep_dims: A.bool(false) });
  g.const('fc/kernel', host('float32', [4, 3], Float32Array.from({ length: 12 }, (_, i) => 0.2 * Math.sin(i + 1))));
  g.const('fc/bias', host('float32', [3], [40, 0, 0]));
  g.op('MatMul', 'fc/MatMul', ['gap/Mean', 'fc/kernel'], { ...T, transpose_a: A.bool(false), transpose_b: A.bool(false) });
  g.op('BiasAdd', 'fc/BiasAdd', ['fc/MatMul', 'fc/bias'], { ...nhwc, ...T });
  g.op('Softmax', 'probs/Softmax', ['fc/BiasAdd'], T);
  return g.build(['probs/Softmax'], 'hidden.pb');
}

describe('computes something different: a conv scaled by 1.3 behind a softmax that hides it', () => {
  const original = join(dir, 'hidden.pb');
  writeFileSync(original, encodeGraphDef(hiddenConvGraph(1)));
  const candidate = writeTfjsGraphModel(hiddenConvGraph(1.3), join(dir, 'hidden-conv13'));
  const opts = { seed: 2, inputs: ['x=normal(0,1)'] };

  it('is not equivalent by default, and says that the outputs agree on these inputs only', async () => {
    const r = await compare(original, candidate, opts);
    const out = r.pairs.find((p) => p.isOutput)!;
    // The premise: the output agrees (the softmax hides the conv).
    expect(out.reference).toBe('probs/Softmax');
    expect(out.pass).toBe(true);
    expect(out.metrics.max_abs).toBeLessThan(1e-6);
    expect(r.verdict).toBe('not-equivalent');
    expect(r.summary).toMatch(/^not equivalent: 'conv1\/Conv2D' \(Conv2D\) ~ 'conv1\/Conv2D' \(Conv2D\) computes something different \(its own error max_abs [\d.]+, cosine 1\.000000; \d+ more layers paired as surely differ too\); the outputs agree on these inputs; they may not on others$/);
    // By hand: the candidate's Conv2D is 1.3 times the reference's, so its own error (on the
    // reference's input, x itself) is 0.3 max|ref| (float32 rounding of 1.3 k aside).
    const conv = r.pairs.find((p) => p.reference === 'conv1/Conv2D')!;
    expect(conv.strategy).toBe('name');
    expect(conv.own!.pass).toBe(false);
    expect(conv.own!.metrics.max_abs).toBeCloseTo(0.3 * referenceScale(conv.referenceStats), 4);
    // The layers after it inherit the error: their own errors pass.
    for (const p of r.pairs.filter((q) => q.index > conv.index && q.own)) expect(p.own!.pass, p.reference).toBe(true);
  });

  it("--fail-on outputs keeps today's rule: equivalent", async () => {
    const r = await compare(original, candidate, { ...opts, failOn: 'outputs' });
    expect(r.run.failOn).toBe('outputs');
    expect(r.verdict).toBe('equivalent');
  });

  it('the unscaled copy is equivalent', async () => {
    const r = await compare(original, writeTfjsGraphModel(hiddenConvGraph(1), join(dir, 'hidden-same')), opts);
    expect(r.verdict).toBe('equivalent');
    expect(r.summary).toMatch(/^equivalent: \d+ pairs compared, 1 output\(s\) within tolerance$/);
  });
});
