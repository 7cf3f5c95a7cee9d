import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { cnnGraph } from '../../cases/gen/cnn.js';
import { cnnOnnx } from '../../cases/gen/onnx-cnn.js';
import { kerasCnn } from '../../cases/gen/keras-cnn.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { compare } from '../../src/index.js';

/** No tensor leaks: after each compare the tfjs tensor count is back to its baseline, over 50 runs. */
describe('memory', () => {
  it('50 compares (graph, Keras and ONNX candidates) leave no tensors and no RSS growth', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-mem-'));
    writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(cnnGraph()));
    writeFileSync(join(d, 'bad.pb'), encodeGraphDef(cnnGraph(undefined, 'conv1-weight')));
    writeFileSync(join(d, 'cnn.keras'), await kerasCnn(undefined, 'dw1-activation'));
    writeFileSync(join(d, 'cnn.onnx'), cnnOnnx());
    const cands = ['bad.pb', 'cnn.keras', 'cnn.onnx'];
    // Warm up every path once (kernels, wasm memory, module caches).
    for (const c of cands) await compare(join(d, 'cnn.pb'), join(d, c));
    const base = tf.memory().numTensors;
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 50; i++) {
      const r = await compare(join(d, 'cnn.pb'), join(d, cands[i % 3]!), { seed: i });
      expect(r.verdict).not.toBe('error');
      expect(tf.memory().numTensors).toBe(base);
    }
    global.gc?.();
    const growth = (process.memoryUsage().rss - rss0) / 1024 / 1024;
    // Generous: catches a leak of the activations (tens of MB over 50 runs), not allocator noise.
    expect(growth).toBeLessThan(150);
  }, 300_000);
});
