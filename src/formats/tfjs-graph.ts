import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { DType } from '../core/dtype.js';
import { FormatError, errorMessage } from '../core/errors.js';
import type { HostData, HostTensor, Shape } from '../core/tensor.js';
import { checkTensorBudget, numElements } from '../core/tensor.js';
import type { Attr, FuncRef, Graph, GraphFunction, GraphNode } from '../graph/ir.js';
import { halfToFloat, sinkOutputs } from './tensor-proto.js';

/**
 * TensorFlow.js graph models (model.json + weight shards) read into the same Graph IR as a
 * GraphDef. Node attributes are in protobuf's JSON mapping (enums by name, int64 as strings,
 * bytes as base64, camelCase keys); weights move back into their Const nodes, dequantised
 * (uint8/uint16 affine: q * scale + min; float16).
 */

type J = Record<string, unknown>;

const DT: Record<string, DType> = {
  DT_FLOAT: 'float32', DT_DOUBLE: 'float64', DT_INT32: 'int32', DT_UINT8: 'uint8', DT_INT16: 'int16', DT_INT8: 'int8',
  DT_STRING: 'string', DT_COMPLEX64: 'complex64', DT_INT64: 'int64', DT_BOOL: 'bool', DT_BFLOAT16: 'bfloat16',
  DT_UINT16: 'uint16', DT_COMPLEX128: 'complex128', DT_HALF: 'float16', DT_RESOURCE: 'resource', DT_VARIANT: 'variant',
  DT_UINT32: 'uint32', DT_UINT64: 'uint64',
};

function dt(v: unknown, file: string, node: string): DType {
  if (typeof v === 'number') {
    const byNum: Record<number, DType> = { 1: 'float32', 2: 'float64', 3: 'int32', 4: 'uint8', 5: 'int16', 6: 'int8', 7: 'string', 9: 'int64', 10: 'bool', 14: 'bfloat16', 17: 'uint16', 19: 'float16', 20: 'resource', 22: 'uint32', 23: 'uint64' };
    if (byNum[v]) return byNum[v]!;
  }
  const d = DT[String(v).replace(/_REF$/, '')];
  if (!d) throw new FormatError(`${file}: node '${node}': unknown dtype ${JSON.stringify(v)}`, { file, node });
  return d;
}

function shape(v: unknown): Shape {
  if (!v || typeof v !== 'object') return [];
  const s = v as J;
  if (s.unknownRank || s.unknown_rank) return null;
  return ((s.dim as J[] | undefined) ?? []).map((d) => Number(d.size ?? 0));
}

const b64 = (s: unknown) => new Uint8Array(Buffer.from(String(s ?? ''), 'base64'));

function attr(v: J, file: string, node: string): Attr {
  if ('list' in v) {
    const l = (v.list ?? {}) as J;
    const a = <T>(k: string) => ((l[k] as T[] | undefined) ?? []);
    return {
      type: 'list',
      ints: a<unknown>('i').map(Number),
      floats: a<unknown>('f').map(Number),
      strings: a<unknown>('s').map((s) => new TextDecoder().decode(b64(s))),
      bools: a<unknown>('b').map(Boolean),
      dtypes: a<unknown>('type').map((t) => dt(t, file, node)),
      shapes: a<unknown>('shape').map(shape),
      tensors: [],
      funcs: a<J>('func').map((f) => func(f, file, node)),
    };
  }
  if ('s' in v) return { type: 'string', value: new TextDecoder().decode(b64(v.s)), bytes: b64(v.s) };
  if ('i' in v) return { type: 'int', value: Number(v.i) };
  if ('f' in v) return { type: 'float', value: Number(v.f) };
  if ('b' in v) return { type: 'bool', value: Boolean(v.b) };
  if ('type' in v) return { type: 'dtype', value: dt(v.type, file, node) };
  if ('shape' in v) return { type: 'shape', value: shape(v.shape) };
  if ('func' in v) return { type: 'func', value: func(v.func as J, file, node) };
  if ('placeholder' in v) return { type: 'placeholder', value: String(v.placeholder) };
  if ('tensor' in v) {
    // Constants' values live in the weights; an inline tensor here is a small attr tensor.
    const t = (v.tensor ?? {}) as J;
    const d = dt(t.dtype ?? 'DT_FLOAT', file, node);
    const s = shape(t.tensorShape ?? t.tensor_shape) ?? [];
    return { type: 'tensor', value: { dtype: d, shape: s, data: new Float32Array(numElements(s)) } };
  }
  return { type: 'list', ints: [], floats: [], strings: [], bools: [], dtypes: [], shapes: [], tensors: [], funcs: [] };
}

function func(f: J, file: string, node: string): FuncRef {
  return { name: String(f?.name ?? ''), attrs: attrs(f?.attr as Record<string, J> | undefined, file, node) };
}

