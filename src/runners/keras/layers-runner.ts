import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DType } from '../../core/dtype.js';
import { ExecutionError, InputError, errorMessage } from '../../core/errors.js';
import { checkFeeds } from '../../core/feeds.js';
import type { Activation, Feeds, Layout, OpRole, RunOptions, Runner } from '../../core/runner.js';
import { shapeToString, type TensorSpec } from '../../core/tensor.js';
import { PARITY_GRU } from './gru.js';
import { kerasInputHints } from './input-hints.js';
import { maskedCall, maskOutputs, outputMask } from './masks.js';
import type { InputHint } from '../../inputs/generate.js';

/**
 * A Runner over a tfjs-layers model (Keras `.keras`/`.h5`, TensorFlow.js layers models).
 *
 * The model's graph is walked once into a plan of layer calls in topological order; `run`
 * applies the layers one call at a time (the way tfjs' own executor does, masks included), yields
 * each output as soon as it exists and frees every intermediate once its last consumer ran, so a
 * big model never holds all its activations at once and a consumer may stop early.
 *
 * Activation names:
 *   - `layer` for the output of a layer called once;
 *   - `layer:i` for output i of a layer with several outputs;
 *   - `layer@call2`, `layer@call3`, ... for the 2nd, 3rd call of a shared layer (calls numbered in
 *     execution order within the model), combined as `layer@call2:1`;
 *   - `model/layer` for the layers inside a nested Sequential/Functional model (that model's own
 *     output is yielded too, under its own name, after its layers).
 * Inputs are fed under their InputLayer names and are not yielded.
 */

type Layer = tfl.layers.Layer;
type Sym = tfl.SymbolicTensor;

/** The parts of tfjs-layers' Node that the plan needs (public fields of the class). */
interface NodeLike {
  inputTensors: Sym[];
  outputTensors: Sym[];
}

interface Step {
  layer: Layer;
  /** What kind of layer it is for alignment (core/runner.ts OpRole), when that is clear. */
  role?: OpRole;
  inputs: Sym[];
  outputs: Sym[];
  /** Activation name per output. */
  names: string[];
  type: string;
  producedFrom: string[];
  layouts: (Layout | undefined)[];
  /** Nested models run through their own plan, so their layers are yielded too. */
  nested?: LayersRunner;
}

interface ExecOptions {
  record: Set<string> | null;
  prefix: string;
  /** Inner input layer name -> the outer activation it stands for (nested models). */
  alias?: Map<string, string>;
  counter: { index: number };
}

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

function layerOf(t: Sym): Layer {
  return t.sourceLayer as Layer;
}

function nodeOf(t: Sym): NodeLike {
  return (layerOf(t) as unknown as { inboundNodes: NodeLike[] }).inboundNodes[t.nodeIndex]!;
}

function isInputLayer(l: Layer): boolean {
  return l.getClassName() === 'InputLayer';
}

/** Layers whose `activation` config says what they end in (linear: an affine layer). */
const AFFINE_LAYERS = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'DepthwiseConv2D', 'SeparableConv1D', 'SeparableConv2D', 'Conv2DTranspose', 'Conv3DTranspose', 'Dense']);
const ACTIVATION_LAYERS = new Set(['ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU']);

/**
 * A Keras layer's role, as alignment reads it: a conv or dense layer is affine unless its
 * `activation` is not linear (then its output is the activation's); batch norm is affine; the
 * activation layers are activations. Anything else says nothing.
 */
function layerRole(l: Layer): OpRole | undefined {
  if ('parityRole' in l) return (l as { parityRole?: OpRole }).parityRole;
  const c = l.getClassName();
  if (ACTIVATION_LAYERS.has(c)) return 'activation';
  if (/^(Global)?(Max|Average)Pooling[123]D$/.test(c)) return 'pool';
  if (c === 'BatchNormalization') return 'affine';
  if (c !== 'Activation' && !AFFINE_LAYERS.has(c)) return undefined;
  let act: unknown;
  try {
    act = (l.getConfig() as { activation?: unknown }).activation;
  } catch {
    return undefined;
  }
  const linear = act === undefined || act === null || act === 'linear';
  if (c === 'Activation') return linear || act === 'softmax' ? undefined : 'activation';
  return linear ? 'affine' : act === 'softmax' ? undefined : 'activation';
}

function typeName(l: Layer): string {
  // keras-calls.ts: a keras.ops entry or TFOpLambda names its own type.
  const own = (l as { parityType?: unknown }).parityType;
  if (typeof own === 'string') return own;
  const c = l.getClassName();
  return c === 'Model' ? 'Functional' : c === PARITY_GRU ? 'GRU' : c;
}

