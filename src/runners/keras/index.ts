import { readFileSync, statSync } from 'node:fs';
import { parseKerasJson } from './config-json.js';
import type * as tf from '@tensorflow/tfjs-core';
import { tfl } from '../tfl.js';
import { FormatError, InputError, ParityError, errorMessage } from '../../core/errors.js';
import type { Runner } from '../../core/runner.js';
import { readZip } from '../../formats/zip.js';
import { normaliseKerasConfig, type NormalisedModel, type NormaliseOptions } from './config.js';
import { LayersRunner } from './layers-runner.js';
import { attrString, attrStrings, checkH5Size, h5Get, h5Keys, isHdf5, loadKeras3Weights, loadLegacyWeights, withH5 } from './weights.js';
import { Group } from 'h5wasm';
import { mergeShards, shardNames } from './shards.js';

export { LayersRunner } from './layers-runner.js';
export { normaliseKerasConfig, unsupportedLayers, type KerasLayerInfo, type NormalisedModel } from './config.js';

/**
 * Keras models as Runners, read without Python:
 *   - Keras 3 `.keras`: a zip (read with the checked reader in formats/zip.ts) holding
 *     config.json, metadata.json and model.weights.h5;
 *   - `.h5`/`.hdf5` from `model.save('x.h5')` (Keras 2, or Keras 3's legacy writer): the attribute
 *     `model_config` (JSON) and the group `model_weights`.
 * The model is built by tfjs-layers from the normalised config; the weights are checked
 * layer by layer against it.
 */

/** Builds the tfjs model; weights are set afterwards. */
export async function buildModel(n: NormalisedModel, label: string): Promise<tfl.LayersModel> {
  try {
    return (await tfl.models.modelFromJSON({ modelTopology: n.topology } as unknown as tf.io.ModelJSON)) as tfl.LayersModel;
  } catch (e) {
    if (e instanceof ParityError) throw e;
    // tfjs prints a SymbolicTensor it cannot reach as '[object Object]'.
    const msg = errorMessage(e).replace(/\[object Object\]/g, 'of a layer no input leads to');
    throw new FormatError(`${label}: tfjs-layers could not build the model from its config: ${msg}`, { file: label, cause: e });
  }
}

function parseJson(bytes: Uint8Array | string, what: string, file: string): unknown {
  try {
    return parseKerasJson(typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`${file}: ${what} is not valid JSON (${errorMessage(e)})`, { file });
  }
}

async function loadKerasZip(path: string, bytes: Uint8Array): Promise<Runner> {
  const entries = readZip(bytes, path);
  const names = [...entries.keys()];
  const cfg = entries.get('config.json');
  if (!cfg) throw new FormatError(`${path}: no config.json in the .keras archive (entries: ${names.join(', ') || 'none'}); not a Keras 3 model file`, { file: path });
  const meta = entries.get('metadata.json');
  const metadata = meta ? (parseJson(meta, 'metadata.json', path) as { keras_version?: unknown }) : {};
  const opts: NormaliseOptions = typeof metadata?.keras_version === 'string' ? { kerasVersion: metadata.keras_version } : { kerasVersion: '3' };
  // The architecture is checked first: unsupported layers are the more useful news.
  const n = normaliseKerasConfig(parseJson(cfg, 'config.json', path), path, opts);
  const shards = entries.has('model.weights.h5') ? null : shardNames(entries, path);
  const weights = entries.get('model.weights.h5') ?? (shards ? await mergeShards(entries, shards, path) : undefined);
  if (!weights) {
    const npz = names.find((k) => /\.npz$/i.test(k));
    if (npz) {
      throw new FormatError(`${path}: the weights are stored as '${npz}' (NumPy .npz with pickled Python objects), which tf-parity never unpickles; re-save the model with HDF5 weights (model.weights.h5)`, { file: path });
    }
    const other = names.find((k) => /weights/i.test(k));
    throw new FormatError(`${path}: no model.weights.h5 in the archive${other ? ` (found '${other}'; sharded or other weight formats are not read)` : ` (entries: ${names.join(', ')})`}`, { file: path });
  }
  const label = `${path}[${shards ? shards.join(', ') : 'model.weights.h5'}]`;
  checkH5Size(weights, label);
  const model = await buildModel(n, path);
  const warnings = [...n.warnings];
  try {
    await withH5(weights, label, (f) => loadKeras3Weights(model, n.layers, f, label, warnings));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return new LayersRunner('keras', path, model, warnings);
}

async function loadKerasH5(path: string, bytes: Uint8Array): Promise<Runner> {
  checkH5Size(bytes, path);
  let built: tfl.LayersModel | undefined;
  try {
    return await withH5(bytes, path, async (f) => {
      const config = attrString(f, 'model_config');
      if (config === null) {
        const keras3Weights = h5Get(f, 'layers') instanceof Group || h5Get(f, 'vars') instanceof Group;
        const legacyWeights = attrStrings(f, 'layer_names') !== null;
        const what = keras3Weights ? 'a Keras 3 weights file (model.save_weights)' : legacyWeights ? 'a weights-only file (model.save_weights)' : `an HDF5 file without a Keras model (top-level entries: ${h5Keys(f).join(', ') || 'none'})`;
        throw new FormatError(`${path}: the file is ${what}; the architecture is missing (no 'model_config' attribute). Save the whole model (model.save('model.keras') or model.save('model.h5'))`, { file: path });
      }
      const version = attrString(f, 'keras_version') ?? undefined;
      const n = normaliseKerasConfig(parseJson(config, "the 'model_config' attribute", path), path, version ? { kerasVersion: version } : {});
      const model = (built = await buildModel(n, path));
      const warnings = [...n.warnings];
      loadLegacyWeights(model, f, path, warnings);
      return new LayersRunner('keras', path, model, warnings);
    });
  } catch (e) {
    built?.dispose();
    throw e;
  }
}

/** Loads a Keras `.keras` or `.h5` model as a Runner (kind 'keras'). */
export async function loadKerasRunner(path: string): Promise<Runner> {
  let bytes: Uint8Array;
  try {
    if (statSync(path).isDirectory()) throw new InputError(`${path} is a folder; a Keras model is one .keras or .h5 file`, { file: path });
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    if (e instanceof ParityError) throw e;
    throw new InputError(`${path}: cannot read the file (${errorMessage(e)})`, { file: path, cause: e });
  }
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) return loadKerasZip(path, bytes);
  if (isHdf5(bytes)) return loadKerasH5(path, bytes);
  const ext = path.toLowerCase().endsWith('.keras') ? 'a .keras file must be a zip archive' : 'expected a zip (.keras) or HDF5 (.h5) file';
  throw new FormatError(`${path}: not a Keras model file (${ext}; the file starts with neither 'PK' nor the HDF5 signature)`, { file: path });
}
