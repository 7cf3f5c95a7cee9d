import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import type { LayersRunner } from '../../src/runners/keras/layers-runner.js';
import { writeZip } from '../../src/formats/zip.js';
import { keras3Config } from '../fixtures/keras-writer.js';

/** Written by test/fixtures/gen/keras_f16.py with h5py (h5wasm cannot write float16). */
const FIX = join(import.meta.dirname, '../fixtures/keras-f16');
interface T {
  shape: number[];
  values: number[];
}
const G = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_f16.json'), 'utf8')) as { weights: T[]; input: T; hidden: T; output: T };

const dir = mkdtempSync(join(tmpdir(), 'parity-f16-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;

async function check(r: Runner): Promise<void> {
  // Every float16 value (a subnormal, the smallest subnormal, -1000.5 among them) arrives exactly.
  const m = (r as unknown as LayersRunner).model;
  const got = ['fc1', 'fc2'].flatMap((n) => m.getLayer(n).getWeights().map((w) => Array.from(w.dataSync())));
  expect(got).toEqual(G.weights.map((w) => w.values));
  const x = tf.tensor(G.input.values, G.input.shape);
  const acts: { name: string; data: Float32Array }[] = [];
  try {
    for await (const a of r.run(new Map([[r.inputs()[0]!.name, x]])) as AsyncIterable<Activation>) {
      acts.push({ name: a.name, data: a.tensor.dataSync() as Float32Array });
      a.tensor.dispose();
    }
  } finally {
    x.dispose();
  }
  expect(acts.map((a) => a.name)).toEqual(['fc1', 'fc2']);
  [G.hidden, G.output].forEach((g, i) => g.values.forEach((v, k) => expect(Math.abs(acts[i]!.data[k]! - v), `${acts[i]!.name}[${k}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)))));
  // Computed in float32, not float16 as Keras would: the comparison says so.
  expect((r.warnings ?? []).join('\n')).toMatch(/float16' is computed in float32 here/);
}

describe('Keras weights stored as float16', () => {
  it('a Keras 2 .h5 (dtype "float16" layers) is read as float32, each value exactly', async () => {
    const r = await loadKerasRunner(join(FIX, 'legacy.h5'));
    try {
      await check(r);
    } finally {
      r.dispose();
    }
  });

  it('a Keras 3 .keras whose model.weights.h5 holds float16 variables (DTypePolicy float16)', async () => {
    const model = tfl.sequential({ name: 'half', layers: [tfl.layers.dense({ name: 'fc1', units: 3, activation: 'relu', inputShape: [4] }), tfl.layers.dense({ name: 'fc2', units: 2 })] });
    const config = keras3Config(model);
    const half = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float16' }, registered_name: null };
    for (const l of (config.config as J).layers as J[]) if (l.class_name === 'Dense') (l.config as J).dtype = half;
    model.dispose();
    const enc = new TextEncoder();
    const f = join(dir, 'half.keras');
    writeFileSync(
      f,
      writeZip(
        [
          ['metadata.json', enc.encode(JSON.stringify({ keras_version: '3.6.0' }))],
          ['config.json', enc.encode(JSON.stringify(config))],
          ['model.weights.h5', new Uint8Array(readFileSync(join(FIX, 'model.weights.h5')))],
        ],
        true,
      ),
    );
    const r = await loadKerasRunner(f);
    try {
      await check(r);
    } finally {
      r.dispose();
    }
  });
});
