import type { HostTensor } from '../core/tensor.js';
import { numElements } from '../core/tensor.js';
import { attrBool, attrDType, attrFloat, attrInt, attrString } from '../graph/attrs.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef, tensorKey } from '../graph/ir.js';
import { normalizeInputName } from '../inputs/spec.js';
import { Interpreter } from '../interpreter/interpreter.js';
import type { CallArg, LiftedLayer, LiftedModel, Unliftable } from './model.js';
import { bilinearMatrix, nearestIndices, type ResizeMode } from './interpolation.js';
import { NameSet, scopeName } from './names.js';
import type { GraphFacts } from './observe.js';

/**
 * Recognition: the original's graph (with the facts observed by running it once) becomes a lifted
 * model, by op patterns and wiring only, never by node names. Each handler below recognises the
 * pattern anchored at one op, absorbing the ops that follow it when they are its only consumers
 * (Conv2D -> BiasAdd -> Relu becomes one Conv2D with activation='relu'). Whatever no handler can
 * express exactly is collected, all at once, as Unliftable entries.
 */

export interface Recognition {
  model: LiftedModel;
  unliftable: Unliftable[];
}

/** TF elementwise activations that Keras' `activation=` argument and Activation layer compute identically. */
const ACTIVATIONS: Record<string, string> = {
  Relu: 'relu', Relu6: 'relu6', Elu: 'elu', Selu: 'selu', Sigmoid: 'sigmoid', Tanh: 'tanh', Softplus: 'softplus', Softsign: 'softsign',
  // TF's Softmax is over the last axis, as Keras' softmax activation.
  Softmax: 'softmax',
};

/** Ops that pass their first input through unchanged. */
const PASS_THROUGH = new Set(['Identity', 'Snapshot', 'StopGradient', 'PreventGradient', 'EnsureShape', 'CheckNumerics']);

/** Binary elementwise ops between two computed tensors -> Keras merge layers. */
const MERGE: Record<string, string> = { Add: 'Add', AddV2: 'Add', Sub: 'Subtract', Mul: 'Multiply', Maximum: 'Maximum', Minimum: 'Minimum' };

/** Binary elementwise ops with a constant operand that no layer expresses -> keras.ops (keras.src.ops.numpy). */
const CONST_ARITHMETIC: Record<string, string> = { Add: 'Add', AddV2: 'Add', Sub: 'Subtract', Mul: 'Multiply', RealDiv: 'Divide', Maximum: 'Maximum', Minimum: 'Minimum', BiasAdd: 'Add' };

type Handler = (r: Recogniser, n: GraphNode) => void;

class Recogniser {
  readonly byName: Map<string, GraphNode>;
  /** Tensor key -> the needed nodes that read it. */
  readonly consumers = new Map<string, GraphNode[]>();
  /** TF tensor key -> lifted tensor id, where they differ (pass-through ops, absorbed ops). */
  readonly alias = new Map<string, string>();
  readonly claimed = new Set<string>();
  readonly layers: LiftedLayer[] = [];
  readonly problems = new Map<string, string[]>();
  readonly names = new NameSet();
  /** Per emitted layer: the name it asks for, and the node it is named after. */
  readonly naming: { base: string; node: string }[] = [];
  readonly outputKeys: Set<string>;
  /** Lifted tensors whose dtype is not float32 (integer inputs, and what is computed from them before a Cast). */
  readonly dtypes = new Map<string, string>();

  constructor(readonly graph: Graph, readonly facts: GraphFacts, readonly order: readonly GraphNode[], outputs: string[]) {
    this.byName = new Map(graph.nodes.map((n) => [n.name, n]));
    this.outputKeys = new Set(outputs.map(keyOf));
    for (const n of order) {
      for (const ref of n.inputs) {
        if (ref.startsWith('^')) continue;
        const k = keyOf(ref);
        this.consumers.set(k, [...(this.consumers.get(k) ?? []), n]);
      }
    }
  }

  problem(what: string, node: GraphNode | string): void {
    const name = typeof node === 'string' ? node : node.name;
    this.problems.set(what, [...(this.problems.get(what) ?? []), name]);
  }

  isDynamic(ref: string): boolean {
    return this.facts.dynamic.has(parseInputRef(ref).node);
  }

  /** The value of a tensor that depends on no input (observed, or the Const node's own value). */
  constant(ref: string): HostTensor | undefined {
    const k = keyOf(ref);
    const seen = this.facts.constants.get(k);
    if (seen) return seen;
    const n = this.byName.get(parseInputRef(ref).node);
    const v = n?.op === 'Const' ? n.attrs.value : undefined;
    return v?.type === 'tensor' ? v.value : undefined;
  }

  shape(ref: string): number[] | undefined {
    return this.facts.shapes.get(keyOf(ref));
  }

  /** The lifted tensor that stands for a TF tensor. */
  tensor(ref: string): string {
    const k = keyOf(ref);
    return this.alias.get(k) ?? k;
  }

  dataInputs(n: GraphNode): string[] {
    return n.inputs.filter((r) => !r.startsWith('^'));
  }

  /** The only consumer of a tensor, when it has exactly one and is not a model output. */
  soleConsumer(key: string): GraphNode | undefined {
    if (this.outputKeys.has(key)) return undefined;
    const c = this.consumers.get(key) ?? [];
    return c.length === 1 && !this.claimed.has(c[0]!.name) ? c[0] : undefined;
  }

  /** Emits a layer standing for the TF tensor `outKey`; `nodes[0]` names it. */
  emit(l: Omit<LiftedLayer, 'name' | 'output' | 'shape' | 'module' | 'kind'> & { kind?: 'layer' | 'op'; module?: string; name?: string; outShape?: number[]; fullShape?: boolean }, outKey: string): string {
    // Named after the node whose output the layer is (a fused Conv2D+BiasAdd+Relu after the Relu's scope); made unique at the end.
    const outNode = parseInputRef(outKey).node;
    const nameNode = l.nodes.includes(outNode) ? outNode : l.nodes[0] ?? outNode;
    const name = l.name ?? scopeName(nameNode);
    this.naming.push({ base: name, node: nameNode });
    const shape = l.outShape ?? this.shape(outKey);
    const out = `${outKey}#${this.layers.length}`;
    // Every TF op lift emits keeps its input's dtype, except Cast (which states its own).
    const first = l.args.find((a) => a.kind === 'tensor' || a.kind === 'tensors');
    const dtype = l.dtype ?? (first ? this.dtypes.get(first.kind === 'tensor' ? first.tensor : first.tensors[0]!) : undefined);
    if (dtype && dtype !== 'float32') this.dtypes.set(out, dtype);
    this.layers.push({
      kind: l.kind ?? 'layer',
      module: l.module ?? 'keras.layers',
      className: l.className,
      config: l.config,
      weights: l.weights,
      args: l.args,
      nodes: l.nodes,
      name,
      output: out,
      ...(this.facts.shapes.has(outKey) ? { stands: outKey } : {}),
      ...(dtype && dtype !== 'float32' ? { dtype } : {}),
      shape: shape ? (l.fullShape ? shape.slice() : [null, ...shape.slice(1)]) : [],
    });
    for (const n of l.nodes) this.claimed.add(n);
    this.alias.set(outKey, out);
    return out;
  }

  /** Whether a lifted tensor's axis 0 has a size Keras knows (written by an op with its full shape). */
  staticBatch(ref: string): boolean {
    const t = this.tensor(ref);
    const l = this.layers.find((x) => x.output === t);
    return !!l && l.shape.length > 0 && l.shape[0] !== null;
  }

  /** A following BiasAdd of the same layout (or Add of a constant vector over the channel axis): the bias and its node. */
  absorbBias(key: string, channels: number, layout: Layout = NHWC): { bias: HostTensor; node: GraphNode } | undefined {
    const c = this.soleConsumer(key);
    if (!c) return undefined;
    const ins = this.dataInputs(c);
    const rank = this.shape(key)?.length ?? 0;
    if ((c.op === 'BiasAdd' || c.op === 'BiasAddV1') && ins.length === 2 && keyOf(ins[0]!) === key && (rank <= 2 || attrString(c, 'data_format', 'NHWC') === layout.tf)) {
      const b = this.constant(ins[1]!);
      return b && numElements(b.shape) === channels ? { bias: b, node: c } : undefined;
    }
    if ((c.op === 'Add' || c.op === 'AddV2') && ins.length === 2) {
      const other = keyOf(ins[0]!) === key ? ins[1]! : keyOf(ins[1]!) === key ? ins[0]! : undefined;
      const b = other !== undefined ? this.constant(other) : undefined;
      if (b && channelAxisOf(b, channels, rank) === (layout.first && rank > 2 ? 1 : rank - 1)) return { bias: { ...b, shape: [channels] }, node: c };
    }
    return undefined;
  }

