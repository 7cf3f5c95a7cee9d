import { describe, expect, it } from 'vitest';
import { A, host, runOp } from '../../fixtures/graph.js';
import { checkGolden, loadGoldens } from '../../fixtures/ops_math_goldens.js';

describe('image kernels vs numpy goldens of TF formulas (test/fixtures/gen/ops_math_image.py)', () => {
  for (const c of loadGoldens('ops_math_image.json')) {
    it(c.name, () => checkGolden(c));
  }
});

const f = (shape: number[], v: number[]) => host('float32', shape, v);
const i32 = (v: number) => host('int32', [], [v]);
const fs = (v: number) => host('float32', [], [v]);

describe('resize checks', () => {
  it('align_corners with half_pixel_centers is refused, as TF does', async () => {
    const attrs = { align_corners: A.bool(true), half_pixel_centers: A.bool(true) };
    for (const op of ['ResizeBilinear', 'ResizeNearestNeighbor']) {
      await expect(runOp(op, [f([1, 2, 2, 1], [1, 2, 3, 4]), host('int32', [2], [3, 3])], attrs)).rejects.toThrow(/half_pixel_centers=true requires align_corners=false/);
    }
  });
  it('nearest half_pixel_centers downsample 4 -> 3 picks floor((d+0.5)*4/3) = 0, 2, 3 (round would give 1 for d=0)', async () => {
    const [r] = await runOp('ResizeNearestNeighbor', [f([1, 1, 4, 1], [10, 20, 30, 40]), host('int32', [2], [1, 3])], { half_pixel_centers: A.bool(true) });
    expect(r!.values).toEqual([10, 30, 40]);
  });
  it('nearest align_corners 3 -> 2 rounds d*(2/1): 0, 2; legacy floors d*1.5: 0, 1', async () => {
    const x = f([1, 1, 3, 1], [1, 2, 3]);
    const size = host('int32', [2], [1, 2]);
    expect((await runOp('ResizeNearestNeighbor', [x, size], { align_corners: A.bool(true) }))[0]!.values).toEqual([1, 3]);
    expect((await runOp('ResizeNearestNeighbor', [x, size]))[0]!.values).toEqual([1, 2]);
  });
});

// Boxes [y1, x1, y2, x2]. 0 and 1 overlap with IoU 0.81/1.19 = 0.68; 2 is far away; 3 overlaps 2 a little.
const boxes = f([5, 4], [0, 0, 1, 1, 0.1, 0.1, 1.1, 1.1, 5, 5, 6, 6, 5.5, 5, 6.5, 6, 0, 0, 1, 1]);
const scores = f([5], [0.9, 0.95, 0.5, 0.6, 0.9]);

describe('non-max suppression (TF algorithm)', () => {
  it('V3 selects by score, suppresses IoU > threshold, ties by lower index', async () => {
    // order: 1 (0.95), 0 and 4 tie at 0.9 -> 0 first; both overlap 1 (IoU .68 > .5) -> suppressed; 3 (0.6); 2 overlaps 3 by 1/3 -> kept.
    const [r] = await runOp('NonMaxSuppressionV3', [boxes, scores, i32(10), fs(0.5), fs(0)]);
    expect(r).toEqual({ shape: [3], dtype: 'int32', values: [1, 3, 2] });
    const [hi] = await runOp('NonMaxSuppressionV3', [boxes, scores, i32(10), fs(0.7), fs(0)]);
    // at 0.7, box 0 survives box 1; box 4 equals box 0 (IoU 1) and goes.
    expect(hi!.values).toEqual([1, 0, 3, 2]);
  });
  it('V3 score_threshold is strict and max_output_size caps the count', async () => {
    expect((await runOp('NonMaxSuppressionV3', [boxes, scores, i32(10), fs(0.5), fs(0.6)]))[0]!.values).toEqual([1]);
    expect((await runOp('NonMaxSuppressionV2', [boxes, scores, i32(2), fs(0.5)]))[0]!.values).toEqual([1, 3]);
  });
  it('V4 pads to max_output_size and returns the valid count', async () => {
    const [idx, valid] = await runOp('NonMaxSuppressionV4', [boxes, scores, i32(5), fs(0.5), fs(0)], { pad_to_max_output_size: A.bool(true) }, 2);
    expect(idx!.values).toEqual([1, 3, 2, 0, 0]);
    expect(valid).toEqual({ shape: [], dtype: 'int32', values: [3] });
  });
  it('V5 soft-NMS decays overlapping scores by exp(-0.5 iou^2 / sigma) and re-queues them', async () => {
    // two boxes: b0 score 0.9, b1 score 0.8 with IoU(b0, b1) = 0.5 (1x2 and 1x1 inside: inter 1, union 2).
    const b = f([3, 4], [0, 0, 1, 2, 0, 0, 1, 1, 10, 10, 11, 11]);
    const s = f([3], [0.9, 0.8, 0.3]);
    const sigma = 0.5;
    const [idx, sc, valid] = await runOp('NonMaxSuppressionV5', [b, s, i32(3), fs(0.4), fs(0), fs(sigma)], {}, 3);
    const decayed = 0.8 * Math.exp((-0.5 / sigma) * 0.5 * 0.5); // 0.623, still above b2's 0.3
    expect(idx!.values).toEqual([0, 1, 2]);
    expect(sc!.values[0]).toBeCloseTo(0.9, 6);
    expect(sc!.values[1]).toBeCloseTo(decayed, 6);
    expect(sc!.values[2]).toBeCloseTo(0.3, 6);
    expect(valid!.values).toEqual([3]);
  });
  it('V5 without sigma is hard NMS; padding fills scores with 0', async () => {
    const [idx, sc, valid] = await runOp('NonMaxSuppressionV5', [boxes, scores, i32(4), fs(0.5), fs(0), fs(0)], { pad_to_max_output_size: A.bool(true) }, 3);
    expect(idx!.values).toEqual([1, 3, 2, 0]);
    expect(sc!.values.map((v) => Math.round(v * 100) / 100)).toEqual([0.95, 0.6, 0.5, 0]);
    expect(valid!.values).toEqual([3]);
  });
  it('refuses an IoU threshold outside [0, 1]', async () => {
    await expect(runOp('NonMaxSuppressionV3', [boxes, scores, i32(3), fs(1.5), fs(0)])).rejects.toThrow(/iou_threshold must be in \[0, 1\]/);
  });
});

describe('TopKV2', () => {
  it('ties keep the lower index first; values and indices per row', async () => {
    const [v, i] = await runOp('TopKV2', [f([2, 5], [1, 3, 3, 2, 3, 5, 5, 5, 0, 5]), i32(3)], {}, 2);
    expect(v).toEqual({ shape: [2, 3], dtype: 'float32', values: [3, 3, 3, 5, 5, 5] });
    expect(i).toEqual({ shape: [2, 3], dtype: 'int32', values: [1, 2, 4, 0, 1, 2] });
  });
  it('int32 input keeps its dtype; k beyond the last dim is refused', async () => {
    const [v] = await runOp('TopKV2', [host('int32', [4], [4, -1, 9, 4]), i32(2)], {}, 2);
    expect(v).toEqual({ shape: [2], dtype: 'int32', values: [9, 4] });
    await expect(runOp('TopKV2', [f([3], [1, 2, 3]), i32(4)], {}, 2)).rejects.toThrow(/k must be in \[0, 3\]/);
  });
});
