import { describe, expect, it } from 'vitest';
import { lift } from '../../src/lift/index.js';
import { unknownRank, writePb } from './graphs.js';
import { configLayers, outDir } from './support.js';

describe('lift: an input of unknown rank', () => {
  it('read by a MatMul with [4, 3] weights: taken as [1, 4], lifted to a Dense and proven with that shape', async () => {
    const out = outDir();
    const res = await lift(writePb(unknownRank('matmul')), { out, seeds: 2 });
    expect(res.inferredShapes).toEqual({ x: [1, 4] });
    expect(configLayers(`${out}/model.keras`).map((l) => [l.class_name, (l.config as Record<string, unknown>).batch_shape ?? null])).toEqual([['InputLayer', [null, 4]], ['Dense', null]]);
    expect(res.proof?.verdict, res.proof?.summary).toBe('equivalent');
    expect(res.proof!.inputs.map((i) => i.shape)).toEqual([[1, 4]]);
    expect(res.exitCode).toBe(0);
  });

  it('read by a Conv2D with 2 input channels: one line naming the reader and the --shape to give (H, W unknown)', async () => {
    await expect(lift(writePb(unknownRank('conv')), { out: outDir(), prove: false })).rejects.toThrow(
      /input 'x' has an unknown rank; Conv2D 'c\/Conv2D' reads it as 4-D: give its shape with --shape x:1xNxNx2 \(N: your sizes\)$/,
    );
  });

  it('read only by elementwise ops: one line saying they take any rank and which --shape to give', async () => {
    const p = writePb(unknownRank('mul'));
    await expect(lift(p, { out: outDir(), prove: false })).rejects.toThrow(/input 'x' has an unknown rank and the ops reading it \(Mul\) take any rank: give its shape with --shape, e\.g\. --shape x:1 /);
    const res = await lift(p, { out: outDir(), shapes: { x: [1] }, seeds: 1 });
    expect(res.inferredShapes).toBeUndefined();
    expect(res.status, res.proof?.summary ?? res.unproven).toBe('proven');
  });
});