function specDtype(d: string): DType {
  return d === 'int32' ? 'int32' : d === 'bool' ? 'bool' : d === 'string' ? 'string' : 'float32';
}

/** Layout from the layer's data_format, else carried from its first input of the same rank. */
function layoutFor(layer: Layer, rank: number, inputLayouts: (Layout | undefined)[], inputRanks: number[]): Layout | undefined {
  if (rank !== 4 && rank !== 5) return undefined;
  let cfg: { dataFormat?: string; dims?: number[] } = {};
  try {
    cfg = layer.getConfig() as typeof cfg;
  } catch {
    /* layers without a config: fall through to inheritance */
  }
  const last: Layout = rank === 4 ? 'NHWC' : 'NDHWC';
  const first: Layout = rank === 4 ? 'NCHW' : 'NCDHW';
  if (cfg.dataFormat === 'channelsFirst') return first;
  if (cfg.dataFormat === 'channelsLast') return last;
  const i = inputRanks.findIndex((r) => r === rank);
  const inherited = i >= 0 ? inputLayouts[i] : undefined;
  if (layer.getClassName() === 'Permute' && inherited && Array.isArray(cfg.dims)) {
    const d = cfg.dims.join(',');
    if (rank === 4 && inherited === 'NHWC' && d === '3,1,2') return 'NCHW';
    if (rank === 4 && inherited === 'NCHW' && d === '2,3,1') return 'NHWC';
    return undefined;
  }
  return inherited ?? last;
}

export class LayersRunner implements Runner {
  /** Non-fatal findings from loading (extra weights, dtype policies computed in float32, ...). */
  readonly warnings: string[];
  private readonly plan: Step[] = [];
  private readonly nameOf = new Map<number, string>();
  private readonly layoutOf = new Map<number, Layout | undefined>();
  private readonly consumers = new Map<number, number>();
  private readonly outputNames: string[];

  constructor(
    readonly kind: 'keras' | 'tfjs-layers',
    readonly source: string,
    readonly model: tfl.LayersModel,
    warnings: string[] = [],
  ) {
    this.warnings = warnings;
    for (const t of model.inputs) this.nameOf.set(t.id, layerOf(t).name);
    const seen = new Set<NodeLike>();
    const calls = new Map<Layer, number>();
    const visit = (t: Sym): void => {
      const layer = layerOf(t);
      if (isInputLayer(layer) || this.nameOf.has(t.id)) return;
      const node = nodeOf(t);
      if (seen.has(node)) return;
      seen.add(node);
      for (const x of node.inputTensors) visit(x);
      this.addStep(layer, node, calls);
    };
    for (const t of model.outputs) visit(t);
    for (const s of this.plan) for (const x of s.inputs) this.consumers.set(x.id, (this.consumers.get(x.id) ?? 0) + 1);
    this.outputNames = model.outputs.map((t) => this.nameOf.get(t.id) ?? t.name);
  }

  private addStep(layer: Layer, node: NodeLike, calls: Map<Layer, number>): void {
    const call = calls.get(layer) ?? 0;
    calls.set(layer, call + 1);
    const base = call === 0 ? layer.name : `${layer.name}@call${call + 1}`;
    const outs = node.outputTensors;
    const names = outs.map((_, i) => (outs.length > 1 ? `${base}:${i}` : base));
    const inputLayouts = node.inputTensors.map((x) => this.layoutOf.get(x.id));
    const inputRanks = node.inputTensors.map((x) => x.shape.length);
    const layouts = outs.map((o) => layoutFor(layer, o.shape.length, inputLayouts, inputRanks));
    outs.forEach((o, i) => {
      this.nameOf.set(o.id, names[i]!);
      this.layoutOf.set(o.id, layouts[i]);
    });
    const step: Step = {
      layer,
      inputs: node.inputTensors,
      outputs: outs,
      names,
      type: typeName(layer),
      producedFrom: node.inputTensors.map((x) => this.nameOf.get(x.id) ?? x.name),
      layouts,
    };
    const role = layerRole(layer);
    if (role) step.role = role;
    if (MODEL_CLASSES.has(layer.getClassName())) step.nested = new LayersRunner(this.kind, this.source, layer as tfl.LayersModel);
    this.plan.push(step);
  }

  /** Input names are the InputLayer names (tfjs may suffix model.inputNames). */
  inputs(): TensorSpec[] {
    return this.model.inputs.map((t) => ({ name: layerOf(t).name, dtype: specDtype(t.dtype), shape: t.shape.map((d) => (d === null ? -1 : d)) }));
  }

