import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { FormatError, UnsupportedError } from '../../core/errors.js';

/**
 * Keras model configs (Keras 3 `.keras` config.json, Keras 2/3 `.h5` model_config) normalised to
 * the Keras 2 JSON that tfjs-layers deserialises: `{module, class_name, config, registered_name}`
 * objects become `{class_name, config}`, dtype policies become dtype names, `batch_shape` becomes
 * `batch_input_shape`, Keras 3 `inbound_nodes` (`{args: [keras tensors], kwargs}`) become
 * `[[[layer, node, tensor, kwargs]]]`. Nothing from the config is ever executed.
 */

type J = Record<string, unknown>;

/** Keras 3-only keys tfjs-layers does not know (dropping them changes no numerics). */
const DROP = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id', 'quantization_config', 'lora_rank', 'lora_alpha', 'optional', 'synchronized', 'ragged', 'input_axes', 'output_axes']);

function isKerasTensor(v: unknown): v is J {
  return !!v && typeof v === 'object' && (v as J).class_name === '__keras_tensor__';
}

function history(v: J): [string, number, number, J] {
  const h = ((v.config as J)?.keras_history ?? []) as [string, number, number];
  return [String(h[0]), Number(h[1] ?? 0), Number(h[2] ?? 0), {}];
}

/** Keras 3 inbound node -> Keras 2 list of [layer, node, tensor, kwargs]. */
function inboundNode(n: unknown): unknown {
  if (Array.isArray(n)) return n; // already Keras 2 form
  const node = n as J;
  const args = (node.args as unknown[]) ?? [];
  const flat: [string, number, number, J][] = [];
  const visit = (a: unknown) => {
    if (isKerasTensor(a)) flat.push(history(a));
    else if (Array.isArray(a)) a.forEach(visit);
  };
  args.forEach(visit);
  return flat;
}

function normalise(v: unknown, key?: string): unknown {
  if (Array.isArray(v)) return v.map((x) => normalise(x));
  if (!v || typeof v !== 'object') return v;
  const o = v as J;
  // Dtype policies -> their dtype name.
  if ((o.class_name === 'DTypePolicy' || o.class_name === 'Policy') && o.config && typeof o.config === 'object') {
    const name = String((o.config as J).name ?? 'float32');
    return name.startsWith('mixed_') ? name.slice(6) : name;
  }
  const out: J = {};
  for (const [k, val] of Object.entries(o)) {
    if (DROP.has(k)) continue;
    if (k === 'inbound_nodes' && Array.isArray(val)) {
      out[k] = val.map(inboundNode);
      continue;
    }
    if (k === 'batch_shape') {
      out.batch_input_shape = val;
      continue;
    }
    out[k] = normalise(val, k);
  }
  if (out.class_name === 'Functional') out.class_name = 'Model';
  const cfg = out.config as J | undefined;
  if (cfg && (out.class_name === 'Model' || out.class_name === 'Sequential')) {
    // Keras 3 single input/output: ["name", 0, 0] instead of [["name", 0, 0]].
    for (const k of ['input_layers', 'output_layers']) {
      const v = cfg[k];
      if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string') cfg[k] = [v];
    }
  }
  void key;
  return out;
}

function layersOf(model: J): J[] {
  return ((model.config as J | undefined)?.layers as J[] | undefined) ?? [];
}

/** Every layer (recursively into nested models) whose class tfjs-layers lacks, plus Lambdas and custom objects. */
export function unsupportedLayers(model: J): { op: string; nodes: string[] }[] {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const byClass = new Map<string, string[]>();
  const visit = (layers: J[]) => {
    for (const l of layers) {
      const cls = String(l.class_name ?? '');
      const name = String((l.config as J | undefined)?.name ?? l.name ?? '?');
      const custom = l.registered_name && typeof l.registered_name === 'string' && !String(l.registered_name).startsWith('keras') && l.registered_name !== cls;
      if (cls === 'Lambda' || custom || !(cls in known)) {
        const label = cls === 'Lambda' ? 'Lambda (arbitrary Python code is never run)' : custom ? `${cls} (custom object '${String(l.registered_name)}')` : cls;
        byClass.set(label, [...(byClass.get(label) ?? []), name]);
      }
      if (cls === 'Sequential' || cls === 'Functional' || cls === 'Model') visit(layersOf(l));
    }
  };
  visit(layersOf(model));
  return [...byClass.entries()].map(([op, nodes]) => ({ op, nodes }));
}

/** Normalised topology for tfjs-layers, after refusing unsupported layers all at once. */
export function normaliseKerasConfig(raw: unknown, file: string): J {
  if (!raw || typeof raw !== 'object' || !(raw as J).class_name || !(raw as J).config) {
    throw new FormatError(`${file}: the model config is not a Keras model (no class_name/config)`, { file });
  }
  const model = raw as J;
  const bad = unsupportedLayers(model);
  if (bad.length) {
    throw new UnsupportedError(
      `${file}: ${bad.reduce((s, b) => s + b.nodes.length, 0)} layer(s) cannot be run by tf-parity (tfjs-layers has no such layer):\n` +
        bad.map((b) => `  ${b.op}: ${b.nodes.join(', ')}`).join('\n'),
      bad,
      { file },
    );
  }
  const n = normalise(model) as J;
  const cls = String(n.class_name);
  if (cls !== 'Sequential' && cls !== 'Model') {
    throw new FormatError(`${file}: top-level class '${cls}' is not a Sequential or Functional model`, { file });
  }
  const cfg = n.config as J;
  return { class_name: n.class_name, config: cfg, keras_version: '2.15.0', backend: 'tensorflow' };
}
