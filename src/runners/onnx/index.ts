import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type * as ortTypes from 'onnxruntime-node';
import { ExecutionError, FormatError, InputError, ParityError, UnsupportedError, errorMessage } from '../../core/errors.js';
import type { Activation, Feeds, RunOptions, Runner } from '../../core/runner.js';
import type { TensorSpec } from '../../core/tensor.js';
import type { DType } from '../../core/dtype.js';
import { onnxRoot } from '../../proto/index.js';

/**
 * ONNX candidates through onnxruntime-node. The model is rewritten so every node output is also
 * a graph output, run once, and the values are yielded in the graph's (topological) node order.
 * 4-D/5-D outputs are marked NCHW/NCDHW: ONNX operators work channels-first, so alignment
 * transposes them to the reference's NHWC (a model transposed to NHWC itself still aligns,
 * because the transform is chosen by the values).
 */

type Msg = Record<string, unknown>;

const ELEM: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64' };
const ELEM_OF: Partial<Record<string, number>> = { float32: 1, int32: 6, bool: 9, int64: 7, float64: 11, uint8: 2, int8: 3, float16: 10 };

let ortMod: typeof ortTypes | undefined;
async function ort(): Promise<typeof ortTypes> {
  if (!ortMod) ortMod = (await import('onnxruntime-node')) as unknown as typeof ortTypes;
  return ortMod;
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v ?? 0);
}

interface NodeInfo {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
}

function modelType() {
  return onnxRoot().lookupType('onnx.ModelProto');
}

export class OnnxRunner implements Runner {
  readonly kind = 'onnx';
  private session: ortTypes.InferenceSession | undefined;
  private readonly nodes: NodeInfo[];
  private readonly initializers: Set<string>;
  private readonly specs: TensorSpec[];
  private readonly inputElem = new Map<string, number>();

  constructor(readonly source: string, private readonly model: Msg) {
    const graph = (model.graph as Msg | undefined) ?? {};
    this.initializers = new Set(((graph.initializer as Msg[] | undefined) ?? []).map((t) => String(t.name)));
    this.nodes = ((graph.node as Msg[] | undefined) ?? []).map((n, i) => ({
      name: String(n.name || `${String(n.op_type)}_${i}`),
      op: String(n.op_type ?? ''),
      inputs: ((n.input as string[] | undefined) ?? []).map(String),
      outputs: ((n.output as string[] | undefined) ?? []).map(String).filter(Boolean),
    }));
    this.specs = ((graph.input as Msg[] | undefined) ?? [])
      .filter((v) => !this.initializers.has(String(v.name)))
      .map((v) => {
        const tt = ((v.type as Msg | undefined)?.tensor_type as Msg | undefined) ?? {};
        const elem = num(tt.elem_type);
        this.inputElem.set(String(v.name), elem);
        const dims = (((tt.shape as Msg | undefined)?.dim as Msg[] | undefined) ?? []).map((d) => (Object.prototype.hasOwnProperty.call(d, 'dim_value') ? num(d.dim_value) : -1));
        return { name: String(v.name), dtype: ELEM[elem] ?? 'float32', shape: tt.shape ? dims : null };
      });
  }

  inputs(): TensorSpec[] {
    return this.specs;
  }

  outputs(): string[] {
    return (((this.model.graph as Msg).output as Msg[] | undefined) ?? []).map((o) => String(o.name));
  }