  outputs(): string[] {
    return this.outputNames.slice();
  }

  /** Default draws the first layers ask for (token ids for an Embedding, pixels for Rescaling(1/255)). */
  inputHints(): Map<string, InputHint> {
    return kerasInputHints(this.model, this.inputs());
  }

  /** Every activation name `run` can yield, in execution order. */
  activationNames(prefix = ''): string[] {
    return this.plan.flatMap((s) => [...(s.nested ? s.nested.activationNames(`${prefix}${s.layer.name}/`) : []), ...s.names.map((n) => prefix + n)]);
  }

  private feedTensors(feeds: Feeds): { xs: tf.Tensor[]; owned: tf.Tensor[] } {
    const specs = this.inputs();
    const given = checkFeeds(this.source, specs.map((s, i) => ({ name: s.name, shape: this.model.inputs[i]!.shape })), feeds);
    const owned: tf.Tensor[] = [];
    const xs = specs.map((s, i) => {
      const t = given[i]!;
      if (t.dtype !== this.model.inputs[i]!.dtype && s.dtype !== 'string') {
        const c = tf.cast(t, this.model.inputs[i]!.dtype);
        owned.push(c);
        return c;
      }
      return t;
    });
    return { xs, owned };
  }

  async *run(feeds: Feeds, opts: RunOptions = {}): AsyncIterable<Activation> {
    const { xs, owned } = this.feedTensors(feeds);
    const record = opts.record && opts.record !== 'all' ? new Set([...opts.record, ...this.outputNames]) : null;
    const gen = this.exec(xs, [], { record, prefix: '', counter: { index: 0 } }, false);
    try {
      for (;;) {
        const r = await gen.next();
        if (r.done) break;
        yield r.value;
      }
    } finally {
      await gen.return([]);
      tf.dispose(owned);
    }
  }

  /**
   * Runs the plan on `inputs` (not disposed here). Yields the recorded activations; returns the
   * model's output tensors when `keepOutputs` (the caller then owns them), else nothing.
   */
  private async *exec(inputs: tf.Tensor[], inputMasks: (tf.Tensor | null)[], o: ExecOptions, keepOutputs: boolean): AsyncGenerator<Activation, tf.Tensor[], void> {
    const values = new Map<number, tf.Tensor>();
    const masks = new Map<number, tf.Tensor | null>();
    const remaining = new Map(this.consumers);
    const holders = new Map<tf.Tensor, number>();
    const external = new Set<tf.Tensor>(inputs);
    const keep = new Set<number>(keepOutputs ? this.model.outputs.map((t) => t.id) : []);
    const hold = (id: number, t: tf.Tensor) => {
      values.set(id, t);
      holders.set(t, (holders.get(t) ?? 0) + 1);
    };
    const release = (id: number) => {
      const t = values.get(id);
      if (!t) return;
      values.delete(id);
      const n = (holders.get(t) ?? 1) - 1;
      if (n > 0) holders.set(t, n);
      else {
        holders.delete(t);
        if (!external.has(t)) t.dispose();
      }
    };
    const ownMasks: tf.Tensor[] = [];
    const externalMasks = new Set(inputMasks.filter((m): m is tf.Tensor => m !== null));
    this.model.inputs.forEach((t, i) => {
      hold(t.id, inputs[i]!);
      masks.set(t.id, inputMasks[i] ?? null);
    });
    const display = (n: string) => o.alias?.get(n) ?? o.prefix + n;
    let finished = false;
    try {
      for (const step of this.plan) {
        const ins = step.inputs.map((x) => values.get(x.id)!);
        const inMasks = step.inputs.map((x) => masks.get(x.id) ?? null);
        let outs: tf.Tensor[];
        if (step.nested) {
          outs = yield* step.nested.exec(ins, inMasks, {
            record: o.record,
            prefix: `${o.prefix}${step.layer.name}/`,
            alias: new Map(step.nested.model.inputs.map((t, i) => [layerOf(t).name, display(step.producedFrom[i]!)])),
            counter: o.counter,
          }, true);
        } else {
          outs = this.applyStep(step, ins, inMasks, o.prefix);
        }
        // Keras' mask propagation (masks.ts): Embedding(mask_zero) and Masking create a mask,
        // the layers that support masking carry it on, the rest drop it.
        let outMask: (tf.Tensor | null)[] = [];
        if (!step.nested) {
          outMask = tf.tidy(() => outputMask(step.layer, ins, inMasks) as unknown as tf.Tensor[]) as unknown as (tf.Tensor | null)[];
          for (const m of outMask) if (m && !externalMasks.has(m) && !inMasks.includes(m)) ownMasks.push(m);
        }
        for (let i = 0; i < step.outputs.length; i++) {
          const sym = step.outputs[i]!;
          hold(sym.id, outs[i]!);
          masks.set(sym.id, outMask[i] ?? null);
          if (!remaining.has(sym.id) && !keep.has(sym.id)) remaining.set(sym.id, 0);
        }
        for (const x of step.inputs) {
          const n = (remaining.get(x.id) ?? 1) - 1;
          remaining.set(x.id, n);
          if (n <= 0 && !keep.has(x.id)) release(x.id);
        }
        for (let i = 0; i < step.outputs.length; i++) {
          const name = o.prefix + step.names[i]!;
          const index = o.counter.index++;
          const sym = step.outputs[i]!;
          if (!o.record || o.record.has(name)) {
            yield {
              name,
              type: step.type,
              tensor: share(values.get(sym.id)!),
              producedFrom: step.producedFrom.map(display),
              ...(step.layouts[i] ? { layout: step.layouts[i] } : {}),
              ...(step.role ? { role: step.role } : {}),
              index,
              outputIndex: i,
            };
          }
          if (remaining.get(sym.id) === 0 && !keep.has(sym.id)) release(sym.id);
        }
      }
      finished = true;
      return keepOutputs ? this.model.outputs.map((t) => values.get(t.id)!) : [];
    } finally {
      const kept = new Set(finished && keepOutputs ? this.model.outputs.map((t) => values.get(t.id)) : []);
      for (const t of new Set(values.values())) if (!external.has(t) && !kept.has(t)) t.dispose();
      tf.dispose(ownMasks);
    }
  }

