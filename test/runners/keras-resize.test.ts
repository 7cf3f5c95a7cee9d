import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { kerasArchive } from '../fixtures/keras-writer.js';

/**
 * Resizing as tf.image.resize computes it, against numpy written from TF's C++ ops
 * (test/fixtures/gen/keras_resize.py): bicubic (ResizeBicubic, half-pixel, Keys a = -0.5 from the
 * 1024-entry table), antialias (ScaleAndTranslate triangle / keyscubic), lanczos3/5,
 * pad_to_aspect_ratio (Keras 3's padding with fill_value), crop_to_aspect_ratio with bicubic.
 */

interface T {
  shape: number[];
  values: number[];
}
type J = Record<string, unknown>;
const G = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_resize.json'), 'utf8')) as { input: T; config: J; expected: Record<string, T> };

const dir = mkdtempSync(join(tmpdir(), 'parity-resize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function file(name: string, config: J): Promise<string> {
  const f = join(dir, `${name}.keras`);
  writeFileSync(f, await kerasArchive(config, [], '3.6.0'));
  return f;
}

describe('Resizing (tf.image.resize semantics, against numpy)', () => {
  it('bicubic, antialias, lanczos3/5, pad_to_aspect_ratio and crop_to_aspect_ratio match TF on a 5x7 image, up and down', async () => {
    const r = await loadKerasRunner(await file('resize', G.config));
    const x = tf.tensor(G.input.values, G.input.shape);
    try {
      const got = new Map<string, { shape: number[]; data: Float32Array }>();
      for await (const a of r.run(new Map([['image', x]])) as AsyncIterable<Activation>) {
        got.set(a.name, { shape: a.tensor.shape.slice(), data: a.tensor.dataSync() as Float32Array });
        a.tensor.dispose();
      }
      for (const [name, want] of Object.entries(G.expected)) {
        const g = got.get(name);
        expect(g?.shape, name).toEqual(want.shape);
        let worst = 0;
        want.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(g!.data[k]! - v))));
        // Pixel values in [0, 255): float32 rounding only.
        expect(worst, `${name}: max abs error`).toBeLessThanOrEqual(2e-4);
      }
    } finally {
      x.dispose();
      r.dispose();
    }
  });

  it('area interpolation, and pad with crop together, are refused naming the layer and the option', async () => {
    const cfg = JSON.parse(JSON.stringify(G.config)) as J;
    const layers = (cfg.config as J).layers as J[];
    (layers[1]!.config as J).interpolation = 'area';
    Object.assign(layers[7]!.config as J, { crop_to_aspect_ratio: true });
    await expect(loadKerasRunner(await file('resize-bad', cfg))).rejects.toThrow(
      /Resizing with interpolation='area': bicubic_up[\s\S]*Resizing with both pad_to_aspect_ratio and crop_to_aspect_ratio: pad_bilinear/,
    );
  });
});
