import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { describeKerasModel } from '../../src/runners/keras/describe.js';
import { kerasArchive, writeH5 } from '../fixtures/keras-writer.js';

/** inspect describes, run refuses (issue 27, item 7): a model with layers tf-parity cannot run is described from its config. */

const dir = mkdtempSync(join(tmpdir(), 'parity-kdescribe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type J = Record<string, unknown>;
const kt = (l: string): J => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [l, 0, 0] } });
const node = (...ls: string[]) => [{ args: ls.length === 1 ? [kt(ls[0]!)] : [ls.map(kt)], kwargs: {} }];

/** Keras 3 Functional: two inputs, a Dense, a custom layer and a Lambda, two outputs. */
const functional: J = {
  module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
  config: {
    name: 'two_heads', trainable: true,
    layers: [
      { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 8], dtype: 'float32', name: 'text' }, name: 'text', inbound_nodes: [] },
      { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 4, 4, 3], dtype: 'float32', name: 'image' }, name: 'image', inbound_nodes: [] },
      { module: 'keras.layers', class_name: 'Dense', config: { name: 'proj', units: 4 }, name: 'proj', inbound_nodes: node('text') },
      { module: 'my_pkg.layers', class_name: 'FancyAttention', registered_name: 'my_pkg>FancyAttention', config: { name: 'fancy' }, name: 'fancy', inbound_nodes: node('proj') },
      { module: 'keras.layers', class_name: 'Lambda', config: { name: 'lam', function: {} }, name: 'lam', inbound_nodes: node('image') },
    ],
    input_layers: [['text', 0, 0], ['image', 0, 0]],
    output_layers: [['fancy', 0, 0], ['lam', 0, 0]],
  },
};

describe('describing a Keras model that cannot be run', () => {
  it('.keras: inputs with shapes, outputs, every layer, and the unsupported ones by name', async () => {
    const f = join(dir, 'heads.keras');
    writeFileSync(f, await kerasArchive(functional, [], '3.5.0'));
    const d = await describeKerasModel(f);
    expect(d.className).toBe('Functional');
    expect(d.kerasVersion).toBe('3.5.0');
    expect(d.inputs).toEqual([{ name: 'text', dtype: 'float32', shape: [-1, 8] }, { name: 'image', dtype: 'float32', shape: [-1, 4, 4, 3] }]);
    expect(d.outputs).toEqual(['fancy', 'lam']);
    expect(d.layers.map((l) => `${l.name}:${l.className}`)).toEqual(['text:InputLayer', 'image:InputLayer', 'proj:Dense', 'fancy:FancyAttention', 'lam:Lambda']);
    expect(d.unsupported.flatMap((u) => u.nodes).sort()).toEqual(['fancy', 'lam']);
  });

  it('list-form Sequential .h5 (Keras 2.2): input named after its first layer, last layer as output', async () => {
    const cfg = { class_name: 'Sequential', config: [{ class_name: 'Dense', config: { name: 'dense_1', batch_input_shape: [null, 3], units: 2 } }, { class_name: 'MysteryLayer', config: { name: 'mystery_1' } }] };
    const f = join(dir, 'old.h5');
    writeFileSync(f, await writeH5([], [{ path: '', name: 'model_config', value: JSON.stringify(cfg) }, { path: '', name: 'keras_version', value: '2.2.4' }]));
    const d = await describeKerasModel(f);
    expect(d.inputs).toEqual([{ name: 'dense_1_input', dtype: 'float32', shape: [-1, 3] }]);
    expect(d.outputs).toEqual(['mystery_1']);
    expect(d.unsupported).toEqual([{ op: 'MysteryLayer', nodes: ['mystery_1'] }]);
  });

  it('parity inspect prints the description and exits 0 (run would exit 2)', async () => {
    const f = join(dir, 'heads-cli.keras');
    writeFileSync(f, await kerasArchive(functional, [], '3.5.0'));
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out += String(s);
      return true;
    });
    let code: number;
    try {
      code = await main(['inspect', f]);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(0);
    expect(out).toContain('image  float32[?,4,4,3]');
    expect(out).toMatch(/cannot be run yet \(2 layers\):\n {2}FancyAttention \(custom object 'my_pkg>FancyAttention'\): fancy\n {2}Lambda \(its Python code is never run\): lam/);
  });
});
