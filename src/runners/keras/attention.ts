import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';

/**
 * Keras' dot-product `Attention` layer (keras/src/layers/attention/attention.py; tf.keras 2.x
 * keras/layers/attention/attention.py the same), which tfjs-layers lacks:
 *   scores = query · keyᵀ (score_mode 'dot', times `scale` with use_scale) or
 *            concat_score_weight · Σ tanh(scale · (q + k)) (score_mode 'concat');
 *   scores -= 1e9 · (not value_mask) (and the causal mask with use_causal_mask), softmax over the
 *   keys, times value; the rows of masked queries are zeroed; dropout is off at inference.
 * Inputs [query, value] or [query, value, key]; the masks of each (layers-runner.ts passes them,
 * masks.ts checks them). Its output carries the query's mask. The call options Keras records in
 * the inbound node (use_causal_mask, return_attention_scores) reach the layer through its config
 * (config.ts puts them there as `call_use_causal_mask`, `call_return_attention_scores`); tf.keras
 * 2.x's older `causal` config option means the same as use_causal_mask.
 */

type Shape = (number | null)[];
type Args = Record<string, unknown>;

const Layer = tfl.layers.Layer as unknown as new (args: Args) => tfl.layers.Layer;

let registered = false;

export function registerAttention(): void {
  if (registered) return;
  registered = true;

  class Attention extends Layer {
    static className = 'Attention';
    /** layers-runner.ts passes the mask of every input. */
    readonly takesInputMasks = true;
    private readonly useScale: boolean;
    private readonly concat: boolean;
    private readonly causal: boolean;
    private readonly scores: boolean;
    private scale: tfl.LayerVariable | null = null;
    private concatWeight: tfl.LayerVariable | null = null;
    constructor(args: Args) {
      super(args);
      this.supportsMasking = true;
      this.useScale = args.useScale === true;
      const mode = String(args.scoreMode ?? 'dot');
      if (mode !== 'dot' && mode !== 'concat') throw new Error(`Attention score_mode must be 'dot' or 'concat', got '${mode}'`);
      this.concat = mode === 'concat';
      this.causal = args.callUseCausalMask === true || args.causal === true;
      this.scores = args.callReturnAttentionScores === true;
    }
    override build(): void {
      const add = (name: string) =>
        (this as unknown as { addWeight(n: string, s: number[], d: string | null, i: unknown, r: null, t: boolean): tfl.LayerVariable }).addWeight(name, [], 'float32', tfl.initializers.ones(), null, true);
      if (this.useScale) this.scale = add('scale');
      if (this.concat) this.concatWeight = add('concat_score_weight');
      this.built = true;
    }
    override computeOutputShape(s: Shape | Shape[]): Shape | Shape[] {
      const shapes = s as Shape[];
      const q = shapes[0]!;
      const v = shapes[1]!;
      const out: Shape = [...q.slice(0, -1), v[v.length - 1]!];
      return this.scores ? [out, [q[0]!, q[1]!, v[1]!]] : out;
    }
    override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
      const m = Array.isArray(mask) ? mask[0] ?? null : mask ?? null;
      return (this.scores ? [m, null] : m) as tf.Tensor;
    }
    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Args): tf.Tensor | tf.Tensor[] {
      return tf.tidy(() => {
        const xs = Array.isArray(inputs) ? inputs : [inputs];
        if (xs.length < 2 || xs.length > 3) throw new Error(`Attention takes [query, value] or [query, value, key], got ${xs.length} input(s)`);
        const [q, v] = [xs[0]!, xs[1]!];
        const k = xs[2] ?? v;
        const raw = kwargs.mask as tf.Tensor | (tf.Tensor | null)[] | null | undefined;
        const masks = Array.isArray(raw) ? raw : [raw ?? null];
        const qMask = masks[0] ?? null;
        const vMask = masks[1] ?? null;
        let scores: tf.Tensor;
        if (this.concat) {
          const sum = tf.add(tf.expandDims(q, -2), tf.expandDims(k, -3));
          scores = tf.mul(this.concatWeight!.read(), tf.sum(tf.tanh(this.scale ? tf.mul(this.scale.read(), sum) : sum), -1));
        } else {
          scores = tf.matMul(q, k, false, true);
          if (this.scale) scores = tf.mul(scores, this.scale.read());
        }
        let keep: tf.Tensor | null = vMask ? tf.expandDims(tf.cast(vMask, 'bool'), -2) : null;
        if (this.causal) {
          const [t, s] = scores.shape.slice(-2) as [number, number];
          const causal = tf.expandDims(tf.greaterEqual(tf.expandDims(tf.range(0, t, 1, 'int32'), 1), tf.expandDims(tf.range(0, s, 1, 'int32'), 0)), 0);
          keep = keep ? tf.logicalAnd(keep, causal) : causal;
        }
        if (keep) scores = tf.sub(scores, tf.mul(1e9, tf.cast(tf.logicalNot(keep), 'float32')));
        const weights = tf.softmax(scores, -1);
        let out = tf.matMul(weights, v);
        if (qMask) out = tf.mul(out, tf.expandDims(tf.cast(qMask, 'float32'), -1));
        return this.scores ? [out, weights] : out;
      });
    }
    override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
      return { ...super.getConfig(), useScale: this.useScale, scoreMode: this.concat ? 'concat' : 'dot' };
    }
  }
  tf.serialization.registerClass(Attention as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}

/**
 * The call options an Attention entry records (Keras 3: the inbound node's kwargs; tf.keras 2:
 * the kwargs of its entries), for its config. Throws when its calls differ.
 */
export function attentionCallConfig(entry: Record<string, unknown>): Record<string, boolean> {
  const nodes = Array.isArray(entry.inbound_nodes) ? entry.inbound_nodes : [];
  let found: string | null = null;
  let out: Record<string, boolean> = {};
  for (const n of nodes) {
    const kw = (Array.isArray(n) ? (Array.isArray(n[0]) ? n[0][3] : undefined) : (n as { kwargs?: unknown } | null)?.kwargs) as Record<string, unknown> | undefined;
    const o = { call_use_causal_mask: kw?.use_causal_mask === true, call_return_attention_scores: kw?.return_attention_scores === true };
    const j = JSON.stringify(o);
    if (found !== null && j !== found) throw new Error(`Attention '${String((entry.config as { name?: unknown } | undefined)?.name ?? '?')}' is called with different use_causal_mask/return_attention_scores`);
    found = j;
    out = o;
  }
  return out;
}
