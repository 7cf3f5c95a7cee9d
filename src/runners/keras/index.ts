import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FormatError, ParityError, errorMessage } from '../../core/errors.js';
import type { Runner } from '../../core/runner.js';
import { checkTensorBudget } from '../../core/tensor.js';
import { readZip } from '../../formats/zip.js';
import { LayersRunner } from '../layers-runner.js';
import { normaliseKerasConfig } from './config.js';

/**
 * Keras 3 `.keras` (zip: config.json, metadata.json, model.weights.h5) and Keras 2/3 `.h5`
 * (attribute model_config + group model_weights), read without Python: the zip with fflate,
 * HDF5 with h5wasm, the model built by tfjs-layers from the normalised config.
 */

type H5File = {
  get(path: string): H5Node | null;
  keys(): string[];
  attrs: Record<string, { value: unknown }>;
  close(): void;
};
type H5Node = {
  type: string;
  keys?(): string[];
  get?(k: string): H5Node | null;
  attrs: Record<string, { value: unknown }>;
  shape?: number[] | null;
  dtype?: string;
  value?: unknown;
};

interface H5Module {
  ready: Promise<unknown>;
  File: new (path: string, mode: string) => H5File;
}
let h5mod: H5Module | undefined;

async function h5(): Promise<H5Module> {
  if (!h5mod) {
    const m = (await import('h5wasm/node')) as unknown as { default: H5Module };
    await m.default.ready;
    h5mod = m.default;
  }
  return h5mod;
}

/** Opens HDF5 bytes: h5wasm reads from a path, so the bytes go to a private temp folder removed afterwards. */
async function withH5<T>(bytes: Uint8Array, label: string, f: (file: H5File) => T | Promise<T>): Promise<T> {
  if (bytes.length < 8 || bytes[0] !== 0x89 || bytes[1] !== 0x48 || bytes[2] !== 0x44 || bytes[3] !== 0x46) {
    throw new FormatError(`${label}: not an HDF5 file (bad signature)`, { file: label });
  }
  const m = await h5();
  const dir = mkdtempSync(join(tmpdir(), 'parity-h5-'));
  const p = join(dir, 'weights.h5');
  writeFileSync(p, bytes);
  let file: H5File;
  try {
    file = new m.File(p, 'r');
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new FormatError(`${label}: corrupt HDF5 file (${errorMessage(e)})`, { file: label });
  }
  try {
    return await f(file);
  } catch (e) {
    if (e instanceof ParityError) throw e;
    // h5wasm throws plain errors (or wasm aborts) on damaged files: name the file.
    throw new FormatError(`${label}: corrupt HDF5 content (${errorMessage(e)})`, { file: label, cause: e });
  } finally {
    try {
      file.close();
    } catch {
      /* already closed */
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function datasetValue(d: H5Node, label: string, where: string): { shape: number[]; data: Float32Array } {
  if (d.type !== 'Dataset') throw new FormatError(`${label}: ${where} is not a dataset`, { file: label, node: where });
  const shape = (d.shape ?? []).map(Number);
  checkTensorBudget(shape, 4, { file: label, node: where });
  let v: unknown;
  try {
    v = d.value;
  } catch (e) {
    throw new FormatError(`${label}: cannot read ${where} (${errorMessage(e)})`, { file: label, node: where });
  }
  const arr = v instanceof Float32Array ? v : ArrayBuffer.isView(v) ? Float32Array.from(v as unknown as ArrayLike<number>) : typeof v === 'number' ? Float32Array.of(v) : null;
  if (!arr) throw new FormatError(`${label}: ${where} holds ${d.dtype ?? 'non-numeric'} data`, { file: label, node: where });
  return { shape, data: arr };
}

function group(f: H5File | H5Node, path: string): H5Node | null {
  try {
    return (f as H5File).get(path) ?? null;
  } catch {
    return null;
  }
}

function attrStrings(n: H5Node, name: string): string[] {
  const a = n.attrs[name];
  if (!a) return [];
  const v = a.value;
  const list = Array.isArray(v) ? v : typeof v === 'string' ? [v] : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<unknown>) : [];
  return list.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
}

/** Sets one tfjs layer's weights, checking count and shapes; errors name the layer and the weight. */
function setLayerWeights(layer: tfl.layers.Layer, values: { name: string; shape: number[]; data: Float32Array }[], label: string): void {
  const want = layer.weights;
  if (values.length < want.length) {
    const missing = want.slice(values.length).map((w) => w.originalName ?? w.name);
    throw new FormatError(`${label}: layer '${layer.name}' is missing weight(s) ${missing.join(', ')} (file has ${values.length}, layer needs ${want.length})`, { file: label, node: layer.name });
  }
  const tensors = want.map((w, i) => {
    const v = values[i]!;
    if (v.shape.join() !== w.shape.join()) {
      throw new FormatError(`${label}: layer '${layer.name}' weight '${w.originalName ?? w.name}' has shape [${v.shape}] in the file (${v.name}) but the layer needs [${w.shape}]`, {
        file: label,
        node: layer.name,
      });
    }
    return tf.tensor(v.data, v.shape, 'float32');
  });
  layer.setWeights(tensors);
  tf.dispose(tensors);
}

/** Keras 3 model.weights.h5: layers/<name>/vars/<i>, nested models under layers/<model>/layers/... */
function loadKeras3Weights(model: tfl.LayersModel, f: H5File, label: string): void {
  const visit = (layers: tfl.layers.Layer[], prefix: string) => {
    for (const layer of layers) {
      if (layer instanceof tfl.LayersModel || layer.getClassName() === 'Sequential' || layer.getClassName() === 'Model') {
        visit((layer as tfl.LayersModel).layers, `${prefix}layers/${layer.name}/`);
        continue;
      }
      if (!layer.weights.length) continue;
      const vars = group(f, `${prefix}layers/${layer.name}/vars`);
      if (!vars || !vars.keys) throw new FormatError(`${label}: no weights for layer '${layer.name}' (expected group ${prefix}layers/${layer.name}/vars)`, { file: label, node: layer.name });
      const keys = vars.keys().filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
      setLayerWeights(layer, keys.map((k) => ({ name: `${prefix}layers/${layer.name}/vars/${k}`, ...datasetValue(vars.get!(k)!, label, `${layer.name}/vars/${k}`) })), label);
    }
  };
  visit(model.layers, '');
}

/** Legacy .h5: model_weights/<layer>/ with attr weight_names, matched to tfjs weights by their last name part, else by order. */
function loadLegacyWeights(model: tfl.LayersModel, f: H5File, label: string, root = 'model_weights'): void {
  const rootGroup = group(f, root);
  if (!rootGroup) throw new FormatError(`${label}: no '${root}' group: not a Keras .h5 with weights`, { file: label });
  const visit = (layers: tfl.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof tfl.LayersModel) {
        // A nested model's weights sit in one group named after it, weight_names carrying inner layer names.
        const g = group(f, `${root}/${layer.name}`);
        if (!g) throw new FormatError(`${label}: no weights for nested model '${layer.name}'`, { file: label, node: layer.name });
        const names = attrStrings(g, 'weight_names');
        for (const inner of layer.layers) {
          if (!inner.weights.length) continue;
          const mine = names.filter((n) => n.split('/').includes(inner.name));
          setLayerWeights(inner, mine.map((n) => ({ name: n, ...datasetValue(group(f, `${root}/${layer.name}/${n}`)!, label, n) })), label);
        }
        continue;
      }
      if (!layer.weights.length) continue;
      const g = group(f, `${root}/${layer.name}`);
      if (!g) throw new FormatError(`${label}: no weights for layer '${layer.name}' in ${root}`, { file: label, node: layer.name });
      const names = attrStrings(g, 'weight_names');
      const byLast = new Map(names.map((n) => [n.replace(/:\d+$/, '').split('/').pop()!, n]));
      const ordered = layer.weights.map((w, i) => byLast.get((w.originalName ?? w.name).replace(/:\d+$/, '').split('/').pop()!) ?? names[i]);
      const values = ordered.filter((n): n is string => !!n).map((n) => {
        const d = group(f, `${root}/${layer.name}/${n}`);
        if (!d) throw new FormatError(`${label}: weight '${n}' of layer '${layer.name}' is listed but missing`, { file: label, node: layer.name });
        return { name: n, ...datasetValue(d, label, `${layer.name}/${n}`) };
      });
      setLayerWeights(layer, values, label);
    }
  };
  visit(model.layers);
}

