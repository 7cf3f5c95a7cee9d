import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';
import { FormatError, UnsupportedError, listing } from '../../core/errors.js';
import { implementsOption, registerExtraLayers } from './extra-layers.js';
import { PARITY_GRU, registerResetAfterGru } from './gru.js';
import { kerasCallProblems, rewriteKerasCall } from './keras-calls.js';
import { isKerasOpModule } from './ops.js';
import { resolveActivation } from './activations.js';
import { registerImageLayers, resizingRefusal } from './image-layers.js';
import { repairConfigForms } from './config-forms.js';
import { maskProblems } from './masks.js';
import { attentionCallConfig, registerAttention } from './attention.js';

/**
 * Keras model configs (Keras 3 `.keras` config.json, Keras 2/3 `.h5` model_config, tfjs
 * model.json topologies) normalised to the Keras 2 JSON that tfjs-layers 4.22 deserialises.
 * Nothing from a config is ever executed: class names are looked up in tfjs-layers' own
 * registry, and anything it lacks (Lambda, custom objects, unknown classes, options tfjs would
 * silently ignore) is refused up front, all at once.
 */

type J = Record<string, unknown>;

export interface UnsupportedItem {
  /** What cannot be run: a class name, or a class with the option that tfjs-layers lacks. */
  op: string;
  /** Layer names (nested models as `outer/inner`). */
  nodes: string[];
}

/** One layer of the original config, in config order (Keras' own `model.layers` order). */
export interface KerasLayerInfo {
  name: string;
  /** Class name as Keras wrote it (Keras 3 names weight groups after it). */
  className: string;
  /** Layers of a nested Sequential/Functional model. */
  layers?: KerasLayerInfo[];
}

export interface NormalisedModel {
  /** `{class_name, config, keras_version, backend}` for tfl.models.modelFromJSON. */
  topology: J;
  /** The layer tree in config order, for weight lookup. */
  layers: KerasLayerInfo[];
  className: string;
  warnings: string[];
}

