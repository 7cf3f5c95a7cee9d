import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeZip, readZip } from '../../src/formats/zip.js';
import { loadKerasRunner } from '../../src/runners/keras/index.js';
import { readFileSync, writeFileSync } from 'node:fs';

type J = Record<string, unknown>;

export function outDir(): string {
  return mkdtempSync(join(tmpdir(), 'lift-out-'));
}

export function readKeras(path: string): { config: J; metadata: J; weights: Uint8Array; names: string[] } {
  const e = readZip(new Uint8Array(readFileSync(path)), path);
  const dec = new TextDecoder();
  return {
    config: JSON.parse(dec.decode(e.get('config.json')!)) as J,
    metadata: JSON.parse(dec.decode(e.get('metadata.json')!)) as J,
    weights: e.get('model.weights.h5')!,
    names: [...e.keys()],
  };
}

export function configLayers(path: string): J[] {
  return ((readKeras(path).config.config as J).layers as J[]);
}

/**
 * Whether the Keras runner executes keras.ops entries yet (another branch teaches it): a model
 * that is x + 1.0 as a keras.src.ops.numpy.Add entry, written by hand, is loaded.
 */
export async function runnerSupportsOps(): Promise<boolean> {
  const kt = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 2], dtype: 'float32', keras_history: [layer, 0, 0] } });
  const config = {
    module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
    config: {
      name: 'probe', trainable: true,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 2], dtype: 'float32', sparse: false, ragged: false, name: 'x', optional: false }, registered_name: null, name: 'x', inbound_nodes: [] },
        { module: 'keras.src.ops.numpy', class_name: 'Add', config: { name: 'add' }, registered_name: 'Add', name: 'add', inbound_nodes: [{ args: [kt('x'), 1.0], kwargs: {} }] },
      ],
      input_layers: ['x', 0, 0], output_layers: ['add', 0, 0],
    },
  };
  const { kerasWeightsH5 } = await import('../../src/lift/keras-weights.js');
  const h5 = await kerasWeightsH5({ name: 'probe', inputs: [{ name: 'x', original: 'x', shape: [null, 2], dtype: 'float32', tensor: 'x' }], layers: [], outputs: [] });
  const enc = new TextEncoder();
  const p = join(outDir(), 'probe.keras');
  writeFileSync(p, writeZip([['metadata.json', enc.encode('{"keras_version": "3.15.1"}')], ['config.json', enc.encode(JSON.stringify(config))], ['model.weights.h5', h5]]));
  try {
    const r = await loadKerasRunner(p);
    (r as unknown as { dispose?: () => void }).dispose?.();
    return true;
  } catch {
    return false;
  }
}