async function buildModel(config: unknown, label: string): Promise<tfl.LayersModel> {
  const topology = normaliseKerasConfig(config, label);
  try {
    return (await tfl.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON)) as tfl.LayersModel;
  } catch (e) {
    if (e instanceof ParityError) throw e;
    throw new FormatError(`${label}: tfjs-layers could not build the model from its config: ${errorMessage(e)}`, { file: label, cause: e });
  }
}

export async function loadKerasRunner(path: string): Promise<Runner> {
  const bytes = new Uint8Array(readFileSync(path));
  const ext = extname(path).toLowerCase();
  if (ext === '.keras' || (bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    const entries = readZip(bytes, path);
    const cfg = entries.get('config.json');
    if (!cfg) throw new FormatError(`${path}: no config.json in the .keras archive (entries: ${[...entries.keys()].join(', ')})`, { file: path });
    let config: unknown;
    try {
      config = JSON.parse(new TextDecoder().decode(cfg));
    } catch (e) {
      throw new FormatError(`${path}: config.json is not valid JSON (${errorMessage(e)})`, { file: path });
    }
    const weights = entries.get('model.weights.h5');
    if (!weights) {
      const other = [...entries.keys()].find((k) => /weights/.test(k));
      throw new FormatError(`${path}: no model.weights.h5 in the archive${other ? ` (found '${other}': only HDF5 weights are read)` : ''}`, { file: path });
    }
    const model = await buildModel(config, path);
    try {
      await withH5(weights, `${path}[model.weights.h5]`, (f) => loadKeras3Weights(model, f, `${path}[model.weights.h5]`));
    } catch (e) {
      model.dispose();
      throw e;
    }
    return new LayersRunner('keras', path, model);
  }
  return withH5(bytes, path, async (f) => {
    const cfgAttr = f.attrs.model_config;
    if (!cfgAttr) throw new FormatError(`${path}: no model_config attribute: a weights-only .h5 has no architecture to run (save the whole model)`, { file: path });
    let config: unknown;
    try {
      const v = cfgAttr.value;
      config = JSON.parse(typeof v === 'string' ? v : new TextDecoder().decode(v as Uint8Array));
    } catch (e) {
      throw new FormatError(`${path}: model_config is not valid JSON (${errorMessage(e)})`, { file: path });
    }
    const model = await buildModel(config, path);
    try {
      loadLegacyWeights(model, f, path);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return new LayersRunner('keras', path, model);
  });
}
