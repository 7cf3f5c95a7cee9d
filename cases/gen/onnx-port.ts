import { attrBool, attrInts, attrString, attrStrings, attrTensor } from '../../src/graph/attrs.js';
import type { Graph, GraphNode } from '../../src/graph/ir.js';
import { parseInputRef } from '../../src/graph/ir.js';
import { onnxRoot } from '../../src/proto/index.js';

/**
 * A TensorFlow graph of convolutions (blazeface's ops: _FusedConv2D with BiasAdd and Relu or
 * Relu6, DepthwiseConv2dNative, AddV2, Relu, MaxPool, Pad, Reshape, Identity; and for other
 * models of the kind, elementwise ops with a constant or per-channel operand, Prelu, Sigmoid,
 * ConcatV2, a mean over height and width, MatMul and Softmax) ported to ONNX the
 * way a hand conversion to PyTorch and its ONNX export would be: NCHW throughout (the NHWC input
 * becomes an NCHW one, every rank-4 activation is NCHW, a Transpose back to NHWC before each
 * reshape keeps the flattened order), HWIO kernels as OIHW, depthwise ones as grouped Convs,
 * TensorFlow's SAME padding as explicit pads, tensor names t0, t1, … that share nothing with
 * the original. It runs under onnxruntime, whose kernels are not tfjs's, so the activations
 * match the original's to rounding, not bitwise: a realistic conversion for the benchmark and the
 * tests, generated from a real model.
 *
 * `fault: 'symmetric-pads'`: the first strided convolution padded the PyTorch way (k // 2 on
 * every side) instead of TensorFlow's SAME (the extra row and column at the end only): the
 * same output shape, a window shifted by one pixel, the classic mistake of such a port.
 * `'kernel-hw'`: one square non-1x1 convolution's kernel with height and width swapped (read as
 * HWIO when it was WHIO). `'weight'`: one convolution's first output channel scaled by 1.1.
 * `'no-activation'`: one convolution's fused activation left out.
 */
export type PortFault = 'none' | 'symmetric-pads' | 'kernel-hw' | 'weight' | 'no-activation';

export interface PortOptions {
  /**
   * For 'kernel-hw', 'weight' and 'no-activation': which of the layers the fault fits it goes in
   * (0-based; default the middle one), so that it sits deep in the network.
   */
  at?: number;
  /** Told the TensorFlow node whose port has the fault. */
  onFault?: (node: string) => void;
}

type Msg = Record<string, unknown>;