  /** A following elementwise activation that Keras' `activation=` computes identically. */
  absorbActivation(key: string): { name: string; nodes: GraphNode[] } | undefined {
    const c = this.soleConsumer(key);
    const a = c ? ACTIVATIONS[c.op] : undefined;
    if (!c || !a) return undefined;
    // relu then clip at 6 (tf.clip_by_value(relu(x), 0, 6), as Keras' relu6 is often exported): relu6.
    const clip = c.op === 'Relu' ? clipAfterRelu(this, c.name) : undefined;
    if (clip && clip.hi === 6) return { name: 'relu6', nodes: [c, ...clip.nodes] };
    return { name: a, nodes: [c] };
  }
}

function keyOf(ref: string): string {
  const p = parseInputRef(normalizeInputName(ref));
  return tensorKey(p.node, p.index);
}

/** A constant that is a scalar or has one non-1 dimension, the last, of length `channels`. */
function lastAxisVector(t: HostTensor, channels: number): boolean {
  const n = numElements(t.shape);
  if (n !== channels) return false;
  return t.shape.slice(0, -1).every((d) => d === 1);
}

/**
 * The axis of a tensor of rank `rank` along which a constant of `channels` values varies when
 * broadcast against it (numpy rules: its shape aligned to the right): the last axis for a vector
 * or [1,..,C]; axis 1 for [C,1,1] or [1,C,1,1] (NCHW per-channel constants). undefined otherwise.
 */
function channelAxisOf(t: HostTensor, channels: number, rank: number): number | undefined {
  if (numElements(t.shape) !== channels || t.shape.length > rank) return undefined;
  if (channels === 1) return rank - 1;
  const at = t.shape.findIndex((d) => d !== 1);
  if (at < 0 || t.shape.slice(at + 1).some((d) => d !== 1)) return undefined;
  return rank - t.shape.length + at;
}

/**
 * A TF data_format as Keras sees it: NHWC is channels_last, NCHW channels_first (Keras layers
 * take `data_format='channels_first'` and keep TF's kernel layout). `spatial` picks the H, W
 * entries of a 4-element TF attribute (strides, ksize, dilations).
 */
interface Layout {
  tf: 'NHWC' | 'NCHW';
  first: boolean;
  keras: 'channels_last' | 'channels_first';
  /** Channel axis of a rank-4 tensor. */
  channelAxis: 1 | 3;
  spatial(a: number[]): [number, number];
}

const NHWC: Layout = { tf: 'NHWC', first: false, keras: 'channels_last', channelAxis: 3, spatial: (a) => [a[1]!, a[2]!] };
const NCHW: Layout = { tf: 'NCHW', first: true, keras: 'channels_first', channelAxis: 1, spatial: (a) => [a[2]!, a[3]!] };

function floats(t: HostTensor): Float32Array {
  return Float32Array.from(t.data as ArrayLike<number>);
}