  private applyStep(step: Step, ins: tf.Tensor[], inMasks: (tf.Tensor | null)[], prefix: string): tf.Tensor[] {
    // As tfjs' executor: the first input's mask goes to the layer; training is off.
    const kwargs: Record<string, unknown> = {};
    // MultiHeadAttention (mha.ts) takes the mask of each input.
    if (inMasks.some((m) => m !== null)) kwargs.mask = (step.layer as { takesInputMasks?: boolean }).takesInputMasks ? inMasks : inMasks[0];
    try {
      const mask = (kwargs.mask ?? null) as tf.Tensor | null;
      const r = maskedCall(step.layer, ins, inMasks[0] ?? null) ?? tf.tidy(() => step.layer.apply(ins, kwargs) as tf.Tensor | tf.Tensor[]);
      const list = maskOutputs(step.layer, Array.isArray(r) ? r : [r], Array.isArray(mask) ? null : mask);
      if (list.length !== step.outputs.length) throw new Error(`returned ${list.length} outputs, expected ${step.outputs.length}`);
      return list;
    } catch (e) {
      const name = prefix + step.names[0]!.replace(/:\d+$/, '');
      throw new ExecutionError(`${this.source}: layer '${name}' (${step.type}) failed on inputs ${ins.map((t) => shapeToString(t.shape)).join(', ')}: ${errorMessage(e)}`, {
        file: this.source,
        node: name,
        cause: e,
      });
    }
  }

  /** The layer named by an activation name (`a/b@call2:1` -> layer b inside nested model a). */
  layerFor(name: string): Layer {
    const parts = name.split('/');
    let model: tfl.LayersModel = this.model;
    let layer: Layer | undefined;
    for (let i = 0; i < parts.length; i++) {
      const base = parts[i]!.replace(/(@call\d+)?(:\d+)?$/, '');
      layer = model.layers.find((l) => l.name === base);
      if (!layer) throw new InputError(`${this.source}: no layer '${parts.slice(0, i + 1).join('/')}' in the model`, { file: this.source, node: name });
      if (i < parts.length - 1) {
        if (!MODEL_CLASSES.has(layer.getClassName())) throw new InputError(`${this.source}: '${parts.slice(0, i + 1).join('/')}' is not a nested model`, { file: this.source, node: name });
        model = layer as tfl.LayersModel;
      }
    }
    return layer!;
  }

  /** Applies one layer alone to `inputs` (inference mode). The caller owns the result. */
  async runSingle(name: string, inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    const layer = this.layerFor(name);
    try {
      const r = tf.tidy(() => layer.apply(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor | tf.Tensor[]);
      return Array.isArray(r) ? r : [r];
    } catch (e) {
      throw new ExecutionError(`${this.source}: layer '${name}' (${typeName(layer)}) failed on inputs ${inputs.map((t) => shapeToString(t.shape)).join(', ')}: ${errorMessage(e)}`, {
        file: this.source,
        node: name,
        cause: e,
      });
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
