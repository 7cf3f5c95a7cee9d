import { tf } from '../../backend/tf.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { isKerasOpModule } from './ops.js';
import { PARITY_GRU } from './gru.js';
import { numberOf } from './config-json.js';

/**
 * Keras masks (the mask an `Embedding(mask_zero=True)` or a `Masking` layer attaches to its
 * output), in one place: which layers carry a mask on, which use it, which drop it, checked
 * against the model config before a run (`maskProblems`), and the mask semantics tfjs-layers
 * lacks, applied while running (`maskedCall`, `maskOutputs`).
 *
 * Keras' rules (keras/src/layers/layer.py `__call__` / `_set_mask_metadata`; tf.keras 2.x
 * base_layer.py the same): a layer whose `call` takes `mask` gets the mask of its first input; a
 * layer with `supports_masking` hands `compute_mask(...)` (by default the input mask) to its
 * output; any other layer drops the mask. Keras 3 also records the mask in the inbound node as a
 * tensor keyword argument (`mask: {__keras_tensor__ ... keras_history: ['not_equal', 0, 0]}`, the
 * NotEqual op Embedding.compute_mask created); tf.keras 2 leaves it implicit. The runner
 * (layers-runner.ts) propagates masks implicitly, the way tfjs' executor does; for a Keras 3
 * config, `maskProblems` checks that every recorded mask is the one the implicit propagation
 * gives, so a mask passed any other way is refused, never replaced silently.
 *
 * Layers that use the mask, as Keras does:
 *   - LSTM/GRU/SimpleRNN (tfjs' `rnn`, as Keras' backend rnn with zero_output_for_mask=False): a
 *     masked step keeps the previous state and outputs the previous output;
 *   - Bidirectional: as above, and (Keras forces zero_output_for_mask = return_sequences on both
 *     directions) the outputs of masked steps are zeros when it returns sequences (`maskOutputs`);
 *   - GlobalAveragePooling1D: sum(x * mask) / sum(mask) over the steps (`maskedCall`);
 *   - MultiHeadAttention: mha.ts (query/value/key masks into the attention mask);
 *   - TimeDistributed: carries the mask on (the inner layer must not use a mask itself).
 */

type J = Record<string, unknown>;
type Layer = tfl.layers.Layer;

/** Layers with supports_masking whose call ignores the mask: the output keeps the input's mask. */
const CARRY = new Set([
  'Dense', 'EinsumDense', 'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Activation', 'ReLU', 'LeakyReLU',
  'ELU', 'PReLU', 'ThresholdedReLU', 'LayerNormalization', 'BatchNormalization', 'ActivityRegularization', 'TimeDistributed', 'MultiHeadAttention',
]);
/** Merge layers: the output mask is the AND of the inputs' masks (Merge.compute_mask). */
const MERGE = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']);
/** Layers without supports_masking whose call takes no mask: the mask ends there, unused. */
const DROP = new Set([
  'Conv1D', 'SeparableConv1D', 'DepthwiseConv1D', 'Conv1DTranspose', 'Flatten', 'Reshape', 'GlobalMaxPooling1D', 'MaxPooling1D', 'AveragePooling1D',
]);
/** Recurrent layers whose masked steps tfjs' rnn() runs as Keras does. */
const RNNS = new Set(['LSTM', 'GRU', 'SimpleRNN', PARITY_GRU]);
/** Layers that take the mask and hand none on. */
const END = new Set(['GlobalAveragePooling1D']);
const MODELS = new Set(['Sequential', 'Functional', 'Model']);

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function isKerasTensor(v: unknown): v is J {
  return isObj(v) && v.class_name === '__keras_tensor__';
}

function cfgOf(e: J): J {
  return isObj(e.config) ? e.config : {};
}

function nameOf(e: J): string {
  return String(cfgOf(e).name ?? e.name ?? '?');
}

/** A mask as a canonical expression (`ne(tok:0:0,0)`, `and(...)`), or null for no mask. */
type Mask = string | null;

export interface MaskProblem {
  label: string;
  node: string;
}

function historyKey(t: J): string | null {
  const h = cfgOf(t).keras_history;
  return Array.isArray(h) && typeof h[0] === 'string' ? `${h[0]}:${Number(h[1] ?? 0)}:${Number(h[2] ?? 0)}` : null;
}