function ints(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function f32(shape: number[], data: Float32Array): HostTensor {
  return { dtype: 'float32', shape, data };
}

/** A per-channel vector of length c from a scalar or a last-axis vector. */
function channelVector(t: HostTensor, c: number): Float32Array | undefined {
  const n = numElements(t.shape);
  const v = floats(t);
  if (n === 1) return new Float32Array(c).fill(v[0]!);
  return lastAxisVector(t, c) ? v : undefined;
}

function listInts(n: GraphNode, name: string, def: number[]): number[] {
  const a = n.attrs[name];
  return a && a.type === 'list' ? a.ints : def;
}

function padding(n: GraphNode): string {
  return attrString(n, 'padding', 'VALID').toLowerCase();
}

/** The variance and epsilon for which a BatchNormalization computes exactly x*gamma + beta. */
const UNIT_BN = (() => {
  const epsilon = 0.001;
  // moving_variance + epsilon must be exactly 1 in float32 so that rsqrt is exactly 1.
  const variance = Math.fround(1 - epsilon);
  return { epsilon, variance };
})();

/** The node's data_format (NHWC or NCHW); any other is a problem. */
function layoutOf(r: Recogniser, n: GraphNode): Layout | undefined {
  const f = attrString(n, 'data_format', 'NHWC');
  if (f === 'NHWC') return NHWC;
  if (f === 'NCHW') return NCHW;
  r.problem(`${n.op} with data_format ${f} (NHWC and NCHW graphs lift)`, n);
  return undefined;
}

/** The activation after a conv/dense: fused (in _Fused* ops) or the next op; returns the final tensor key and extra nodes. */
function convTail(r: Recogniser, n: GraphNode, key: string, channels: number, fused: string[], layout: Layout = NHWC): { bias?: HostTensor; activation: string; nodes: string[]; key: string; after?: { className: string; config: Record<string, unknown>; weights: LiftedLayer['weights']; node: string } } | undefined {
  const nodes: string[] = [];
  let bias: HostTensor | undefined;
  let activation = 'linear';
  let after: { className: string; config: Record<string, unknown>; weights: LiftedLayer['weights']; node: string } | undefined;
  if (fused.length) {
    const ins = r.dataInputs(n);
    const [first, ...rest] = fused;
    if (first !== 'BiasAdd') {
      r.problem(`${n.op} with fused_ops [${fused.join(', ')}]`, n);
      return undefined;
    }
    bias = r.constant(ins[2]!);
    if (!bias) {
      r.problem(`${n.op} with a computed bias`, n);
      return undefined;
    }
    const act = rest[0];
    if (rest.length > 1) {
      r.problem(`${n.op} with fused_ops [${fused.join(', ')}]`, n);
      return undefined;
    }
    if (act && ACTIVATIONS[act]) activation = ACTIVATIONS[act]!;
    else if (act === 'LeakyRelu') after = { className: 'LeakyReLU', config: { negative_slope: attrFloat(n, 'leakyrelu_alpha', 0.2) }, weights: [], node: n.name };
    else if (act === 'Prelu') {
      // _FusedConv2D(x, filter, bias, alpha): PReLU with a per-channel alpha.
      const alpha = ins[3] ? r.constant(ins[3]) : undefined;
      const shape = r.shape(n.name);
      const vec = alpha && shape ? channelVector(alpha, channels) : undefined;
      if (!vec || !shape) {
        r.problem(`${n.op} with a fused Prelu whose alpha is not a per-channel constant`, n);
        return undefined;
      }
      const rank = shape.length;
      if (layout.first) {
        r.problem(`${n.op} with a fused Prelu in NCHW`, n);
        return undefined;
      }
      after = { className: 'PReLU', config: { shared_axes: Array.from({ length: rank - 2 }, (_, i) => i + 1) }, weights: [{ name: 'alpha', value: f32([...Array(rank - 2).fill(1), channels], vec) }], node: n.name };
    }
    else if (act) {
      r.problem(`${n.op} with fused activation ${act}`, n);
      return undefined;
    }
    return { bias, activation, nodes, key, ...(after ? { after } : {}) };
  }
  const b = r.absorbBias(key, channels, layout);
  if (b) {
    bias = b.bias;
    nodes.push(b.node.name);
    key = b.node.name;
  }
  const a = r.absorbActivation(key);
  if (a) {
    activation = a.name;
    nodes.push(...a.nodes.map((x) => x.name));
    key = a.nodes[a.nodes.length - 1]!.name;
  }
  return { ...(bias ? { bias } : {}), activation, nodes, key };
}

function emitWithTail(r: Recogniser, n: GraphNode, className: string, config: Record<string, unknown>, kernel: LiftedLayer['weights'][number] | LiftedLayer['weights'], input: string, channels: number, tail: NonNullable<ReturnType<typeof convTail>>, before: string[] = []): void {
  const weights = [...(Array.isArray(kernel) ? kernel : [kernel]), ...(tail.bias ? [{ name: 'bias', value: f32([channels], floats(tail.bias)) }] : [])];
  // With a fused LeakyRelu/Prelu, the activation layer after the convolution is what the node computes: it gets the scope's name.
  const base = scopeName(n.name);
  const own = tail.after ? { name: `${base}_${className.toLowerCase()}` } : {};
  const out = r.emit({ className, config: { ...config, activation: tail.activation, use_bias: !!tail.bias }, weights, args: [{ kind: 'tensor', tensor: input }], nodes: [n.name, ...before, ...tail.nodes], ...own }, tail.key);
  if (tail.after) {
    r.emit({ className: tail.after.className, config: tail.after.config, weights: tail.after.weights, args: [{ kind: 'tensor', tensor: out }], nodes: [], name: base }, tail.key + ':act');
    r.alias.set(tail.key, r.tensor(tail.key + ':act'));
    // The fused node's output is the activation's; the convolution before it is a helper.
    const [conv, act] = r.layers.slice(-2);
    delete conv!.stands;
    act!.stands = tail.key;
  }
}

/** EXPLICIT padding becomes a ZeroPadding2D before the layer (valid padding). Returns the input tensor. */
function explicitPadding(r: Recogniser, n: GraphNode, input: string, layout: Layout = NHWC): { input: string; padding: string } | undefined {
  const p = padding(n);
  if (p !== 'explicit') return { input, padding: p };
  const e = listInts(n, 'explicit_paddings', []);
  const c = layout.channelAxis;
  if (e.length !== 8 || e[0] || e[1] || e[2 * c] || e[2 * c + 1]) {
    r.problem(`${n.op} with explicit_paddings on the batch or channel axis`, n);
    return undefined;
  }
  const [h, w] = layout.first ? [4, 6] : [2, 4];
  const out = r.emit({ className: 'ZeroPadding2D', config: { padding: [[e[h], e[h + 1]], [e[w], e[w + 1]]], data_format: layout.keras }, weights: [], args: [{ kind: 'tensor', tensor: input }], nodes: [], name: `${scopeName(n.name)}_pad` }, `${n.name}:pad`);
  return { input: out, padding: 'valid' };
}

function conv2d(r: Recogniser, n: GraphNode): void {
  const layout = layoutOf(r, n);
  if (!layout) return;
  const [x, f] = r.dataInputs(n);
  const kernel = r.constant(f!);
  if (!kernel || r.isDynamic(f!)) return r.problem(`${n.op} with a computed filter`, n);
  const [kh, kw, kin, cout] = kernel.shape as [number, number, number, number];
  const inShape = r.shape(x!);
  const groups = inShape ? inShape[layout.channelAxis]! / kin : 1;
  const strides = layout.spatial(listInts(n, 'strides', [1, 1, 1, 1]));
  const dil = layout.spatial(listInts(n, 'dilations', [1, 1, 1, 1]));
  const fused = n.op === '_FusedConv2D' ? (n.attrs.fused_ops?.type === 'list' ? n.attrs.fused_ops.strings : []) : [];
  const tail = convTail(r, n, n.name, cout, fused, layout);
  if (!tail) return;
  const pad = explicitPadding(r, n, r.tensor(x!), layout);
  if (!pad) return;
  emitWithTail(r, n, 'Conv2D', {
    filters: cout, kernel_size: [kh, kw], strides, padding: pad.padding, data_format: layout.keras,
    dilation_rate: dil, groups,
  }, { name: 'kernel', value: f32([kh, kw, kin, cout], floats(kernel)) }, pad.input, cout, tail);
}

function depthwise(r: Recogniser, n: GraphNode): void {
  const layout = layoutOf(r, n);
  if (!layout) return;
  const [x, f] = r.dataInputs(n);
  const kernel = r.constant(f!);
  if (!kernel || r.isDynamic(f!)) return r.problem(`${n.op} with a computed filter`, n);
  const [kh, kw, cin, mult] = kernel.shape as [number, number, number, number];
  const strides = layout.spatial(listInts(n, 'strides', [1, 1, 1, 1]));
  const dil = layout.spatial(listInts(n, 'dilations', [1, 1, 1, 1]));
  const fused = n.op === 'FusedDepthwiseConv2dNative' ? (n.attrs.fused_ops?.type === 'list' ? n.attrs.fused_ops.strings : []) : [];
  const depthwiseKernel = { name: 'depthwise_kernel', value: f32([kh, kw, cin, mult], floats(kernel)) };
  const pw = fused.length ? undefined : pointwiseAfter(r, n, cin * mult, layout, strides, dil);
  if (pw) {
    // depthwise -> 1x1 conv: one SeparableConv2D (Keras: depthwise with the strides, padding and dilation, then the 1x1 conv, bias, activation).
    const tail = convTail(r, pw.node, pw.node.name, pw.filters, pw.fused, layout);
    if (!tail) return;
    const pad = explicitPadding(r, n, r.tensor(x!), layout);
    if (!pad) return;
    r.claimed.add(n.name);
    emitWithTail(r, pw.node, 'SeparableConv2D', {
      depth_multiplier: mult, filters: pw.filters, kernel_size: [kh, kw], strides, padding: pad.padding, data_format: layout.keras, dilation_rate: dil,
    }, [depthwiseKernel, { name: 'pointwise_kernel', value: f32([1, 1, cin * mult, pw.filters], floats(pw.kernel)) }], pad.input, pw.filters, tail, [n.name]);
    return;
  }
  const tail = convTail(r, n, n.name, cin * mult, fused, layout);
  if (!tail) return;
  const pad = explicitPadding(r, n, r.tensor(x!), layout);
  if (!pad) return;
  emitWithTail(r, n, 'DepthwiseConv2D', {
    kernel_size: [kh, kw], strides, padding: pad.padding, data_format: layout.keras, dilation_rate: dil, depth_multiplier: mult,
  }, depthwiseKernel, pad.input, cin * mult, tail);
}

/**
 * The 1x1 convolution a depthwise convolution's output goes to and nowhere else (stride 1, no
 * dilation, same layout, a constant kernel): with it the pair is exactly Keras' SeparableConv2D,
 * which runs the depthwise step with the strides and dilation and the pointwise step at stride 1
 * (tf.nn.separable_conv2d). Keras refuses strides > 1 together with dilation > 1.
 */
function pointwiseAfter(r: Recogniser, n: GraphNode, channels: number, layout: Layout, strides: number[], dil: number[]): { node: GraphNode; kernel: HostTensor; filters: number; fused: string[] } | undefined {
  const c = r.soleConsumer(n.name);
  if (!c || (c.op !== 'Conv2D' && c.op !== '_FusedConv2D')) return undefined;
  const [input, f] = r.dataInputs(c);
  if (keyOf(input!) !== n.name || attrString(c, 'data_format', 'NHWC') !== layout.tf) return undefined;
  if (Math.max(...strides) > 1 && Math.max(...dil) > 1) return undefined;
  const kernel = r.constant(f!);
  if (!kernel || r.isDynamic(f!) || kernel.shape.length !== 4 || kernel.shape[0] !== 1 || kernel.shape[1] !== 1 || kernel.shape[2] !== channels) return undefined;
  if (listInts(c, 'strides', [1, 1, 1, 1]).some((v) => v !== 1) || listInts(c, 'dilations', [1, 1, 1, 1]).some((v) => v !== 1)) return undefined;
  // A 1x1 kernel at stride 1 pads nothing under SAME or VALID; EXPLICIT padding would.
  if (padding(c) === 'explicit' && listInts(c, 'explicit_paddings', []).some((v) => v !== 0)) return undefined;
  const fused = c.op === '_FusedConv2D' ? (c.attrs.fused_ops?.type === 'list' ? c.attrs.fused_ops.strings : []) : [];
  return { node: c, kernel, filters: kernel.shape[3]!, fused };
}

/** Keras' deconv_output_length without output_padding. */
function transposeLength(input: number, kernel: number, stride: number, pad: string): number {
  return pad === 'valid' ? input * stride + Math.max(kernel - stride, 0) : input * stride;
}

function convTranspose(r: Recogniser, n: GraphNode): void {
  const layout = layoutOf(r, n);
  if (!layout) return;
  const [sizes, f, x] = r.dataInputs(n);
  const kernel = r.constant(f!);
  const outSize = r.constant(sizes!);
  if (!kernel || !outSize || r.isDynamic(f!)) return r.problem(`${n.op} with a computed filter or output size`, n);
  const [kh, kw, cout, cin] = kernel.shape as [number, number, number, number];
  const strides = layout.spatial(listInts(n, 'strides', [1, 1, 1, 1]));
  const dil = layout.spatial(listInts(n, 'dilations', [1, 1, 1, 1]));
  const p = padding(n);
  const inShape = r.shape(x!);
  const inHW = inShape ? layout.spatial(inShape) : undefined;
  const want = layout.spatial(ints(outSize));
  if (!inHW || p === 'explicit' || dil[0] !== 1 || dil[1] !== 1 || transposeLength(inHW[0], kh, strides[0], p) !== want[0] || transposeLength(inHW[1], kw, strides[1], p) !== want[1]) {
    return r.problem(`${n.op} whose output size needs output_padding or dilation (Keras' Conv2DTranspose computes another size)`, n);
  }
  const tail = convTail(r, n, n.name, cout, [], layout);
  if (!tail) return;
  emitWithTail(r, n, 'Conv2DTranspose', {
    filters: cout, kernel_size: [kh, kw], strides, padding: p, data_format: layout.keras, dilation_rate: [1, 1],
  }, { name: 'kernel', value: f32([kh, kw, cout, cin], floats(kernel)) }, r.tensor(x!), cout, tail);
}

function matmul(r: Recogniser, n: GraphNode): void {
  const [a, b] = r.dataInputs(n);
  const w = r.constant(b!);
  const ta = n.op === 'MatMul' || n.op === '_FusedMatMul' ? attrBool(n, 'transpose_a', false) : attrBool(n, 'adj_x', false);
  const tb = n.op === 'MatMul' || n.op === '_FusedMatMul' ? attrBool(n, 'transpose_b', false) : attrBool(n, 'adj_y', false);
  if (!w || r.isDynamic(b!) || !r.isDynamic(a!) || ta || w.shape.length !== 2) return r.problem(`${n.op} other than input x constant 2-D weights`, n);
  let [k, units] = w.shape as [number, number];
  let kernel = floats(w);
  if (tb) {
    [k, units] = [units, k];
    const t = new Float32Array(k * units);
    for (let i = 0; i < k; i++) for (let j = 0; j < units; j++) t[i * units + j] = kernel[j * k + i]!;
    kernel = t;
  }
  const fused = n.op === '_FusedMatMul' ? (n.attrs.fused_ops?.type === 'list' ? n.attrs.fused_ops.strings : []) : [];
  const tail = convTail(r, n, n.name, units, fused);
  if (!tail) return;
  emitWithTail(r, n, 'Dense', { units }, { name: 'kernel', value: f32([k, units], kernel) }, r.tensor(a!), units, tail);
}

function batchNorm(r: Recogniser, n: GraphNode): void {
  const layout = layoutOf(r, n);
  if (!layout) return;
  if (attrBool(n, 'is_training', true)) return r.problem(`${n.op} in training mode (is_training=true: it normalises by the batch's own statistics)`, n);
  const [x, scale, offset, mean, variance] = r.dataInputs(n);
  const vals = [scale, offset, mean, variance].map((i) => r.constant(i!));
  if (vals.some((v) => !v)) return r.problem(`${n.op} with computed statistics`, n);
  const c = numElements(vals[0]!.shape);
  const weights = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((name, i) => ({ name, value: f32([c], floats(vals[i]!)) }));
  r.emit({ className: 'BatchNormalization', config: { axis: layout.first ? 1 : -1, epsilon: attrFloat(n, 'epsilon', 0.0001), center: true, scale: true }, weights, args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
}

/** An activation op on its own -> Activation / ReLU / LeakyReLU / Softmax / PReLU layers. */
function activation(r: Recogniser, n: GraphNode): void {
  const [x, alpha] = r.dataInputs(n);
  const arg: CallArg[] = [{ kind: 'tensor', tensor: r.tensor(x!) }];
  if (n.op === 'Relu' && reluClip(r, n, x!)) return;
  if (ACTIVATIONS[n.op]) {
    r.emit({ className: 'Activation', config: { activation: ACTIVATIONS[n.op] }, weights: [], args: arg, nodes: [n.name] }, n.name);
  } else if (n.op === 'LeakyRelu') {
    r.emit({ className: 'LeakyReLU', config: { negative_slope: attrFloat(n, 'alpha', 0.2) }, weights: [], args: arg, nodes: [n.name] }, n.name);
  } else if (n.op === 'Prelu') {
    const a = r.constant(alpha!);
    const shape = r.shape(x!);
    if (!a || !shape) return r.problem('Prelu with a computed alpha', n);
    emitPrelu(r, [n.name], x!, floats(a), a.shape, shape, n.name);
  }
}

/** After a Relu: min(., hi), then optionally max(., 0) (a no-op after relu): tf.clip_by_value. */
function clipAfterRelu(r: Recogniser, relu: string): { hi: number; nodes: GraphNode[] } | undefined {
  const min = r.soleConsumer(relu);
  if (min?.op !== 'Minimum') return undefined;
  const hiRef = r.dataInputs(min).find((i) => keyOf(i) !== relu);
  const hi = hiRef && !r.isDynamic(hiRef) ? scalar(r.constant(hiRef)!) : undefined;
  if (hi === undefined || hi < 0) return undefined;
  const max = r.soleConsumer(min.name);
  const loRef = max?.op === 'Maximum' ? r.dataInputs(max).find((i) => keyOf(i) !== min.name) : undefined;
  if (max && loRef && !r.isDynamic(loRef) && scalar(r.constant(loRef)!) === 0) return { hi, nodes: [min, max] };
  return { hi, nodes: [min] };
}

/** relu(x) then clip at hi -> ReLU(max_value=hi). */
function reluClip(r: Recogniser, n: GraphNode, x: string): boolean {
  const clip = clipAfterRelu(r, n.name);
  if (!clip) return false;
  const last = clip.nodes[clip.nodes.length - 1]!.name;
  r.emit({ className: 'ReLU', config: { max_value: clip.hi }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x) }], nodes: [n.name, ...clip.nodes.map((c) => c.name)] }, last);
  return true;
}