function attrs(a: Record<string, J> | undefined, file: string, node: string): Record<string, Attr> {
  const out: Record<string, Attr> = {};
  for (const [k, v] of Object.entries(a ?? {})) out[k] = attr(v ?? {}, file, node);
  return out;
}

function nodeOf(n: J, file: string): GraphNode {
  const name = String(n.name ?? '');
  if (!name || typeof n.op !== 'string') throw new FormatError(`${file}: a node without name or op`, { file });
  return {
    name,
    op: n.op,
    inputs: ((n.input as string[] | undefined) ?? []).map(String),
    attrs: attrs(n.attr as Record<string, J> | undefined, file, name),
    ...(n.device ? { device: String(n.device) } : {}),
  };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, int8: 1, int16: 2, complex64: 8 };

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

function decodeWeight(spec: WeightSpec, buf: Uint8Array, off: number, file: string): { tensor: HostTensor; bytes: number } {
  const shp = spec.shape.map(Number);
  if (shp.some((d) => !Number.isInteger(d) || d < 0)) throw new FormatError(`${file}: weight '${spec.name}' has an invalid shape [${spec.shape}]`, { file, node: spec.name });
  const n = numElements(shp);
  const dtype = spec.dtype as DType;
  if (dtype === 'string') {
    const out: Uint8Array[] = [];
    let p = off;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < n; i++) {
      if (p + 4 > buf.length) throw new FormatError(`${file}: weights end inside string weight '${spec.name}'`, { file, node: spec.name });
      const len = view.getUint32(p, true);
      p += 4;
      if (p + len > buf.length) throw new FormatError(`${file}: weights end inside string weight '${spec.name}'`, { file, node: spec.name });
      out.push(buf.slice(p, p + len));
      p += len;
    }
    return { tensor: { dtype: 'string', shape: shp, data: out }, bytes: p - off };
  }
  const q = spec.quantization;
  const stored = q?.dtype ?? dtype;
  const per = BYTES[stored];
  if (!per) throw new FormatError(`${file}: weight '${spec.name}' has unsupported dtype ${stored}`, { file, node: spec.name });
  checkTensorBudget(shp, Math.max(per, 4), { file, node: spec.name });
  const bytes = n * per;
  if (off + bytes > buf.length) {
    throw new FormatError(`${file}: weight '${spec.name}' needs bytes ${off}..${off + bytes} but the shards hold ${buf.length} bytes`, { file, node: spec.name });
  }
  const view = new DataView(buf.buffer, buf.byteOffset + off, bytes);
  let data: HostData;
  const outType: DType = q ? ((q.original_dtype as DType | undefined) ?? (dtype === 'int32' ? 'int32' : 'float32')) : dtype;
  if (q && (stored === 'uint8' || stored === 'uint16')) {
    const scale = Number(q.scale ?? 1);
    const min = Number(q.min ?? 0);
    const f = outType === 'int32' ? new Int32Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = stored === 'uint8' ? view.getUint8(i) : view.getUint16(i * 2, true);
      f[i] = outType === 'int32' ? Math.round(v * scale + min) : v * scale + min;
    }
    data = f;
  } else if (stored === 'float16') {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = halfToFloat(view.getUint16(i * 2, true));
    data = f;
  } else if (stored === 'float32') {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = view.getFloat32(i * 4, true);
    data = f;
  } else if (stored === 'int32') {
    const f = new Int32Array(n);
    for (let i = 0; i < n; i++) f[i] = view.getInt32(i * 4, true);
    data = f;
  } else if (stored === 'bool') {
    data = Uint8Array.from(new Uint8Array(buf.buffer, buf.byteOffset + off, n), (b) => (b ? 1 : 0));
  } else if (stored === 'complex64') {
    const f = new Float32Array(2 * n);
    for (let i = 0; i < 2 * n; i++) f[i] = view.getFloat32(i * 4, true);
    data = f;
  } else {
    throw new FormatError(`${file}: weight '${spec.name}' has unsupported dtype ${stored}`, { file, node: spec.name });
  }
  return { tensor: { dtype: outType === 'int32' ? 'int32' : (outType as DType), shape: shp, data }, bytes };
}

/** Reads a tfjs graph model: a model.json path or a folder holding one. */
export async function readTfjsGraphModel(path: string): Promise<Graph> {
  try {
    return readModel(path);
  } catch (e) {
    if (e instanceof FormatError || (e as { code?: string }).code === 'limit') throw e;
    // A structurally odd model.json (wrong types where the format has objects or lists).
    throw new FormatError(`${path}: malformed TensorFlow.js model (${errorMessage(e)})`, { file: path, cause: e });
  }
}

function validSpec(w: unknown): w is WeightSpec {
  if (!w || typeof w !== 'object') return false;
  const o = w as J;
  return typeof o.name === 'string' && Array.isArray(o.shape) && typeof o.dtype === 'string' && (o.quantization === undefined || (typeof o.quantization === 'object' && o.quantization !== null));
}

