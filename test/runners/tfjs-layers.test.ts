import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError, ParityError, UnsupportedError } from '../../src/core/errors.js';
import type { Activation } from '../../src/core/runner.js';
import { loadTfjsLayersRunner } from '../../src/runners/tfjs-layers.js';
import { keras3Config, pseudo, sequentialCnn, setDeterministicWeights, twoInputModel, writeTfjsLayers } from '../fixtures/keras-writer.js';

const root = mkdtempSync(join(tmpdir(), 'parity-tfjs-layers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type J = Record<string, unknown>;
interface Manifest {
  format: string;
  modelTopology: J;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}

let n = 0;
/** A fresh copy of the CNN in tfjs format, with model.json edited by `edit`. */
async function variant(edit: (m: Manifest, dir: string) => void = () => {}): Promise<string> {
  const model = sequentialCnn();
  setDeterministicWeights(model, 11);
  const dir = join(root, `v${++n}`);
  const file = await writeTfjsLayers(model, dir);
  model.dispose();
  const m = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  edit(m, dir);
  writeFileSync(file, JSON.stringify(m));
  return file;
}

async function failure(p: Promise<unknown>): Promise<ParityError> {
  try {
    const r = await p;
    (r as { dispose?: () => void }).dispose?.();
  } catch (e) {
    expect(e).toBeInstanceOf(ParityError);
    return e as ParityError;
  }
  throw new Error('expected the load to fail');
}

describe('TensorFlow.js layers models', () => {
  it('loads from the folder or the model.json, from disk only, with the layers and outputs of the model that was saved', async () => {
    const model = twoInputModel();
    setDeterministicWeights(model, 4);
    const file = await writeTfjsLayers(model, join(root, 'two'));
    for (const p of [file, join(root, 'two')]) {
      const r = await loadTfjsLayersRunner(p);
      expect(r.kind).toBe('tfjs-layers');
      expect(r.source).toBe(file);
      expect(r.outputs()).toEqual(['head', 'add']);
      const a = tf.tensor(pseudo(8, 1), [2, 4]);
      const b = tf.tensor(pseudo(8, 2), [2, 4]);
      const acts: Activation[] = [];
      for await (const x of r.run(new Map([['in_a', a], ['in_b', b]]))) acts.push(x);
      const want = model.predict([a, b]) as tf.Tensor[];
      const head = acts.find((x) => x.name === 'head')!.tensor;
      expect(Array.from(head.dataSync())).toEqual(Array.from(want[0]!.dataSync()));
      tf.dispose([a, b, ...want, ...acts.map((x) => x.tensor)]);
      r.dispose();
    }
    model.dispose();
  });

  it('a topology in Keras 3 form is normalised like a .keras config', async () => {
    const model = twoInputModel();
    setDeterministicWeights(model, 4);
    const file = await writeTfjsLayers(model, join(root, 'k3'));
    const m = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
    m.modelTopology = { model_config: keras3Config(model), keras_version: '3.6.0', backend: 'tensorflow' };
    writeFileSync(file, JSON.stringify(m));
    const r = await loadTfjsLayersRunner(file);
    const a = tf.tensor(pseudo(4, 1), [1, 4]);
    const b = tf.tensor(pseudo(4, 2), [1, 4]);
    const want = model.predict([a, b]) as tf.Tensor[];
    for await (const x of r.run(new Map([['in_a', a], ['in_b', b]]))) {
      if (x.name === 'add') expect(Array.from(x.tensor.dataSync())).toEqual(Array.from(want[1]!.dataSync()));
      x.tensor.dispose();
    }
    tf.dispose([a, b, ...want]);
    r.dispose();
    model.dispose();
  });

  it('refuses shard paths that leave the model folder, and missing or short shards', async () => {
    const out = await variant((m) => (m.weightsManifest[0]!.paths = ['../outside.bin']));
    expect((await failure(loadTfjsLayersRunner(out))).message).toMatch(/'\.\.\/outside\.bin' leaves the model folder/);
    const abs = await variant((m) => (m.weightsManifest[0]!.paths = ['/etc/passwd']));
    expect((await failure(loadTfjsLayersRunner(abs))).message).toMatch(/leaves the model folder/);
    const url = await variant((m) => (m.weightsManifest[0]!.paths = ['https://example.com/w.bin']));
    expect((await failure(loadTfjsLayersRunner(url))).message).toMatch(/leaves the model folder/);
    const missing = await variant((m) => (m.weightsManifest[0]!.paths = ['nope.bin']));
    expect((await failure(loadTfjsLayersRunner(missing))).message).toMatch(/weight shard 'nope\.bin' is missing/);
    const short = await variant((_m, dir) => {
      const p = join(dir, 'group1-shard1of1.bin');
      writeFileSync(p, readFileSync(p).subarray(8));
    });
    const e = await failure(loadTfjsLayersRunner(short));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(/shards hold \d+ bytes but the manifest describes \d+ bytes/);
  });

  it('a weight missing from the manifest or of the wrong shape names the layer and the weight', async () => {
    // Dropping fc/bias (the last 4 floats) keeps the byte count consistent with the manifest.
    const missing = await variant((m, dir) => {
      const w = m.weightsManifest[0]!.weights;
      const i = w.findIndex((x) => x.name === 'fc/bias');
      const before = w.slice(0, i).reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1) * 4, 0);
      const p = join(dir, 'group1-shard1of1.bin');
      const bytes = readFileSync(p);
      writeFileSync(p, Buffer.concat([bytes.subarray(0, before), bytes.subarray(before + 16)]));
      w.splice(i, 1);
    });
    const e1 = await failure(loadTfjsLayersRunner(missing));
    expect(e1.message).toMatch(/layer 'fc' \(Dense\) is missing weight 'fc\/bias'/);
    expect(e1.node).toBe('fc');
    const reshaped = await variant((m) => {
      const k = m.weightsManifest[0]!.weights.find((x) => x.name === 'fc/kernel')!;
      k.shape = [k.shape[1]!, k.shape[0]!];
    });
    expect((await failure(loadTfjsLayersRunner(reshaped))).message).toMatch(/layer 'fc' weight 'fc\/kernel' has shape \[4,27\] in the weights but the layer expects \[27,4\]/);
  });

  it('refuses graph models, malformed manifests and unsupported layers', async () => {
    const graph = await variant((m) => (m.format = 'graph-model'));
    expect((await failure(loadTfjsLayersRunner(graph))).message).toMatch(/format is 'graph-model', not 'layers-model'/);
    const malformed = await variant((m) => ((m.weightsManifest[0]!.weights[0] as unknown as J).shape = 'x'));
    expect((await failure(loadTfjsLayersRunner(malformed))).message).toMatch(/malformed weight entry/);
    const lambda = await variant((m) => {
      const layers = ((m.modelTopology as { config: { layers: J[] } }).config.layers);
      layers.splice(2, 0, { class_name: 'Lambda', config: { name: 'python_code' } });
    });
    const e = await failure(loadTfjsLayersRunner(lambda));
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.message).toMatch(/Lambda.*python_code/);
    const notJson = join(root, 'bad.json');
    writeFileSync(notJson, '{"format": "layers-model", ');
    expect((await failure(loadTfjsLayersRunner(notJson))).message).toMatch(/bad\.json: not a valid model\.json/);
  });
});