export interface NormaliseOptions {
  /** Keras version that wrote the file (metadata.json / h5 attr); decides Keras 3 semantics. */
  kerasVersion?: string;
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

/** Keras 3-only keys tfjs-layers does not know; none changes inference numerics. */
const DROP_KEYS = new Set([
  'module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id',
  'optional', 'synchronized', 'ragged', 'input_axes', 'output_axes', 'seed',
]);

let layerClassCache: Set<string> | undefined;

/** Layer classes registered in tfjs-layers and by extra-layers.ts (the registry also holds initializers, optimizers, ...). */
export function tfjsLayerClasses(): Set<string> {
  if (!layerClassCache) {
    registerExtraLayers();
    registerImageLayers();
    registerAttention();
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    const Layer = tfl.layers.Layer as unknown as abstract new (...a: never[]) => object;
    layerClassCache = new Set(
      Object.entries(map)
        .filter(([, v]) => {
          const ctor = v[0] as unknown as { prototype: unknown };
          return ctor.prototype instanceof Layer;
        })
        .map(([k]) => k),
    );
  }
  return layerClassCache;
}

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function isKerasTensor(v: unknown): v is J {
  return isObj(v) && v.class_name === '__keras_tensor__';
}

function isKeras3(version: string | undefined): boolean {
  return !!version && /^3\./.test(version);
}

function layerName(entry: J): string {
  const cfg = isObj(entry.config) ? entry.config : {};
  return String(cfg.name ?? entry.name ?? '?');
}

function modelLayers(entry: J): J[] {
  const cfg = isObj(entry.config) ? entry.config : {};
  return Array.isArray(cfg.layers) ? (cfg.layers.filter(isObj) as J[]) : [];
}

/** A Keras 3 object that names a class outside Keras (registered_name "pkg>Cls" or a foreign module). */
function customObject(entry: J): string | null {
  const reg = entry.registered_name;
  const cls = String(entry.class_name ?? '');
  if (typeof reg === 'string' && reg !== cls && !reg.startsWith('keras') && reg !== 'Functional' && reg !== 'Sequential') return reg;
  const mod = entry.module;
  if (typeof mod === 'string' && mod !== '' && !/^(keras|tf_keras|tensorflow)(\.|$)/.test(mod)) return `${mod}.${cls}`;
  return null;
}

/** Options whose value tfjs-layers would ignore silently (so the numbers would differ without notice). */
function unsupportedOptions(cls: string, cfg: J, keras3: boolean): string[] {
  const out: string[] = [];
  for (const key of ['activation', 'recurrent_activation']) {
    if (key in cfg && cfg[key] !== null && cfg[key] !== undefined) {
      const a = resolveActivation(cfg[key], keras3);
      if (!a.name) out.push(`${cls} with ${a.label}`);
    }
  }
  if (typeof cfg.groups === 'number' && cfg.groups !== 1 && !implementsOption(cls, 'groups')) out.push(`${cls} with groups=${cfg.groups}`);
  if (cfg.keepdims === true && !implementsOption(cls, 'keepdims')) out.push(`${cls} with keepdims=True`);
  if (cfg.quantization_config !== undefined && cfg.quantization_config !== null) out.push(`${cls} with quantization_config`);
  if (typeof cfg.lora_rank === 'number' && cfg.lora_rank > 0) out.push(`${cls} with lora_rank=${cfg.lora_rank}`);
  if (cfg.output_padding !== undefined && cfg.output_padding !== null) out.push(`${cls} with output_padding`);
  if (cls === 'ReLU' && ((typeof cfg.negative_slope === 'number' && cfg.negative_slope !== 0) || (typeof cfg.threshold === 'number' && cfg.threshold !== 0))) {
    out.push('ReLU with negative_slope/threshold');
  }
  if (cls === 'UpSampling2D' && typeof cfg.interpolation === 'string' && !['nearest', 'bilinear'].includes(cfg.interpolation)) out.push(`UpSampling2D with interpolation='${cfg.interpolation}'`);
  if (cls === 'LayerNormalization' && cfg.rms_scaling === true) out.push('LayerNormalization with rms_scaling=True');
  if (cls === 'InputLayer' && cfg.sparse === true) out.push('InputLayer with sparse=True');
  const resizing = cls === 'Resizing' ? resizingRefusal(cfg) : null;
  if (resizing) out.push(resizing);
  return out;
}

/** Tensors passed as keyword arguments (mask=..., value=...) and constants among positional ones. */
function unsupportedCall(entry: J): string[] {
  const out: string[] = [];
  const nodes = Array.isArray(entry.inbound_nodes) ? entry.inbound_nodes : [];
  for (const n of nodes) {
    if (!isObj(n)) continue;
    const kw = isObj(n.kwargs) ? n.kwargs : {};
    // A recorded `mask` is checked by masks.ts (maskProblems).
    const tensorKw = Object.entries(kw).filter(([k, v]) => k !== 'mask' && JSON.stringify(v ?? null).includes('__keras_tensor__')).map(([k]) => k);
    if (tensorKw.length) out.push(`call with tensor keyword argument(s) ${tensorKw.join(', ')}`);
    const constants: unknown[] = [];
    const visit = (a: unknown): void => {
      if (isKerasTensor(a)) return;
      if (Array.isArray(a)) a.forEach(visit);
      else if (a !== null && a !== undefined) constants.push(a);
    };
    (Array.isArray(n.args) ? n.args : []).forEach(visit);
    if (constants.length) out.push(`call with constant argument(s) ${JSON.stringify(constants).slice(0, 60)}`);
  }
  return out;
}

/**
 * Every layer (recursively into nested models and wrappers) that tfjs-layers cannot run as
 * Keras would: classes it lacks, Lambda, custom objects, unsupported options.
 */
export function unsupportedLayers(model: unknown, opts: NormaliseOptions = {}): UnsupportedItem[] {
  const keras3 = isKeras3(opts.kerasVersion);
  const known = tfjsLayerClasses();
  const byLabel = new Map<string, string[]>();
  const add = (label: string, name: string) => byLabel.set(label, [...(byLabel.get(label) ?? []), name]);
  const visit = (entry: J, path: string): void => {
    const cls = String(entry.class_name ?? '');
    const name = path + layerName(entry);
    const custom = customObject(entry);
    // keras.ops entries, TFOpLambda and MultiHeadAttention: keras-calls.ts reads their arguments.
    const callProblems = custom ? null : kerasCallProblems(entry);
    if (callProblems) {
      for (const p of callProblems) add(p, name);
      return;
    }
    if (cls === 'Lambda') add('Lambda (its Python code is never run)', name);
    else if (cls === 'TextVectorization') add('TextVectorization (strings are not tokenized here: feed the token ids it would produce with --input, to the layer after it)', name);
    else if (custom) add(`${cls} (custom object '${custom}')`, name);
    else if (!known.has(cls) && cls !== 'Functional') add(cls || '<no class_name>', name);
    else {
      const cfg = isObj(entry.config) ? entry.config : {};
      for (const o of unsupportedOptions(cls, cfg, keras3)) add(o, name);
    }
    for (const c of unsupportedCall(entry)) add(`${cls} ${c}`, name);
    if (MODEL_CLASSES.has(cls)) {
      for (const l of modelLayers(entry)) visit(l, `${name}/`);
      return;
    }
    const cfg = isObj(entry.config) ? entry.config : {};
    // Wrappers (TimeDistributed, Bidirectional, RNN) carry inner layers in their config.
    for (const key of ['layer', 'backward_layer', 'cell']) {
      const inner = cfg[key];
      if (isObj(inner) && typeof inner.class_name === 'string') visit(inner, `${name}/`);
    }
    if (Array.isArray(cfg.cells)) for (const c of cfg.cells) if (isObj(c)) visit(c, `${name}/`);
  };
  if (isObj(model)) {
    for (const l of modelLayers(model)) visit(l, '');
    // Layers on a masked input (Embedding(mask_zero=True), Masking) must be ones whose mask semantics are implemented.
    for (const p of maskProblems(model).problems) if (!byLabel.get(p.label)?.includes(p.node)) add(p.label, p.node);
  }
  return [...byLabel.entries()].map(([op, nodes]) => ({ op, nodes }));
}

/** Keras 3 history [layer, node, tensor] -> Keras 2 inbound entry. */
function historyEntry(t: J): [string, number, number, J] {
  const h = (isObj(t.config) ? t.config.keras_history : undefined) as unknown[] | undefined;
  if (!Array.isArray(h) || typeof h[0] !== 'string') throw new Error('keras tensor without keras_history');
  return [h[0], Number(h[1] ?? 0), Number(h[2] ?? 0), {}];
}

/** One Keras 3 inbound node `{args, kwargs}` -> Keras 2 `[[layer, node, tensor, {}], ...]`. */
function inboundNode(n: unknown, layer: string, warnings: string[]): unknown {
  if (Array.isArray(n)) return n;
  if (!isObj(n)) return [];
  const flat: [string, number, number, J][] = [];
  const visit = (a: unknown): void => {
    if (isKerasTensor(a)) flat.push(historyEntry(a));
    else if (Array.isArray(a)) a.forEach(visit);
  };
  (Array.isArray(n.args) ? n.args : []).forEach(visit);
  if (isObj(n.kwargs) && n.kwargs.training === true) {
    warnings.push(`layer '${layer}' is called with training=True in the model; it runs in inference mode here`);
  }
  return flat;
}

/** Keras 3 `input_layers`/`output_layers`: one triple, a list of triples, or a dict of them. */
function endpoints(v: unknown): unknown {
  if (isObj(v)) return Object.values(v).map((x) => endpoints(x)).flat();
  if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'number') return [v];
  if (Array.isArray(v)) return v.flatMap((x) => (Array.isArray(x) && x.length === 3 && typeof x[0] === 'string' ? [x] : (endpoints(x) as unknown[])));
  return v;
}