/** The input tensor keys of one inbound node (Keras 3: the first argument's tensors; tf.keras 2: the node's entries). */
function nodeInputs(n: unknown): string[] {
  if (Array.isArray(n)) return n.filter((x): x is unknown[] => Array.isArray(x) && typeof x[0] === 'string').map((x) => `${x[0]}:${Number(x[1] ?? 0)}:${Number(x[2] ?? 0)}`);
  if (!isObj(n) || !Array.isArray(n.args) || !n.args.length) return [];
  const out: string[] = [];
  const visit = (a: unknown): void => {
    if (isKerasTensor(a)) {
      const k = historyKey(a);
      if (k) out.push(k);
    } else if (Array.isArray(a)) a.forEach(visit);
  };
  visit(n.args[0]);
  return out;
}

/** The mask a layer's output carries, from its input masks, by Keras' rules; `refuse` when tf-parity does not implement the layer's use of a mask. */
function layerMask(e: J, inKeys: string[], ms: Mask[], out: number, refuse: (why: string) => void): Mask {
  const cls = String(e.class_name ?? '');
  const c = cfgOf(e);
  const m0 = ms[0] ?? null;
  const any = ms.some((m) => m !== null);
  if (cls === 'Embedding') {
    if (any) refuse('Embedding after a masking layer');
    return c.mask_zero === true && out === 0 ? `ne(${inKeys[0]},0)` : null;
  }
  if (cls === 'Masking') return out === 0 ? `masking(${inKeys[0]},${JSON.stringify(c.mask_value ?? 0)})` : null;
  if (!any) return null;
  if (isKerasOpModule(e.module) || cls === 'TFOpLambda' || cls === 'SlicingOpLambda') return null;
  if (RNNS.has(cls)) {
    if (c.zero_output_for_mask === true) refuse(`${cls} with zero_output_for_mask=True on a masked input`);
    if (c.stateful === true) refuse(`${cls} with stateful=True on a masked input`);
    return c.return_sequences === true && out === 0 ? m0 : null;
  }
  if (cls === 'Bidirectional') {
    const inner = isObj(c.layer) ? String(c.layer.class_name ?? '') : '';
    const innerCfg = isObj(c.layer) ? cfgOf(c.layer) : {};
    if (!RNNS.has(inner)) refuse(`Bidirectional(${inner || '?'}) on a masked input`);
    if (isObj(c.backward_layer)) refuse('Bidirectional with a backward_layer on a masked input');
    const seq = innerCfg.return_sequences === true;
    const nOut = c.merge_mode === null ? 2 : 1;
    return seq && out < nOut ? m0 : null;
  }
  if (cls === 'TimeDistributed') {
    const inner = isObj(c.layer) ? String(c.layer.class_name ?? '') : '';
    if (!CARRY.has(inner) && !DROP.has(inner)) refuse(`TimeDistributed(${inner || '?'}) on a masked input`);
    return m0;
  }
  if (cls === 'Attention') return out === 0 ? m0 : null;
  if (END.has(cls)) {
    if (cls === 'GlobalAveragePooling1D' && c.keepdims === true) refuse('GlobalAveragePooling1D with keepdims=True on a masked input');
    return null;
  }
  if (CARRY.has(cls)) return out === 0 ? m0 : null;
  if (DROP.has(cls)) return null;
  if (MERGE.has(cls)) {
    const given = ms.filter((m): m is string => m !== null);
    return `and(${given.join(',')})`;
  }
  if (cls === 'Concatenate') {
    const axis = typeof c.axis === 'number' ? c.axis : -1;
    if (axis !== -1) refuse(`Concatenate on axis ${axis} of masked inputs`);
    return `and(${ms.filter((m): m is string => m !== null).join(',')})`;
  }
  refuse(`${cls} on a masked input (from Embedding(mask_zero=True) or Masking): tf-parity does not implement its mask semantics`);
  return null;
}

/**
 * The mask a Keras 3 tensor stands for, read from the ops Keras recorded: NotEqual(x, 0)
 * (Embedding.compute_mask), Any(NotEqual(x, v), axis=-1) (Masking), All(Concatenate(ExpandDims
 * (m, 0)..., axis=0), axis=0) (Merge.compute_mask); anything else is `?key`, matching nothing.
 */
