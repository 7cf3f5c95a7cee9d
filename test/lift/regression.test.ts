import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { lift } from '../../src/lift/index.js';
import { loadModel } from '../../src/runners/index.js';
import { configLayers, outDir, runnerSupportsOps } from './support.js';

/**
 * The real linear regression of tf2onnx's tests (shared/models, INDEX.md): as a TF1 training
 * checkpoint (with its loss and optimizer ops) and as a SavedModel. Lifted up to `pred`, it must
 * be pred = X * 0.21396178 + 1.04952538 (the two values stored in the checkpoint's data shard).
 */
const DIR = ['/work/shared/models/tf2onnx-tests/regression', `${process.cwd()}/../shared/models/tf2onnx-tests/regression`].find((p) => existsSync(p));
const W = 0.21396178;
const B = 1.04952538;
const supportsOps = await runnerSupportsOps();

describe.skipIf(!DIR)('lift the real TF1 checkpoint and SavedModel of a linear regression (--outputs pred)', () => {
  for (const form of ['checkpoint', 'saved_model']) {
    it(`${form}: X -> multiply by the weight -> add the bias, as keras.ops with the stored values`, async () => {
      const out = outDir();
      const res = await lift(`${DIR}/${form}`, { out, outputs: ['pred'], shapes: { X: [1] }, prove: false });
      expect(res.unliftable).toEqual([]);
      const layers = configLayers(`${out}/model.keras`);
      expect(layers.map((l) => l.class_name)).toEqual(['InputLayer', 'Multiply', 'Add']);
      const arg = (i: number) => (layers[i]!.inbound_nodes as { args: unknown[] }[])[0]!.args[1] as number;
      expect(arg(1)).toBeCloseTo(W, 7);
      expect(arg(2)).toBeCloseTo(B, 7);
    });

    it(`${form}: without --shape, one line says X's rank is unknown, that Mul/Add take any rank, and which --shape to give`, async () => {
      await expect(lift(`${DIR}/${form}`, { out: outDir(), outputs: ['pred'], prove: false })).rejects.toThrow(/input 'X' has an unknown rank and the ops reading it \(Mul\) take any rank: give its shape with --shape, e\.g\. --shape X:1 for one value per example/);
    });

    it.skipIf(!supportsOps)(`${form}: the lifted model predicts X*${W}+${B} and is proven (runs once the Keras runner executes keras.ops)`, async () => {
      const out = outDir();
      const res = await lift(`${DIR}/${form}`, { out, outputs: ['pred'], shapes: { X: [1] } });
      expect(res.proof?.verdict, res.proof?.summary).toBe('equivalent');
      const { runner } = await loadModel(`${out}/model.keras`);
      const xs = [2, -3.5, 10];
      for (const x of xs) {
        let last: tf.Tensor | undefined;
        for await (const a of runner.run(new Map([['X', tf.tensor1d([x])]]))) {
          last?.dispose();
          last = a.tensor;
        }
        expect((last!.dataSync() as Float32Array)[0]).toBeCloseTo(x * W + B, 5);
        last!.dispose();
      }
    });
  }
});