/** Every weight initialiser becomes Zeros: weights are always loaded, and some (Orthogonal) are slow. */
const ZEROS = { class_name: 'Zeros', config: {} };

function normaliseValue(v: unknown, ctx: { warnings: string[]; keras3: boolean }, key?: string): unknown {
  if (Array.isArray(v)) return v.map((x) => normaliseValue(x, ctx));
  // A dtype given by name (Keras 2: "float16"): tfjs computes floats in float32.
  if (key === 'dtype' && typeof v === 'string' && /^(b?float16|float64|half|double)$/.test(v)) {
    ctx.warnings.push(`dtype '${v}' is computed in float32 here`);
    return 'float32';
  }
  if (!isObj(v)) return v;
  // Dtype policies -> the dtype tfjs computes in.
  if (v.class_name === 'DTypePolicy' || v.class_name === 'Policy' || v.class_name === 'DTypePolicyMap' || v.class_name === 'QuantizedDTypePolicy') {
    const name = String((isObj(v.config) ? v.config.name : undefined) ?? 'float32');
    if (name !== 'float32') ctx.warnings.push(`dtype policy '${name}' is computed in float32 here`);
    return 'float32';
  }
  return normaliseObject(v, ctx);
}

function normaliseObject(o: J, ctx: { warnings: string[]; keras3: boolean }): J {
  const call = rewriteKerasCall(o, ctx.warnings);
  if (call) return call;
  const out: J = {};
  const isLayer = typeof o.class_name === 'string' && isObj(o.config);
  for (const [k, val] of Object.entries(o)) {
    if (DROP_KEYS.has(k)) continue;
    if (k === 'inbound_nodes' && Array.isArray(val)) {
      out[k] = val.map((n) => inboundNode(n, layerName(o), ctx.warnings));
      continue;
    }
    out[k] = k === 'config' && isLayer && isObj(val) ? normaliseLayerConfig(String(o.class_name), val, ctx) : normaliseValue(val, ctx, k);
  }
  if (out.class_name === 'Functional') out.class_name = 'Model';
  // Attention's call options (use_causal_mask, return_attention_scores) go into its config.
  if (out.class_name === 'Attention' && isObj(out.config)) Object.assign(out.config, attentionCallConfig(o));
  // tfjs-layers has no GRU with reset_after=True (the Keras default): gru.ts has.
  if (out.class_name === 'GRU' && isObj(o.config) && o.config.reset_after === true) {
    registerResetAfterGru();
    out.class_name = PARITY_GRU;
  }
  return out;
}

