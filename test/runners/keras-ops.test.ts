import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { KERAS_OPS } from '../../src/runners/keras/ops.js';
import { TF_FUNCTIONS } from '../../src/runners/keras/tf-functions.js';
import { kerasArchive, writeH5 } from '../fixtures/keras-writer.js';

/**
 * keras.ops entries (Keras 3 .keras) and TFOpLambda / SlicingOpLambda (tf.keras 2.15 .h5 and
 * .keras) against numpy: test/fixtures/gen/keras_ops.py writes the configs as Keras writes them
 * and the expected value of every op.
 */

interface T {
  shape: number[];
  values: number[];
}
type J = Record<string, unknown>;
interface Golden {
  float_constants: { text: string; expected: Record<string, T & { dtype: string }> };
  inputs: Record<string, T>;
  keras3: { config: J; expected: Record<string, T> };
  tfkeras: { config: J; expected: Record<string, T>; dense: { kernel: T; bias: T } };
}
const G = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/goldens/keras_ops.json'), 'utf8')) as Golden;

const dir = mkdtempSync(join(tmpdir(), 'parity-ops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clone = <X>(v: X): X => JSON.parse(JSON.stringify(v)) as X;
const layersOf = (cfg: J) => (cfg.config as J).layers as J[];

async function keras3File(name: string, config: J = G.keras3.config): Promise<string> {
  const f = join(dir, `${name}.keras`);
  writeFileSync(f, await kerasArchive(config, [], '3.6.0'));
  return f;
}

async function tfkerasH5(name: string, config: J = G.tfkeras.config): Promise<string> {
  const layers = layersOf(config).map((l) => String(l.name));
  const { kernel, bias } = G.tfkeras.dense;
  const f = join(dir, `${name}.h5`);
  writeFileSync(
    f,
    await writeH5(
      [
        { path: 'model_weights/dense/dense/kernel:0', shape: kernel.shape, data: new Float32Array(kernel.values) },
        { path: 'model_weights/dense/dense/bias:0', shape: bias.shape, data: new Float32Array(bias.values) },
      ],
      [
        { path: '', name: 'model_config', value: JSON.stringify(config) },
        { path: '', name: 'keras_version', value: '2.15.0' },
        { path: '', name: 'backend', value: 'tensorflow' },
        { path: 'model_weights', name: 'layer_names', value: layers },
        { path: 'model_weights/dense', name: 'weight_names', value: ['dense/kernel:0', 'dense/bias:0'] },
      ],
      layers.map((l) => `model_weights/${l}`),
    ),
  );
  return f;
}

async function run(r: Runner, inputs: string[]): Promise<Map<string, { type: string; shape: number[]; data: number[] }>> {
  const xs = new Map(inputs.map((k) => [k, tf.tensor(G.inputs[k]!.values, G.inputs[k]!.shape, k === 'tok' ? 'int32' : 'float32')]));
  const out = new Map<string, { type: string; shape: number[]; data: number[] }>();
  try {
    for await (const a of r.run(xs) as AsyncIterable<Activation>) {
      out.set(a.name, { type: a.type, shape: a.tensor.shape.slice(), data: Array.from(a.tensor.dataSync() as ArrayLike<number>, Number) });
      a.tensor.dispose();
    }
  } finally {
    tf.dispose([...xs.values()]);
  }
  return out;
}

function check(acts: Map<string, { shape: number[]; data: number[] }>, expected: Record<string, T>): void {
  for (const [name, want] of Object.entries(expected)) {
    const got = acts.get(name);
    expect(got, name).toBeDefined();
    expect(got!.shape, name).toEqual(want.shape);
    let worst = 0;
    want.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(got!.data[k]! - v) / Math.max(1, Math.abs(v)))));
    expect(worst, `${name}: max error`).toBeLessThanOrEqual(1e-5);
  }
}

