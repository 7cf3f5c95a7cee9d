import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseKerasJson } from './config-json.js';
import { join } from 'node:path';
import { FormatError, InputError, errorMessage } from '../../core/errors.js';
import { readZip } from '../../formats/zip.js';
import { repairConfigForms } from './config-forms.js';
import { unsupportedLayers, type UnsupportedItem } from './config.js';
import { attrString, checkH5Size, isHdf5, withH5 } from './weights.js';

/**
 * What a Keras model file (or a TensorFlow.js layers model.json) holds, read from its config
 * alone: nothing is built and no weight is read, so a model tf-parity cannot run (a layer
 * tfjs-layers lacks, a Lambda) can still be described: its inputs, outputs, layers and the
 * layers that keep it from running. `parity inspect` prints this where loading is refused.
 */

type J = Record<string, unknown>;

export interface KerasDescription {
  file: string;
  /** 'Sequential' or 'Functional' (or the class of a top-level subclassed model). */
  className: string;
  kerasVersion?: string;
  inputs: { name: string; dtype: string; shape: number[] }[];
  outputs: string[];
  /** Every layer, nested ones as `outer/inner`, in config order. */
  layers: { name: string; className: string }[];
  unsupported: UnsupportedItem[];
}

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function parse(text: string | Uint8Array, what: string, file: string): unknown {
  try {
    return parseKerasJson(typeof text === 'string' ? text : new TextDecoder().decode(text));
  } catch (e) {
    throw new FormatError(`${file}: ${what} is not valid JSON (${errorMessage(e)})`, { file });
  }
}

/** The model config and the Keras version that wrote it, from a .keras zip, a .h5 or a layers model.json. */
export async function readKerasConfig(path: string): Promise<{ config: unknown; kerasVersion?: string; file: string }> {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.json') : path;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new InputError(`${file}: cannot read the file (${errorMessage(e)})`, { file, cause: e });
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    const entries = readZip(bytes, file);
    const cfg = entries.get('config.json');
    if (!cfg) throw new FormatError(`${file}: no config.json in the .keras archive`, { file });
    const meta = entries.get('metadata.json');
    const version = meta ? (parse(meta, 'metadata.json', file) as J | null)?.keras_version : undefined;
    return { config: parse(cfg, 'config.json', file), file, ...(typeof version === 'string' ? { kerasVersion: version } : {}) };
  }
  if (isHdf5(bytes)) {
    checkH5Size(bytes, file);
    return withH5(bytes, file, (f) => {
      const cfg = attrString(f, 'model_config');
      if (cfg === null) throw new FormatError(`${file}: no 'model_config' attribute: not a whole Keras model`, { file });
      const version = attrString(f, 'keras_version') ?? undefined;
      return { config: parse(cfg, "the 'model_config' attribute", file), file, ...(version ? { kerasVersion: version } : {}) };
    });
  }
  const json = parse(bytes, 'model.json', file) as J;
  const topo = isObj(json.modelTopology) ? json.modelTopology : null;
  if (!topo) throw new FormatError(`${file}: no modelTopology: not a TensorFlow.js layers model`, { file });
  const version = topo.keras_version;
  return { config: topo.model_config ?? topo, file, ...(typeof version === 'string' ? { kerasVersion: version } : {}) };
}

const MODELS = new Set(['Sequential', 'Functional', 'Model']);

function layersOf(entry: J): J[] {
  const cfg = isObj(entry.config) ? entry.config : {};
  return Array.isArray(cfg.layers) ? (cfg.layers.filter(isObj) as J[]) : [];
}

function nameOf(entry: J): string {
  const cfg = isObj(entry.config) ? entry.config : {};
  return String(cfg.name ?? entry.name ?? '?');
}