function normaliseLayerConfig(cls: string, cfg: J, ctx: { warnings: string[]; keras3: boolean }): J {
  const out: J = {};
  for (const [k, val] of Object.entries(cfg)) {
    if (DROP_KEYS.has(k) || k === 'quantization_config' || k === 'lora_rank' || k === 'lora_alpha') continue;
    if (k.endsWith('_initializer')) out[k] = val === null || val === undefined ? val : ZEROS;
    else if (k.endsWith('_regularizer') || k.endsWith('_constraint')) out[k] = null;
    else if (k === 'batch_shape') out.batch_input_shape = val;
    // tfjs has one integer dtype: an 8/16-bit integer input holds its values exactly in int32.
    else if (k === 'dtype' && cls === 'InputLayer' && typeof val === 'string' && /^u?int(8|16)$/.test(val)) out[k] = 'int32';
    else if (k === 'activation' || k === 'recurrent_activation') out[k] = val === null ? val : resolveActivation(val, ctx.keras3).name;
    else if (k === 'negative_slope' && cls === 'LeakyReLU') out.alpha = val;
    else if ((k === 'input_layers' || k === 'output_layers') && MODEL_CLASSES.has(cls)) out[k] = endpoints(val);
    else out[k] = normaliseValue(val, ctx, k);
  }
  if (cls === 'Sequential') sequentialInputShape(out, cfg);
  return out;
}

