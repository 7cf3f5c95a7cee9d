import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { feedsMaker } from '../../src/api/feeds.js';
import { MetricsPool } from '../../src/compare/simd/pool.js';
import { generateFeeds } from '../../src/inputs/generate.js';
import type { TensorSpec } from '../../src/core/tensor.js';

describe('seeded inputs prefetched on the metrics thread', () => {
  beforeAll(async () => {
    await initBackend('wasm');
    const pool = MetricsPool.get()!;
    for (let i = 0; i < 400 && !pool.available(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(pool.available()).toBe(true);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await MetricsPool.shutdown();
  });

  it('asks the thread only for large draws, and gives the same feeds as drawing them all here', () => {
    const specs: TensorSpec[] = [
      { name: 'image:0', dtype: 'float32', shape: [1, 96, 96, 3] },
      { name: 'scale:0', dtype: 'float32', shape: [1, 10] },
      { name: 'ids:0', dtype: 'int32', shape: [1, 200] },
    ];
    const draws = vi.spyOn(MetricsPool.prototype, 'drawDoubles');
    const make = feedsMaker({}, specs);
    make.prefetch(5);
    // 27,648 doubles for the image: the thread; 10 and 200 are drawn here when needed.
    expect(draws.mock.calls.map((c) => c[1])).toEqual([96 * 96 * 3]);
    const { feeds } = make(0, 5);
    const here = generateFeeds(specs, { seed: 5 });
    expect([...feeds.keys()]).toEqual([...here.keys()]);
    for (const [k, v] of here) expect(Array.from(feeds.get(k)!.data as ArrayLike<number>), k).toEqual(Array.from(v.data as ArrayLike<number>));
  });
});
