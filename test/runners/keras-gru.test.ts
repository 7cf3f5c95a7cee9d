import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { loadTfjsLayersRunner } from '../../src/runners/tfjs-layers.js';
import { writeKeras3, writeLegacyH5, writeTfjsLayers } from '../fixtures/keras-writer.js';

/** Keras' GRU(reset_after=True) in numpy: test/fixtures/gen/keras_gru.py. */
interface T {
  shape: number[];
  values: number[];
}
interface Golden {
  input: T;
  layers: { name: string; units: number; use_bias: boolean; go_backwards: boolean; return_sequences: boolean; weights: T[]; output: T }[];
  bidirectional: { units: number; forward: T[]; backward: T[]; output: T };
}
const G = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_gru.json'), 'utf8')) as Golden;

const dir = mkdtempSync(join(tmpdir(), 'parity-gru-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;

/** The golden's stack as a tfjs model (tfjs' own GRU, reset_after=False): only its config and weight layout are used. */
function stack(): tfl.Sequential {
  return tfl.sequential({
    name: 'grus',
    layers: G.layers.map((l, i) =>
      tfl.layers.gru({
        name: l.name,
        units: l.units,
        useBias: l.use_bias,
        goBackwards: l.go_backwards,
        returnSequences: l.return_sequences,
        recurrentActivation: 'sigmoid',
        recurrentInitializer: 'zeros',
        ...(i === 0 ? { inputShape: G.input.shape.slice(1) } : {}),
      }),
    ),
  });
}

/** Every GRU layer config of a Sequential config says reset_after=True. */
function resetAfter(c: J): J {
  for (const l of (c.config as J).layers as J[]) if (l.class_name === 'GRU') (l.config as J).reset_after = true;
  return c;
}

async function outputs(r: Runner): Promise<{ name: string; type: string; shape: number[]; data: Float32Array }[]> {
  const x = tf.tensor(G.input.values, G.input.shape);
  const out = [];
  try {
    for await (const a of r.run(new Map([[r.inputs()[0]!.name, x]])) as AsyncIterable<Activation>) {
      out.push({ name: a.name, type: a.type, shape: a.tensor.shape.slice(), data: a.tensor.dataSync() as Float32Array });
      a.tensor.dispose();
    }
  } finally {
    x.dispose();
  }
  return out;
}

function expectGolden(acts: Awaited<ReturnType<typeof outputs>>): void {
  expect(acts.map((a) => [a.name, a.type])).toEqual(G.layers.map((l) => [l.name, 'GRU']));
  G.layers.forEach((l, i) => {
    expect(acts[i]!.shape, l.name).toEqual(l.output.shape);
    let worst = 0;
    l.output.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(acts[i]!.data[k]! - v))));
    expect(worst, l.name).toBeLessThanOrEqual(2e-6);
  });
}

/** The file's runner gives the golden outputs; then it and the model that described the file go. */
async function expectFileGolden(f: string, model: tfl.LayersModel): Promise<void> {
  const r = await loadKerasRunner(f);
  try {
    expectGolden(await outputs(r));
  } finally {
    r.dispose();
    model.dispose();
  }
}

