import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';
import { decodeSpec, type Template } from './call-args.js';
import { softmax } from './op-values.js';
import { tfOp1 } from './tf-kernels.js';

/**
 * MultiHeadAttention at inference, as Keras defines it (keras/src/layers/attention/
 * multi_head_attention.py; tf.keras 2.x computes the same):
 *
 * - query, key and value go through EinsumDense projections `query`, `key`, `value` (kernels
 *   [dim, heads, key_dim] / [dim, heads, value_dim], biases [heads, key_dim] / [heads,
 *   value_dim]), with the equations of `_build_proj_equation` for the input's rank;
 * - the query is scaled by 1/sqrt(key_dim); scores = einsum(dot_product_equation, key, query)
 *   over `attention_axes` (default: every axis but batch, heads and features), with the
 *   equations of `_build_attention_equation`;
 * - the mask (attention_mask, the query/value/key masks, the causal mask with use_causal_mask;
 *   combined with AND, expanded from the heads axis) adds -1e9 where it is false (Softmax
 *   layer); softmax over the key attention axes; dropout is off at inference;
 * - output = einsum(combine_equation, scores, value), then the EinsumDense `attention_output`
 *   (kernel [heads, value_dim, *output_shape], bias [*output_shape]).
 *
 * Every einsum runs through the interpreter's TF Einsum kernel. The layer's variables are in
 * Keras' `layer.weights` order: query, key, value, attention_output (kernel, then bias).
 */

/** What config.ts found in the config and the call (encoded in the tfjs config as `spec`). */
export interface MhaSpec {
  numHeads: number;
  keyDim: number;
  valueDim: number;
  useBias: boolean;
  outputShape: number[] | null;
  attentionAxes: number[] | null;
  /** Call arguments: tensors as input references, flags as constants. */
  call: Record<string, Template>;
}

/** Keras 3 `model.weights.h5` sub-objects of the layer, in this layer's variable order. */
export const MHA_WEIGHT_CHILDREN = ['query_dense', 'key_dense', 'value_dense', 'output_dense'] as const;

type Shape = (number | null)[];
type Args = Record<string, unknown>;
type LayerCtor = new (args: Args) => tfl.layers.Layer;
const Layer = tfl.layers.Layer as unknown as LayerCtor;

const letter = (i: number) => 'abcdefghijklmnopqrstuvwxyz'[i]!;

/** keras' `_build_proj_equation`: equation and output rank. */
export function projEquation(free: number, bound: number, output: number): string {
  let input = '';
  let kernel = '';
  let out = '';
  for (let i = 0; i < free; i++) {
    input += letter(i);
    out += letter(i);
  }
  for (let i = 0; i < bound; i++) {
    input += letter(free + i);
    kernel += letter(free + i);
  }
  for (let i = 0; i < output; i++) {
    kernel += letter(free + bound + i);
    out += letter(free + bound + i);
  }
  return `${input},${kernel}->${out}`;
}

/** keras' `_build_attention_equation`: dot-product and combine equations, scores rank. */
export function attentionEquations(rank: number, axes: number[]): { dot: string; combine: string; scoresRank: number; batchDims: number[] } {
  const target = Array.from({ length: rank }, (_, i) => letter(i)).join('');
  const batchDims = Array.from({ length: rank }, (_, i) => i).filter((i) => !axes.includes(i) && i !== rank - 1);
  let offset = rank;
  let source = '';
  for (let i = 0; i < rank; i++) source += batchDims.includes(i) || i === rank - 1 ? target[i] : letter(offset++);
  const product = [...batchDims.map((i) => target[i]), ...axes.map((i) => target[i]), ...axes.map((i) => source[i])].join('');
  return { dot: `${source},${target}->${product}`, combine: `${product},${source}->${target}`, scoresRank: product.length, batchDims };
}

function ref(t: Template | undefined): number | null {
  return t && typeof t === 'object' && !Array.isArray(t) && '$in' in t ? t.$in : null;
}

const toBool = (x: tf.Tensor) => (x.dtype === 'bool' ? x : tf.notEqual(x, 0));

let registered = false;

