import { describe, expect, it } from 'vitest';
import { lift, writeLifted } from '../../src/lift/index.js';
import { prove } from '../../src/lift/prove.js';
import { cnn, writePb } from './graphs.js';
import { outDir } from './support.js';

/** The proof is no formality: a lifted model with one wrong weight or one wrong option is found not equivalent, at that layer. */
describe('the proof finds a lift bug', () => {
  it.each([
    ['one kernel weight off by 0.05', (m: NonNullable<Awaited<ReturnType<typeof lift>>['model']>) => {
      const conv = m.layers.find((l) => l.name === 'conv2d_1')!;
      (conv.weights[0]!.value.data as Float32Array)[3]! += 0.05;
      return 'conv2d_1';
    }],
    ['max pooling written as average pooling', (m: NonNullable<Awaited<ReturnType<typeof lift>>['model']>) => {
      const pool = m.layers.find((l) => l.name === 'max_pooling2d')!;
      expect(pool.className).toBe('MaxPooling2D');
      pool.className = 'AveragePooling2D';
      return 'max_pooling2d';
    }],
  ])('%s', async (_label, mutate) => {
    const original = writePb(cnn());
    const first = await lift(original, { out: outDir(), prove: false });
    const model = first.model!;
    const layer = mutate(model);
    const out = outDir();
    const files = await writeLifted(model, out, original);
    const proof = await prove(original, files[0]!, out, { seeds: 2, map: files[3]! });
    expect(proof.verdict).toBe('not-equivalent');
    const root = proof.pairs[proof.rootCause ?? proof.firstDivergence ?? -1];
    expect(root?.candidate).toBe(layer);
  });
});
