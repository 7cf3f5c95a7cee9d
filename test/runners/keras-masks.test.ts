import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { kerasArchive, writeH5 } from '../fixtures/keras-writer.js';
import { h5Entry, readGolden, type GoldenTensor, type Json, type KerasGolden } from '../fixtures/keras-goldens.js';

/**
 * Keras masks against numpy (test/fixtures/gen/keras_masks.py): token ids with zeros through
 * Embedding(mask_zero=True) into LSTM, Dense (carries the mask), GRU(reset_after), masked
 * GlobalAveragePooling1D, Bidirectional(LSTM) returning sequences (zeros at masked steps),
 * SimpleRNN(go_backwards), Add (AND of masks) into LSTM, and Masking into LSTM; as Keras 3 writes
 * it (.keras: the masks recorded as ops and `mask` keyword arguments) and as tf.keras 2 writes it
 * (legacy .h5: masks implicit).
 */

type T = GoldenTensor;
type J = Json;
interface Golden extends KerasGolden {
  unmasked: Record<string, T>;
}
const G = readGolden<Golden>('keras_masks');

const dir = mkdtempSync(join(tmpdir(), 'parity-masks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = h5Entry;
const clone = <X>(x: X): X => JSON.parse(JSON.stringify(x)) as X;
const layerOf = (cfg: J, name: string): J => ((cfg.config as J).layers as J[]).find((l) => l.name === name)!;

async function keras3File(name: string, config: J = G.keras3.config): Promise<string> {
  const f = join(dir, `${name}.keras`);
  writeFileSync(f, await kerasArchive(config, G.keras3.weights.map(entry), '3.6.0'));
  return f;
}

async function legacyFile(name: string, config: J = G.legacy.config): Promise<string> {
  const datasets = G.legacy.weights.filter((w): w is T & { path: string } => 'path' in w);
  const names = G.legacy.weights.filter((w): w is { layer: string; weight_names: string[] } => 'layer' in w);
  const layers = ((config.config as J).layers as J[]).map((l) => String(l.name));
  const attrs = [
    { path: '', name: 'model_config', value: JSON.stringify(config) },
    { path: '', name: 'keras_version', value: '2.15.0' },
    { path: '', name: 'backend', value: 'tensorflow' },
    { path: 'model_weights', name: 'layer_names', value: layers },
    ...layers.map((l) => ({ path: `model_weights/${l}`, name: 'weight_names', value: names.find((n) => n.layer === l)?.weight_names ?? [] })),
  ];
  const f = join(dir, `${name}.h5`);
  writeFileSync(f, await writeH5(datasets.map(entry), attrs, layers.map((l) => `model_weights/${l}`)));
  return f;
}

async function activations(r: Runner): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const xs = new Map(Object.entries(G.inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape, k === 'tok' ? 'int32' : 'float32')]));
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  try {
    for await (const a of r.run(xs) as AsyncIterable<Activation>) {
      out.set(a.name, { shape: a.tensor.shape.slice(), data: Float32Array.from(a.tensor.dataSync() as ArrayLike<number>) });
      a.tensor.dispose();
    }
  } finally {
    tf.dispose([...xs.values()]);
  }
  return out;
}

function maxErr(got: { shape: number[]; data: Float32Array }, want: T): number {
  let worst = 0;
  want.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(got.data[k]! - v))));
  return worst;
}

function expectClose(got: { shape: number[]; data: Float32Array } | undefined, want: T, what: string): void {
  expect(got, what).toBeDefined();
  expect(got!.shape, what).toEqual(want.shape);
  expect(maxErr(got!, want), `${what}: max abs error`).toBeLessThanOrEqual(2e-5);
}

const LAYERS = ['lstm', 'dense', 'gru', 'gap', 'bidirectional', 'simple_rnn', 'add', 'lstm_1', 'masking', 'lstm_2', 'att', 'att2:0', 'att2:1'];