/** PReLU(alpha) over a tensor of `shape`: alpha shared over every axis but those where it varies. */
function emitPrelu(r: Recogniser, nodes: string[], x: string, alpha: Float32Array, alphaShape: number[], shape: number[], outKey: string): void {
  const rank = shape.length;
  const c = shape[rank - 1]!;
  const vec = channelVector({ dtype: 'float32', shape: alphaShape, data: alpha }, c);
  if (!vec) return r.problem('PReLU with an alpha that is not per-channel', nodes[0]!);
  const shared = Array.from({ length: rank - 2 }, (_, i) => i + 1);
  const wshape = [...Array(rank - 2).fill(1), c];
  r.emit({ className: 'PReLU', config: { shared_axes: shared.length ? shared : null }, weights: [{ name: 'alpha', value: f32(wshape, vec) }], args: [{ kind: 'tensor', tensor: r.tensor(x) }], nodes }, outKey);
}

/**
 * `relu(x) - a*relu(-x)` (or `relu(x) + (-a)*relu(-x)`): Keras 2's PReLU as TF graphs hold it,
 * matched at the Sub/Add that ends it when every inner tensor feeds only the pattern.
 */
interface PreluMatch {
  x: string;
  alpha: Float32Array;
  alphaShape: number[];
  /** Inner nodes, then the anchor. */
  nodes: string[];
}

function matchPrelu(r: Recogniser, n: GraphNode): PreluMatch | undefined {
  if (n.op !== 'Sub' && n.op !== 'Add' && n.op !== 'AddV2') return undefined;
  const ins = r.dataInputs(n);
  if (ins.length !== 2) return undefined;
  const node = (ref: string) => r.byName.get(parseInputRef(ref).node);
  const single = (ref: string) => (r.consumers.get(keyOf(ref)) ?? []).length === 1 && !r.outputKeys.has(keyOf(ref));
  for (const [posRef, negRef] of [[ins[0]!, ins[1]!], [ins[1]!, ins[0]!]] as const) {
    if (n.op === 'Sub' && posRef !== ins[0]) continue;
    const pos = node(posRef);
    const mul = node(negRef);
    if (pos?.op !== 'Relu' || mul?.op !== 'Mul') continue;
    const mins = r.dataInputs(mul);
    const constIdx = mins.findIndex((m) => !r.isDynamic(m));
    if (constIdx < 0) continue;
    const alpha = r.constant(mins[constIdx]!);
    const negRelu = node(mins[1 - constIdx]!);
    if (!alpha || negRelu?.op !== 'Relu') continue;
    const neg = node(r.dataInputs(negRelu)[0]!);
    if (neg?.op !== 'Neg') continue;
    const x = r.dataInputs(pos)[0]!;
    if (keyOf(r.dataInputs(neg)[0]!) !== keyOf(x)) continue;
    if (![posRef, negRef, mins[1 - constIdx]!, r.dataInputs(negRelu)[0]!].every(single)) continue;
    const a = floats(alpha).map((v) => (n.op === 'Sub' ? v : -v));
    return { x, alpha: a, alphaShape: alpha.shape, nodes: [pos.name, neg.name, negRelu.name, mul.name, n.name] };
  }
  return undefined;
}