function recordedMask(key: string, byName: Map<string, J>, depth = 0): string {
  const [layer] = key.split(':');
  const e = byName.get(layer!);
  const unknown = `?${key}`;
  if (!e || !isKerasOpModule(e.module) || depth > 16) return unknown;
  const nodes = Array.isArray(e.inbound_nodes) ? e.inbound_nodes : [];
  const n = nodes[Number(key.split(':')[1])];
  if (!isObj(n) || !Array.isArray(n.args)) return unknown;
  const a = n.args;
  const kw = isObj(n.kwargs) ? n.kwargs : {};
  const c = cfgOf(e);
  const argKey = (v: unknown): string | null => (isKerasTensor(v) ? historyKey(v) : null);
  const cls = String(e.class_name);
  const axis = c.axis ?? kw.axis ?? a[1];
  if (cls === 'NotEqual') {
    const x = argKey(a[0]);
    const v = numberOf(a[1] ?? kw.x2);
    return x && v === 0 ? `ne(${x},0)` : unknown;
  }
  if (cls === 'Any' && (axis === -1 || (Array.isArray(axis) && axis.length === 1 && axis[0] === -1)) && c.keepdims !== true) {
    const inner = argKey(a[0]);
    const ie = inner ? byName.get(inner.split(':')[0]!) : undefined;
    const inode = ie && Array.isArray(ie.inbound_nodes) ? ie.inbound_nodes[Number(inner!.split(':')[1])] : undefined;
    if (ie?.class_name === 'NotEqual' && isObj(inode) && Array.isArray(inode.args)) {
      const x = argKey(inode.args[0]);
      const v = numberOf(inode.args[1]);
      if (x && v !== undefined) return `masking(${x},${JSON.stringify(v)})`;
    }
    return unknown;
  }
  if (cls === 'All' && (axis === 0 || (Array.isArray(axis) && axis[0] === 0)) && c.keepdims !== true) {
    const ck = argKey(a[0]);
    const ce = ck ? byName.get(ck.split(':')[0]!) : undefined;
    const cn = ce && Array.isArray(ce.inbound_nodes) ? ce.inbound_nodes[Number(ck!.split(':')[1])] : undefined;
    if (ce?.class_name !== 'Concatenate' || !isObj(cn) || !Array.isArray(cn.args) || !Array.isArray(cn.args[0])) return unknown;
    const parts: string[] = [];
    for (const t of cn.args[0] as unknown[]) {
      const k = argKey(t);
      const xe = k ? byName.get(k.split(':')[0]!) : undefined;
      const xn = xe && Array.isArray(xe.inbound_nodes) ? xe.inbound_nodes[Number(k!.split(':')[1])] : undefined;
      if (xe?.class_name !== 'ExpandDims' || !isObj(xn) || !Array.isArray(xn.args)) return unknown;
      const inner = argKey(xn.args[0]);
      if (!inner) return unknown;
      parts.push(recordedMask(inner, byName, depth + 1));
    }
    return `and(${parts.join(',')})`;
  }
  return unknown;
}

/** Keras layers whose call takes `mask` (Keras 3 records it in the inbound node). */
function recordsMask(cls: string): boolean {
  // BatchNormalization uses its mask only when training: checked, not applied.
  return RNNS.has(cls) || cls === 'Bidirectional' || cls === 'TimeDistributed' || cls === 'Attention' || cls === 'BatchNormalization' || END.has(cls) || MODELS.has(cls);
}

/**
 * Checks the masks of a model config (object form, Keras 2 or 3): every layer that receives a
 * mask must be one whose mask semantics tf-parity implements, and in a Keras 3 config every
 * recorded `mask` keyword argument must be the mask the implicit propagation gives. Returns the
 * problems (empty when the model can run with its masks exactly).
 */