function inputOf(entry: J, name = nameOf(entry)): { name: string; dtype: string; shape: number[] } {
  const cfg = isObj(entry.config) ? entry.config : {};
  const shape = (cfg.batch_shape ?? cfg.batch_input_shape ?? (Array.isArray(cfg.input_shape) ? [null, ...cfg.input_shape] : null)) as (number | null)[] | null;
  const dtype = typeof cfg.dtype === 'string' ? cfg.dtype : 'float32';
  return { name, dtype, shape: (shape ?? []).map((d) => (typeof d === 'number' ? d : -1)) };
}

/** Names of the `[layer, node, tensor]` triples in input_layers / output_layers. */
function endpointNames(v: unknown): string[] {
  if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'number') return [v[0]];
  if (Array.isArray(v)) return v.flatMap(endpointNames);
  if (isObj(v)) return Object.values(v).flatMap(endpointNames);
  return [];
}

/** Describes a Keras model file without building it. */
export async function describeKerasModel(path: string): Promise<KerasDescription> {
  const { config: given, kerasVersion, file } = await readKerasConfig(path);
  const raw = repairConfigForms(given, file);
  if (!isObj(raw) || typeof raw.class_name !== 'string') throw new FormatError(`${file}: the model config is not a Keras model`, { file });
  const layers: KerasDescription['layers'] = [];
  const walk = (entries: J[], prefix: string): void => {
    for (const l of entries) {
      layers.push({ name: prefix + nameOf(l), className: String(l.class_name ?? '') });
      if (MODELS.has(String(l.class_name))) walk(layersOf(l), `${prefix}${nameOf(l)}/`);
    }
  };
  const top = layersOf(raw);
  walk(top, '');
  let inputs: KerasDescription['inputs'] = [];
  let outputs: string[] = [];
  if (raw.class_name === 'Sequential') {
    const first = top[0];
    const cfg = isObj(raw.config) ? raw.config : {};
    if (first) {
      const inp = first.class_name === 'InputLayer' ? inputOf(first) : inputOf(first, `${nameOf(first)}_input`);
      if (!inp.shape.length && Array.isArray(cfg.build_input_shape)) inp.shape = (cfg.build_input_shape as (number | null)[]).map((d) => d ?? -1);
      inputs = [inp];
    }
    const last = [...top].reverse().find((l) => l.class_name !== 'InputLayer');
    outputs = last ? [nameOf(last)] : [];
  } else if (isObj(raw.config)) {
    const byName = new Map(top.map((l) => [nameOf(l), l]));
    inputs = endpointNames(raw.config.input_layers).map((n) => (byName.get(n) ? inputOf(byName.get(n)!, n) : { name: n, dtype: 'float32', shape: [] }));
    outputs = endpointNames(raw.config.output_layers);
  }
  const unsupported = MODELS.has(raw.class_name) ? unsupportedLayers(raw, kerasVersion ? { kerasVersion } : {}) : [{ op: raw.class_name, nodes: [nameOf(raw)] }];
  return { file, className: raw.class_name, ...(kerasVersion ? { kerasVersion } : {}), inputs, outputs, layers, unsupported };
}

/** The description as the lines `parity inspect` prints. */
export function describeLines(d: KerasDescription, kind: string): string[] {
  const shape = (s: number[]) => `[${s.map((x) => (x < 0 ? '?' : String(x))).join(',')}]`;
  const out = [`${d.file} (${kind}, ${d.className}${d.kerasVersion ? `, Keras ${d.kerasVersion}` : ''}): ${d.layers.length} layers`, 'inputs:'];
  for (const s of d.inputs) out.push(`  ${s.name}  ${s.dtype}${shape(s.shape)}`);
  if (!d.inputs.length) out.push('  (none)');
  out.push('outputs:');
  for (const o of d.outputs) out.push(`  ${o}`);
  out.push('layers:');
  for (const l of d.layers) out.push(`  ${l.name}  ${l.className}`);
  if (d.unsupported.length) {
    out.push(`cannot be run yet (${d.unsupported.reduce((n, u) => n + u.nodes.length, 0)} layers):`);
    for (const u of d.unsupported) out.push(`  ${u.op}: ${u.nodes.join(', ')}`);
  } else out.push('every layer can be run');
  return out;
}
