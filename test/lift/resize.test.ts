import { describe, expect, it } from 'vitest';
import { lift } from '../../src/lift/index.js';
import { bilinearMatrix, nearestIndices } from '../../src/lift/interpolation.js';
import { halfPixelResize, resizes, writePb } from './graphs.js';
import { configLayers, outDir } from './support.js';

type J = Record<string, unknown>;

/** Rows of a [out, in] matrix as plain arrays rounded to 6 places. */
const rows = (m: Float32Array, inSize: number) => Array.from({ length: m.length / inSize }, (_, i) => Array.from(m.subarray(i * inSize, (i + 1) * inSize), (v) => Math.round(v * 1e6) / 1e6));

describe('TF resize weights along one axis (hand-computed from TF\'s formulas)', () => {
  it('legacy bilinear 3 -> 5: scale 3/5, sources 0, 0.6, 1.2, 1.8, 2.4 (the last clamps its upper neighbour)', () => {
    expect(rows(bilinearMatrix(3, 5, { alignCorners: false, halfPixelCenters: false }), 3)).toEqual([
      [1, 0, 0], [0.4, 0.6, 0], [0, 0.8, 0.2], [0, 0.2, 0.8], [0, 0, 1],
    ]);
  });
  it('align_corners 3 -> 5: scale 2/4, sources 0, 0.5, 1, 1.5, 2', () => {
    expect(rows(bilinearMatrix(3, 5, { alignCorners: true, halfPixelCenters: false }), 3)).toEqual([
      [1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1],
    ]);
  });
  it('half-pixel 2 -> 4: sources -0.25 (clamped to pixel 0), 0.25, 0.75, 1.25', () => {
    expect(rows(bilinearMatrix(2, 4, { alignCorners: false, halfPixelCenters: true }), 2)).toEqual([
      [1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1],
    ]);
  });
  it('nearest: legacy floors, align_corners rounds halves up, half-pixel floors (i+0.5)*scale', () => {
    expect(nearestIndices(3, 5, { alignCorners: false, halfPixelCenters: false })).toEqual([0, 0, 1, 1, 2]);
    // scale 2/4: 0, 0.5 -> 1, 1, 1.5 -> 2, 2
    expect(nearestIndices(3, 5, { alignCorners: true, halfPixelCenters: false })).toEqual([0, 1, 1, 2, 2]);
    // scale 3/5: 0.3, 0.9, 1.5, 2.1, 2.7
    expect(nearestIndices(3, 5, { alignCorners: false, halfPixelCenters: true })).toEqual([0, 0, 1, 2, 2]);
  });
});

describe('lift: resizes no stock layer computes become keras.ops take/subtract/multiply/add on constants, and are proven', () => {
  it('legacy and align_corners bilinear, align_corners and half-pixel nearest (non-integer factors)', async () => {
    const out = outDir();
    const res = await lift(writePb(resizes()), { out, seeds: 2 });
    expect(res.unliftable).toEqual([]);
    const layers = configLayers(`${out}/model.keras`);
    // Each resize's own name stands for the TF node; its helpers carry the scope's name with the axis and step.
    const byName = new Map(layers.map((l) => [String(l.name), l]));
    for (const n of ['up_legacy', 'down_aligned', 'nearest_aligned', 'nearest_half']) expect(byName.has(n), n).toBe(true);
    expect(byName.get('up_legacy')).toMatchObject({ module: 'keras.src.ops.numpy', class_name: 'Add', registered_name: 'Add', config: { name: 'up_legacy' } });
    // TF lerps along x first: the columns' upper neighbours are taken from the input on axis 2.
    const colsUpper = byName.get('up_legacy_cols_upper')!;
    expect(colsUpper).toMatchObject({ class_name: 'Take', config: { name: 'up_legacy_cols_upper', axis: 2 }, registered_name: 'Take' });
    const idx = (colsUpper.inbound_nodes as { args: unknown[] }[])[0]!.args[1] as J;
    // 5 -> 9 columns, scale 5/9: sources 0, .556, 1.11, 1.67, 2.22, 2.78, 3.33, 3.89, 4.44 -> upper ceil, clamped at 4.
    expect(idx).toEqual({ class_name: '__numpy__', config: { value: [0, 1, 2, 2, 3, 3, 4, 4, 4], dtype: 'int32' } });
    expect(byName.get('nearest_half')).toMatchObject({ class_name: 'Take', config: { axis: 1 } });
    expect(layers.filter((l) => l.module === 'keras.layers').map((l) => l.class_name)).toEqual(['InputLayer', 'Activation', 'Activation', 'Activation', 'Activation']);
    expect(res.proof?.verdict, res.proof?.summary).toBe('equivalent');
    expect(res.status).toBe('proven');
    // Every TF tensor the lift claims (4 resizes, 4 relus) is paired.
    expect(res.model!.layers.filter((l) => l.stands).length).toBe(8);
  });
});

describe('lift: half-pixel bilinear resize is keras.ops.image.resize, run by the Keras runner', () => {
  it('ResizeBilinear half_pixel_centers=true -> keras.src.ops.image Resize (bilinear, channels_last), proven', async () => {
    const out = outDir();
    const res = await lift(writePb(halfPixelResize()), { out, seeds: 2 });
    const resize = configLayers(`${out}/model.keras`).find((l) => l.name === 'resize')!;
    expect(resize).toMatchObject({ module: 'keras.src.ops.image', class_name: 'Resize', registered_name: 'Resize', config: { name: 'resize', size: [6, 7], interpolation: 'bilinear', antialias: false, data_format: 'channels_last' } });
    expect(res.proof?.verdict, res.proof?.summary ?? res.unproven).toBe('equivalent');
    expect(res.exitCode).toBe(0);
  });
});