function readModel(path: string): Graph {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.json') : path;
  let json: J;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as J;
  } catch (e) {
    throw new FormatError(`${file}: not a valid model.json (${errorMessage(e)})`, { file });
  }
  const topo = json.modelTopology as J | undefined;
  if (!topo || !Array.isArray(topo.node)) {
    throw new FormatError(`${file}: not a TensorFlow.js graph model (no modelTopology.node${json.format ? `; format is '${String(json.format)}'` : ''})`, { file });
  }
  const nodes = (topo.node as J[]).map((n) => {
    if (!n || typeof n !== 'object') throw new FormatError(`${file}: a node must be an object`, { file });
    return nodeOf(n, file);
  });
  const byName = new Map(nodes.map((n) => [n.name, n]));
  if (byName.size !== nodes.length) throw new FormatError(`${file}: duplicate node names`, { file });
  // Weights: shards of every group concatenated in manifest order.
  const dir = dirname(file);
  const groups = (json.weightsManifest as J[] | undefined) ?? [];
  const chunks: Uint8Array[] = [];
  const specs: WeightSpec[] = [];
  if (!Array.isArray(groups)) throw new FormatError(`${file}: weightsManifest must be a list`, { file });
  for (const g of groups) {
    if (!g || typeof g !== 'object' || !Array.isArray(g.paths) || !Array.isArray(g.weights ?? [])) throw new FormatError(`${file}: a weightsManifest group needs 'paths' and 'weights' lists`, { file });
    for (const w of (g.weights as unknown[] | undefined) ?? []) if (!validSpec(w)) throw new FormatError(`${file}: a weight entry needs name, shape and dtype (found ${JSON.stringify(w)?.slice(0, 80)})`, { file });
    for (const p of (g.paths as string[] | undefined) ?? []) {
      if (typeof p !== 'string') throw new FormatError(`${file}: weight paths must be strings`, { file });
      const sp = resolve(dir, p);
      if (!sp.startsWith(resolve(dir))) throw new FormatError(`${file}: weight path '${p}' leaves the model folder`, { file });
      if (!existsSync(sp)) throw new FormatError(`${file}: weight shard '${p}' is missing (expected at ${sp})`, { file });
      chunks.push(new Uint8Array(readFileSync(sp)));
    }
    specs.push(...((g.weights as WeightSpec[] | undefined) ?? []));
  }
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const buf = chunks.length === 1 ? chunks[0]! : new Uint8Array(total);
  if (chunks.length !== 1) {
    let o = 0;
    for (const c of chunks) {
      buf.set(c, o);
      o += c.length;
    }
  }
  let off = 0;
  for (const spec of specs) {
    const { tensor, bytes } = decodeWeight(spec, buf, off, file);
    off += bytes;
    const node = byName.get(spec.name);
    if (!node) throw new FormatError(`${file}: weight '${spec.name}' belongs to no node of the graph`, { file, node: spec.name });
    node.attrs.value = { type: 'tensor', value: tensor };
  }
  for (const n of nodes) {
    if (n.op === 'Const' && n.attrs.value?.type !== 'tensor') throw new FormatError(`${file}: constant '${n.name}' has no weight in the manifest`, { file, node: n.name });
  }
  const functions = new Map<string, GraphFunction>();
  for (const f of (((topo.library as J | undefined)?.function as J[] | undefined) ?? [])) {
    const sig = (f.signature ?? {}) as J;
    const name = String(sig.name ?? '');
    const arg = (a: J) => ({ name: String(a.name), ...(a.type ? { dtype: dt(a.type, file, name) } : {}), ...(a.typeAttr ? { typeAttr: String(a.typeAttr) } : {}) });
    functions.set(name, {
      name,
      inputArgs: ((sig.inputArg as J[] | undefined) ?? []).map(arg),
      outputArgs: ((sig.outputArg as J[] | undefined) ?? []).map(arg),
      ret: { ...((f.ret as Record<string, string> | undefined) ?? {}) },
      nodes: ((f.nodeDef as J[] | undefined) ?? []).map((n) => nodeOf(n, file)),
      attrs: attrs(f.attr as Record<string, J> | undefined, file, name),
    });
  }
  const sig = json.signature as J | undefined;
  const sigOutputs = sig?.outputs ? Object.values(sig.outputs as Record<string, J>).map((o) => String(o.name ?? '').replace(/:0$/, '')) : [];
  const inputs = nodes
    .filter((n) => n.op === 'Placeholder')
    .map((n) => ({ name: n.name, dtype: n.attrs.dtype?.type === 'dtype' ? n.attrs.dtype.value : 'float32', shape: n.attrs.shape?.type === 'shape' ? n.attrs.shape.value : null }));
  const outputs = sigOutputs.filter((o) => byName.has(o.replace(/:\d+$/, ''))).length ? sigOutputs.filter((o) => byName.has(o.replace(/:\d+$/, ''))) : sinkOutputs(nodes);
  return { nodes, functions, source: { path: file, format: 'tfjs-graph' }, inputs, outputs };
}
