import { FormatError } from '../../core/errors.js';

/**
 * Older and odder forms of a Keras model config, rewritten to the one form config.ts normalises
 * (a pure function of the raw JSON; nothing is built here):
 *
 * - list-form Sequential (Keras <= 2.2): `config` is the list of layers itself;
 * - a Sequential's later layers keeping a `batch_input_shape` (tf.keras writes the first one's
 *   on each after a nested model): Keras uses only the first layer's, so the others are dropped;
 * - Keras 3 links to a nested Functional model. tfjs (as Keras 2) counts a nested model's own
 *   construction as its node 0, so its first call is node 1. Keras 3 writes `inbound_nodes`
 *   links to a nested Functional without that node (first call = 0) but `output_layers` with it
 *   (functional_from_config's get_tensor subtracts one for a Functional), and links to a nested
 *   Sequential without it everywhere. Links that use node 0 of a nested model are therefore
 *   0-based and move up by one, per model and per kind of link (inbound links, outputs);
 * - Normalization's `build_config.input_shape` goes into its config (extra-layers.ts reads the
 *   kept axes' sizes from it when the model leaves them unknown);
 * - links naming a layer the model does not have, or a call it never makes, are refused here
 *   with the layer's name (tfjs would report "Graph disconnected" on an unnamed tensor).
 */

type J = Record<string, unknown>;

const MODELS = new Set(['Sequential', 'Functional', 'Model']);

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function nameOf(entry: J): string {
  const cfg = isObj(entry.config) ? entry.config : {};
  return String(cfg.name ?? entry.name ?? '?');
}

/** Keras 3 `keras_history` triples inside a node's args (arrays of them, nested). */
function histories(node: unknown): unknown[][] {
  const out: unknown[][] = [];
  const visit = (a: unknown): void => {
    if (isObj(a) && a.class_name === '__keras_tensor__' && isObj(a.config) && Array.isArray(a.config.keras_history)) out.push(a.config.keras_history);
    else if (Array.isArray(a)) a.forEach(visit);
    else if (isObj(a)) Object.values(a).forEach(visit);
  };
  if (isObj(node)) visit([node.args, node.kwargs]);
  return out;
}

/** Keras 2 link lists `[[layer, node, tensor, kwargs], ...]`. */
function legacyLinks(node: unknown): unknown[][] {
  return Array.isArray(node) ? (node.filter((x) => Array.isArray(x) && typeof x[0] === 'string') as unknown[][]) : [];
}

/** `input_layers` / `output_layers` triples (one, a list, or a dict of them). */
function endpointTriples(v: unknown): unknown[][] {
  if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'number') return [v];
  if (Array.isArray(v)) return v.flatMap(endpointTriples);
  if (isObj(v)) return Object.values(v).flatMap(endpointTriples);
  return [];
}

/** Rewrites one Functional model's links in place (and recurses into its layers). */
function repairFunctional(model: J, file: string, path: string): void {
  const cfg = model.config as J;
  const layers = (Array.isArray(cfg.layers) ? cfg.layers : []).filter(isObj) as J[];
  const byName = new Map(layers.map((l) => [nameOf(l), l]));
  const calls = (l: J) => (Array.isArray(l.inbound_nodes) ? l.inbound_nodes.length : 0);
  const isModel = (l: J | undefined) => !!l && MODELS.has(String(l.class_name));
  const inbound = layers.flatMap((l) => (Array.isArray(l.inbound_nodes) ? l.inbound_nodes : []).flatMap(histories));
  const outputs = endpointTriples(cfg.output_layers);
  const shift = (links: unknown[][]) => {
    const zeroBased = new Set(links.filter((h) => isModel(byName.get(String(h[0]))) && h[1] === 0).map((h) => String(h[0])));
    for (const h of links) if (zeroBased.has(String(h[0])) && typeof h[1] === 'number') h[1] += 1;
  };
  shift(inbound);
  shift(outputs);
  // Every link must name a layer of this model and a call it makes.
  const check = (h: unknown[], where: string) => {
    // tf.keras' TFOpLambda writes a constant first argument as a link to '_CONSTANT_VALUE'.
    if (h[0] === '_CONSTANT_VALUE') return;
    const target = byName.get(String(h[0]));
    if (!target) throw new FormatError(`${file}: ${where} takes its input from layer '${String(h[0])}', which model '${path || nameOf(model)}' does not have`, { file, node: where });
    const n = Number(h[1] ?? 0);
    const max = String(target.class_name) === 'InputLayer' ? 0 : calls(target) - (isModel(target) ? 0 : 1);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new FormatError(`${file}: ${where} takes output ${String(h[2])} of call ${n} of layer '${String(h[0])}', which is called ${calls(target)} time(s) in the model`, { file, node: where });
    }
  };
  for (const l of layers) {
    for (const node of Array.isArray(l.inbound_nodes) ? l.inbound_nodes : []) {
      for (const h of [...histories(node), ...legacyLinks(node)]) check(h, `layer '${path}${nameOf(l)}'`);
    }
  }
  for (const h of outputs) check(h, `the output of model '${path || nameOf(model)}'`);
  for (const l of layers) repairEntry(l, file, `${path}${nameOf(l)}/`);
}

/** A model entry of any form -> the dict form, repaired in place where it already is one. */
function repairEntry(entry: J, file: string, path: string): void {
  const cls = String(entry.class_name ?? '');
  // Normalization over an axis the model leaves unknown: Keras built it with the size there.
  if (cls === 'Normalization' && isObj(entry.config) && isObj(entry.build_config) && Array.isArray(entry.build_config.input_shape)) {
    entry.config.build_input_shape = entry.build_config.input_shape;
  }
  if (!MODELS.has(cls)) return;
  if (cls === 'Sequential' && Array.isArray(entry.config)) entry.config = { name: 'sequential', layers: entry.config };
  if (!isObj(entry.config)) return;
  const cfg = entry.config;
  if (cls === 'Sequential') {
    const layers = (Array.isArray(cfg.layers) ? cfg.layers : []).filter(isObj) as J[];
    // Keras takes the input shape of a Sequential from its first layer (or InputLayer) only.
    for (const l of layers.slice(1)) {
      if (isObj(l.config) && l.class_name !== 'InputLayer') {
        delete l.config.batch_input_shape;
        delete l.config.input_shape;
      }
    }
    for (const l of layers) repairEntry(l, file, `${path}${nameOf(l)}/`);
    return;
  }
  repairFunctional(entry, file, path);
}

/** The config with older forms rewritten (a copy; `raw` is left as it was). */
export function repairConfigForms(raw: unknown, file: string): unknown {
  if (!isObj(raw)) return raw;
  const copy = JSON.parse(JSON.stringify(raw)) as J;
  repairEntry(copy, file, '');
  return copy;
}
