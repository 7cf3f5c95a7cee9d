import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { wasmHeapView } from '../../src/compare/device.js';
import type { JobSums, JobView, RingRegion } from '../../src/compare/simd/pool.js';
import { MetricsPool } from '../../src/compare/simd/pool.js';
import { arc4State } from '../../src/inputs/kernel/arc4.js';
import seedrandom from 'seedrandom';
import { computeMetricsScalar } from '../../src/compare/metrics.js';
import type { Transform } from '../../src/compare/align/index.js';
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
      const job = await pool.submit(
        n,
        1e-3,
        0,
        (r, c) => {
          r.set(ref);
          c.set(cand);
        },
        (sums) => sums,
      );
      pending.push(
        job.result.then((sums) => {
          expect(sums, `job ${k} was computed by the worker`).not.toBeNull();
          const { a, b } = sums!;
          const s = computeMetricsScalar(ref, cand, { atol: 1e-3, rtol: 0 });
          const pairs = n >>> 1;
          expect(a.maxabs, `job ${k}`).toBe(s.max_abs);
          expect(a.natol).toBe(s.needed_atol);
          // The kernel covers the pairs; the odd last element is the caller's.
          const lastClose = n & 1 ? (Math.abs(cand[n - 1]! - ref[n - 1]!) <= 1e-3 ? 1 : 0) : 0;
          // Pass A counts the elements within the tolerance only when all are (k = 0); else pass B does.
          expect((b ? b.close : a.close) + lastClose).toBe(Math.round(s.allclose * n));
          expect(a.close).toBe(k > 0 ? -1 : pairs * 2);
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
    const where = (sums: JobSums, v: JobView) => ({ max: sums!.a.maxabs, off: v.rOff });
    const [j1, j2] = await Promise.all([
      pool.submit(n, 0, 0, (r, c) => { r.fill(1); c.fill(1); }, where),
      pool.submit(n, 0, 0, (r, c) => { r.fill(5); c.fill(7); }, where),
    ]);
    const [r1, r2] = [await j1.result, await j2.result];
    // Bytes of their own while both are live: each job's sums are its own values. (The offsets
    // may be equal: when the thread finishes the first before the second is submitted, as on a
    // loaded machine, the second submission collects it and reuses its bytes.)
    expect([r1.max, r2.max]).toEqual([0, 2]);
    // 24 MB of the 32 MiB ring, then two more that must wait for it.
    const big = 3_000_000;
    const jobs = await Promise.all([
      pool.submit(big, 0, 0, (r, c) => { r.fill(0); c.fill(0); }, where),
      pool.submit(big, 0, 0, (r, c) => { r.fill(1); c.fill(1); }, where),
      pool.submit(big, 0, 0, (r, c) => { r.fill(2); c.fill(4); }, where),
    ]);
    expect(await Promise.all(jobs.map((j) => j.result.then((x) => x.max)))).toEqual([0, 0, 2]);
  }, 60_000);

  it('collects finished jobs without the event loop, and says at once when the ring is full', async () => {
    const pool = await readyPool();
    const finished: number[] = [];
    const first = pool.trySubmit(1000, 0, 0, (r, c) => { r.fill(1); c.fill(3); }, (sums) => finished.push(sums!.a.maxabs));
    expect(first).not.toBeNull();
    // No await from here on: the worker's result is taken from shared memory by the next submission.
    const until = Date.now() + 2000;
    const probe = () => pool.trySubmit(1000, 0, 0, (r, c) => { r.fill(0); c.fill(0); }, () => finished.push(-1));
    while (finished.length === 0 && Date.now() < until) {
      const end = Date.now() + 20;
      while (Date.now() < end);
      probe();
    }
    expect(finished[0]).toBe(2);
    // Fill the ring past its 32 MiB without yielding: some submission must be refused, not wait.
    let refused = false;
    const results: Promise<unknown>[] = [];
    for (let k = 0; k < 20 && !refused; k++) {
      // 32 MB each: the second cannot fit until the worker has finished the first (milliseconds later).
      const job = pool.trySubmit(4_000_000, 0, 0, (r, c) => { r.fill(k); c.fill(k); }, () => k);
      if (job) results.push(job.result);
      else refused = true;
    }
    expect(refused).toBe(true);
    expect(await Promise.all(results)).toEqual(results.map((_, k) => k));
  }, 60_000);

  it('measureLater gives exactly what measure() gives, transposed candidates included', async () => {
    await readyPool();
    const r = tf.randomNormal([2, 40, 30, 16], 0, 1, 'float32', 7);
    const cNhwc = tf.add(r, tf.randomUniform([2, 40, 30, 16], -2e-3, 2e-3, 'float32', 8));
    const cNchw = tf.transpose(cNhwc, [0, 3, 1, 2]);
    const opts = { atol: 1e-3, rtol: 1e-3 };
    for (const [c, t] of [[cNhwc, undefined], [cNchw, { perm: [0, 2, 3, 1] }]] as [tf.Tensor, Transform | undefined][]) {
      const now = measure(held(r, 'r'), { tensor: c, shape: c.shape.slice() }, t, opts, () => true);
      const later = await (measureLater(held(r, 'r'), { tensor: c, shape: c.shape.slice() }, t, opts, () => true)).result;
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
    for (let k = 0; k < 6; k++) outs.push((measureLater(held(r, 'r'), { tensor: c, shape: [100, 1000] }, undefined, opts, () => false)).result);
    await MetricsPool.shutdown();
    for (const o of outs) expect((await o).m).toEqual(expected);
    tf.dispose([r, c]);
  });

  it('on a shared tfjs heap the ring is a block of it (copies within one memory); with no larger block, a memory of its own', async () => {
    await MetricsPool.shutdown();
    const source = MetricsPool.regionSource!;
    const given: RingRegion[] = [];
    let freed = 0;
    let refuse = false;
    MetricsPool.regionSource = (bytes) => {
      const region = refuse ? null : source(bytes);
      if (region) {
        given.push(region);
        const free = region.free;
        region.free = () => {
          freed++;
          free();
        };
      }
      return region;
    };
    const r = tf.randomNormal([300, 1000], 0, 1, 'float32', 3);
    const c = tf.add(r, tf.randomUniform([300, 1000], -1e-3, 1e-3, 'float32', 4));
    try {
      const pool = await readyPool();
      const heap = wasmHeapView(r)!.memory;
      expect(heap.buffer instanceof SharedArrayBuffer).toBe(true);
      expect(given).toHaveLength(1);
      expect(given[0]!.memory).toBe(heap);
      const n = r.size;
      const job = pool.trySubmit(
        n,
        1e-3,
        0,
        (rv, cv, put) => {
          put(rv, wasmHeapView(r)!);
          put(cv, wasmHeapView(c)!);
        },
        (sums, v) => ({ sums, v: { ...v }, cand: new Float32Array(v.memory.buffer, v.cOff, n).slice() }),
      )!;
      const { sums, v, cand } = await job.result;
      expect(v.memory).toBe(heap);
      expect(v.rOff).toBeGreaterThanOrEqual(given[0]!.offset);
      expect(v.cOff + n * 4).toBeLessThanOrEqual(given[0]!.offset + given[0]!.bytes);
      expect(cand).toEqual(c.dataSync());
      const expected = computeMetricsScalar(r.dataSync() as Float32Array, c.dataSync() as Float32Array, { atol: 1e-3, rtol: 0 });
      expect(sums!.a.maxabs).toBe(expected.max_abs);
      // 40 MB: more than the 32 MiB block, and no larger block is given: a memory of the ring's own.
      refuse = true;
      const big = await pool.submit(5_000_000, 0, 0, (rv, cv) => { rv.fill(1); cv.fill(1.5); }, (k, view) => ({ max: k!.a.maxabs, own: view.memory !== heap }));
      expect(await big.result).toEqual({ max: 0.5, own: true });
      expect(freed).toBe(1);
      // And it goes on working there.
      const after = await pool.submit(1000, 0, 0, (rv, cv) => { rv.fill(2); cv.fill(2); }, (k) => k!.a.maxabs);
      expect(await after.result).toBe(0);
    } finally {
      MetricsPool.regionSource = source;
      await MetricsPool.shutdown();
      tf.dispose([r, c]);
    }
  }, 60_000);

  it('a process that used the thread exits by itself when its work is done', () => {
    const script = `
      const { MetricsPool } = await import(${JSON.stringify(join(ROOT, 'dist/src/compare/simd/pool.js'))});
      const pool = MetricsPool.get();
      while (!pool.available()) await new Promise((r) => setTimeout(r, 5));
      const job = await pool.submit(100000, 1e-4, 1e-4, (r, c) => { r.fill(1); c.fill(2); }, (sums) => sums.a.maxabs);
      console.log(await job.result);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(out.trim()).toBe('1');
  });
});

describe('seeded doubles drawn on the metrics thread', () => {
  it("are seedrandom's doubles for the key, taken once; a draw not started yet is left to the caller", async () => {
    const pool = await readyPool();
    for (const [key, n] of [['tf-parity:3:x', 10_007], ['k', 1], ['ü', 4096 * 3 + 5]] as const) {
      const job = pool.drawDoubles(arc4State(key), n)!;
      expect(job).not.toBeNull();
      // Let the worker get to it (take() waits for a draw under way, or cancels one not begun).
      for (let i = 0; i < 200; i++) await new Promise((r) => setTimeout(r, 2));
      const got = job.take();
      const rng = seedrandom(key);
      const want = Float64Array.from({ length: n }, () => rng.double());
      expect(got, key).toEqual(want);
      expect(job.take()).toBeNull();
    }
    // Taken at once: either cancelled (null) or drawn; never other values. Then jobs still run.
    const now = pool.drawDoubles(arc4State('now'), 100_000)!.take();
    if (now) {
      const rng = seedrandom('now');
      expect(now[99_999]).toBe(Float64Array.from({ length: 100_000 }, () => rng.double())[99_999]);
    }
    const t = tf.tensor([1, 2, 3], [3], 'float32');
    const r = measure(held(t, 'r'), { tensor: t, shape: [3] }, undefined, { atol: 0, rtol: 0 }, () => false);
    expect(r.m.max_abs).toBe(0);
    t.dispose();
    expect(MetricsPool.get()!.drawDoubles(arc4State('z'), 0)).toBeNull();
  });
});
