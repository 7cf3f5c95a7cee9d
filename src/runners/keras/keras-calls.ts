import { tf } from '../../backend/tf.js';
import { tfl } from '../tfl.js';
import { errorMessage } from '../../core/errors.js';
import { opRole, type OpRole } from '../../core/runner.js';
import { bindArguments, decodeSpec, encodeSpec, parseInboundNode, type Param, type Template } from './call-args.js';
import { registerMultiHeadAttention, type MhaSpec } from './mha.js';
import { materialise, type Args } from './op-values.js';
import { findKerasOp, isKerasOpModule, OP_CONFIG_IGNORED } from './ops.js';
import { findTfFunction } from './tf-functions.js';

/**
 * Config entries that are calls with arguments rather than plain layers, rewritten for
 * tfjs-layers: Keras 3 keras.ops entries (ops.ts), tf.keras 2 TFOpLambda / SlicingOpLambda
 * (tf-functions.ts) and MultiHeadAttention (mha.ts, tensors passed by keyword). Their inbound
 * nodes are read with call-args.ts into input tensors plus an argument template; the rewritten
 * entry takes the distinct input tensors as its inputs and carries the template (and what it
 * calls) in its config as `spec`. config.ts calls `kerasCallProblems` while it checks a model
 * and `rewriteKerasCall` while it normalises it.
 */

type J = Record<string, unknown>;

/** The tfjs class that runs an op or a TF function. */
export const KERAS_CALL_CLASS = 'ParityKerasCall';

interface CallSpec {
  kind: 'op' | 'tf';
  /** ops: `module>ClassName`; tf: the function name. */
  op: string;
  args: Record<string, Template>;
  /** What the runner shows as the layer's type. */
  type: string;
}

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

type Kind = 'op' | 'tf' | 'mha';

function kindOf(entry: J): Kind | null {
  if (!isObj(entry.config)) return null;
  if (isKerasOpModule(entry.module)) return 'op';
  if (entry.class_name === 'TFOpLambda' || entry.class_name === 'SlicingOpLambda') return 'tf';
  if (entry.class_name === 'MultiHeadAttention') return 'mha';
  return null;
}

const MHA_PARAMS: Param[] = [
  { name: 'query' }, { name: 'value' }, { name: 'key', default: null },
  { name: 'query_mask', default: null }, { name: 'value_mask', default: null }, { name: 'key_mask', default: null },
  { name: 'attention_mask', default: null }, { name: 'return_attention_scores', default: false },
  { name: 'training', default: null }, { name: 'use_causal_mask', default: false },
];

interface Rewritten {
  spec: CallSpec | MhaSpec;
  nodes: [string, number, number, J][][];
  warnings: string[];
}

/** Config values as templates (constants only: config holds no tensors). */
function configArgs(cfg: J, ignore: readonly string[]): Record<string, Template> {
  const out: Record<string, Template> = {};
  for (const [k, v] of Object.entries(cfg)) if (!ignore.includes(k)) out[k] = v as Template;
  return out;
}

