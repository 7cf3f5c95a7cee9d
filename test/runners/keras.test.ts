import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { LayersRunner } from '../../src/runners/keras/layers-runner.js';
import { loadTfjsLayersRunner } from '../../src/runners/tfjs-layers.js';
import {
  keras3Config,
  nestedModel,
  pseudo,
  recurrentModel,
  sequentialCnn,
  setDeterministicWeights,
  twoInputModel,
  writeKeras3,
  writeLegacyH5,
  writeTfjsLayers,
} from '../fixtures/keras-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'parity-keras-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Act {
  name: string;
  type: string;
  shape: number[];
  data: Float32Array;
  producedFrom: string[];
  layout?: string;
  index: number;
}

async function collect(r: Runner, feeds: Map<string, tf.Tensor>, record?: string[]): Promise<Act[]> {
  const out: Act[] = [];
  for await (const a of r.run(feeds, record ? { record } : {}) as AsyncIterable<Activation>) {
    out.push({ name: a.name, type: a.type, shape: a.tensor.shape.slice(), data: a.tensor.dataSync() as Float32Array, producedFrom: a.producedFrom, layout: a.layout, index: a.index });
    a.tensor.dispose();
  }
  return out;
}

function feedsFor(r: Runner, batch = 2): Map<string, tf.Tensor> {
  return new Map(
    r.inputs().map((s, i) => {
      const shape = s.shape!.map((d) => (d < 0 ? batch : d));
      return [s.name, tf.tensor(pseudo(shape.reduce((a, b) => a * b, 1), 100 + i, 2), shape)];
    }),
  );
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The three formats of one model, written from the same tfjs model with the same weights. */
async function allFormats(name: string, make: () => tfl.LayersModel): Promise<{ model: tfl.LayersModel; runners: Record<string, Runner> }> {
  const model = make();
  setDeterministicWeights(model, 7);
  const runners = {
    keras3: await loadKerasRunner(await writeKeras3(model, join(dir, `${name}.keras`))),
    legacy: await loadKerasRunner(await writeLegacyH5(model, join(dir, `${name}.h5`))),
    tfjs: await loadTfjsLayersRunner(await writeTfjsLayers(model, join(dir, `${name}-tfjs`))),
  };
  return { model, runners };
}

function disposeAll(model: tfl.LayersModel, runners: Record<string, Runner>, feeds: Map<string, tf.Tensor>): void {
  for (const r of Object.values(runners)) r.dispose();
  model.dispose();
  tf.dispose([...feeds.values()]);
}

describe('Keras runners: the same model in three formats', () => {
  it('Sequential CNN: same per-layer activations in .keras, .h5 and tfjs layers, and the same outputs as tfjs predict', async () => {
    const { model, runners } = await allFormats('cnn', sequentialCnn);
    const feeds = feedsFor(runners.keras3!);
    const results = Object.fromEntries(await Promise.all(Object.entries(runners).map(async ([k, r]) => [k, await collect(r, feeds)] as const)));
    const ref = results.keras3!;
    expect(ref.map((a) => a.name)).toEqual(['conv', 'bn', 'relu', 'pool', 'flatten', 'fc', 'probs']);
    expect(ref.map((a) => a.type)).toEqual(['Conv2D', 'BatchNormalization', 'ReLU', 'MaxPooling2D', 'Flatten', 'Dense', 'Activation']);
    expect(ref.map((a) => a.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(ref.map((a) => a.layout)).toEqual(['NHWC', 'NHWC', 'NHWC', 'NHWC', undefined, undefined, undefined]);
    expect(ref[1]!.producedFrom).toEqual(['conv']);
    expect(runners.keras3!.outputs()).toEqual(['probs']);
    for (const k of ['legacy', 'tfjs']) {
      const other = results[k]!;
      expect(other.map((a) => a.name)).toEqual(ref.map((a) => a.name));
      other.forEach((a, i) => {
        expect(a.shape).toEqual(ref[i]!.shape);
        expect(maxDiff(a.data, ref[i]!.data)).toBeLessThanOrEqual(1e-6);
      });
    }
    // The executor here applies layers one call at a time; tfjs' predict is a second implementation.
    const predicted = model.predict(feeds.get(runners.keras3!.inputs()[0]!.name)!) as tf.Tensor;
    expect(maxDiff(predicted.dataSync(), ref[6]!.data)).toBeLessThanOrEqual(1e-6);
    predicted.dispose();
    disposeAll(model, runners, feeds);
  });

  it('computes Dense and BatchNormalization as their formulas say (plain JS loops on the weights in the file)', async () => {
    const model = sequentialCnn();
    setDeterministicWeights(model, 3);
    const r = (await loadKerasRunner(await writeKeras3(model, join(dir, 'cnn-formula.keras')))) as LayersRunner;
    const feeds = feedsFor(r, 3);
    const acts = await collect(r, feeds);
    const by = (n: string) => acts.find((a) => a.name === n)!;

    // Dense: y[b][j] = sum_i x[b][i] * W[i][j] + bias[j]
    const [W, bias] = model.getLayer('fc').getWeights().map((t) => t.dataSync());
    const x = by('flatten');
    const y = by('fc');
    const inDim = x.shape[1]!;
    const units = y.shape[1]!;
    const expected = new Float32Array(3 * units);
    for (let b = 0; b < 3; b++) {
      for (let j = 0; j < units; j++) {
        let s = bias![j]!;
        for (let i = 0; i < inDim; i++) s += x.data[b * inDim + i]! * W![i * units + j]!;
        expected[b * units + j] = s;
      }
    }
    expect(maxDiff(y.data, expected)).toBeLessThan(1e-5);

    // BatchNormalization (inference): (x - mean) / sqrt(var + eps) * gamma + beta, per channel.
    const [gamma, beta, mean, variance] = model.getLayer('bn').getWeights().map((t) => t.dataSync());
    const c = by('conv');
    const bn = by('bn');
    const ch = c.shape[3]!;
    const hand = c.data.map((v, i) => ((v - mean![i % ch]!) / Math.sqrt(variance![i % ch]! + 0.001)) * gamma![i % ch]! + beta![i % ch]!);
    expect(maxDiff(bn.data, hand)).toBeLessThan(1e-5);

    // Softmax rows sum to one.
    const p = by('probs');
    for (let b = 0; b < 3; b++) expect(p.data.slice(b * 4, b * 4 + 4).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    r.dispose();
    model.dispose();
    tf.dispose([...feeds.values()]);
  });

  it('functional model with two inputs and a shared layer: call naming, producers, outputs, equal across formats', async () => {
    const { model, runners } = await allFormats('two', twoInputModel);
    const r = runners.keras3!;
    expect(r.inputs()).toEqual([
      { name: 'in_a', dtype: 'float32', shape: [-1, 4] },
      { name: 'in_b', dtype: 'float32', shape: [-1, 4] },
    ]);
    const feeds = feedsFor(r);
    const ref = await collect(r, feeds);
    expect(ref.map((a) => a.name).sort()).toEqual(['add', 'concat', 'head', 'shared', 'shared@call2']);
    const by = (n: string) => ref.find((a) => a.name === n)!;
    expect(by('shared').producedFrom).toEqual(['in_a']);
    expect(by('shared@call2').producedFrom).toEqual(['in_b']);
    expect(by('concat').producedFrom).toEqual(['shared', 'shared@call2']);
    expect(by('head').producedFrom).toEqual(['concat']);
    expect(r.outputs()).toEqual(['head', 'add']);
    // Topological: every producer comes before its consumer.
    const pos = new Map(ref.map((a, i) => [a.name, i]));
    for (const a of ref) for (const p of a.producedFrom) if (pos.has(p)) expect(pos.get(p)!).toBeLessThan(pos.get(a.name)!);
    // The shared layer's second call is the same weights applied to the other input.
    const single = await r.runSingle!('shared@call2', [feeds.get('in_b')!]);
    expect(maxDiff(single[0]!.dataSync(), by('shared@call2').data)).toBe(0);
    tf.dispose(single);
    // add = shared(a) + shared(b), computed here.
    const sum = by('shared').data.map((v, i) => v + by('shared@call2').data[i]!);
    expect(maxDiff(by('add').data, sum)).toBeLessThan(1e-6);
    for (const k of ['legacy', 'tfjs']) {
      const other = await collect(runners[k]!, feeds);
      for (const a of other) expect(maxDiff(a.data, by(a.name).data)).toBeLessThanOrEqual(1e-6);
      expect(other.map((a) => a.name).sort()).toEqual(ref.map((a) => a.name).sort());
    }
    const predicted = model.predict([feeds.get('in_a')!, feeds.get('in_b')!]) as tf.Tensor[];
    expect(maxDiff(predicted[0]!.dataSync(), by('head').data)).toBeLessThanOrEqual(1e-6);
    expect(maxDiff(predicted[1]!.dataSync(), by('add').data)).toBeLessThanOrEqual(1e-6);
    tf.dispose(predicted);
    disposeAll(model, runners, feeds);
  });

  it('nested Sequential inside a functional model: inner layers yielded as model/layer, weights found in every format', async () => {
    const { model, runners } = await allFormats('nested', nestedModel);
    const feeds = feedsFor(runners.keras3!);
    const ref = await collect(runners.keras3!, feeds);
    expect(ref.map((a) => a.name)).toEqual(['pre', 'inner/inner_fc1', 'inner/inner_fc2', 'inner', 'post']);
    expect(ref[1]!.producedFrom).toEqual(['pre']);
    expect(ref[2]!.producedFrom).toEqual(['inner/inner_fc1']);
    expect(ref[3]!.type).toBe('Sequential');
    expect(maxDiff(ref[3]!.data, ref[2]!.data)).toBe(0);
    for (const k of ['legacy', 'tfjs']) {
      const other = await collect(runners[k]!, feeds);
      expect(other.map((a) => a.name)).toEqual(ref.map((a) => a.name));
      other.forEach((a, i) => expect(maxDiff(a.data, ref[i]!.data)).toBeLessThanOrEqual(1e-6));
    }
    const predicted = model.predict(feeds.get('x')!) as tf.Tensor;
    expect(maxDiff(predicted.dataSync(), ref[4]!.data)).toBeLessThanOrEqual(1e-6);
    predicted.dispose();
    // runSingle reaches into the nested model.
    const pre = tf.tensor(ref[0]!.data, ref[0]!.shape);
    const [fc1] = await runners.keras3!.runSingle!('inner/inner_fc1', [pre]);
    expect(maxDiff(fc1!.dataSync(), ref[1]!.data)).toBe(0);
    tf.dispose([pre, fc1!]);
    disposeAll(model, runners, feeds);
  });

  it('recurrent layers: Keras 3 keeps their variables below cell / forward_layer / backward_layer, read in tfjs order', async () => {
    const model = recurrentModel();
    setDeterministicWeights(model, 9);
    // Keras 3 layout: layers/lstm/cell/vars/i, layers/bidirectional/{forward_layer,backward_layer}/cell/vars/i.
    const f = await writeKeras3(model, join(dir, 'rnn.keras'), {
      weights: (es) =>
        es.map((e) => {
          const m = /^layers\/(lstm|bidirectional)\/vars\/(\d+)$/.exec(e.path);
          if (!m) return e;
          if (m[1] === 'lstm') return { ...e, path: `layers/lstm/cell/vars/${m[2]}` };
          const i = Number(m[2]);
          return { ...e, path: `layers/bidirectional/${i < 3 ? 'forward_layer' : 'backward_layer'}/cell/vars/${i % 3}` };
        }),
    });
    const r = await loadKerasRunner(f);
    const x = tf.tensor(pseudo(2 * 4 * 2, 3, 1), [2, 4, 2]);
    const acts = await collect(r, new Map([[r.inputs()[0]!.name, x]]));
    expect(acts.map((a) => a.name)).toEqual(['lstm', 'bi']);
    const want = model.predict(x) as tf.Tensor;
    expect(maxDiff(acts[1]!.data, want.dataSync())).toBeLessThanOrEqual(1e-6);
    tf.dispose([x, want]);
    r.dispose();
    model.dispose();
  });

  it('layouts follow data_format: channels_first convolutions are NCHW, carried through BatchNormalization, flipped by Permute', async () => {
    const model = tfl.sequential({
      name: 'cf',
      layers: [
        tfl.layers.conv2d({ name: 'conv_cf', filters: 2, kernelSize: 1, dataFormat: 'channelsFirst', inputShape: [3, 4, 4] }),
        tfl.layers.batchNormalization({ name: 'bn_cf', axis: 1 }),
        tfl.layers.permute({ name: 'to_nhwc', dims: [2, 3, 1] }),
        tfl.layers.flatten({ name: 'flat' }),
      ],
    });
    const r = new LayersRunner('keras', 'in-memory', model);
    const x = tf.ones([1, 3, 4, 4]);
    const acts = await collect(r, new Map([[r.inputs()[0]!.name, x]]));
    expect(acts.map((a) => [a.name, a.layout])).toEqual([
      ['conv_cf', 'NCHW'],
      ['bn_cf', 'NCHW'],
      ['to_nhwc', 'NHWC'],
      ['flat', undefined],
    ]);
    x.dispose();
    r.dispose();
  });

  it('masks flow as in tfjs predict: Embedding(mask_zero) into an LSTM skips the padded steps', async () => {
    const model = tfl.sequential({
      name: 'masked',
      layers: [
        tfl.layers.embedding({ name: 'emb', inputDim: 6, outputDim: 3, maskZero: true, inputLength: 5 }),
        tfl.layers.lstm({ name: 'rnn', units: 2, recurrentInitializer: 'zeros' }),
      ],
    });
    setDeterministicWeights(model, 13);
    const r = new LayersRunner('keras', 'in-memory', model);
    const ids = tf.tensor2d([[1, 2, 0, 0, 0], [3, 4, 5, 1, 2]], [2, 5], 'float32');
    const acts = await collect(r, new Map([[r.inputs()[0]!.name, ids]]));
    const want = model.predict(ids) as tf.Tensor;
    expect(maxDiff(acts[1]!.data, want.dataSync())).toBeLessThanOrEqual(1e-6);
    // Without the mask the padded row would differ: the mask really reached the LSTM.
    const unmasked = tfl.sequential({ layers: [tfl.layers.lstm({ units: 2, recurrentInitializer: 'zeros', inputShape: [5, 3] })] });
    unmasked.layers[0]!.setWeights(model.getLayer('rnn').getWeights());
    const emb = tf.tensor(acts[0]!.data, acts[0]!.shape);
    const plain = unmasked.predict(emb) as tf.Tensor;
    expect(maxDiff(plain.dataSync().slice(0, 2), acts[1]!.data.slice(0, 2))).toBeGreaterThan(1e-4);
    tf.dispose([ids, want, emb, plain]);
    unmasked.dispose();
    r.dispose();
  });

  it('record limits what is yielded (plus the outputs); no tensor is left behind, also when the consumer stops early', async () => {
    const model = sequentialCnn();
    setDeterministicWeights(model, 5);
    const r = await loadKerasRunner(await writeKeras3(model, join(dir, 'cnn-rec.keras')));
    const feeds = feedsFor(r);
    const before = tf.memory().numTensors;
    const some = await collect(r, feeds, ['bn', 'fc']);
    expect(some.map((a) => a.name)).toEqual(['bn', 'fc', 'probs']);
    expect(some.map((a) => a.index)).toEqual([1, 5, 6]);
    expect(tf.memory().numTensors).toBe(before);
    for await (const a of r.run(feeds)) {
      a.tensor.dispose();
      if (a.name === 'pool') break;
    }
    expect(tf.memory().numTensors).toBe(before);
    r.dispose();
    model.dispose();
    tf.dispose([...feeds.values()]);
  });

  it('feeds are checked by name and shape', async () => {
    const model = twoInputModel();
    const r = await loadKerasRunner(await writeKeras3(model, join(dir, 'two-feeds.keras')));
    const a = tf.zeros([1, 4]);
    await expect(collect(r, new Map([['in_a', a]]))).rejects.toThrow(/two-feeds\.keras: no feed for input 'in_b' \(feeds given: in_a\)$/);
    const bad = tf.zeros([1, 5]);
    await expect(collect(r, new Map([['in_a', a], ['in_b', bad]]))).rejects.toThrow(/two-feeds\.keras: input 'in_b' expects shape \[\?,4\], the feed has shape \[1,5\]$/);
    tf.dispose([a, bad]);
    r.dispose();
    model.dispose();
  });

  it('Keras 3 config details: LeakyReLU negative_slope becomes alpha, silu becomes swish, build_input_shape gives a Sequential its input', async () => {
    const model = sequentialCnn();
    setDeterministicWeights(model, 2);
    const f = await writeKeras3(model, join(dir, 'cnn-edited.keras'), {
      config: (c) => {
        const layers = (c.config as { layers: Record<string, unknown>[] }).layers;
        // No InputLayer: Keras 3 then keeps the input shape in build_input_shape only.
        layers.shift();
        const relu = layers.find((l) => (l.config as { name: string }).name === 'relu')!;
        relu.class_name = 'LeakyReLU';
        relu.config = { name: 'relu', negative_slope: 0.25, dtype: (relu.config as { dtype: unknown }).dtype };
        const probs = layers.find((l) => (l.config as { name: string }).name === 'probs')!;
        (probs.config as { activation: string }).activation = 'silu';
        return c;
      },
    });
    const r = await loadKerasRunner(f);
    const feeds = feedsFor(r);
    const acts = await collect(r, feeds);
    const bn = acts.find((a) => a.name === 'bn')!;
    const leaky = acts.find((a) => a.name === 'relu')!;
    expect(leaky.type).toBe('LeakyReLU');
    expect(maxDiff(leaky.data, bn.data.map((v) => (v >= 0 ? v : 0.25 * v)))).toBeLessThan(1e-6);
    const fc = acts.find((a) => a.name === 'fc')!;
    const probs = acts.find((a) => a.name === 'probs')!;
    expect(maxDiff(probs.data, fc.data.map((v) => v / (1 + Math.exp(-v))))).toBeLessThan(1e-5);
    r.dispose();
    model.dispose();
    tf.dispose([...feeds.values()]);
  });

  it('the Keras 3 config the writer produces is in Keras 3 form (so the normaliser is really exercised)', () => {
    const model = twoInputModel();
    const c = keras3Config(model) as { class_name: string; config: { layers: { inbound_nodes: unknown[]; config: { dtype: unknown } }[]; output_layers: unknown } };
    expect(c.class_name).toBe('Functional');
    const concat = c.config.layers.find((l) => (l as unknown as { name: string }).name === 'concat')!;
    expect(JSON.stringify(concat.inbound_nodes)).toContain('__keras_tensor__');
    expect(concat.config.dtype).toMatchObject({ class_name: 'DTypePolicy' });
    model.dispose();
  });
});

describe('layer roles (what alignment pairs past a divergence)', () => {
  it('a conv or dense layer with a nonlinear activation is an activation, a linear one affine, batch norm affine, an activation layer an activation, a pooling a pool', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu', name: 'c_relu' }),
        tfl.layers.conv2d({ filters: 3, kernelSize: 1, name: 'c_linear' }),
        tfl.layers.batchNormalization({ name: 'bn' }),
        tfl.layers.leakyReLU({ name: 'leaky' }),
        tfl.layers.activation({ activation: 'sigmoid', name: 'act_sigmoid' }),
        tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
        tfl.layers.flatten({ name: 'flat' }),
        tfl.layers.dense({ units: 4, activation: 'softmax', name: 'd_softmax' }),
        tfl.layers.activation({ activation: 'linear', name: 'act_linear' }),
      ],
    });
    setDeterministicWeights(model, 3);
    const r = await loadTfjsLayersRunner(await writeTfjsLayers(model, join(dir, 'roles-tfjs')));
    const roles: Record<string, string | undefined> = {};
    const feeds = feedsFor(r, 1);
    for await (const a of r.run(feeds) as AsyncIterable<Activation>) {
      roles[a.name] = a.role;
      a.tensor.dispose();
    }
    expect(roles).toEqual({ c_relu: 'activation', c_linear: 'affine', bn: 'affine', leaky: 'activation', act_sigmoid: 'activation', pool: 'pool', flat: undefined, d_softmax: undefined, act_linear: undefined });
    r.dispose();
    model.dispose();
    tf.dispose([...feeds.values()]);
  });
});
