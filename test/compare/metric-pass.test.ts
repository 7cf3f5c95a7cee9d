import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { computeMetrics, computeMetricsInMemory, computeMetricsScalar } from '../../src/compare/metrics.js';
import { wasmHeapView } from '../../src/compare/device.js';
// @ts-expect-error plain ESM script without types
import { compileWat, sharedVariant, tsModule } from '../../scripts/build-wasm.mjs';

const ROOT = join(import.meta.dirname, '..', '..');

/** Deterministic pseudo-random floats (LCG), independent of the code under test. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const EXACT = ['max_abs', 'max_rel', 'allclose', 'needed_atol', 'needed_rtol', 'worst_index', 'count', 'nan_mismatch', 'inf_mismatch', 'ref_nonfinite', 'cand_nonfinite'] as const;
const SUMS = ['mean_abs', 'rmse', 'cosine', 'sqnr'] as const;

function expectSame(k: ReturnType<typeof computeMetrics>, s: ReturnType<typeof computeMetrics>, what: string): void {
  for (const m of EXACT) expect(k[m], `${what}: ${m}`).toBe(s[m]);
  // Sums are added in a different order (two lanes), so they agree to rounding only.
  for (const m of SUMS) {
    const a = k[m];
    const b = s[m];
    if (Number.isFinite(b)) expect(Math.abs(a - b), `${what}: ${m} ${a} vs ${b}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b)));
    else expect(a, `${what}: ${m}`).toBe(b);
  }
  expect(k.refStats.min).toBe(s.refStats.min);
  expect(k.candStats.max).toBe(s.candStats.max);
  expect(k.refStats.mean).toBeCloseTo(s.refStats.mean, 12);
  expect(k.candStats.std).toBeCloseTo(s.candStats.std, 12);
}

describe('wasm metric kernel', () => {
  it('the committed bytes are what scripts/build-wasm.mjs makes of metrics.wat', async () => {
    const bytes: Buffer = await compileWat(join(ROOT, 'src/compare/simd/metrics.wat'));
    const shared: Buffer = await compileWat(join(ROOT, 'src/compare/simd/metrics.wat'), sharedVariant);
    expect(readFileSync(join(ROOT, 'src/compare/simd/metrics-wasm.ts'), 'utf8')).toBe(tsModule('src/compare/simd/metrics.wat', bytes, shared));
  });

  it('hand-worked values through the kernel (odd length, one failing element, a zero reference)', () => {
    const n = 101;
    const ref = new Float32Array(n).fill(1);
    const cand = new Float32Array(n).fill(1);
    cand[17] = 1.5;
    ref[40] = 0;
    cand[40] = 0;
    const m = computeMetrics(ref, cand, { atol: 0.1, rtol: 0 });
    expect(m.max_abs).toBe(0.5);
    expect(m.max_rel).toBe(0.5);
    expect(m.mean_abs).toBeCloseTo(0.5 / n, 15);
    expect(m.rmse).toBeCloseTo(Math.sqrt(0.25 / n), 15);
    expect(m.allclose).toBe(100 / n);
    expect(m.needed_atol).toBe(0.5);
    expect(m.needed_rtol).toBeCloseTo(0.4, 15);
    expect(m.worst_index).toBe(17);
    // dot = 99 + 1.5, |ref|^2 = 100, |cand|^2 = 99 + 2.25
    expect(m.cosine).toBeCloseTo(100.5 / Math.sqrt(100 * 101.25), 14);
    expect(m.refStats).toMatchObject({ min: 0, max: 1, nonfinite: 0 });
    expect(m.candStats.max).toBe(1.5);
    expect(m.refStats.mean).toBeCloseTo(100 / 101, 14);
  });

  it('a failing element where the reference is 0 needs an infinite rtol; the last (odd) element can be the worst', () => {
    const n = 65;
    const ref = new Float32Array(n).fill(2);
    const cand = new Float32Array(n).fill(2);
    ref[3] = 0;
    cand[3] = 0.25; // fails atol 0.1, ref 0
    cand[64] = 3; // the tail element: the largest excess
    const m = computeMetrics(ref, cand, { atol: 0.1, rtol: 0.1 });
    expect(m.needed_rtol).toBe(Infinity);
    expect(m.worst_index).toBe(64);
    expect(m.needed_atol).toBeCloseTo(1 - 0.2, 6);
    expect(m.allclose).toBe(63 / 65);
  });

  it('equals the scalar loop on random data: lengths, tolerances, ties, boundaries', () => {
    const rnd = lcg(42);
    for (const n of [64, 65, 127, 1000, 4097]) {
      for (const [atol, rtol] of [[1e-4, 1e-4], [0, 0], [0.5, 0], [0, 0.01]] as const) {
        const ref = new Float32Array(n);
        const cand = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          ref[i] = i % 11 === 0 ? 0 : (rnd() - 0.5) * 4;
          const kind = i % 5;
          cand[i] = kind === 0 ? ref[i]! : kind === 1 ? ref[i]! + (rnd() - 0.5) * 1e-3 : kind === 2 ? ref[i]! * 1.01 : kind === 3 ? Math.fround(ref[i]! + 0.5) : -ref[i]!;
        }
        // Negative zeros in the reference: |(-0)| is 0, so a failing element there needs an infinite rtol.
        ref[5] = -0;
        ref[n - 3] = -0;
        cand[n - 3] = 0.75;
        // An exact tie of the largest excess: the first one is the worst.
        ref[7] = 0;
        cand[7] = 100;
        ref[n - 8] = 0;
        cand[n - 8] = 100;
        expectSame(computeMetrics(ref, cand, { atol, rtol }), computeMetricsScalar(ref, cand, { atol, rtol }), `n=${n} atol=${atol} rtol=${rtol}`);
      }
    }
  });

  it('every element within the tolerance (pass A alone), with the extremes in the last pair or the odd element', () => {
    // 4k+2 and 4k+3 elements: the kernel's four-at-a-step loop leaves one pair (and the caller one element).
    for (const n of [66, 67, 130, 131, 2]) {
      for (const at of [n - 2, n - 1]) {
        const ref = new Float32Array(n).map((_, i) => ((i * 37) % 17) / 8 - 1);
        const cand = ref.map((v, i) => v + (i % 3) * 1e-6);
        ref[at] = -7.5;
        cand[at] = 9.25;
        ref[at === n - 1 ? n - 2 : n - 1] = 6.5;
        cand[at === n - 1 ? n - 2 : n - 1] = -3.25;
        const opts = { atol: 20, rtol: 0 };
        const k = computeMetrics(ref, cand, opts);
        expectSame(k, computeMetricsScalar(ref, cand, opts), `n=${n} extremes at ${at}`);
        expect(k.allclose).toBe(1);
        expect(k.refStats.min).toBe(-7.5);
        expect(k.refStats.max).toBe(6.5);
        expect(k.candStats.min).toBe(-3.25);
        expect(k.candStats.max).toBe(9.25);
        expect(k.max_abs).toBe(16.75);
        expect(k.needed_atol).toBe(16.75);
      }
    }
  });

  it('a failing element over a -0 reference needs an infinite rtol, on both paths', () => {
    for (const n of [8, 64, 65]) {
      const ref = new Float32Array(n).fill(1);
      const cand = new Float32Array(n).fill(1);
      ref[3] = -0;
      cand[3] = 0.5;
      expect(computeMetrics(ref, cand, { atol: 0.01, rtol: 0.01 }).needed_rtol, `n=${n}`).toBe(Infinity);
      expect(computeMetricsScalar(ref, cand, { atol: 0.01, rtol: 0.01 }).needed_rtol, `n=${n}`).toBe(Infinity);
    }
  });

  it('decides |d| == atol + rtol|r| exactly as the definition (boundary elements pass)', () => {
    const n = 128;
    const ref = new Float32Array(n).fill(1);
    const cand = new Float32Array(n).fill(1.5);
    const m = computeMetrics(ref, cand, { atol: 0.25, rtol: 0.25 });
    expect(m.allclose).toBe(1);
    expect(m.worst_index).toBe(-1);
    expect(m.needed_rtol).toBe(0);
    const s = computeMetricsScalar(ref, cand, { atol: 0.25, rtol: 0.25 });
    expect(s.allclose).toBe(1);
    expect(s.worst_index).toBe(-1);
  });

  it('data with NaN or Inf falls back to the scalar loop and is counted, not poisoning the statistics', () => {
    const n = 200;
    const ref = new Float32Array(n).fill(1);
    const cand = new Float32Array(n).fill(1);
    ref[5] = NaN;
    cand[5] = NaN;
    cand[9] = Infinity;
    cand[199] = NaN;
    const m = computeMetrics(ref, cand, { atol: 0, rtol: 0 });
    expect(m.nan_mismatch).toBe(1);
    expect(m.inf_mismatch).toBe(1);
    expect(m.cand_nonfinite).toBe(3);
    expect(m.allclose).toBe(198 / 200);
    expect(m.max_abs).toBe(0);
    expect(m.needed_atol).toBe(Infinity);
    expect(m.worst_index).toBe(9);
  });

  it('runs in place on two tensors of the tfjs wasm heap, with the same result as on host copies', async () => {
    await initBackend('wasm');
    const a = tf.randomNormal([3, 50, 7], 0, 1, 'float32', 3);
    const b = tf.add(a, tf.randomUniform([3, 50, 7], -1e-3, 1e-3, 'float32', 4));
    const va = wasmHeapView(a);
    const vb = wasmHeapView(b);
    expect(va && vb).toBeTruthy();
    const inPlace = computeMetricsInMemory(va!.memory, va!.offset, vb!.offset, a.size, { atol: 1e-4, rtol: 1e-4 })!;
    const host = computeMetricsScalar(a.dataSync(), b.dataSync(), { atol: 1e-4, rtol: 1e-4 });
    expectSame(inPlace, host, 'tfjs heap');
    tf.dispose([a, b]);
  });
});

describe('the transposing copy (kernel transpose)', async () => {
  const { batchedTranspose, ownMemory, transposeArrays, transposeInMemory } = await import('../../src/compare/simd/metric-pass.js');

  it('reads each permutation alignment tries as a batch of matrix transposes, and no other', () => {
    expect(batchedTranspose([2, 3, 4, 5], [0, 2, 3, 1])).toEqual({ batches: 2, rows: 3, cols: 20 });
    expect(batchedTranspose([2, 3, 4, 5], [0, 3, 1, 2])).toEqual({ batches: 2, rows: 12, cols: 5 });
    expect(batchedTranspose([2, 3, 4], [0, 2, 1])).toEqual({ batches: 2, rows: 3, cols: 4 });
    expect(batchedTranspose([1, 2, 3, 4, 5], [0, 2, 3, 4, 1])).toEqual({ batches: 1, rows: 2, cols: 60 });
    expect(batchedTranspose([1, 2, 3, 4, 5], [0, 4, 1, 2, 3])).toEqual({ batches: 1, rows: 24, cols: 5 });
    for (const p of [[0, 1, 2, 3], [1, 0, 2, 3], [0, 1, 3, 2], [0, 3, 2, 1], [0, 2, 1, 3]]) expect(batchedTranspose([2, 3, 4, 5], p), p.join(',')).toBeNull();
    expect(batchedTranspose([3, 4], [1, 0])).toBeNull();
  });

  // Shapes with whole 4 x 4 tiles and without, more rows than columns and fewer, several batches.
  for (const shape of [[1, 4, 4, 8], [2, 3, 5, 7], [1, 24, 16, 16], [1, 17, 9, 2], [3, 1, 6, 4], [1, 5, 1, 1], [2, 6, 13]]) {
    const perms = shape.length === 4 ? [[0, 2, 3, 1], [0, 3, 1, 2]] : [[0, 2, 1]];
    for (const perm of perms) {
      it(`matches tf.transpose bit for bit: [${shape}] by [${perm}]`, async () => {
        await initBackend();
        const n = shape.reduce((a, b) => a * b, 1);
        const src = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 100);
        // NaN payloads and -0 move as bits.
        const u = new Uint32Array(src.buffer);
        u[0] = 0x7fc00123;
        u[n - 1] = 0x80000000;
        const t = tf.tensor(src, shape);
        const want = tf.transpose(t, perm);
        const expected = new Uint32Array((want.dataSync() as Float32Array).slice().buffer);
        t.dispose();
        want.dispose();
        const tr = batchedTranspose(shape, perm)!;
        const mem = ownMemory(n * 8)!;
        new Float32Array(mem.buffer, 0, n).set(src);
        expect(transposeInMemory(mem, n * 4, 0, tr.batches, tr.rows, tr.cols)).toBe(true);
        expect(Array.from(new Uint32Array(mem.buffer, n * 4, n))).toEqual(Array.from(expected));
        const js = new Float32Array(n);
        transposeArrays(js, src, tr.batches, tr.rows, tr.cols);
        expect(Array.from(new Uint32Array(js.buffer))).toEqual(Array.from(expected));
      });
    }
  }
});