export function maskProblems(model: J, path = '', inputMasks: Mask[] = []): { problems: MaskProblem[]; outputs: Mask[] } {
  const problems: MaskProblem[] = [];
  const c = cfgOf(model);
  const layers = Array.isArray(c.layers) ? (c.layers.filter(isObj) as J[]) : [];
  const cls = String(model.class_name ?? '');
  const refuseAt = (name: string) => (why: string) => problems.push({ label: why, node: path + name });
  const nested = (e: J, ms: Mask[]): Mask[] => {
    const r = maskProblems(e, `${path}${nameOf(e)}/`, ms);
    problems.push(...r.problems);
    if (r.outputs.some((m) => m !== null)) problems.push({ label: `${e.class_name} whose output carries a mask (masks are not carried out of a nested model here)`, node: path + nameOf(e) });
    return r.outputs.map(() => null);
  };
  if (cls === 'Sequential') {
    let m: Mask = inputMasks[0] ?? null;
    let key = `${path}<input>`;
    for (const e of layers) {
      const lc = String(e.class_name ?? '');
      if (lc === 'InputLayer') continue;
      if (MODELS.has(lc)) m = nested(e, [m])[0] ?? null;
      else m = layerMask(e, [key], [m], 0, refuseAt(nameOf(e)));
      key = `${nameOf(e)}:0:0`;
    }
    return { problems, outputs: [m] };
  }
  const byName = new Map(layers.map((e) => [nameOf(e), e]));
  const memo = new Map<string, Mask>();
  const inputs = (Array.isArray(c.input_layers) ? c.input_layers : []) as unknown[];
  const inputNames = inputs.flatMap((x) => (Array.isArray(x) && typeof x[0] === 'string' ? [x[0]] : Array.isArray(x) ? x.filter((y): y is unknown[] => Array.isArray(y)).map((y) => String(y[0])) : []));
  inputNames.forEach((n, i) => memo.set(`${n}:0:0`, inputMasks[i] ?? null));
  const nodeMasks = new Map<string, Mask[]>();
  const visiting = new Set<string>();
  const maskOf = (key: string): Mask => {
    if (memo.has(key)) return memo.get(key)!;
    const [ln, ni, ti] = key.split(':');
    const e = byName.get(ln!);
    if (!e || String(e.class_name) === 'InputLayer' || visiting.has(key)) return null;
    visiting.add(key);
    const nodes = Array.isArray(e.inbound_nodes) ? e.inbound_nodes : [];
    const node = nodes[Number(ni)];
    const nk = `${ln}:${ni}`;
    let outs = nodeMasks.get(nk);
    if (!outs) {
      const inKeys = nodeInputs(node);
      const ms = inKeys.map(maskOf);
      const lc = String(e.class_name ?? '');
      if (MODELS.has(lc)) outs = nested(e, ms);
      else {
        const count = 3;
        outs = Array.from({ length: count }, (_, o) => layerMask(e, inKeys, ms, o, o === 0 ? refuseAt(nameOf(e)) : () => undefined));
      }
      nodeMasks.set(nk, outs);
      // Keras 3 records the mask it passed: it must be the one propagated here.
      const recorded = isObj(node) && isObj(node.kwargs) && 'mask' in node.kwargs ? node.kwargs.mask : undefined;
      if (recorded !== undefined && recorded !== null && !recordsMask(lc) && !isKerasOpModule(e.module)) {
        // A layer whose call takes a mask tf-parity does not apply (Softmax(x, mask=...), a custom one): never run unmasked.
        problems.push({ label: `${lc} called with a mask (tf-parity does not implement its mask semantics)`, node: path + nameOf(e) });
      }
      if (isObj(node) && isObj(node.kwargs) && 'mask' in node.kwargs && recordsMask(lc)) {
        // One mask, or one per input for a layer called on a list (Attention).
        const recs = Array.isArray(node.kwargs.mask) ? (node.kwargs.mask as unknown[]) : [node.kwargs.mask];
        recs.forEach((rec, i) => {
          const want = ms[i] ?? null;
          const recKey = isKerasTensor(rec) ? historyKey(rec) : null;
          if (rec !== null && rec !== undefined && !recKey) problems.push({ label: `${lc} called with a mask that is not a tensor`, node: path + nameOf(e) });
          else if (recKey === null && want !== null) problems.push({ label: `${lc} called with mask=None on a masked input (Keras ran it unmasked; the mask it would get here differs)`, node: path + nameOf(e) });
          else if (recKey !== null && recordedMask(recKey, byName) !== want) {
            problems.push({ label: `${lc} called with mask=${recKey.split(':')[0]}, not the mask of its input (only masks from Embedding(mask_zero=True), Masking and merges of them are followed)`, node: path + nameOf(e) });
          }
        });
      }
    }
    visiting.delete(key);
    const m = outs[Number(ti)] ?? null;
    memo.set(key, m);
    return m;
  };
  for (const e of layers) {
    const nodes = Array.isArray(e.inbound_nodes) ? e.inbound_nodes : [];
    nodes.forEach((_, i) => maskOf(`${nameOf(e)}:${i}:0`));
  }
  const outputs = (Array.isArray(c.output_layers) ? c.output_layers : []) as unknown[];
  const outKeys = outputs.length === 3 && typeof outputs[0] === 'string' ? [outputs] : outputs;
  return { problems, outputs: outKeys.filter((x): x is unknown[] => Array.isArray(x)).map((x) => maskOf(`${x[0]}:${Number(x[1] ?? 0)}:${Number(x[2] ?? 0)}`)) };
}

