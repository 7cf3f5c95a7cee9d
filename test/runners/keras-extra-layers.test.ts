import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { kerasArchive, keras3Config } from '../fixtures/keras-writer.js';

/** From the layers' Keras 3 definitions in numpy: test/fixtures/gen/keras_extra_layers.py. */
interface T {
  shape: number[];
  values: number[];
  /** int64 for Keras' `dtype="int"` variables (Normalization's count); float32 otherwise. */
  dtype?: 'int64';
}
interface Case {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inputs: T[];
  output: T;
  /** The layer's variables, in Keras' order (GroupNormalization: gamma, beta; Normalization: mean, variance, count). */
  weights: T[];
}
const CASES = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_extra_layers.json'), 'utf8')) as Case[];

const dir = mkdtempSync(join(tmpdir(), 'parity-extra-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;
const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/** A .keras file whose one layer ('layer') is the case's: a tfjs model with a stand-in layer, its config edited. */
async function kerasFile(c: Case): Promise<string> {
  let model: tfl.LayersModel;
  if (c.inputs.length === 2) {
    const a = tfl.input({ name: 'a', shape: c.inputs[0]!.shape.slice(1) });
    const b = tfl.input({ name: 'b', shape: c.inputs[1]!.shape.slice(1) });
    model = tfl.model({ name: 'm', inputs: [a, b], outputs: tfl.layers.add({ name: 'layer' }).apply([a, b]) as tfl.SymbolicTensor });
  } else {
    model = tfl.sequential({ name: 'm', layers: [tfl.layers.activation({ name: 'layer', activation: 'linear', inputShape: c.inputs[0]!.shape.slice(1) })] });
  }
  const config = keras3Config(model);
  model.dispose();
  for (const l of (config.config as J).layers as J[]) {
    if ((l.config as J).name !== 'layer') continue;
    l.class_name = c.class_name;
    l.config = { name: 'layer', trainable: true, dtype: policy, ...c.config };
  }
  const f = join(dir, `${c.name}.keras`);
  // Keras 3 keeps a layer's variables at layers/<snake_case(class)>/vars/<i>.
  const snake = c.class_name.replace(/(?<!^)([A-Z])(?=[a-z])/g, '_$1').toLowerCase();
  writeFileSync(f, await kerasArchive(config, c.weights.map((w, i) => ({ path: `layers/${snake}/vars/${i}`, shape: w.shape, data: w.dtype === 'int64' ? BigInt64Array.from(w.values, BigInt) : new Float32Array(w.values) }))));
  return f;
}

describe('Keras layers tfjs-layers lacks, written here', () => {
  for (const c of CASES) {
    it(`${c.class_name} ${JSON.stringify(c.config)}`, async () => {
      const r = await loadKerasRunner(await kerasFile(c));
      const xs = c.inputs.map((x) => tf.tensor(x.values, x.shape));
      try {
        const feeds = new Map(r.inputs().map((s, i) => [s.name, xs[i]!]));
        let out: { type: string; shape: number[]; data: Float32Array } | undefined;
        for await (const a of r.run(feeds) as AsyncIterable<Activation>) {
          if (a.name === 'layer') out = { type: a.type, shape: a.tensor.shape.slice(), data: a.tensor.dataSync() as Float32Array };
          a.tensor.dispose();
        }
        expect(out?.type).toBe(c.class_name);
        expect(out!.shape).toEqual(c.output.shape);
        c.output.values.forEach((v, k) => expect(Math.abs(out!.data[k]! - v), `${c.name}[${k}]`).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(v))));
        // The symbolic shape tfjs built the model with is the one the layer produces.
        expect((r as unknown as { model: tfl.LayersModel }).model.getLayer('layer').outputShape).toEqual([null, ...c.output.shape.slice(1)]);
      } finally {
        tf.dispose(xs);
        r.dispose();
      }
    });
  }

  it('a bad option is an error naming the file and what is wrong, not a crash', async () => {
    const c = CASES.find((x) => x.class_name === 'Cropping1D')!;
    const f = await kerasFile({ ...c, name: 'bad-crop', config: { cropping: [1, -2] } });
    await expect(loadKerasRunner(f)).rejects.toThrow(/bad-crop\.keras: tfjs-layers could not build the model from its config: Cropping1D cropping must be a non-negative int or a pair of them, got \[1,-2\]/);
  });
});
