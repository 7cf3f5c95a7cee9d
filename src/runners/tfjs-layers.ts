import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseKerasJson } from './keras/config-json.js';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { tf } from '../backend/tf.js';
import { tfl } from './tfl.js';
import { FormatError, InputError, ParityError, errorMessage } from '../core/errors.js';
import type { Runner } from '../core/runner.js';
import { checkTensorBudget, numElements, shapeToString } from '../core/tensor.js';
import { normaliseKerasConfig } from './keras/config.js';
import { LayersRunner } from './keras/layers-runner.js';

/**
 * TensorFlow.js layers models (model.json with format 'layers-model', modelTopology,
 * weightsManifest and binary shards), read from disk through an IOHandler: no fetch, no network.
 * The topology goes through the same normalisation and unsupported-layer check as Keras files;
 * weights are decoded by tfjs (float32/int32, quantized uint8/uint16/float16) and matched to the
 * layers by name with every shape checked.
 */

type J = Record<string, unknown>;

interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology?: J;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

function readModelJson(file: string): ModelJson {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read the file (${errorMessage(e)})`, { file, cause: e });
  }
  let json: unknown;
  try {
    json = parseKerasJson(text);
  } catch (e) {
    throw new FormatError(`${file}: not a valid model.json (${errorMessage(e)})`, { file });
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new FormatError(`${file}: model.json is not a JSON object`, { file });
  const m = json as ModelJson;
  if (m.format !== undefined && m.format !== 'layers-model') {
    throw new FormatError(`${file}: format is '${String(m.format)}', not 'layers-model' (graph models are read as tfjs-graph)`, { file });
  }
  if (!m.modelTopology || typeof m.modelTopology !== 'object') throw new FormatError(`${file}: model.json has no modelTopology`, { file });
  if (m.weightsManifest !== undefined && !Array.isArray(m.weightsManifest)) throw new FormatError(`${file}: weightsManifest is not a list`, { file });
  for (const [i, g] of (m.weightsManifest ?? []).entries()) {
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights) || g.paths.some((p) => typeof p !== 'string')) {
      throw new FormatError(`${file}: weightsManifest[${i}] needs 'paths' (strings) and 'weights' (a list)`, { file });
    }
    for (const w of g.weights) {
      if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape) || w.shape.some((d) => !Number.isInteger(d) || d < 0) || typeof w.dtype !== 'string') {
        throw new FormatError(`${file}: weightsManifest[${i}] has a malformed weight entry ${JSON.stringify(w).slice(0, 120)}`, { file });
      }
    }
  }
  return m;
}

/** Shard bytes, concatenated in manifest order; shard paths must stay inside the model folder. */
function readShards(file: string, manifest: NonNullable<ModelJson['weightsManifest']>): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const dir = resolve(dirname(file));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const g of manifest) {
    for (const p of g.paths) {
      const sp = resolve(dir, p);
      const rel = relative(dir, sp);
      if (/^[a-z]+:\/\//i.test(p) || isAbsolute(p) || rel.startsWith('..') || isAbsolute(rel)) {
        throw new FormatError(`${file}: weight shard path '${p}' leaves the model folder; refusing it`, { file });
      }
      if (!existsSync(sp)) throw new FormatError(`${file}: weight shard '${p}' is missing (looked for ${sp})`, { file });
      chunks.push(new Uint8Array(readFileSync(sp)));
    }
    specs.push(...g.weights);
  }
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const data = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { specs, data: data.buffer };
}

function specBytes(s: tf.io.WeightsManifestEntry): number {
  const n = numElements(s.shape);
  const q = s.quantization;
  if (q) return n * (q.dtype === 'uint8' ? 1 : 2);
  return n * (s.dtype === 'bool' ? 1 : 4);
}

/** Sets every layer variable from the named tensors, by name; errors name layer, weight and shapes. */
function assignByName(model: tfl.LayersModel, named: tf.NamedTensorMap, file: string, warnings: string[]): void {
  const used = new Set<string>();
  const visit = (layers: tfl.layers.Layer[], prefix: string) => {
    for (const layer of layers) {
      const cls = layer.getClassName();
      if (cls === 'Sequential' || cls === 'Model') {
        visit((layer as tfl.LayersModel).layers, `${prefix}${layer.name}/`);
        continue;
      }
      if (!layer.weights.length) continue;
      const values = layer.weights.map((w) => {
        const key = w.originalName;
        const t = named[key];
        if (!t) {
          throw new FormatError(`${file}: layer '${prefix}${layer.name}' (${cls}) is missing weight '${key}' in the weights manifest`, { file, node: prefix + layer.name });
        }
        if (t.shape.length !== w.shape.length || t.shape.some((d, i) => d !== w.shape[i])) {
          throw new FormatError(
            `${file}: layer '${prefix}${layer.name}' weight '${key}' has shape ${shapeToString(t.shape)} in the weights but the layer expects ${shapeToString(w.shape as number[])}`,
            { file, node: prefix + layer.name },
          );
        }
        used.add(key);
        return w.dtype === t.dtype ? t : tf.cast(t, w.dtype);
      });
      layer.setWeights(values);
      for (const v of values) if (!Object.values(named).includes(v)) v.dispose();
    }
  };
  visit(model.layers, '');
  const extra = Object.keys(named).filter((k) => !used.has(k));
  if (extra.length) warnings.push(`${file}: ${extra.length} weight(s) in the manifest belong to no layer of the model, ignored: ${extra.slice(0, 10).join(', ')}${extra.length > 10 ? ', ...' : ''}`);
}

/** Loads a TensorFlow.js layers model (a model.json path, or the folder holding it) as a Runner. */
export async function loadTfjsLayersRunner(path: string): Promise<Runner> {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.json') : path;
  const json = readModelJson(file);
  const topology = (json.modelTopology!.model_config as J | undefined) ?? json.modelTopology!;
  const kerasVersion = typeof json.modelTopology!.keras_version === 'string' ? json.modelTopology!.keras_version : undefined;
  const n = normaliseKerasConfig(topology, file, kerasVersion ? { kerasVersion } : {});
  const { specs, data } = readShards(file, json.weightsManifest ?? []);
  for (const s of specs) checkTensorBudget(s.shape, 4, { file, node: s.name });
  const need = specs.reduce((a, s) => a + specBytes(s), 0);
  if (need !== data.byteLength) {
    throw new FormatError(`${file}: the weight shards hold ${data.byteLength} bytes but the manifest describes ${need} bytes`, { file });
  }
  // The IOHandler hands tfjs the topology only: tfjs' own by-name loading would name neither
  // shapes nor layers in its errors, so weights are assigned below.
  const handler: tf.io.IOHandler = {
    load: async () => ({ modelTopology: n.topology as unknown as object, format: 'layers-model', generatedBy: json.generatedBy, convertedBy: json.convertedBy ?? undefined }),
  };
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(handler);
  } catch (e) {
    if (e instanceof ParityError) throw e;
    throw new FormatError(`${file}: tfjs-layers could not build the model from its topology: ${errorMessage(e)}`, { file, cause: e });
  }
  const warnings = [...n.warnings];
  let named: tf.NamedTensorMap = {};
  try {
    try {
      named = tf.io.decodeWeights(data, specs);
    } catch (e) {
      throw new FormatError(`${file}: cannot decode the weights (${errorMessage(e)})`, { file, cause: e });
    }
    assignByName(model, named, file, warnings);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(named));
  }
  return new LayersRunner('tfjs-layers', file, model, warnings);
}