/** Registers MultiHeadAttention with tfjs' serialization (once). */
export function registerMultiHeadAttention(): void {
  if (registered) return;
  registered = true;

  class MultiHeadAttention extends Layer {
    static className = 'MultiHeadAttention';
    private readonly spec: MhaSpec;
    private readonly q: number;
    private readonly v: number;
    private readonly k: number;
    private axes: number[] = [];
    private w: tfl.LayerVariable[] = [];
    /** layers-runner.ts passes the mask of every input. */
    readonly takesInputMasks = true;
    constructor(args: Args) {
      super(args);
      this.spec = decodeSpec<MhaSpec>(String(args.spec));
      this.supportsMasking = true;
      const q = ref(this.spec.call.query);
      const v = ref(this.spec.call.value);
      if (q === null || v === null) throw new Error('MultiHeadAttention needs query and value tensors');
      this.q = q;
      this.v = v;
      this.k = ref(this.spec.call.key) ?? v;
    }
    private shapes(s: Shape | Shape[]): Shape[] {
      return Array.isArray(s[0]) ? (s as Shape[]) : [s as Shape];
    }
    private outLast(q: Shape): number[] {
      return this.spec.outputShape ?? [q[q.length - 1] as number];
    }
    private add(name: string, shape: number[]): void {
      const l = this as unknown as { addWeight(n: string, s: number[], d: string | null, i: unknown, r: null, t: boolean): tfl.LayerVariable };
      this.w.push(l.addWeight(name, shape, 'float32', tfl.initializers.zeros(), null, true));
    }
    override build(s: Shape | Shape[]): void {
      const shapes = this.shapes(s);
      const [qs, vs, ks] = [shapes[this.q]!, shapes[this.v]!, shapes[this.k]!];
      const dims = [qs, vs, ks].map((x) => x[x.length - 1]);
      if (dims.some((d) => typeof d !== 'number')) throw new Error('MultiHeadAttention needs known feature dims of query, key and value');
      const { numHeads: n, keyDim: kd, valueDim: vd, useBias } = this.spec;
      const rank = qs.length + 1;
      this.axes = this.spec.attentionAxes === null ? Array.from({ length: rank - 3 }, (_, i) => i + 1) : this.spec.attentionAxes.map((a) => (a >= 0 ? a : rank - 1 + a));
      if (this.axes.some((a) => a < 0 || a >= rank - 2)) throw new Error(`attention_axes ${JSON.stringify(this.spec.attentionAxes)} do not fit a query of rank ${qs.length}`);
      const out = this.outLast(qs);
      this.add('query/kernel', [dims[0]!, n, kd]);
      if (useBias) this.add('query/bias', [n, kd]);
      this.add('key/kernel', [dims[2]!, n, kd]);
      if (useBias) this.add('key/bias', [n, kd]);
      this.add('value/kernel', [dims[1]!, n, vd]);
      if (useBias) this.add('value/bias', [n, vd]);
      this.add('attention_output/kernel', [n, vd, ...out]);
      if (useBias) this.add('attention_output/bias', out);
      this.built = true;
    }
    private scoresShape(qs: Shape, ks: Shape): Shape {
      const rank = qs.length + 1;
      const pq = [...qs.slice(0, -1), this.spec.numHeads, this.spec.keyDim];
      const pk = [...ks.slice(0, -1), this.spec.numHeads, this.spec.keyDim];
      const axes = this.axes.length ? this.axes : Array.from({ length: rank - 3 }, (_, i) => i + 1);
      const { batchDims } = attentionEquations(rank, axes);
      return [...batchDims.map((i) => pq[i]!), ...axes.map((i) => pq[i]!), ...axes.map((i) => pk[i]!)];
    }
    override computeOutputShape(s: Shape | Shape[]): Shape | Shape[] {
      const shapes = this.shapes(s);
      const qs = shapes[this.q]!;
      const out = [...qs.slice(0, -1), ...this.outLast(qs)];
      return this.spec.call.return_attention_scores === true ? [out, this.scoresShape(qs, shapes[this.k]!)] : out;
    }
    override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
      // Keras sets the query's mask on the output.
      const m = Array.isArray(mask) ? mask[this.q] ?? null : this.q === 0 ? mask ?? null : null;
      return (this.spec.call.return_attention_scores === true ? [m, null] : m) as tf.Tensor;
    }
    /** The combined boolean mask [B, T, S] (broadcastable), or null. */
    private attentionMask(ins: tf.Tensor[], masks: (tf.Tensor | null)[]): tf.Tensor | null {
      const c = this.spec.call;
      const given = (k: string) => {
        const i = ref(c[k]);
        return i === null ? null : ins[i]!;
      };
      const qm = given('query_mask') ?? masks[this.q] ?? null;
      const vm = given('value_mask') ?? masks[this.v] ?? null;
      const km = given('key_mask') ?? (ref(c.key) !== null ? masks[this.k] ?? null : null);
      let auto: tf.Tensor | null = null;
      const and = (m: tf.Tensor) => (auto = auto === null ? m : tf.logicalAnd(auto, m));
      if (qm) and(tf.expandDims(toBool(qm), -1));
      if (vm) and(tf.expandDims(toBool(vm), -2));
      if (km) and(tf.expandDims(toBool(km), -2));
      if (c.use_causal_mask === true) {
        const t = ins[this.q]!.shape[1]!;
        const s = ins[this.v]!.shape[1]!;
        and(tf.expandDims(tf.cast(tf.linalg.bandPart(tf.ones([t, s], 'int32'), -1, 0), 'bool'), 0));
      }
      const am = given('attention_mask');
      if (am) return auto === null ? toBool(am) : tf.logicalAnd(toBool(am), auto);
      return auto;
    }
    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Args): tf.Tensor | tf.Tensor[] {
      return tf.tidy(() => {
        const ins = Array.isArray(inputs) ? inputs : [inputs];
        const rawMask = kwargs.mask as tf.Tensor | (tf.Tensor | null)[] | undefined | null;
        const masks = Array.isArray(rawMask) ? rawMask : ins.map((_, i) => (i === 0 ? rawMask ?? null : null));
        const { numHeads: n, keyDim: kd, valueDim: vd, useBias } = this.spec;
        const vals = this.w.map((w) => w.read());
        let at = 0;
        const next = () => vals[at++]!;
        const dense = (x: tf.Tensor, eq: string) => {
          const y = tfOp1('Einsum', [x, next()], { equation: eq }, this.name);
          return useBias ? tf.add(y, next()) : y;
        };
        const query = ins[this.q]!;
        const value = ins[this.v]!;
        const key = ins[this.k]!;
        const mask = this.attentionMask(ins, masks);
        const q = dense(query, projEquation(query.rank - 1, 1, 2));
        const k = dense(key, projEquation(key.rank - 1, 1, 2));
        const v = dense(value, projEquation(value.rank - 1, 1, 2));
        void n;
        void vd;
        const rank = q.rank;
        const eqs = attentionEquations(rank, this.axes);
        const qs = tf.mul(q, 1 / Math.sqrt(kd));
        let scores = tfOp1('Einsum', [k, qs], { equation: eqs.dot }, this.name);
        if (mask) {
          let m = mask;
          const at0 = -this.axes.length * 2 - 1;
          while (m.rank < scores.rank) m = tf.expandDims(m, m.rank + at0 + 1);
          scores = tf.add(scores, tf.mul(tf.sub(1, tf.cast(m, 'float32')), -1e9));
        }
        const norm = Array.from({ length: this.axes.length }, (_, i) => eqs.scoresRank - this.axes.length + i);
        const probs = softmax(scores, norm, this.name);
        const attn = tfOp1('Einsum', [probs, v], { equation: eqs.combine }, this.name);
        const out = dense(attn, projEquation(query.rank - 1, 2, this.outLast(query.shape).length));
        return this.spec.call.return_attention_scores === true ? [out, probs] : out;
      });
    }
    override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
      return { ...super.getConfig(), spec: JSON.stringify(this.spec) };
    }
  }
  tf.serialization.registerClass(MultiHeadAttention as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}