export function onnxPortOfGraph(g: Graph, fault: PortFault = 'none', opts: PortOptions = {}): Uint8Array {
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const nodes: Msg[] = [];
  const initializer: Msg[] = [];
  /** TF tensor key -> ONNX tensor name, and whether it is a rank-4 NCHW activation. */
  const names = new Map<string, { name: string; nchw: boolean; shape?: number[] }>();
  let next = 0;
  const fresh = () => `t${next++}`;
  let faulted = false;
  // The layers a per-layer fault fits, in order: the one it goes in is picked once they are counted.
  const fits = (n: GraphNode): boolean => {
    if (!['_FusedConv2D', 'Conv2D', 'DepthwiseConv2dNative'].includes(n.op)) return false;
    const [kh, kw] = constOf(n.inputs[1]!).shape as number[];
    if (fault === 'kernel-hw') return kh === kw && kh! > 1;
    if (fault === 'no-activation') return n.op === '_FusedConv2D' && attrStrings(n, 'fused_ops').length > 1;
    return fault === 'weight';
  };
  const ints = (name: string, v: number[]): Msg => ({ name, type: 7, ints: v });
  const int = (name: string, v: number): Msg => ({ name, type: 2, i: v });
  const init = (dims: number[], data: Float32Array | BigInt64Array): string => {
    const name = fresh();
    initializer.push({ name, dims, data_type: data instanceof Float32Array ? 1 : 7, raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  };
  const add = (op: string, inputs: string[], attribute: Msg[] = []): string => {
    const out = fresh();
    nodes.push({ op_type: op, name: out, input: inputs, output: [out], attribute });
    return out;
  };
  const constOf = (ref: string) => {
    const n = byName.get(parseInputRef(ref).node);
    if (n?.op !== 'Const') throw new Error(`onnxPortOfGraph: '${ref}' is not a constant`);
    return attrTensor(n, 'value');
  };
  const input = (ref: string) => {
    const p = parseInputRef(ref);
    const v = names.get(p.index ? `${p.node}:${p.index}` : p.node);
    if (!v) throw new Error(`onnxPortOfGraph: no value for '${ref}'`);
    return v;
  };
  /** Spatial shape of an NCHW activation, to turn TensorFlow's SAME into explicit pads. */
  const pads = (n: GraphNode, inHW: number[], k: number[], strides: number[]): number[] => {
    const padding = attrString(n, 'padding');
    if (padding === 'VALID') return [0, 0, 0, 0];
    if (padding !== 'SAME') throw new Error(`onnxPortOfGraph: '${n.name}' has padding ${padding}`);
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(inHW[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + k[i]! - inHW[i]!);
      before.push(Math.floor(total / 2));
      after.push(total - Math.floor(total / 2));
    }
    if (fault === 'symmetric-pads' && !faulted && strides.some((s) => s > 1) && before.some((b, i) => b !== after[i])) {
      faulted = true;
      opts.onFault?.(n.name);
      return [Math.floor(k[0]! / 2), Math.floor(k[1]! / 2), Math.floor(k[0]! / 2), Math.floor(k[1]! / 2)];
    }
    return [...before, ...after];
  };
  const outHW = (inHW: number[], k: number[], s: number[], p: number[]) => [0, 1].map((i) => Math.floor((inHW[i]! + p[i]! + p[i + 2]! - k[i]!) / s[i]!) + 1);

  /** A constant operand as an initializer laid out for `like` (an NCHW activation: a per-channel [C] or NHWC [1,1,1,C] becomes [C,1,1] or [1,C,1,1]). */
  const constFor = (ref: string, like: { nchw: boolean; shape?: number[] }): string => {
    const t = constOf(ref);
    const data = Float32Array.from(t.data as Float32Array);
    let dims = t.shape.slice();
    if (like.nchw && dims.length >= 1 && dims.length <= 4 && dims.reduce((a, b) => a * b, 1) > 1) {
      const ch = dims[dims.length - 1]!;
      if (dims.slice(0, -1).some((d) => d !== 1)) throw new Error(`onnxPortOfGraph: constant '${ref}' of shape [${dims}] is not per-channel`);
      dims = dims.length === 4 ? [1, ch, 1, 1] : [ch, 1, 1];
    }
    return init(dims, data);
  };
  const isConst = (ref: string) => byName.get(parseInputRef(ref).node)?.op === 'Const';
  /** The two operands of an elementwise op, either of which may be a constant. */
  const operands = (n: GraphNode): { names: string[]; like: { nchw: boolean; shape?: number[] } } => {
    const [a, b] = n.inputs as [string, string];
    if (isConst(a) && isConst(b)) throw new Error(`onnxPortOfGraph: '${n.name}' has two constant operands`);
    const v = isConst(a) ? input(b) : input(a);
    const other = isConst(a) ? a : b;
    if (isConst(other)) return { names: isConst(a) ? [constFor(a, v), v.name] : [v.name, constFor(b, v)], like: v };
    const y = input(other);
    if (v.nchw !== y.nchw) throw new Error(`onnxPortOfGraph: '${n.name}' combines tensors of two layouts`);
    return { names: [v.name, y.name], like: v };
  };
  /** TF's NHWC axis -> the NCHW axis of the port. */
  const nchwAxis = (a: number) => [0, 2, 3, 1][a < 0 ? a + 4 : a]!;

  const eligible = fault === 'kernel-hw' || fault === 'weight' || fault === 'no-activation' ? g.nodes.filter(fits) : [];
  const target = eligible[opts.at ?? Math.floor(eligible.length / 2)];
  if (eligible.length && !target) throw new Error(`onnxPortOfGraph: no layer ${opts.at} among the ${eligible.length} that fault '${fault}' fits`);

  const spec = g.inputs[0]!;
  // A batch of unknown size is a batch of 1, as the comparison feeds it.
  const [nb, h, w, c] = (spec.shape as number[]).map((d) => (d < 0 ? 1 : d));
  names.set(spec.name, { name: 'input', nchw: true, shape: [nb!, c!, h!, w!] });
  for (const n of g.nodes) {
    if (n.op === 'Const' || n.op === 'Placeholder') continue;
    const x = isConst(n.inputs[0]!) ? input(n.inputs[1]!) : input(n.inputs[0]!);
    let out: string;
    let shape: number[] | undefined;
    let nchw = x.nchw;
    switch (n.op) {
      case '_FusedConv2D':
      case 'Conv2D':
      case 'DepthwiseConv2dNative': {
        if (!x.nchw || !x.shape) throw new Error(`onnxPortOfGraph: '${n.name}' reads a tensor that is not an NCHW activation`);
        if (attrString(n, 'data_format', 'NHWC') !== 'NHWC') throw new Error(`onnxPortOfGraph: '${n.name}' is not NHWC`);
        if (attrInts(n, 'dilations', [1, 1, 1, 1]).some((d) => d !== 1)) throw new Error(`onnxPortOfGraph: '${n.name}' is dilated`);
        const f = constOf(n.inputs[1]!);
        const [kh, kw, ci, co] = f.shape as [number, number, number, number];
        const depthwise = n.op === 'DepthwiseConv2dNative';
        // HWIO -> OIHW; depthwise HWCM -> [C*M, 1, H, W] with group C.
        const oc = depthwise ? ci * co : co;
        const wt = new Float32Array(oc * (depthwise ? 1 : ci) * kh * kw);
        const src = f.data as Float32Array;
        const here = n === target;
        if (here) {
          faulted = true;
          opts.onFault?.(n.name);
        }
        // A kernel read with height and width swapped: element (y, x) from (x, y).
        const swap = here && fault === 'kernel-hw';
        for (let y = 0; y < kh; y++)
          for (let xx = 0; xx < kw; xx++)
            for (let i = 0; i < ci; i++)
              for (let o = 0; o < co; o++) {
                let v = swap ? src[((xx * kw + y) * ci + i) * co + o]! : src[((y * kw + xx) * ci + i) * co + o]!;
                if (here && fault === 'weight' && o === 0) v *= 1.1;
                if (depthwise) wt[((i * co + o) * kh + y) * kw + xx] = v;
                else wt[((o * ci + i) * kh + y) * kw + xx] = v;
              }
        const s = attrInts(n, 'strides').slice(1, 3);
        const inHW = x.shape.slice(2);
        const p = pads(n, inHW, [kh, kw], s);
        const fused = n.op === '_FusedConv2D' ? attrStrings(n, 'fused_ops') : [];
        const ins = [x.name, init([oc, depthwise ? 1 : ci, kh, kw], wt)];
        if (fused[0] === 'BiasAdd') ins.push(init([oc], Float32Array.from(constOf(n.inputs[2]!).data as Float32Array)));
        else if (fused.length) throw new Error(`onnxPortOfGraph: '${n.name}' fuses ${fused.join(', ')}`);
        out = add('Conv', ins, [ints('kernel_shape', [kh, kw]), ints('strides', s), ints('pads', p), ...(depthwise ? [int('group', ci)] : [])]);
        for (const op of fused.slice(here && fault === 'no-activation' ? fused.length : 1)) {
          if (op === 'Relu') out = add('Relu', [out]);
          else if (op === 'Relu6') out = add('Clip', [out, init([], Float32Array.of(0)), init([], Float32Array.of(6))]);
          // The fused PReLU's slopes follow the bias among the inputs.
          else if (op === 'Prelu') out = add('PRelu', [out, constFor(n.inputs[3]!, { nchw: true })]);
          else throw new Error(`onnxPortOfGraph: '${n.name}' fuses ${op}`);
        }
        shape = [x.shape[0]!, oc, ...outHW(inHW, [kh, kw], s, p)];
        break;
      }
      case 'AddV2':
      case 'Add':
      case 'Mul':
      case 'Sub':
      case 'Minimum':
      case 'Maximum': {
        const o = operands(n);
        const op = { AddV2: 'Add', Add: 'Add', Mul: 'Mul', Sub: 'Sub', Minimum: 'Min', Maximum: 'Max' }[n.op]!;
        out = add(op, o.names);
        shape = o.like.shape;
        nchw = o.like.nchw;
        break;
      }
      case 'Relu':
      case 'Sigmoid':
        out = add(n.op, [x.name]);
        shape = x.shape;
        break;
      case 'Prelu':
        out = add('PRelu', [x.name, constFor(n.inputs[1]!, x)]);
        shape = x.shape;
        break;
      case 'Softmax':
        if (x.nchw) throw new Error(`onnxPortOfGraph: '${n.name}' is a softmax over channels of an NCHW activation`);
        out = add('Softmax', [x.name], [int('axis', -1)]);
        shape = x.shape;
        break;
      case 'Mean': {
        // Global average pooling: TF's [1,2] of NHWC is ONNX's [2,3] of NCHW.
        const axes = Array.from(constOf(n.inputs[1]!).data as Int32Array);
        const keep = attrBool(n, 'keep_dims', false);
        if (!x.nchw || !x.shape || axes.map(nchwAxis).sort().join() !== '2,3') throw new Error(`onnxPortOfGraph: '${n.name}' is not a mean over height and width`);
        out = add('ReduceMean', [x.name], [ints('axes', [2, 3]), int('keepdims', keep ? 1 : 0)]);
        shape = keep ? [x.shape[0]!, x.shape[1]!, 1, 1] : [x.shape[0]!, x.shape[1]!];
        nchw = keep;
        break;
      }
      case 'ConcatV2': {
        const parts = n.inputs.slice(0, -1).map((r) => input(r));
        if (parts.some((v) => v.nchw !== x.nchw || !v.shape)) throw new Error(`onnxPortOfGraph: '${n.name}' concatenates tensors of two layouts`);
        const a = (constOf(n.inputs[n.inputs.length - 1]!).data as Int32Array)[0]!;
        const axis = x.nchw ? nchwAxis(a) : a < 0 ? a + x.shape!.length : a;
        out = add('Concat', parts.map((v) => v.name), [int('axis', axis)]);
        shape = x.shape!.map((d, i) => (i === axis ? parts.reduce((t, v) => t + v.shape![i]!, 0) : d));
        break;
      }
      case 'MatMul':
      case '_FusedMatMul': {
        if (x.nchw || !x.shape) throw new Error(`onnxPortOfGraph: '${n.name}' multiplies an NCHW activation`);
        if (attrBool(n, 'transpose_a', false) || attrBool(n, 'transpose_b', false)) throw new Error(`onnxPortOfGraph: '${n.name}' transposes an operand`);
        const wt = constOf(n.inputs[1]!);
        const fused = n.op === '_FusedMatMul' ? attrStrings(n, 'fused_ops') : [];
        const ins = [x.name, init(wt.shape.slice(), Float32Array.from(wt.data as Float32Array))];
        if (fused[0] === 'BiasAdd') ins.push(init([wt.shape[1]!], Float32Array.from(constOf(n.inputs[2]!).data as Float32Array)));
        else if (fused.length) throw new Error(`onnxPortOfGraph: '${n.name}' fuses ${fused.join(', ')}`);
        out = add('Gemm', ins);
        for (const op of fused.slice(1)) {
          if (op === 'Relu') out = add('Relu', [out]);
          else throw new Error(`onnxPortOfGraph: '${n.name}' fuses ${op}`);
        }
        shape = [x.shape[0]!, wt.shape[1]!];
        break;
      }
      case 'MaxPool': {
        if (!x.nchw || !x.shape) throw new Error(`onnxPortOfGraph: '${n.name}' reads a tensor that is not an NCHW activation`);
        const k = attrInts(n, 'ksize').slice(1, 3);
        const s = attrInts(n, 'strides').slice(1, 3);
        const p = pads(n, x.shape.slice(2), k, s);
        out = add('MaxPool', [x.name], [ints('kernel_shape', k), ints('strides', s), ints('pads', p)]);
        shape = [x.shape[0]!, x.shape[1]!, ...outHW(x.shape.slice(2), k, s, p)];
        break;
      }
      case 'Pad': {
        if (!x.nchw || !x.shape) throw new Error(`onnxPortOfGraph: '${n.name}' reads a tensor that is not an NCHW activation`);
        const pd = Array.from(constOf(n.inputs[1]!).data as Int32Array);
        // NHWC [[n0,n1],[h0,h1],[w0,w1],[c0,c1]] -> NCHW begins then ends.
        const order = [0, 3, 1, 2];
        const onnxPads = [...order.map((d) => pd[d * 2]!), ...order.map((d) => pd[d * 2 + 1]!)];
        out = add('Pad', [x.name, init([8], BigInt64Array.from(onnxPads.map(BigInt)))]);
        shape = x.shape.map((d, i) => d + onnxPads[i]! + onnxPads[i + 4]!);
        break;
      }
      case 'Reshape': {
        const target = Array.from(constOf(n.inputs[1]!).data as Int32Array);
        const src = x.nchw ? add('Transpose', [x.name], [ints('perm', [0, 2, 3, 1])]) : x.name;
        out = add('Reshape', [src, init([target.length], BigInt64Array.from(target.map(BigInt)))]);
        const known = x.shape ? x.shape.reduce((a, b) => a * b, 1) : undefined;
        const rest = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        shape = known !== undefined ? target.map((d) => (d === -1 ? known / rest : d)) : undefined;
        nchw = false;
        break;
      }
      case 'Identity':
        out = add('Identity', [x.name]);
        shape = x.shape;
        break;
      default:
        throw new Error(`onnxPortOfGraph: no port for ${n.op} ('${n.name}')`);
    }
    names.set(n.name, { name: out, nchw, shape });
  }
  const valueInfo = (name: string, shape: number[]): Msg => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: shape.map((d) => ({ dim_value: d })) } } } });
  const outputs = g.outputs.map((o) => {
    const v = input(o);
    if (!v.shape) throw new Error(`onnxPortOfGraph: output '${o}' has no known shape`);
    return valueInfo(v.name, v.shape);
  });
  if (fault !== 'none' && !faulted) throw new Error(`onnxPortOfGraph: no layer to put fault '${fault}' in`);
  const model = {
    ir_version: 8,
    producer_name: 'tf-parity cases/gen/onnx-port',
    opset_import: [{ domain: '', version: 13 }],
    graph: { name: 'port', node: nodes, initializer, input: [valueInfo('input', names.get(spec.name)!.shape!)], output: outputs },
  };
  const T = onnxRoot().lookupType('onnx.ModelProto');
  return T.encode(T.fromObject(model)).finish();
}