/** tfjs needs the input shape on the first layer of a Sequential; Keras 3 keeps it in build_input_shape. */
function sequentialInputShape(out: J, raw: J): void {
  const layers = Array.isArray(out.layers) ? (out.layers as J[]) : [];
  const first = layers[0];
  if (!first || first.class_name === 'InputLayer') return;
  const fc = isObj(first.config) ? first.config : (first.config = {});
  if (fc.batch_input_shape || fc.input_shape) return;
  const shape = raw.build_input_shape ?? (isObj(raw.build_config) ? raw.build_config.input_shape : undefined);
  if (Array.isArray(shape)) fc.batch_input_shape = shape;
}

function layerTree(entry: J): KerasLayerInfo[] {
  // Keras 3 ops are not in `model.layers`: they take no part in the weight paths.
  return modelLayers(entry).filter((l) => !isKerasOpModule(l.module)).map((l) => {
    const info: KerasLayerInfo = { name: layerName(l), className: String(l.class_name ?? '') };
    if (MODEL_CLASSES.has(info.className)) info.layers = layerTree(l);
    return info;
  });
}

/** Validates and normalises a model config; refuses unsupported layers all at once. */
export function normaliseKerasConfig(given: unknown, file: string, opts: NormaliseOptions = {}): NormalisedModel {
  const raw = repairConfigForms(given, file);
  if (!isObj(raw) || typeof raw.class_name !== 'string' || !isObj(raw.config)) {
    throw new FormatError(`${file}: the model config is not a Keras model (expected an object with class_name and config)`, { file });
  }
  const cls = raw.class_name;
  if (!MODEL_CLASSES.has(cls)) {
    const custom = customObject(raw);
    throw new UnsupportedError(
      `${file}: the top-level model is a '${cls}'${custom ? ` (custom class '${custom}')` : ''}; only Sequential and Functional models can be rebuilt without running Python code`,
      [{ op: cls, nodes: [layerName(raw)] }],
      { file },
    );
  }
  const bad = unsupportedLayers(raw, opts);
  if (bad.length) {
    const n = bad.reduce((s, b) => s + b.nodes.length, 0);
    // A summary line, then one line per layer class (like the interpreter's unsupported ops).
    throw new UnsupportedError(
      listing(`${file}: ${n} layer(s) cannot be run (tfjs-layers lacks them, they would run Python code, or tf-parity does not implement what Keras does there):`, bad.map((b) => `${b.op}: ${b.nodes.join(', ')}`)),
      bad,
      { file, multiline: true },
    );
  }
  const warnings: string[] = [];
  let n: J;
  try {
    n = normaliseObject(raw, { warnings, keras3: isKeras3(opts.kerasVersion) });
  } catch (e) {
    throw new FormatError(`${file}: malformed model config (${e instanceof Error ? e.message : String(e)})`, { file, cause: e });
  }
  const layers = layerTree(raw);
  if (cls === 'Sequential') {
    const first = (n.config as J).layers as J[] | undefined;
    const f = first?.[0];
    const fc = f && isObj(f.config) ? f.config : {};
    if (!f || (f.class_name !== 'InputLayer' && !fc.batch_input_shape && !fc.input_shape)) {
      throw new FormatError(`${file}: the Sequential model has no input shape (no InputLayer, batch_input_shape or build_input_shape); it was never built`, { file });
    }
  }
  return { topology: { class_name: n.class_name, config: n.config, keras_version: '2.15.0', backend: 'tensorflow' }, layers, className: cls, warnings: [...new Set(warnings)] };
}
