import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { MetricsPool } from '../../src/compare/kernel/pool.js';
import { computeMetricsScalar } from '../../src/compare/metrics.js';
import type { Held } from '../../src/compare/store.js';
import { measure, measureLater } from '../../src/compare/store.js';

const ROOT = join(import.meta.dirname, '..', '..');

async function readyPool(): Promise<MetricsPool> {
  const pool = MetricsPool.get();
  expect(pool, 'the metrics thread can run on this machine').not.toBeNull();
  for (let i = 0; i < 400 && !pool!.available(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(pool!.available()).toBe(true);
  return pool!;
}

function held(t: tf.Tensor, name: string): Held {
  return { name, type: 'X', shape: t.shape.slice(), dtype: 'float32', index: 0, producedFrom: [], tensor: t };
}

describe('metrics thread', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(async () => {
    await MetricsPool.shutdown();
  });

  it('many jobs of mixed sizes, more than the ring holds at once (wrap, wait, growth), each equal to the scalar definition', async () => {
    const pool = await readyPool();
    const sizes = [20000, 3_000_000, 16384, 500_001, 9_000_000, 70000, 1_200_000];
    const pending: Promise<void>[] = [];
    for (let k = 0; k < 35; k++) {
      const n = sizes[k % sizes.length]!;
      // ref[i] = i mod 7, cand = ref + k/100 on every third element: closed-form answers.
      const ref = new Float32Array(n).map((_, i) => i % 7);
      const cand = ref.map((v, i) => (i % 3 === 0 ? v + k / 100 : v));
      const job = await pool.submit(n, 1e-3, 0, (r, c) => {
        r.set(ref);
        c.set(cand);
      });
      pending.push(
        job.result.then(({ a, b }) => {
          job.release();
          const s = computeMetricsScalar(ref, cand, { atol: 1e-3, rtol: 0 });
          const pairs = n >>> 1;
          expect(a.maxabs, `job ${k}`).toBe(s.max_abs);
          expect(a.natol).toBe(s.needed_atol);
          // The kernel covers the pairs; the odd last element is the caller's.
          const lastClose = n & 1 ? (Math.abs(cand[n - 1]! - ref[n - 1]!) <= 1e-3 ? 1 : 0) : 0;
          expect(a.close + lastClose).toBe(Math.round(s.allclose * n));
          expect(b !== null).toBe(k > 0);
          expect(a.sr).toBe(ref.slice(0, pairs * 2).reduce((x, y) => x + y, 0));
        }),
      );
    }
    await Promise.all(pending);
  }, 120_000);

  it('submissions made at the same time get bytes of their own (on an empty ring, and waiting on a full one)', async () => {
    const pool = await readyPool();
    const n = 100_000;
    const [j1, j2] = await Promise.all([
      pool.submit(n, 0, 0, (r, c) => { r.fill(1); c.fill(1); }),
      pool.submit(n, 0, 0, (r, c) => { r.fill(5); c.fill(7); }),
    ]);
    expect(j1.rOff).not.toBe(j2.rOff);
    expect([(await j1.result).a.maxabs, (await j2.result).a.maxabs]).toEqual([0, 2]);
    j1.release();
    j2.release();
    // 24 MB of the 32 MiB ring, then two more that must wait for it.
    const big = 3_000_000;
    const jb = await pool.submit(big, 0, 0, (r, c) => { r.fill(0); c.fill(0); });
    const p3 = pool.submit(big, 0, 0, (r, c) => { r.fill(1); c.fill(1); });
    const p4 = pool.submit(big, 0, 0, (r, c) => { r.fill(2); c.fill(4); });
    await jb.result;
    jb.release();
    const j3 = await p3;
    const a3 = (await j3.result).a.maxabs;
    j3.release();
    const j4 = await p4;
    expect([a3, (await j4.result).a.maxabs]).toEqual([0, 2]);
    j4.release();
  }, 60_000);

  it('measureLater gives exactly what measure() gives, transposed candidates included', async () => {
    await readyPool();
    const r = tf.randomNormal([2, 40, 30, 16], 0, 1, 'float32', 7);
    const cNhwc = tf.add(r, tf.randomUniform([2, 40, 30, 16], -2e-3, 2e-3, 'float32', 8));
    const cNchw = tf.transpose(cNhwc, [0, 3, 1, 2]);
    const opts = { atol: 1e-3, rtol: 1e-3 };
    for (const [c, t] of [[cNhwc, undefined], [cNchw, { perm: [0, 2, 3, 1] }]] as const) {
      const now = measure(held(r, 'r'), { tensor: c, shape: c.shape.slice() }, t, opts, () => true);
      const later = await (await measureLater(held(r, 'r'), { tensor: c, shape: c.shape.slice() }, t, opts, () => true)).result;
      expect(later.m).toEqual(now.m);
      expect(Array.from(later.host!.cand.slice(0, 50))).toEqual(Array.from(now.host!.cand.slice(0, 50)));
    }
    tf.dispose([r, cNhwc, cNchw]);
  });

  it('when the thread goes away with jobs out, their metrics are computed on the main thread', async () => {
    await readyPool();
    const r = tf.randomNormal([100, 1000], 0, 1, 'float32', 1);
    const c = tf.mul(r, 1.0001);
    const opts = { atol: 1e-5, rtol: 0 };
    const expected = measure(held(r, 'r'), { tensor: c, shape: [100, 1000] }, undefined, opts, () => false).m;
    const outs = [];
    for (let k = 0; k < 6; k++) outs.push((await measureLater(held(r, 'r'), { tensor: c, shape: [100, 1000] }, undefined, opts, () => false)).result);
    await MetricsPool.shutdown();
    for (const o of outs) expect((await o).m).toEqual(expected);
    tf.dispose([r, c]);
  });

  it('a process that used the thread exits by itself when its work is done', () => {
    const script = `
      const { MetricsPool } = await import(${JSON.stringify(join(ROOT, 'dist/src/compare/kernel/pool.js'))});
      const pool = MetricsPool.get();
      while (!pool.available()) await new Promise((r) => setTimeout(r, 5));
      const job = await pool.submit(100000, 1e-4, 1e-4, (r, c) => { r.fill(1); c.fill(2); });
      const { a } = await job.result;
      job.release();
      console.log(a.maxabs);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(out.trim()).toBe('1');
  });
});