  private async ensureSession(): Promise<ortTypes.InferenceSession> {
    if (this.session) return this.session;
    const T = modelType();
    const m = T.fromObject(this.model) as unknown as Msg;
    const graph = m.graph as Msg & { output: Msg[] };
    const existing = new Set(graph.output.map((o) => String(o.name)));
    const V = onnxRoot().lookupType('onnx.ValueInfoProto');
    for (const n of this.nodes) for (const o of n.outputs) if (!existing.has(o)) graph.output.push(V.fromObject({ name: o }) as unknown as Msg);
    const bytes = T.encode(m as never).finish();
    const o = await ort();
    try {
      this.session = await o.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', executionProviders: ['cpu'] });
    } catch (e) {
      const msg = errorMessage(e);
      const op = /Could not find an implementation for (\S+)|No Op registered for (\S+)/.exec(msg);
      if (op) {
        const name = op[1] ?? op[2]!;
        throw new UnsupportedError(`${this.source}: onnxruntime cannot run op '${name}': ${msg.split('\n')[0]}`, [{ op: name, nodes: this.nodes.filter((n) => n.op === name.replace(/\(.*$/, '')).map((n) => n.name) }], { file: this.source });
      }
      throw new FormatError(`${this.source}: onnxruntime refused the model: ${msg.split('\n')[0]}`, { file: this.source, cause: e });
    }
    return this.session;
  }

  private toOrt(o: typeof ortTypes, name: string, t: tf.Tensor, elem: number | undefined): ortTypes.Tensor {
    const shape = t.shape.slice();
    const data = t.dataSync() as Float32Array | Int32Array | Uint8Array;
    switch (elem ?? ELEM_OF[t.dtype]) {
      case 7: return new o.Tensor('int64', BigInt64Array.from(Array.from(data, (v) => BigInt(Math.trunc(v)))), shape);
      case 6: return new o.Tensor('int32', Int32Array.from(data), shape);
      case 9: return new o.Tensor('bool', Uint8Array.from(data, (v) => (v ? 1 : 0)), shape);
      case 11: return new o.Tensor('float64', Float64Array.from(data), shape);
      case 2: return new o.Tensor('uint8', Uint8Array.from(data), shape);
      case 3: return new o.Tensor('int8', Int8Array.from(data), shape);
      case 1: return new o.Tensor('float32', Float32Array.from(data), shape);
      default: throw new InputError(`${this.source}: input '${name}' has an element type tf-parity cannot feed (${elem})`, { file: this.source, node: name });
    }
  }

  private fromOrt(t: ortTypes.Tensor, name: string): tf.Tensor {
    const shape = t.dims.map(Number);
    const d = t.data as unknown;
    switch (t.type) {
      case 'float32': return tf.tensor(d as Float32Array, shape, 'float32');
      case 'float64': case 'float16': return tf.tensor(Float32Array.from(d as ArrayLike<number>), shape, 'float32');
      case 'int32': case 'int8': case 'uint8': case 'int16': case 'uint16': return tf.tensor(Int32Array.from(d as ArrayLike<number>), shape, 'int32');
      case 'int64': case 'uint64': {
        const b = d as BigInt64Array;
        const out = new Int32Array(b.length);
        for (let i = 0; i < b.length; i++) {
          const v = b[i]!;
          if (v > 2147483647n || v < -2147483648n) throw new ExecutionError(`${this.source}: output '${name}' holds int64 ${v}, outside int32 (tfjs computes integers in int32)`, { file: this.source, node: name });
          out[i] = Number(v);
        }
        return tf.tensor(out, shape, 'int32');
      }
      case 'bool': return tf.tensor(Uint8Array.from(d as ArrayLike<number>), shape, 'bool');
      default: throw new ExecutionError(`${this.source}: output '${name}' has type ${t.type}, which cannot be compared`, { file: this.source, node: name });
    }
  }

  async *run(feeds: Feeds, opts: RunOptions = {}): AsyncIterable<Activation> {
    const session = await this.ensureSession();
    const o = await ort();
    const ortFeeds: Record<string, ortTypes.Tensor> = {};
    for (const s of this.specs) {
      const t = feeds.get(s.name) ?? feeds.get(s.name.replace(/:0$/, ''));
      if (!t) throw new InputError(`${this.source}: no feed for input '${s.name}' (feeds: ${[...feeds.keys()].join(', ')})`, { file: this.source, node: s.name });
      ortFeeds[s.name] = this.toOrt(o, s.name, t, this.inputElem.get(s.name));
    }
    let results: ortTypes.InferenceSession.OnnxValueMapType;
    try {
      results = await session.run(ortFeeds);
    } catch (e) {
      throw new ExecutionError(`${this.source}: onnxruntime failed: ${errorMessage(e).split('\n')[0]}`, { file: this.source, cause: e });
    }
    const record = opts.record && opts.record !== 'all' ? new Set(opts.record) : null;
    let index = 0;
    for (const n of this.nodes) {
      for (const out of n.outputs) {
        if (record && !record.has(out)) continue;
        const r = results[out] as ortTypes.Tensor | undefined;
        if (!r) continue;
        const t = this.fromOrt(r, out);
        const layout = t.rank === 4 ? 'NCHW' : t.rank === 5 ? 'NCDHW' : undefined;
        yield { name: out, type: n.op, tensor: t, producedFrom: n.inputs.filter((i) => i && !this.initializers.has(i)), ...(layout ? { layout } : {}), index: index++ };
      }
    }
  }

  /** The node producing `output`, alone in a model with its initializers, run on `inputs` (its non-initializer inputs in order). */
  async runSingle(output: string, inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    const idx = this.nodes.findIndex((n) => n.outputs.includes(output));
    if (idx < 0) throw new InputError(`${this.source}: no node produces '${output}'`, { file: this.source, node: output });
    const T = modelType();
    const full = T.fromObject(this.model) as unknown as Msg;
    const graph = full.graph as Msg;
    const node = (graph.node as Msg[])[idx]!;
    const nodeInputs = ((node.input as string[]) ?? []).map(String);
    const dataInputs = nodeInputs.filter((i) => i && !this.initializers.has(i));
    if (dataInputs.length !== inputs.length) throw new InputError(`${this.source}: node '${this.nodes[idx]!.name}' takes ${dataInputs.length} data inputs, got ${inputs.length}`, { file: this.source });
    const o = await ort();
    const feeds: Record<string, ortTypes.Tensor> = {};
    const graphInputs = dataInputs.map((name, i) => {
      const t = inputs[i]!;
      const elem = ELEM_OF[t.dtype] ?? 1;
      feeds[name] = this.toOrt(o, name, t, elem);
      return { name, type: { tensor_type: { elem_type: elem, shape: { dim: t.shape.map((d) => ({ dim_value: d })) } } } };
    });
    const single = {
      ir_version: full.ir_version,
      opset_import: full.opset_import,
      graph: {
        name: 'single',
        node: [node],
        initializer: ((graph.initializer as Msg[]) ?? []).filter((t) => nodeInputs.includes(String(t.name))),
        input: graphInputs,
        output: this.nodes[idx]!.outputs.map((name) => ({ name })),
      },
    };
    const bytes = T.encode(T.fromObject(single)).finish();
    try {
      const s = await o.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
      const r = await s.run(feeds);
      const outs = this.nodes[idx]!.outputs.map((name) => this.fromOrt(r[name] as ortTypes.Tensor, name));
      await s.release();
      return outs;
    } catch (e) {
      if (e instanceof ParityError) throw e;
      throw new ExecutionError(`${this.source}: re-running node '${this.nodes[idx]!.name}' alone failed: ${errorMessage(e).split('\n')[0]}`, { file: this.source, cause: e });
    }
  }

  dispose(): void {
    void this.session?.release();
    this.session = undefined;
  }
}

export async function loadOnnxRunner(path: string): Promise<Runner> {
  const bytes = readFileSync(path);
  let model: Msg;
  try {
    const T = modelType();
    const m = T.decode(bytes);
    model = T.toObject(m, { longs: Number, bytes: Buffer, defaults: false, arrays: true }) as Msg;
  } catch (e) {
    throw new FormatError(`${path}: not a valid ONNX model (${errorMessage(e)}); truncated or not an .onnx file?`, { file: path, cause: e });
  }
  const graph = model.graph as Msg | undefined;
  if (!graph || !Array.isArray(graph.node) || graph.node.length === 0) throw new FormatError(`${path}: the ONNX model has no graph nodes`, { file: path });
  return new OnnxRunner(path, model);
}