/** AND of the given masks (Keras' Merge.compute_mask; Concatenate on the last axis the same). */
function andMasks(ms: (tf.Tensor | null)[]): tf.Tensor | null {
  const given = ms.filter((m): m is tf.Tensor => m !== null);
  if (!given.length) return null;
  return tf.tidy(() => given.slice(1).reduce((a, b) => tf.logicalAnd(a, tf.cast(b, 'bool')), tf.cast(given[0]!, 'bool')));
}

/**
 * The mask(s) a layer's outputs carry, by the rules `maskProblems` checked (tfjs-layers' own
 * computeMask is used only where it is Keras': Embedding, Masking, MultiHeadAttention; its merge
 * masks are not, they skip the last input's mask). The caller owns new tensors.
 */
export function outputMask(layer: Layer, ins: tf.Tensor[], ms: (tf.Tensor | null)[]): (tf.Tensor | null)[] {
  const cls = layer.getClassName();
  const m0 = ms[0] ?? null;
  if (cls === 'Embedding' || cls === 'Masking' || cls === 'MultiHeadAttention') {
    const m = layer.computeMask(ins.length === 1 ? ins[0]! : ins, (cls === 'MultiHeadAttention' ? ms : m0) as tf.Tensor) as tf.Tensor | tf.Tensor[] | null;
    return Array.isArray(m) ? m : [m ?? null];
  }
  if (!ms.some((m) => m !== null)) return [null];
  if (RNNS.has(cls)) return [(layer as unknown as { returnSequences?: boolean }).returnSequences ? m0 : null];
  if (cls === 'Bidirectional') {
    const l = layer as unknown as { returnSequences?: boolean; mergeMode?: string | null };
    return l.returnSequences ? (l.mergeMode === null ? [m0, m0] : [m0]) : [null];
  }
  if (CARRY.has(cls)) return [m0];
  if (cls === 'Attention') return [m0, null];
  if (MERGE.has(cls) || cls === 'Concatenate') return [andMasks(ms)];
  return [null];
}

/** The layer's output with the mask semantics tfjs-layers lacks, or null when tfjs' own call is exact. */
export function maskedCall(layer: Layer, ins: tf.Tensor[], mask: tf.Tensor | null): tf.Tensor | null {
  if (!mask || layer.getClassName() !== 'GlobalAveragePooling1D') return null;
  const channelsFirst = (layer.getConfig() as { dataFormat?: string }).dataFormat === 'channelsFirst';
  return tf.tidy(() => {
    const x = ins[0]!;
    const m = tf.expandDims(tf.cast(mask, x.dtype), channelsFirst ? 1 : 2);
    const axis = channelsFirst ? 2 : 1;
    return tf.div(tf.sum(tf.mul(x, m), axis), tf.sum(m, axis));
  });
}

/** Bidirectional returning sequences: Keras zeroes the outputs of masked steps (zero_output_for_mask). */
export function maskOutputs(layer: Layer, outs: tf.Tensor[], mask: tf.Tensor | null): tf.Tensor[] {
  if (!mask || layer.getClassName() !== 'Bidirectional') return outs;
  const l = layer as unknown as { returnSequences?: boolean; mergeMode?: string | null };
  if (!l.returnSequences) return outs;
  const nSeq = l.mergeMode === null ? 2 : 1;
  return outs.map((o, i) => {
    if (i >= nSeq) return o;
    const r = tf.tidy(() => tf.mul(o, tf.expandDims(tf.cast(mask, o.dtype), -1)));
    o.dispose();
    return r;
  });
}