describe('keras.ops entries in Keras 3 configs (against numpy)', () => {
  it('every op of the table runs as Keras defines it, with its config and constant arguments', async () => {
    const r = await loadKerasRunner(await keras3File('ops'));
    try {
      const acts = await run(r, ['x', 'y2', 'tok']);
      check(acts, G.keras3.expected);
      // Ops that share a name with a layer run as the op (Average over an axis, Reshape).
      expect(acts.get('average')!.type).toBe('Average');
      expect(acts.get('reshape')!.type).toBe('Reshape');
      // The symbolic shapes tfjs built with are the ones produced (unknown batch kept unknown).
      const model = (r as unknown as { model: { getLayer(n: string): { outputShape: unknown } } }).model;
      expect(model.getLayer('reshape').outputShape).toEqual([null, 24]);
      expect(model.getLayer('get_ellipsis').outputShape).toEqual([null, 4, 1]);
    } finally {
      r.dispose();
    }
  });

  it('a float constant written 2.0 stays a float: int32 tensor + 2.0 is float32, + 2 stays int32 (config text as Python wrote it)', async () => {
    const f = join(dir, 'floats.keras');
    writeFileSync(f, await kerasArchive(G.float_constants.text, [], '3.6.0'));
    const r = await loadKerasRunner(f);
    const xs = new Map([['tok', tf.tensor(G.inputs.tok!.values, G.inputs.tok!.shape, 'int32')]]);
    try {
      const got = new Map<string, { dtype: string; shape: number[]; data: number[] }>();
      for await (const a of r.run(xs) as AsyncIterable<Activation>) {
        got.set(a.name, { dtype: a.tensor.dtype, shape: a.tensor.shape.slice(), data: Array.from(a.tensor.dataSync() as ArrayLike<number>, Number) });
        a.tensor.dispose();
      }
      for (const [name, want] of Object.entries(G.float_constants.expected)) {
        expect(got.get(name)?.dtype, name).toBe(want.dtype);
        expect(got.get(name)!.shape, name).toEqual(want.shape);
        expect(got.get(name)!.data, name).toEqual(want.values);
      }
    } finally {
      tf.dispose([...xs.values()]);
      r.dispose();
    }
  });

  it('activation ops carry the activation role, others none', async () => {
    const r = await loadKerasRunner(await keras3File('ops-roles'));
    try {
      const roles = new Map<string, string | undefined>();
      const xs = new Map(['x', 'y2', 'tok'].map((k) => [k, tf.tensor(G.inputs[k]!.values, G.inputs[k]!.shape, k === 'tok' ? 'int32' : 'float32')]));
      for await (const a of r.run(xs) as AsyncIterable<Activation>) {
        roles.set(a.name, a.role);
        a.tensor.dispose();
      }
      tf.dispose([...xs.values()]);
      expect([roles.get('relu'), roles.get('sigmoid'), roles.get('silu'), roles.get('gelu')]).toEqual(['activation', 'activation', 'activation', 'activation']);
      expect([roles.get('mean'), roles.get('add_c'), roles.get('reshape')]).toEqual([undefined, undefined, undefined]);
    } finally {
      r.dispose();
    }
  });

  it('the fixture covers every op in the table', () => {
    const classes = new Set(layersOf(G.keras3.config).map((l) => String(l.class_name)));
    expect(KERAS_OPS.map((o) => o.className).filter((c) => !classes.has(c))).toEqual([]);
  });

  it('an op outside the table, an unknown argument or a tensor index is refused in one line naming the op and layer', async () => {
    const cfg = clone(G.keras3.config);
    const layers = layersOf(cfg);
    layers.push({ module: 'keras.src.ops.numpy', class_name: 'Argsort', config: { name: 'argsort', axis: -1 }, registered_name: 'Argsort', name: 'argsort', inbound_nodes: [{ args: [layers.find((l) => l.name === 'mean')!.inbound_nodes && { class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } }], kwargs: {} }] });
    (layers.find((l) => l.name === 'mean')!.config as J).where = true;
    ((layers.find((l) => l.name === 'get_int')!.inbound_nodes as J[])[0]!.args as unknown[])[1] = [{ class_name: '__keras_tensor__', config: { keras_history: ['tok', 0, 0] } }];
    const f = await keras3File('ops-bad', cfg);
    const err = await loadKerasRunner(f).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/keras\.ops Argsort \(keras\.src\.ops\.numpy\): not an op tf-parity runs: argsort/);
    expect(err).toMatch(/keras\.ops Mean \(keras\.src\.ops\.numpy\): unknown argument 'where' \(config\): mean/);
    expect(err).not.toMatch(/Cannot read properties|at .*\.ts:\d+/);
    expect(err).toMatch(/keras\.ops GetItem \(keras\.src\.ops\.numpy\): index by a tensor is not supported \(only ints, slices, None and Ellipsis\): get_int/);
    // An op that fails while it runs says which layer it is.
    const cfg2 = clone(G.keras3.config);
    (layersOf(cfg2).find((l) => l.name === 'reshape')!.config as J).newshape = [-1, 7];
    await expect(loadKerasRunner(await keras3File('ops-bad2', cfg2))).rejects.toThrow(/ops-bad2\.keras: .*keras\.ops Reshape 'reshape'/);
  });
});

describe('TFOpLambda / SlicingOpLambda in tf.keras 2.x files (against numpy)', () => {
  it('legacy .h5: every TF function runs with TF semantics, the Dense after them too', async () => {
    const r = await loadKerasRunner(await tfkerasH5('tfops'));
    try {
      const acts = await run(r, ['x', 'y']);
      check(acts, G.tfkeras.expected);
      expect(acts.get('tf.math.reduce_mean')!.type).toBe('TFOpLambda');
      expect(acts.get('tf.__operators__.getitem')!.type).toBe('SlicingOpLambda');
      // A shape computed from tf.shape(x)[0] leaves the batch unknown in the built model.
      const model = (r as unknown as { model: { getLayer(n: string): { outputShape: unknown } } }).model;
      expect(model.getLayer('tf.reshape_1').outputShape).toEqual([null, 12, 2]);
    } finally {
      r.dispose();
    }
  });

  it('tf.keras 2.15 .keras (same config, weights at layers/dense/vars)', async () => {
    const f = join(dir, 'tfops.keras');
    const { kernel, bias } = G.tfkeras.dense;
    writeFileSync(
      f,
      await kerasArchive(G.tfkeras.config, [
        { path: 'layers/dense/vars/0', shape: kernel.shape, data: new Float32Array(kernel.values) },
        { path: 'layers/dense/vars/1', shape: bias.shape, data: new Float32Array(bias.values) },
      ], '2.15.0'),
    );
    const r = await loadKerasRunner(f);
    try {
      check(await run(r, ['x', 'y']), G.tfkeras.expected);
    } finally {
      r.dispose();
    }
  });

  it('a TF function outside the table is refused by name', async () => {
    const cfg = clone(G.tfkeras.config);
    (layersOf(cfg).find((l) => l.name === 'tf.nn.relu')!.config as J).function = 'signal.fft';
    await expect(loadKerasRunner(await tfkerasH5('tfops-bad', cfg))).rejects.toThrow(/TFOpLambda signal\.fft: function 'signal\.fft' is not one tf-parity runs: tf\.nn\.relu/);
  });

  it('the fixture covers every TF function in the table', () => {
    const used = new Set(layersOf(G.tfkeras.config).map((l) => String((l.config as J).function ?? '')));
    expect(TF_FUNCTIONS.map((f) => f.name).filter((n) => !used.has(n))).toEqual([]);
  });
});