function prelu(r: Recogniser, n: GraphNode): boolean {
  const m = matchPrelu(r, n);
  const shape = m ? r.shape(m.x) : undefined;
  if (!m || !shape) return false;
  emitPrelu(r, [n.name, ...m.nodes.slice(0, -1)], m.x, m.alpha, m.alphaShape, shape, n.name);
  return true;
}

/**
 * x*scale (+ offset) and x + offset with per-channel constants -> BatchNormalization that computes
 * exactly that, over the last axis or, for NCHW's [C,1,1]-shaped constants, axis 1.
 */
function affineConstant(r: Recogniser, n: GraphNode, x: string, c: HostTensor): boolean {
  const shape = r.shape(x);
  if (!shape || shape.length < 2) return false;
  const rank = shape.length;
  const axis = numElements(c.shape) === 1 ? rank - 1 : channelAxisOf(c, numElements(c.shape), rank);
  if (axis === undefined || (axis !== rank - 1 && axis !== 1) || (axis !== rank - 1 && shape[axis] === 1)) return false;
  const ch = shape[axis]!;
  const layout = axis === rank - 1 ? NHWC : NCHW;
  const vector = (t: HostTensor): Float32Array | undefined => {
    if (numElements(t.shape) === 1) return new Float32Array(ch).fill(floats(t)[0]!);
    return channelAxisOf(t, ch, rank) === axis ? floats(t) : undefined;
  };
  const v = vector(c);
  if (!v || (r.shape(n.name) ?? []).join() !== shape.join()) return false;
  let gamma: Float32Array = new Float32Array(ch).fill(1);
  let beta: Float32Array = new Float32Array(ch);
  const nodes = [n.name];
  let key = n.name;
  if (n.op === 'Mul') {
    gamma = v;
    const next = r.absorbBias(key, ch, layout);
    const sub = r.soleConsumer(key);
    if (next) {
      beta = floats(next.bias);
      nodes.push(next.node.name);
      key = next.node.name;
    } else if (sub?.op === 'Sub' && keyOf(r.dataInputs(sub)[0]!) === key && !r.isDynamic(r.dataInputs(sub)[1]!)) {
      const off = vector(r.constant(r.dataInputs(sub)[1]!)!);
      if (off) {
        beta = off.map((o) => -o);
        nodes.push(sub.name);
        key = sub.name;
      }
    }
  } else if (n.op === 'Sub') beta = v.map((o) => -o);
  else beta = v;
  const weights = [
    { name: 'gamma', value: f32([ch], gamma) },
    { name: 'beta', value: f32([ch], beta) },
    { name: 'moving_mean', value: f32([ch], new Float32Array(ch)) },
    { name: 'moving_variance', value: f32([ch], new Float32Array(ch).fill(UNIT_BN.variance)) },
  ];
  r.emit({ className: 'BatchNormalization', config: { axis: axis === rank - 1 ? -1 : 1, epsilon: UNIT_BN.epsilon, center: true, scale: true }, weights, args: [{ kind: 'tensor', tensor: r.tensor(x) }], nodes }, key);
  return true;
}

/** A keras.ops operation in the functional graph (keras.src.ops.*), as Keras serialises it. */
function emitOp(r: Recogniser, n: GraphNode, module: string, className: string, config: Record<string, unknown>, args: CallArg[], outKey = n.name): void {
  r.emit({ kind: 'op', module, className, config, weights: [], args, nodes: [n.name] }, outKey);
}

function constArg(t: HostTensor): CallArg {
  return numElements(t.shape) === 1 && t.shape.length === 0 ? { kind: 'value', value: Number((t.data as ArrayLike<number | bigint>)[0]) } : { kind: 'array', value: t };
}

function binary(r: Recogniser, n: GraphNode): void {
  const biasLayout = n.op === 'BiasAdd' ? layoutOf(r, n) : NHWC;
  if (!biasLayout) return;
  if (prelu(r, n)) return;
  const [a, b] = r.dataInputs(n);
  const da = r.isDynamic(a!);
  const db = r.isDynamic(b!);
  if (da && db) {
    const cls = MERGE[n.op];
    if (!cls) return r.problem(`${n.op} of two computed tensors`, n);
    const sa = r.shape(a!);
    const sb = r.shape(b!);
    if (!sa || !sb || sa.length !== sb.length) return r.problem(`${n.op} of tensors of different ranks (no merge layer broadcasts them)`, n);
    r.emit({ className: cls, config: {}, weights: [], args: [{ kind: 'tensors', tensors: [r.tensor(a!), r.tensor(b!)] }], nodes: [n.name] }, n.name);
    return;
  }
  const x = da ? a! : b!;
  let c = r.constant(da ? b! : a!);
  if (!c) return r.problem(`${n.op} with an unknown constant`, n);
  // BiasAdd NCHW adds its vector on axis 1: as a [C,1,1] constant it broadcasts there.
  const rank = r.shape(x)?.length ?? 0;
  if (n.op === 'BiasAdd' && biasLayout.first && rank > 2) c = { ...c, shape: [numElements(c.shape), ...Array(rank - 2).fill(1)] };
  if ((n.op === 'Maximum' || n.op === 'Minimum') && clip(r, n, x, c)) return;
  // x op c, with c per-channel: BatchNormalization computes x*c, x+c and x-c exactly.
  if (da && ['Mul', 'Add', 'AddV2', 'Sub', 'BiasAdd'].includes(n.op) && affineConstant(r, n, x, c)) return;
  if (!da && ['Mul', 'Add', 'AddV2'].includes(n.op) && affineConstant(r, n, x, c)) return;
  const cls = CONST_ARITHMETIC[n.op];
  if (!cls) return r.problem(`${n.op} with a constant operand`, n);
  const args: CallArg[] = da ? [{ kind: 'tensor', tensor: r.tensor(x) }, constArg(c)] : [constArg(c), { kind: 'tensor', tensor: r.tensor(x) }];
  emitOp(r, n, 'keras.src.ops.numpy', cls, {}, args);
}

function scalar(t: HostTensor): number | undefined {
  return numElements(t.shape) === 1 ? Number((t.data as ArrayLike<number>)[0]) : undefined;
}

/**
 * max(x, 0) -> ReLU; min(max(x, 0), hi) and max(min(x, hi), 0) (tf.clip_by_value, Keras' relu6
 * as tfjs exports it) -> ReLU(max_value=hi): exact, as hi >= 0.
 */
function clip(r: Recogniser, n: GraphNode, x: string, c: HostTensor): boolean {
  const v = scalar(c);
  if (v === undefined) return false;
  const next = r.soleConsumer(n.name);
  const nextIns = next ? r.dataInputs(next) : [];
  const otherConst = next && nextIns.length === 2 ? nextIns.find((i) => keyOf(i) !== n.name && !r.isDynamic(i)) : undefined;
  const w = otherConst ? scalar(r.constant(otherConst) ?? { dtype: 'float32', shape: [2], data: new Float32Array(2) }) : undefined;
  const relu = (maxValue: number | null, nodes: string[], key: string) => {
    r.emit({ className: 'ReLU', config: { max_value: maxValue, negative_slope: 0, threshold: 0 }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x) }], nodes }, key);
    return true;
  };
  if (n.op === 'Maximum' && v === 0) {
    if (next?.op === 'Minimum' && w !== undefined && w >= 0) return relu(w, [n.name, next.name], next.name);
    return relu(null, [n.name], n.name);
  }
  if (n.op === 'Minimum' && v >= 0 && next?.op === 'Maximum' && w === 0) return relu(v, [n.name, next!.name], next!.name);
  return false;
}

