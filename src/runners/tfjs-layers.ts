import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FormatError, errorMessage } from '../core/errors.js';
import type { Runner } from '../core/runner.js';
import { LayersRunner } from './layers-runner.js';
import { normaliseKerasConfig } from './keras/config.js';

/** TensorFlow.js layers models (model.json 'layers-model' + shards), loaded from disk without fetch. */
export async function loadTfjsLayersRunner(path: string): Promise<Runner> {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.json') : path;
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new FormatError(`${file}: not a valid model.json (${errorMessage(e)})`, { file });
  }
  const topology = (json.modelTopology as { model_config?: unknown } | undefined)?.model_config ?? json.modelTopology;
  const normalised = normaliseKerasConfig(topology, file);
  const dir = dirname(file);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const g of json.weightsManifest ?? []) {
    for (const p of g.paths) {
      const sp = resolve(dir, p);
      if (!sp.startsWith(resolve(dir))) throw new FormatError(`${file}: weight path '${p}' leaves the model folder`, { file });
      if (!existsSync(sp)) throw new FormatError(`${file}: weight shard '${p}' is missing`, { file });
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
  const handler: tf.io.IOHandler = {
    load: async () => ({ modelTopology: normalised as unknown as object, weightSpecs: specs, weightData: data.buffer, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy }),
  };
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(handler);
  } catch (e) {
    throw new FormatError(`${file}: tfjs-layers could not load the model: ${errorMessage(e)}`, { file, cause: e });
  }
  return new LayersRunner('tfjs-layers', file, model);
}
