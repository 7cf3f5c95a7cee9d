import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import h5wasm, { Dataset } from 'h5wasm';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import type { LayersRunner } from '../../src/runners/keras/layers-runner.js';
import { pseudo } from '../fixtures/keras-writer.js';

/** Files written by real Keras (see /work/shared/models/INDEX.md); skipped when absent. */
const ROOT = '/work/shared/models';
const CHURN = `${ROOT}/keras-h5/churn-ann/model.h5`;
const ALPHABETS = `${ROOT}/keras-h5/alphabets-cnn/model.h5`;
const MNIST = `${ROOT}/keras-v3/mnist-cnn/model.keras`;

async function runAll(r: Runner, batch: number): Promise<{ name: string; type: string; shape: number[]; data: Float32Array; producedFrom: string[] }[]> {
  const spec = r.inputs()[0]!;
  const shape = spec.shape!.map((d) => (d < 0 ? batch : d));
  const x = tf.tensor(pseudo(shape.reduce((a, b) => a * b, 1), 9, 1).map((v) => Math.abs(v)), shape);
  const out = [];
  for await (const a of r.run(new Map([[spec.name, x]])) as AsyncIterable<Activation>) {
    out.push({ name: a.name, type: a.type, shape: a.tensor.shape.slice(), data: a.tensor.dataSync() as Float32Array, producedFrom: a.producedFrom });
    a.tensor.dispose();
  }
  x.dispose();
  return out;
}

function rowSums(data: Float32Array, rows: number): number[] {
  const w = data.length / rows;
  return Array.from({ length: rows }, (_, i) => data.slice(i * w, (i + 1) * w).reduce((s, v) => s + v, 0));
}

/** Reads one dataset straight from HDF5 bytes, to check the loader put it on the right layer. */
async function dataset(bytes: Uint8Array, path: string): Promise<Float32Array> {
  const m = (await h5wasm.ready) as unknown as { FS: { writeFile(p: string, d: Uint8Array): void; unlink(p: string): void } };
  m.FS.writeFile('/real-check.h5', bytes);
  const f = new h5wasm.File('/real-check.h5', 'r');
  try {
    const d = f.get(path);
    if (!(d instanceof Dataset)) throw new Error(`no dataset ${path}`);
    return d.value as Float32Array;
  } finally {
    f.close();
    m.FS.unlink('/real-check.h5');
  }
}

describe('real Keras files', () => {
  it.skipIf(!existsSync(CHURN))('churn-ann (.h5, Keras 3.8 legacy writer): three Dense layers, sigmoid output in (0, 1), weights on the right layers', async () => {
    const r = (await loadKerasRunner(CHURN)) as LayersRunner;
    expect(r.inputs()).toEqual([{ name: 'input_layer', dtype: 'float32', shape: [-1, 12] }]);
    const acts = await runAll(r, 3);
    expect(acts.map((a) => a.name)).toEqual(['dense', 'dense_1', 'dense_2']);
    expect(acts.map((a) => a.type)).toEqual(['Dense', 'Dense', 'Dense']);
    expect(acts[0]!.producedFrom).toEqual(['input_layer']);
    expect(r.outputs()).toEqual(['dense_2']);
    expect(acts[2]!.shape).toEqual([3, 1]);
    for (const v of acts[2]!.data) expect(v > 0 && v < 1).toBe(true);
    const kernel = await dataset(new Uint8Array(readFileSync(CHURN)), 'model_weights/dense_1/sequential/dense_1/kernel');
    expect(Array.from(r.model.getLayer('dense_1').getWeights()[0]!.dataSync())).toEqual(Array.from(kernel));
    expect(r.warnings).toEqual([]);
    r.dispose();
  });

  it.skipIf(!existsSync(ALPHABETS))('alphabets-cnn (.h5 with DTypePolicy objects): four Dense layers, softmax over 26 letters', async () => {
    const r = await loadKerasRunner(ALPHABETS);
    const acts = await runAll(r, 2);
    expect(acts.map((a) => a.name)).toEqual(['dense_13', 'dense_14', 'dense_15', 'dense_16']);
    expect(acts[3]!.shape).toEqual([2, 26]);
    for (const s of rowSums(acts[3]!.data, 2)) expect(s).toBeCloseTo(1, 5);
    r.dispose();
  });

  it.skipIf(!existsSync(MNIST))('mnist-cnn (.keras, Keras 3.15): eight layers in order, layouts, softmax over 10 digits, Dense = matmul of its input', async () => {
    const r = (await loadKerasRunner(MNIST)) as LayersRunner;
    expect(r.inputs()).toEqual([{ name: 'input_layer', dtype: 'float32', shape: [-1, 28, 28, 1] }]);
    const acts = await runAll(r, 2);
    expect(acts.map((a) => a.name)).toEqual(['conv2d', 'max_pooling2d', 'conv2d_1', 'max_pooling2d_1', 'flatten', 'dropout', 'dense', 'dense_1']);
    expect(acts.map((a) => a.shape)).toEqual([[2, 26, 26, 32], [2, 13, 13, 32], [2, 11, 11, 64], [2, 5, 5, 64], [2, 1600], [2, 1600], [2, 128], [2, 10]]);
    for (const s of rowSums(acts[7]!.data, 2)) expect(s).toBeCloseTo(1, 5);
    // Dropout is the identity at inference.
    expect(acts[5]!.data).toEqual(acts[4]!.data);
    // dense = relu(dropout @ W + b), with W and b read straight from model.weights.h5.
    const h5 = unzipSync(new Uint8Array(readFileSync(MNIST)))['model.weights.h5']!;
    const W = await dataset(h5, 'layers/dense/vars/0');
    const b = await dataset(h5, 'layers/dense/vars/1');
    const x = acts[5]!.data;
    let worst = 0;
    for (let row = 0; row < 2; row++) {
      for (let j = 0; j < 128; j++) {
        let s = b[j]!;
        for (let i = 0; i < 1600; i++) s += x[row * 1600 + i]! * W[i * 128 + j]!;
        worst = Math.max(worst, Math.abs(Math.max(0, s) - acts[6]!.data[row * 128 + j]!));
      }
    }
    expect(worst).toBeLessThan(1e-4);
    r.dispose();
  });
});