function positiveInt(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${what} must be a positive int, got ${JSON.stringify(v)}`);
  return v as number;
}

function intList(v: unknown, what: string): number[] | null {
  if (v === null || v === undefined) return null;
  const xs = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(xs) || !xs.every((x) => Number.isInteger(x))) throw new Error(`${what} must be an int, a list of ints or None, got ${JSON.stringify(v)}`);
  return xs as number[];
}

/** Reads and binds one entry; throws a one-line reason when it cannot be run. */
function analyse(entry: J, kind: Kind): Rewritten {
  const cfg = entry.config as J;
  const cls = String(entry.class_name);
  const nodes = Array.isArray(entry.inbound_nodes) ? entry.inbound_nodes : [];
  if (!nodes.length) throw new Error('no inbound node (the call is not in the config)');
  const warnings: string[] = [];
  let spec: CallSpec | MhaSpec | undefined;
  let specJson = '';
  const tfjsNodes: [string, number, number, J][][] = [];
  for (const n of nodes) {
    const call = parseInboundNode(n);
    let s: CallSpec | MhaSpec;
    if (kind === 'op') {
      const op = findKerasOp(String(entry.module), cls);
      if (!op) throw new Error('not an op tf-parity runs');
      // Operation configs may carry a dtype policy; Cast's dtype is its argument.
      const ignored = OP_CONFIG_IGNORED.filter((k) => !op.params.some((p) => p.name === k));
      s = { kind: 'op', op: `${op.module}>${op.className}`, args: bindArguments(op.params, call, configArgs(cfg, ignored)), type: cls };
    } else if (kind === 'tf') {
      const fnName = String(cfg.function ?? '');
      const fn = findTfFunction(fnName);
      if (!fn) throw new Error(`function '${fnName}' is not one tf-parity runs`);
      s = { kind: 'tf', op: fn.name, args: bindArguments(fn.params, call, {}), type: cls };
    } else {
      const args = bindArguments(MHA_PARAMS, call, {});
      if (args.training === true) warnings.push('called with training=True in the model; it runs in inference mode here (no dropout)');
      delete args.training;
      s = {
        numHeads: positiveInt(cfg.num_heads, 'num_heads'),
        keyDim: positiveInt(cfg.key_dim, 'key_dim'),
        valueDim: cfg.value_dim === null || cfg.value_dim === undefined ? positiveInt(cfg.key_dim, 'key_dim') : positiveInt(cfg.value_dim, 'value_dim'),
        useBias: cfg.use_bias !== false,
        outputShape: intList(cfg.output_shape, 'output_shape'),
        attentionAxes: intList(cfg.attention_axes, 'attention_axes'),
        call: args,
      };
    }
    // Python indexing by a tensor (numpy advanced indexing) is not basic slicing: refused up front.
    const key = 'call' in s ? undefined : (s.args.key ?? s.args.slice_spec);
    if (key !== undefined && JSON.stringify(key).includes('"$in"')) throw new Error('index by a tensor is not supported (only ints, slices, None and Ellipsis)');
    const j = JSON.stringify(s);
    if (spec && j !== specJson) throw new Error('called several times with different arguments');
    spec = s;
    specJson = j;
    tfjsNodes.push(call.refs.map((r) => [r[0], r[1], r[2], {}]));
  }
  return { spec: spec!, nodes: tfjsNodes, warnings };
}

/** Null when `entry` is not an op, TFOpLambda or MultiHeadAttention entry; else why it cannot run ([] when it can). */
export function kerasCallProblems(entry: J): string[] | null {
  const kind = kindOf(entry);
  if (!kind) return null;
  try {
    analyse(entry, kind);
    return [];
  } catch (e) {
    const cls = String(entry.class_name);
    const what = kind === 'op' ? `keras.ops ${cls} (${String(entry.module)})` : kind === 'tf' ? `${cls} ${String((entry.config as J).function ?? '?')}` : cls;
    return [`${what}: ${errorMessage(e)}`];
  }
}

/** The tfjs-layers entry for an op, TFOpLambda or MultiHeadAttention entry; null for other entries. */
export function rewriteKerasCall(entry: J, warnings: string[]): J | null {
  const kind = kindOf(entry);
  if (!kind) return null;
  const cfg = entry.config as J;
  const name = String(cfg.name ?? entry.name ?? '?');
  const r = analyse(entry, kind);
  for (const w of r.warnings) warnings.push(`layer '${name}' ${w}`);
  registerKerasCallLayers();
  return {
    class_name: kind === 'mha' ? 'MultiHeadAttention' : KERAS_CALL_CLASS,
    name,
    config: { name, trainable: false, dtype: 'float32', spec: encodeSpec(r.spec) },
    inbound_nodes: r.nodes,
  };
}

type Shape = (number | null)[];
type LayerCtor = new (args: J) => tfl.layers.Layer;

/** keras.ops parameters that are operands of numpy's dtype promotion. */
const OPERANDS = new Set(['x', 'x1', 'x2', 'xs', 'x_min', 'x_max', 'condition']);

let registered = false;

/** Registers MultiHeadAttention and the op-running layer with tfjs' serialization (once). */
export function registerKerasCallLayers(): void {
  if (registered) return;
  registered = true;
  registerMultiHeadAttention();
  const Layer = tfl.layers.Layer as unknown as LayerCtor;

  class ParityKerasCall extends Layer {
    static className = KERAS_CALL_CLASS;
    private readonly spec: CallSpec;
    private readonly run: (a: Args, what: string) => tf.Tensor;
    /** The layer's type as the runner reports it (the Keras class name). */
    readonly parityType: string;
    /** The role alignment reads (core/runner.ts OpRole), for activation ops. */
    readonly parityRole: OpRole | undefined;
    constructor(args: J) {
      super(args);
      this.spec = decodeSpec<CallSpec>(String(args.spec));
      this.parityType = this.spec.type;
      // Activations (Relu, nn.relu, math.sigmoid, ...) carry the role TF's ops of that name have.
      const last = this.spec.kind === 'op' ? this.spec.op.split('>')[1]! : this.spec.op.split('.').pop()!;
      const camel = last.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase()).replace(/^Silu$/, 'Swish');
      this.parityRole = opRole(camel);
      this.supportsMasking = true;
      if (this.spec.kind === 'op') {
        const [module, cls] = this.spec.op.split('>');
        const op = findKerasOp(`keras.src.ops.${module}`, cls!);
        if (!op) throw new Error(`unknown op ${this.spec.op}`);
        this.run = op.run;
      } else {
        const fn = findTfFunction(this.spec.op);
        if (!fn) throw new Error(`unknown TF function ${this.spec.op}`);
        this.run = fn.run;
      }
    }
    private what(): string {
      return `${this.spec.kind === 'op' ? `keras.ops ${this.spec.type}` : `${this.spec.type} ${this.spec.op}`} '${this.name}'`;
    }
    private apply1(xs: tf.Tensor[]): tf.Tensor {
      const args: Args = {};
      // keras.ops operands follow numpy's dtype rules, where a Python float counts; TF functions take numbers as TF converts them.
      for (const [k, v] of Object.entries(this.spec.args)) args[k] = materialise(v, xs, this.spec.kind === 'op' && OPERANDS.has(k));
      return this.run(args, this.what());
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.tidy(() => this.apply1(Array.isArray(inputs) ? inputs : [inputs]));
    }
    override computeMask(): tf.Tensor {
      // keras.ops and TF functions do not carry Keras masks on.
      return null as unknown as tf.Tensor;
    }
    /**
     * The output shape by running the op on stand-in inputs: unknown dims as 2 and the values
     * 2, then as 3 (a dim of the result that changes with them is unknown; the values follow the
     * sizes so that a computed size such as tf.shape(x)[0] stays consistent); where those sizes
     * cannot work, as 1.
     */
    override computeOutputShape(s: Shape | Shape[]): Shape {
      const shapes = Array.isArray(s[0]) ? (s as Shape[]) : [s as Shape];
      const probe = (size: number): number[] =>
        tf.tidy(() => this.apply1(shapes.map((sh) => tf.fill(sh.map((d) => d ?? size), size)))).shape.slice();
      let first: unknown;
      for (const [a, b] of [[2, 3], [1, 1]] as const) {
        try {
          const x = probe(a);
          const y = probe(b);
          if (x.length !== y.length) return x.map(() => null);
          return x.map((d, i) => (d === y[i] ? d : null));
        } catch (e) {
          first ??= e;
        }
      }
      throw first;
    }
    override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
      return { ...super.getConfig(), spec: encodeSpec(this.spec) };
    }
  }
  tf.serialization.registerClass(ParityKerasCall as unknown as Parameters<typeof tf.serialization.registerClass>[0]);
}