/** AddN of computed tensors -> Add. */
function addN(r: Recogniser, n: GraphNode): void {
  const ins = r.dataInputs(n);
  if (ins.some((i) => !r.isDynamic(i))) return r.problem('AddN with constant terms', n);
  if (ins.length === 1) {
    r.alias.set(n.name, r.tensor(ins[0]!));
    return;
  }
  r.emit({ className: 'Add', config: {}, weights: [], args: [{ kind: 'tensors', tensors: ins.map((i) => r.tensor(i)) }], nodes: [n.name] }, n.name);
}

function pool(r: Recogniser, n: GraphNode): void {
  const layout = layoutOf(r, n);
  if (!layout) return;
  const k = listInts(n, 'ksize', []);
  const s = listInts(n, 'strides', []);
  const c = layout.channelAxis;
  if (k.length !== 4 || k[0] !== 1 || k[c] !== 1 || s[0] !== 1 || s[c] !== 1) return r.problem(`${n.op} over the batch or channel axis`, n);
  const [x] = r.dataInputs(n);
  r.emit({ className: n.op === 'MaxPool' ? 'MaxPooling2D' : 'AveragePooling2D', config: { pool_size: layout.spatial(k), padding: padding(n), strides: layout.spatial(s), data_format: layout.keras }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
}

function reduce(r: Recogniser, n: GraphNode): void {
  const [x, axesRef] = r.dataInputs(n);
  const axesT = r.constant(axesRef!);
  const shape = r.shape(x!);
  if (!axesT || !shape) return r.problem(`${n.op} over computed axes`, n);
  const rank = shape.length;
  const axes = [...new Set(ints(axesT).map((a) => (a < 0 ? a + rank : a)))].sort();
  const keep = attrBool(n, 'keep_dims', false);
  // Over axes 1,2 (NHWC's H, W) or 2,3 (NCHW's): global pooling in that layout, exact whatever the axes mean.
  const layout = rank === 4 ? (axes.join() === '1,2' ? NHWC : axes.join() === '2,3' ? NCHW : undefined) : undefined;
  if (layout && (n.op === 'Mean' || n.op === 'Max')) {
    const cls = n.op === 'Mean' ? 'GlobalAveragePooling2D' : 'GlobalMaxPooling2D';
    if (!keep) {
      r.emit({ className: cls, config: { data_format: layout.keras, keepdims: false }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
      return;
    }
    // keepdims=True as pooling then Reshape: both stock, and exact.
    const pooled = r.emit({ className: cls, config: { data_format: layout.keras, keepdims: false }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, `${n.name}:pooled`);
    const c = shape[layout.channelAxis]!;
    r.emit({ className: 'Reshape', config: { target_shape: layout.first ? [c, 1, 1] : [1, 1, c] }, weights: [], args: [{ kind: 'tensor', tensor: pooled }], nodes: [], name: `${scopeName(n.name)}_keepdims` }, n.name);
    return;
  }
  const cls = { Mean: 'Mean', Max: 'Max', Min: 'Min', Sum: 'Sum', Prod: 'Prod' }[n.op];
  if (!cls || axes.includes(0)) return r.problem(`${n.op} over the batch axis`, n);
  emitOp(r, n, 'keras.src.ops.numpy', cls, { axis: axes, keepdims: keep }, [{ kind: 'tensor', tensor: r.tensor(x!) }]);
}

function pad(r: Recogniser, n: GraphNode): void {
  const [x, pRef, vRef] = r.dataInputs(n);
  const p = r.constant(pRef!);
  const value = vRef ? r.constant(vRef) : undefined;
  if (!p) return r.problem(`${n.op} with computed paddings`, n);
  const v = ints(p);
  const zero = !value || Number((value.data as ArrayLike<number>)[0]) === 0;
  if (v.length === 8 && !v[0] && !v[1] && !v[6] && !v[7] && zero) {
    r.emit({ className: 'ZeroPadding2D', config: { padding: [[v[2], v[3]], [v[4], v[5]]], data_format: 'channels_last' }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
    return;
  }
  // Zeros around axes 2 and 3 (NCHW's H, W; on NHWC, W and the channels, as blazeface widens its
  // residuals): ZeroPadding2D channels_first pads exactly those axes.
  if (v.length === 8 && !v[0] && !v[1] && !v[2] && !v[3] && zero) {
    r.emit({ className: 'ZeroPadding2D', config: { padding: [[v[4], v[5]], [v[6], v[7]]], data_format: 'channels_first' }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
    return;
  }
  const rank = v.length / 2;
  if (v[0] || v[1]) return r.problem(`${n.op} of the batch axis`, n);
  const inShape = r.shape(x!);
  if (zero && inShape && rank >= 3 && v.slice(2, -2).every((p) => p === 0)) return padChannels(r, n, x!, inShape, v[v.length - 2]!, v[v.length - 1]!);
  // keras.ops.pad(x, pad_width, mode='constant', constant_values=c): Pad(pad_width, mode) called on (x, constant_values).
  const pairs = Array.from({ length: rank }, (_, i) => [v[2 * i]!, v[2 * i + 1]!]);
  const cv = value ? Number((value.data as ArrayLike<number>)[0]) : 0;
  r.emit({ kind: 'op', module: 'keras.src.ops.numpy', className: 'Pad', config: { pad_width: pairs, mode: 'constant' }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }, ...(cv !== 0 ? [{ kind: 'value' as const, value: cv }] : [])], nodes: [n.name] }, n.name);
}

/**
 * Zeros before/after the channels (blazeface's residual widening): data movement only, as stock
 * layers: Reshape to (positions, C), Permute to (C, positions), ZeroPadding1D, Permute back, Reshape.
 */
function padChannels(r: Recogniser, n: GraphNode, x: string, shape: number[], lo: number, hi: number): void {
  const spatial = shape.slice(1, -1);
  const c = shape[shape.length - 1]!;
  const positions = numElements(spatial);
  const base = scopeName(n.name);
  let t = r.tensor(x);
  const step = (className: string, config: Record<string, unknown>, suffix: string, key: string) => {
    t = r.emit({ className, config, weights: [], args: [{ kind: 'tensor', tensor: t }], nodes: [], name: `${base}_${suffix}` }, key);
  };
  step('Reshape', { target_shape: [positions, c] }, 'rows', `${n.name}:rows`);
  step('Permute', { dims: [2, 1] }, 'channels_first', `${n.name}:cf`);
  step('ZeroPadding1D', { padding: [lo, hi] }, 'pad', `${n.name}:pad`);
  step('Permute', { dims: [2, 1] }, 'channels_last', `${n.name}:cl`);
  r.emit({ className: 'Reshape', config: { target_shape: [...spatial, c + lo + hi] }, weights: [], args: [{ kind: 'tensor', tensor: t }], nodes: [n.name] }, n.name);
}

function concat(r: Recogniser, n: GraphNode): void {
  const ins = r.dataInputs(n);
  const axisRef = n.op === 'Concat' ? ins[0]! : ins[ins.length - 1]!;
  const parts = n.op === 'Concat' ? ins.slice(1) : ins.slice(0, -1);
  const axisT = r.constant(axisRef);
  if (!axisT) return r.problem(`${n.op} over a computed axis`, n);
  if (parts.some((p) => !r.isDynamic(p))) return r.problem(`${n.op} with constant parts`, n);
  const rank = (r.shape(parts[0]!) ?? []).length;
  let axis = ints(axisT)[0]!;
  if (axis < 0) axis += rank;
  if (axis === 0) return r.problem(`${n.op} over the batch axis`, n);
  r.emit({ className: 'Concatenate', config: { axis: axis === rank - 1 ? -1 : axis }, weights: [], args: [{ kind: 'tensors', tensors: parts.map((p) => r.tensor(p)) }], nodes: [n.name] }, n.name);
}

function reshape(r: Recogniser, n: GraphNode): void {
  const [x] = r.dataInputs(n);
  const inShape = r.shape(x!);
  const outShape = r.shape(n.name);
  if (!inShape || !outShape) return r.problem(`${n.op} of unknown shape`, n);
  if (outShape[0] !== inShape[0] || ((n.op === 'ExpandDims' || n.op === 'Squeeze') && touchesAxis0(r, n, inShape.length))) return batchAxisOp(r, n, x!, inShape);
  const args: CallArg[] = [{ kind: 'tensor', tensor: r.tensor(x!) }];
  if (outShape.length === 2 && inShape.length > 2) r.emit({ className: 'Flatten', config: { data_format: 'channels_last' }, weights: [], args, nodes: [n.name] }, n.name);
  else r.emit({ className: 'Reshape', config: { target_shape: outShape.slice(1) }, weights: [], args, nodes: [n.name] }, n.name);
}

/** Whether an ExpandDims/Squeeze adds or removes axis 0 (what a Reshape layer, which keeps the batch axis, cannot do). */
function touchesAxis0(r: Recogniser, n: GraphNode, inRank: number): boolean {
  if (n.op === 'Squeeze') {
    const dims = listInts(n, 'squeeze_dims', []);
    return dims.length === 0 || dims.some((d) => d === 0 || d === -inRank);
  }
  const a = r.constant(r.dataInputs(n)[1]!);
  const d = a ? ints(a)[0]! : NaN;
  return d === 0 || d === -(inRank + 1);
}

/**
 * ExpandDims/Squeeze on axis 0 (movenet unstacks its batch of one, then restores it):
 * keras.ops.expand_dims / keras.ops.squeeze with the axis, written with the full static shape.
 */
function batchAxisOp(r: Recogniser, n: GraphNode, x: string, inShape: number[]): void {
  if (n.op === 'ExpandDims') {
    const a = r.constant(r.dataInputs(n)[1]!);
    if (!a) return r.problem(`${n.op} on a computed axis`, n);
    const axis = ints(a)[0]!;
    r.emit({ kind: 'op', module: 'keras.src.ops.numpy', className: 'ExpandDims', config: { axis: axis < 0 ? axis + inShape.length + 1 : axis }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x) }], nodes: [n.name], fullShape: true }, n.name);
    return;
  }
  if (n.op === 'Squeeze') {
    const dims = listInts(n, 'squeeze_dims', []);
    const axes = (dims.length ? dims : inShape.flatMap((d, i) => (d === 1 ? [i] : []))).map((d) => (d < 0 ? d + inShape.length : d));
    // Keras' squeeze refuses an axis whose size it does not know is 1: only after a static batch axis (an ExpandDims/reshape before).
    if (!r.staticBatch(x)) return r.problem(`${n.op} of the batch axis of an input of unknown batch size`, n);
    r.emit({ kind: 'op', module: 'keras.src.ops.numpy', className: 'Squeeze', config: { axis: axes.length === 1 ? axes[0] : axes }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x) }], nodes: [n.name], fullShape: true }, n.name);
    return;
  }
  r.problem(`${n.op} that changes the batch dimension`, n);
}

function transpose(r: Recogniser, n: GraphNode): void {
  const [x, pRef] = r.dataInputs(n);
  const p = r.constant(pRef!);
  if (!p) return r.problem(`${n.op} with a computed permutation`, n);
  const perm = ints(p);
  if (perm[0] === 0) {
    r.emit({ className: 'Permute', config: { dims: perm.slice(1) }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
    return;
  }
  emitOp(r, n, 'keras.src.ops.numpy', 'Transpose', { axes: perm }, [{ kind: 'tensor', tensor: r.tensor(x!) }]);
}

function resize(r: Recogniser, n: GraphNode): void {
  const [x, sizeRef] = r.dataInputs(n);
  const size = r.constant(sizeRef!);
  const inShape = r.shape(x!);
  if (!size || !inShape) return r.problem(`${n.op} to a computed size`, n);
  const [oh, ow] = ints(size) as [number, number];
  const align = attrBool(n, 'align_corners', false);
  const half = attrBool(n, 'half_pixel_centers', false);
  const fy = oh / inShape[1]!;
  const fx = ow / inShape[2]!;
  // Keras' UpSampling2D 'nearest' repeats rows and columns: TF's nearest neighbour for integer factors without align_corners.
  if (n.op === 'ResizeNearestNeighbor' && !align && Number.isInteger(fy) && Number.isInteger(fx)) {
    r.emit({ className: 'UpSampling2D', config: { size: [fy, fx], data_format: 'channels_last', interpolation: 'nearest' }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
    return;
  }
  // keras.ops.image.resize is tf.image.resize: half-pixel centres, no corner alignment, no antialiasing.
  if (n.op === 'ResizeBilinear' && !align && half) {
    r.emit({ kind: 'op', module: 'keras.src.ops.image', className: 'Resize', config: { size: [oh, ow], interpolation: 'bilinear', antialias: false, crop_to_aspect_ratio: false, pad_to_aspect_ratio: false, fill_mode: 'constant', fill_value: 0.0, data_format: 'channels_last' }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name] }, n.name);
    return;
  }
  if (align && half) return r.problem(`${n.op} with align_corners and half_pixel_centers both set (TF refuses it)`, n);
  resizeAsOps(r, n, x!, [inShape[1]!, inShape[2]!], [oh, ow], { alignCorners: align, halfPixelCenters: half });
}

/**
 * A resize no stock layer computes (TF1's legacy bilinear, align_corners, nearest by other
 * factors) as keras.ops on constants, axis by axis (W, then H): nearest takes the source rows
 * and columns (`ops.take`); bilinear takes the lower and upper neighbours and computes TF's own
 * `lo + (hi - lo) * lerp` (resize_bilinear_op.cc compute_lerp: along x first, then y), so every
 * output is the same float32 expression of the same two values TF uses.
 */
function resizeAsOps(r: Recogniser, n: GraphNode, x: string, inHW: [number, number], outHW: [number, number], mode: ResizeMode): void {
  const base = scopeName(n.name);
  const outShape = r.shape(n.name)!;
  let shape = r.shape(x)!.slice();
  let t = r.tensor(x);
  const int32 = (v: number[]): CallArg => ({ kind: 'array', value: { dtype: 'int32', shape: [v.length], data: Int32Array.from(v) } });
  // Per axis (W, then H as TF lerps): source indices and lerp weights; an axis that maps every position to itself is skipped.
  const plans = ([2, 1] as const).map((axis) => {
    const [i, o] = [inHW[axis - 1], outHW[axis - 1]];
    if (n.op === 'ResizeNearestNeighbor') return { axis, o, lower: nearestIndices(i, o, mode), upper: [] as number[], lerp: new Float32Array(o) };
    const m = bilinearMatrix(i, o, mode);
    const lower: number[] = [];
    const upper: number[] = [];
    const lerp = new Float32Array(o);
    for (let k = 0; k < o; k++) {
      const nz = Array.from(m.subarray(k * i, (k + 1) * i)).flatMap((v, j) => (v !== 0 ? [j] : []));
      lower.push(nz[0]!);
      upper.push(nz[nz.length - 1]!);
      lerp[k] = nz.length > 1 ? m[k * i + nz[nz.length - 1]!]! : 0;
    }
    return { axis, o, lower, upper, lerp };
  }).filter((p) => p.lerp.some((v) => v !== 0) || p.lower.length !== inHW[p.axis - 1] || p.lower.some((v, k) => v !== k));
  if (!plans.length) {
    r.alias.set(n.name, t);
    return;
  }
  plans.forEach((p, idx) => {
    const last = idx === plans.length - 1;
    const label = p.axis === 2 ? 'cols' : 'rows';
    const key = last ? n.name : `${n.name}:${label}`;
    shape = shape.map((d, k) => (k === p.axis ? outShape[k]! : d));
    const op = (className: string, args: CallArg[], suffix: string | null, config: Record<string, unknown> = {}) => {
      const final = suffix === null;
      return r.emit({
        kind: 'op', module: 'keras.src.ops.numpy', className, config, weights: [], args,
        nodes: final && last ? [n.name] : [], name: final && last ? base : `${base}_${label}${final ? '' : `_${suffix}`}`, outShape: shape,
      }, final ? key : `${key}:${suffix}`);
    };
    const smooth = p.lerp.some((v) => v !== 0);
    const lo = op('Take', [{ kind: 'tensor', tensor: t }, int32(p.lower)], smooth ? 'lower' : null, { axis: p.axis });
    if (!smooth) {
      t = lo;
      return;
    }
    const hi = op('Take', [{ kind: 'tensor', tensor: t }, int32(p.upper)], 'upper', { axis: p.axis });
    const diff = op('Subtract', [{ kind: 'tensor', tensor: hi }, { kind: 'tensor', tensor: lo }], 'diff');
    const scaled = op('Multiply', [{ kind: 'tensor', tensor: diff }, { kind: 'array', value: f32(p.axis === 2 ? [1, 1, p.o, 1] : [1, p.o, 1, 1], p.lerp) }], 'scaled');
    t = op('Add', [{ kind: 'tensor', tensor: lo }, { kind: 'tensor', tensor: scaled }], null);
  });
}

function squeeze(r: Recogniser, n: GraphNode): void {
  reshape(r, n);
}

/**
 * Pack (tf.stack) of computed tensors along a non-batch axis -> keras.ops.stack (keras/src/ops/numpy.py
 * Stack(axis), called on the list): TF OD API's nearest_neighbor_upsampling stacks a tensor with
 * itself before a reshape.
 */
function pack(r: Recogniser, n: GraphNode): void {
  const parts = r.dataInputs(n);
  const rank = (r.shape(parts[0]!) ?? []).length;
  let axis = attrInt(n, 'axis', 0);
  if (axis < 0) axis += rank + 1;
  if (parts.some((p) => !r.isDynamic(p))) return r.problem(`${n.op} with constant parts`, n);
  if (axis === 0) return r.problem(`${n.op} over the batch axis`, n);
  r.emit({ kind: 'op', module: 'keras.src.ops.numpy', className: 'Stack', config: { axis }, weights: [], args: [{ kind: 'tensors', tensors: parts.map((p) => r.tensor(p)) }], nodes: [n.name] }, n.name);
}

/** Integer dtypes a lifted model takes as inputs (Keras InputLayer dtype); the graph casts them to float. */
const INTEGER_INPUTS = new Set(['int32', 'uint8', 'int8', 'uint16', 'int16']);

/** Dtypes a TF Cast may produce in a lifted model (keras.ops.cast to the same dtype, as TF's Cast computes it). */
const CAST_TARGETS = new Set(['float32', 'int32']);

/** Cast -> keras.ops.cast (keras/src/ops/core.py Cast(dtype)), its output in the target dtype. */
function cast(r: Recogniser, n: GraphNode): void {
  const [x] = r.dataInputs(n);
  const to = attrDType(n, 'DstT');
  if (!CAST_TARGETS.has(to)) return r.problem(`${n.op} to ${to} (lifted casts go to ${[...CAST_TARGETS].join(' or ')})`, n);
  r.emit({ kind: 'op', module: 'keras.src.ops.core', className: 'Cast', config: { dtype: to }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name], dtype: to }, n.name);
}

/**
 * Unpack (tf.unstack) into one tensor (num=1), reading its only output: exactly a reshape to the
 * output's shape (TF requires the unstacked axis to be 1, and so does the reshape's element
 * count). Emitted as keras.ops.reshape with the full static shape, which Keras accepts from an
 * input of unknown batch size (unlike squeeze(axis=0)).
 */
function unpack(r: Recogniser, n: GraphNode): void {
  const [x] = r.dataInputs(n);
  const num = attrInt(n, 'num', 0);
  const out = r.shape(n.name);
  if (num !== 1 || !out) return r.problem(`${n.op} into ${num} tensors (only num=1 lifts, as a reshape)`, n);
  const readers = [...r.consumers.keys()].filter((k) => parseInputRef(k).node === n.name && parseInputRef(k).index !== 0);
  if (readers.length) return r.problem(`${n.op} whose outputs past the first are read`, n);
  r.emit({ kind: 'op', module: 'keras.src.ops.numpy', className: 'Reshape', config: { newshape: out }, weights: [], args: [{ kind: 'tensor', tensor: r.tensor(x!) }], nodes: [n.name], fullShape: true }, n.name);
}

const HANDLERS: Record<string, Handler> = {
  Conv2D: conv2d, _FusedConv2D: conv2d,
  DepthwiseConv2dNative: depthwise, FusedDepthwiseConv2dNative: depthwise,
  Conv2DBackpropInput: convTranspose,
  MatMul: matmul, _FusedMatMul: matmul, BatchMatMul: matmul, BatchMatMulV2: matmul,
  FusedBatchNorm: batchNorm, FusedBatchNormV2: batchNorm, FusedBatchNormV3: batchNorm,
  ...Object.fromEntries(Object.keys(ACTIVATIONS).map((k) => [k, activation])),
  LeakyRelu: activation, Prelu: activation,
  Add: binary, AddV2: binary, Sub: binary, Mul: binary, RealDiv: binary, Maximum: binary, Minimum: binary, BiasAdd: binary,
  MaxPool: pool, AvgPool: pool, AddN: addN,
  Mean: reduce, Max: reduce, Min: reduce, Sum: reduce, Prod: reduce,
  Pad: pad, PadV2: pad,
  ConcatV2: concat, Concat: concat,
  Reshape: reshape, Squeeze: squeeze, ExpandDims: reshape,
  Cast: cast, Unpack: unpack, Pack: pack,
  Transpose: transpose,
  ResizeNearestNeighbor: resize, ResizeBilinear: resize,
};

/**
 * Unique names: where several layers come from one scope, the last (the scope's output, what the
 * original's `model/conv2d_5/...` stands for) keeps the scope's name and the others add their
 * op's own name (`add_1_addn`), then a number where still taken.
 */
function uniqueNames(r: Recogniser): void {
  const last = new Map<string, number>();
  r.naming.forEach((n, i) => last.set(n.base, i));
  const order = [...r.naming.keys()].sort((a, b) => Number(last.get(r.naming[b]!.base) === b) - Number(last.get(r.naming[a]!.base) === a));
  for (const i of order) {
    const { base, node } = r.naming[i]!;
    let want = base;
    if (last.get(base) !== i || r.names.has(base)) {
      const own = node.split('/').pop()!.replace(/[^A-Za-z0-9_]/g, '_').toLowerCase();
      want = own && own !== base && own.length <= 40 ? `${base}_${own}` : base;
    }
    r.layers[i]!.name = r.names.take(want);
  }
}

export interface RecogniseOptions {
  outputs: string[];
  name: string;
}

/** Recognises the lifted model; every problem is collected (none thrown). */
export function recognise(graph: Graph, facts: GraphFacts, opts: RecogniseOptions): Recognition {
  const interp = new Interpreter(graph, { outputs: opts.outputs });
  const order = interp.executionOrder().filter((n) => facts.dynamic.has(n.name));
  interp.dispose();
  const r = new Recogniser(graph, facts, order, opts.outputs);
  const inputs = facts.inputs.map((s) => {
    const original = normalizeInputName(s.name);
    const name = r.names.take(original.replace(/[^A-Za-z0-9_.-]/g, '_'));
    return { name, original, shape: [null, ...s.shape!.slice(1)], dtype: s.dtype, tensor: original };
  });
  for (const i of inputs) if (i.dtype !== 'float32') r.dtypes.set(i.tensor, i.dtype);
  for (const s of facts.inputs) if (s.dtype !== 'float32' && !INTEGER_INPUTS.has(s.dtype)) r.problem(`input of dtype ${s.dtype} (lifted models take float32 and ${[...INTEGER_INPUTS].join('/')} inputs)`, normalizeInputName(s.name));
  const inputNodes = new Set(inputs.map((i) => parseInputRef(i.original).node));
  // Patterns whose first ops come before their anchor in execution order: their inner ops wait for the anchor.
  const deferred = new Set<string>();
  for (const n of order) for (const inner of matchPrelu(r, n)?.nodes.slice(0, -1) ?? []) deferred.add(inner);
  for (const n of order) {
    if (r.claimed.has(n.name) || inputNodes.has(n.name) || deferred.has(n.name)) continue;
    if (PASS_THROUGH.has(n.op)) {
      r.alias.set(n.name, r.tensor(r.dataInputs(n)[0]!));
      continue;
    }
    const h = HANDLERS[n.op];
    if (!h) {
      r.problem(n.op, n);
      continue;
    }
    try {
      h(r, n);
    } catch (e) {
      r.problem(`${n.op} (${e instanceof Error ? e.message : String(e)})`, n);
    }
  }
  uniqueNames(r);
  const outputs = opts.outputs.map((o) => ({ tensor: r.tensor(o), original: keyOf(o) }));
  for (const o of outputs) if (!r.isDynamic(o.original)) r.problem('output that depends on no input', o.original);
  const model: LiftedModel = { name: opts.name, inputs, layers: r.layers, outputs };
  return { model, unliftable: [...r.problems.entries()].map(([what, nodes]) => ({ what, nodes })) };
}