describe('Keras GRU with reset_after=True (the Keras default), which tfjs-layers lacks', () => {
  it('Keras 3 .keras: two biases, the reset gate after the recurrent kernel; with and without bias, go_backwards', async () => {
    const model = stack();
    // Keras 3 keeps an RNN's variables below its cell: layers/gru/cell/vars/i (kernel, recurrent_kernel, bias).
    const f = await writeKeras3(model, join(dir, 'gru.keras'), {
      config: resetAfter,
      weights: () =>
        G.layers.flatMap((l, i) => l.weights.map((w, k) => ({ path: `layers/${i === 0 ? 'gru' : `gru_${i}`}/cell/vars/${k}`, shape: w.shape, data: new Float32Array(w.values) }))),
    });
    await expectFileGolden(f, model);
  });

  it('Keras 2 .h5: the same layers read by weight name', async () => {
    const model = stack();
    const f = await writeLegacyH5(model, join(dir, 'gru.h5'), {
      config: resetAfter,
      weights: () =>
        G.layers.flatMap((l) =>
          l.weights.map((w, k) => ({ path: `model_weights/${l.name}/${l.name}/${['kernel', 'recurrent_kernel', 'bias'][k]}:0`, shape: w.shape, data: new Float32Array(w.values) })),
        ),
    });
    await expectFileGolden(f, model);
  });

  it('a TensorFlow.js layers model.json (as tensorflowjs_converter writes a Keras GRU: class GRU, reset_after true)', async () => {
    const model = stack();
    const sub = join(dir, 'tfjs');
    const json = await writeTfjsLayers(model, sub);
    const m = JSON.parse(readFileSync(json, 'utf8')) as { modelTopology: J; weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[] };
    const topo = ((m.modelTopology.model_config as J | undefined) ?? m.modelTopology) as J;
    for (const l of (topo.config as J).layers as J[]) if (l.class_name === 'GRU') (l.config as J).reset_after = true;
    const names = ['kernel', 'recurrent_kernel', 'bias'];
    const ws = G.layers.flatMap((l) => l.weights.map((w, k) => ({ name: `${l.name}/${names[k]}`, shape: w.shape, dtype: 'float32', data: w.values })));
    m.weightsManifest = [{ paths: ['group1-shard1of1.bin'], weights: ws.map(({ data: _, ...spec }) => spec) }];
    writeFileSync(json, JSON.stringify(m));
    writeFileSync(join(sub, 'group1-shard1of1.bin'), Buffer.from(new Float32Array(ws.flatMap((w) => w.data)).buffer));
    const r = await loadTfjsLayersRunner(json);
    try {
      expectGolden(await outputs(r));
    } finally {
      r.dispose();
      model.dispose();
    }
  });

  it('inside Bidirectional (which clones the layer for its backward half)', async () => {
    const B = G.bidirectional;
    const model = tfl.sequential({
      name: 'bigru',
      layers: [
        tfl.layers.bidirectional({
          name: 'bi',
          layer: tfl.layers.gru({ name: 'g', units: B.units, recurrentActivation: 'sigmoid', recurrentInitializer: 'zeros' }) as unknown as tfl.RNN,
          mergeMode: 'concat',
          inputShape: G.input.shape.slice(1),
        }),
      ],
    });
    const f = await writeKeras3(model, join(dir, 'bigru.keras'), {
      config: (c) => {
        for (const l of (c.config as J).layers as J[]) if (l.class_name === 'Bidirectional') (((l.config as J).layer as J).config as J).reset_after = true;
        return c;
      },
      weights: () =>
        (['forward', 'backward'] as const).flatMap((side) =>
          B[side].map((w, k) => ({ path: `layers/bidirectional/${side}_layer/cell/vars/${k}`, shape: w.shape, data: new Float32Array(w.values) })),
        ),
    });
    const r = await loadKerasRunner(f);
    try {
      const [a] = await outputs(r);
      expect([a!.name, a!.type, a!.shape]).toEqual(['bi', 'Bidirectional', B.output.shape]);
      let worst = 0;
      B.output.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(a!.data[k]! - v))));
      expect(worst).toBeLessThanOrEqual(2e-6);
    } finally {
      r.dispose();
      model.dispose();
    }
  });

  it('a reset_after bias of the old shape names the layer and both shapes', async () => {
    const model = stack();
    const f = await writeKeras3(model, join(dir, 'gru-bad.keras'), { config: resetAfter });
    await expect(loadKerasRunner(f)).rejects.toThrow(/layer 'gru_a' weight '.*bias' has shape \[9\] in the file .* but the layer expects \[2,9\]/);
    model.dispose();
  });
});