describe('Keras masks (Keras semantics, against numpy)', () => {
  for (const format of ['keras3', 'legacy'] as const) {
    it(`${format === 'keras3' ? 'Keras 3 .keras (masks recorded)' : 'tf.keras 2 legacy .h5 (masks implicit)'}: every masked layer matches numpy`, async () => {
      const r = await loadKerasRunner(format === 'keras3' ? await keras3File('masked') : await legacyFile('masked'));
      try {
        const acts = await activations(r);
        for (const name of LAYERS) expectClose(acts.get(name), G.expected[name]!, `${format} ${name}`);
        // The masks matter: unmasked, the GRU's last output is another number.
        expect(maxErr(acts.get('gru')!, G.unmasked.gru!)).toBeGreaterThan(1e-2);
      } finally {
        r.dispose();
      }
    });
  }

  it('Keras 3 Sequential (masks implicit, as Sequential.call passes them): Embedding(mask_zero) -> LSTM -> Dense -> GRU', async () => {
    const pick = (name: string): J => {
      const l = clone(layerOf(G.keras3.config, name));
      delete l.inbound_nodes;
      delete l.name;
      return l;
    };
    const input = clone(layerOf(G.keras3.config, 'tok'));
    delete input.inbound_nodes;
    const cfg = { module: 'keras', class_name: 'Sequential', config: { name: 'seq', trainable: true, layers: [input, ...['embedding', 'lstm', 'dense', 'gru'].map(pick)] }, registered_name: null };
    const r = await loadKerasRunner(await keras3File('sequential', cfg as J));
    try {
      const acts = await activations(r);
      for (const name of ['lstm', 'dense', 'gru']) expectClose(acts.get(name), G.expected[name]!, `sequential ${name}`);
    } finally {
      r.dispose();
    }
  });

  it('a layer whose mask semantics are not implemented is refused by name (Softmax after a masked Embedding)', async () => {
    const cfg = clone(G.legacy.config);
    const layers = (cfg.config as J).layers as J[];
    layers.push({ class_name: 'Softmax', config: { name: 'softmax', trainable: true, dtype: 'float32', axis: -1 }, name: 'softmax', inbound_nodes: [[['dense', 0, 0, {}]]] });
    ((cfg.config as J).output_layers as unknown[]).push(['softmax', 0, 0]);
    await expect(loadKerasRunner(await legacyFile('softmax', cfg))).rejects.toThrow(/Softmax on a masked input .*: softmax/);
  });

  it('a Keras 3 mask passed explicitly from elsewhere is refused, not replaced by the propagated one', async () => {
    const cfg = clone(G.keras3.config);
    const gru = layerOf(cfg, 'gru');
    // mask=any (the Masking input's mask, another tensor) instead of the Embedding's.
    ((gru.inbound_nodes as J[])[0]!.kwargs as J).mask = { class_name: '__keras_tensor__', config: { shape: [null, 5], dtype: 'bool', keras_history: ['any', 0, 0] } };
    await expect(loadKerasRunner(await keras3File('other-mask', cfg))).rejects.toThrow(/GRU called with mask=any, not the mask of its input.*: gru/);
  });

  it('a Keras 3 layer given a mask whose use is not implemented (Softmax(x, mask=...)) is refused, never run unmasked', async () => {
    const cfg = clone(G.keras3.config);
    ((cfg.config as J).layers as J[]).push({
      module: 'keras.layers', class_name: 'Softmax', config: { name: 'softmax', trainable: true, dtype: 'float32', axis: -1 }, registered_name: null, name: 'softmax',
      inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 5, 2], dtype: 'float32', keras_history: ['xs', 0, 0] } }], kwargs: { mask: { class_name: '__keras_tensor__', config: { shape: [null, 5], dtype: 'bool', keras_history: ['any', 0, 0] } } } }],
    });
    ((cfg.config as J).output_layers as unknown[]).push(['softmax', 0, 0]);
    await expect(loadKerasRunner(await keras3File('softmax-mask', cfg))).rejects.toThrow(/Softmax called with a mask \(tf-parity does not implement its mask semantics\): softmax/);
  });

  it('a Keras 3 mask=None on a masked input is refused (Keras ran that layer unmasked)', async () => {
    const cfg = clone(G.keras3.config);
    ((layerOf(cfg, 'gap').inbound_nodes as J[])[0]!.kwargs as J).mask = null;
    await expect(loadKerasRunner(await keras3File('none-mask', cfg))).rejects.toThrow(/GlobalAveragePooling1D called with mask=None on a masked input.*: gap/);
  });
});
