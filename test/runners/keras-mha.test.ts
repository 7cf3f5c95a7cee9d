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
 * MultiHeadAttention against numpy (test/fixtures/gen/keras_mha.py): the same model as Keras 3
 * writes it (.keras) and as tf.keras 2.x writes it (legacy .h5). Self-attention; cross-attention
 * with a separate key, an attention_mask input, use_causal_mask, value_dim and output_shape;
 * attention over two axes of an image; and the masks of an Embedding(mask_zero) (an explicit
 * NotEqual op in Keras 3, implicit in tf.keras); return_attention_scores (two outputs).
 */

type T = GoldenTensor;
type J = Json;
const G = readGolden<KerasGolden>('keras_mha');

const dir = mkdtempSync(join(tmpdir(), 'parity-mha-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = h5Entry;

async function keras3File(name: string, rename: (p: string) => string = (p) => p, config: J = G.keras3.config): Promise<string> {
  const f = join(dir, `${name}.keras`);
  writeFileSync(f, await kerasArchive(config, G.keras3.weights.map((w) => entry({ ...w, path: rename(w.path) })), '3.6.0'));
  return f;
}

async function legacyFile(name: string): Promise<string> {
  const datasets = G.legacy.weights.filter((w): w is T & { path: string } => 'path' in w);
  const names = G.legacy.weights.filter((w): w is { layer: string; weight_names: string[] } => 'layer' in w);
  const layers = ((G.legacy.config.config as J).layers as J[]).map((l) => String(l.name));
  const attrs = [
    { path: '', name: 'model_config', value: JSON.stringify(G.legacy.config) },
    { path: '', name: 'keras_version', value: '2.15.0' },
    { path: '', name: 'backend', value: 'tensorflow' },
    { path: 'model_weights', name: 'layer_names', value: layers },
    ...names.map((n) => ({ path: `model_weights/${n.layer}`, name: 'weight_names', value: n.weight_names })),
  ];
  const f = join(dir, `${name}.h5`);
  writeFileSync(f, await writeH5(datasets.map(entry), attrs, layers.map((l) => `model_weights/${l}`)));
  return f;
}

async function activations(r: Runner): Promise<Map<string, { type: string; shape: number[]; data: Float32Array }>> {
  const xs = new Map(Object.entries(G.inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape, k === 'tok' ? 'int32' : 'float32')]));
  const out = new Map<string, { type: string; shape: number[]; data: Float32Array }>();
  try {
    for await (const a of r.run(xs) as AsyncIterable<Activation>) {
      out.set(a.name, { type: a.type, shape: a.tensor.shape.slice(), data: Float32Array.from(a.tensor.dataSync() as ArrayLike<number>) });
      a.tensor.dispose();
    }
  } finally {
    tf.dispose([...xs.values()]);
  }
  return out;
}

function expectClose(got: { shape: number[]; data: Float32Array } | undefined, want: T, what: string): void {
  expect(got, what).toBeDefined();
  expect(got!.shape, what).toEqual(want.shape);
  let worst = 0;
  want.values.forEach((v, k) => (worst = Math.max(worst, Math.abs(got!.data[k]! - v))));
  expect(worst, `${what}: max abs error`).toBeLessThanOrEqual(2e-5);
}

describe('MultiHeadAttention (Keras semantics, against numpy)', () => {
  for (const format of ['keras3', 'legacy'] as const) {
    it(`${format === 'keras3' ? 'Keras 3 .keras' : 'tf.keras 2 legacy .h5'}: every attention layer matches numpy`, async () => {
      const r = await loadKerasRunner(format === 'keras3' ? await keras3File('attn') : await legacyFile('attn'));
      try {
        const acts = await activations(r);
        for (const name of ['mha1', 'mha2', 'mha3', 'mha4', 'emb', 'mha5:0', 'mha5:1']) expectClose(acts.get(name), G.expected[name]!, `${format} ${name}`);
        expect(acts.get('mha1')!.type).toBe('MultiHeadAttention');
        if (format === 'keras3') expectClose(acts.get('not_equal'), G.expected.not_equal!, 'not_equal');
      } finally {
        r.dispose();
      }
    });
  }

  it('reads the sub-layer groups under their older private names (_query_dense, ...)', async () => {
    const r = await loadKerasRunner(await keras3File('attn-private', (p) => p.replace(/\/(query|key|value|output)_dense\//, '/_$1_dense/')));
    try {
      expectClose((await activations(r)).get('mha2'), G.expected.mha2!, 'mha2');
    } finally {
      r.dispose();
    }
  });

  it('the masks matter: without the causal mask mha2 differs from numpy', async () => {
    const cfg = JSON.parse(JSON.stringify(G.keras3.config)) as J;
    const mha2 = ((cfg.config as J).layers as J[]).find((l) => l.name === 'mha2')!;
    ((mha2.inbound_nodes as J[])[0]!.kwargs as J).use_causal_mask = false;
    const r = await loadKerasRunner(await keras3File('attn-nocausal', undefined, cfg));
    try {
      const got = (await activations(r)).get('mha2')!;
      const worst = Math.max(...G.expected.mha2!.values.map((v, k) => Math.abs(got.data[k]! - v)));
      expect(worst).toBeGreaterThan(1e-3);
    } finally {
      r.dispose();
    }
  });

  it('a call it cannot read is refused in one line naming the layer', async () => {
    const cfg = JSON.parse(JSON.stringify(G.keras3.config)) as J;
    const mha1 = ((cfg.config as J).layers as J[]).find((l) => l.name === 'mha1')!;
    ((mha1.inbound_nodes as J[])[0]!.kwargs as J).bias = 1;
    await expect(loadKerasRunner(await keras3File('attn-bad', undefined, cfg))).rejects.toThrow(/MultiHeadAttention: unknown argument 'bias' \(call\): mha1/);
  });
});
