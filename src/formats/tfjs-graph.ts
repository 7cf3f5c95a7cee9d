import { existsSync, readFileSync, statSync } from 'node:fs';
import { readConcatenated } from '../core/read.js';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { DType } from '../core/dtype.js';
import { FormatError, ParityError, errorMessage } from '../core/errors.js';
import type { HostData, HostTensor, TensorSpec } from '../core/tensor.js';
import { checkTensorBudget, numElements } from '../core/tensor.js';
import type { Graph, GraphNode } from '../graph/ir.js';
import { parseInputRef, tensorKey } from '../graph/ir.js';
import { tfType } from '../proto/index.js';
import { messageFromJson } from '../proto/json.js';
import { decodeShape, dtypeFromEnum, graphFromGraphDef, halfToFloat, sinkOutputs } from './tensor-proto.js';

/**
 * TensorFlow.js graph models (model.json + weight shards) read into the same Graph IR as a
 * GraphDef. modelTopology is a GraphDef in protobuf's JSON mapping, so it is converted to the
 * protobuf message and decoded by the GraphDef code path (attrs, inline tensors, functions).
 * Weights move back into their Const nodes as the `value` attr, dequantised like tfjs does
 * (uint8/uint16 affine: q * scale + min, rounded for int32; float16 widened).
 */

type J = Record<string, unknown>;

interface Quantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  min?: number;
  scale?: number;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'complex64';
  quantization?: Quantization;
}

/** Bytes per stored element, by the dtype the shard holds. */
const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };
const WEIGHT_DTYPES = new Set(['float32', 'int32', 'bool', 'string', 'complex64']);

function isObj(v: unknown): v is J {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Validates one weightsManifest entry; the message says which entry and what is wrong. */
function checkSpec(w: unknown, file: string, index: number): WeightSpec {
  const fail = (what: string): never => {
    throw new FormatError(`${file}: weightsManifest entry ${index}${isObj(w) && typeof w.name === 'string' ? ` ('${w.name}')` : ''} ${what}`, { file, ...(isObj(w) && typeof w.name === 'string' ? { node: w.name } : {}) });
  };
  if (!isObj(w)) return fail('is not an object');
  if (typeof w.name !== 'string' || !w.name) fail('has no name');
  if (!Array.isArray(w.shape) || w.shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) fail(`has an invalid shape ${JSON.stringify(w.shape)}`);
  if (typeof w.dtype !== 'string' || !WEIGHT_DTYPES.has(w.dtype)) fail(`has dtype ${JSON.stringify(w.dtype)}, expected one of ${[...WEIGHT_DTYPES].join(', ')}`);
  const q = w.quantization;
  if (q !== undefined) {
    if (!isObj(q) || !['uint8', 'uint16', 'float16'].includes(String(q.dtype))) fail(`has quantization ${JSON.stringify(q)}, expected dtype uint8, uint16 or float16`);
    const qd = (q as J).dtype;
    if (qd === 'float16' && w.dtype !== 'float32') fail(`is float16-quantized but has dtype ${String(w.dtype)} (only float32 can be)`);
    if (qd !== 'float16') {
      if (w.dtype !== 'float32' && w.dtype !== 'int32') fail(`is ${String(qd)}-quantized but has dtype ${String(w.dtype)} (only float32 and int32 can be)`);
      if (typeof (q as J).min !== 'number' || typeof (q as J).scale !== 'number' || !Number.isFinite((q as J).min) || !Number.isFinite((q as J).scale)) {
        fail(`is ${String(qd)}-quantized but lacks a finite min and scale (found ${JSON.stringify(q)})`);
      }
    }
  }
  return w as unknown as WeightSpec;
}

/** One weight from a group buffer at `off`; returns the tensor and the bytes it took. */
function decodeWeight(spec: WeightSpec, buf: Uint8Array, off: number, where: () => string, file: string): { tensor: HostTensor; bytes: number } {
  const shape = spec.shape.slice();
  const n = numElements(shape);
  const at = { file, node: spec.name };
  const short = (need: number): never => {
    throw new FormatError(`${file}: weight '${spec.name}' needs bytes ${off}..${off + need} of ${where()}, which hold ${buf.length} bytes (short or truncated shard?)`, at);
  };
  if (spec.dtype === 'string') {
    checkTensorBudget(shape, 8, at);
    // tfjs encodes each string as a little-endian uint32 byte length followed by the bytes.
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const out: Uint8Array[] = [];
    let p = off;
    for (let i = 0; i < n; i++) {
      if (p + 4 > buf.length) short(p + 4 - off);
      const len = dv.getUint32(p, true);
      p += 4;
      if (p + len > buf.length) short(p + len - off);
      out.push(buf.slice(p, p + len));
      p += len;
    }
    return { tensor: { dtype: 'string', shape, data: out }, bytes: p - off };
  }
  const q = spec.quantization;
  const stored = q?.dtype ?? spec.dtype;
  const per = STORED_BYTES[stored]!;
  checkTensorBudget(shape, spec.dtype === 'complex64' ? 8 : 4, at);
  const bytes = n * per;
  if (off + bytes > buf.length) short(bytes);
  const abs = buf.byteOffset + off;
  const dv = new DataView(buf.buffer, abs, bytes);
  let data: HostData;
  if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
    const scale = q.scale!;
    const min = q.min!;
    const out = spec.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    const round = spec.dtype === 'int32';
    for (let i = 0; i < n; i++) {
      const v = q.dtype === 'uint8' ? dv.getUint8(i) : dv.getUint16(2 * i, true);
      out[i] = round ? Math.round(v * scale + min) : v * scale + min;
    }
    data = out;
  } else if (q) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
    data = out;
  } else if (spec.dtype === 'bool') {
    data = Uint8Array.from(buf.subarray(off, off + n), (b) => (b ? 1 : 0));
  } else {
    // float32/int32/complex64: a view into the shard buffer when aligned, one copy otherwise.
    const count = spec.dtype === 'complex64' ? 2 * n : n;
    const C = spec.dtype === 'int32' ? Int32Array : Float32Array;
    data = abs % 4 === 0 ? new C(buf.buffer as ArrayBuffer, abs, count) : new C(buf.slice(off, off + bytes).buffer, 0, count);
  }
  return { tensor: { dtype: spec.dtype, shape, data }, bytes };
}

/** True when a JSON TensorProto carries values of its own (not moved out to the weights). */
function hasInlineValues(t: unknown): boolean {
  if (!isObj(t)) return false;
  return Object.entries(t).some(([k, v]) => (k === 'tensorContent' || k === 'tensor_content' || /Val$|_val$/.test(k)) && (typeof v === 'string' ? v.length > 0 : Array.isArray(v) && v.length > 0));
}

function declaredElements(t: unknown): number {
  const shape = isObj(t) ? (t.tensorShape ?? t.tensor_shape) : undefined;
  const dims = isObj(shape) && Array.isArray(shape.dim) ? shape.dim : [];
  return dims.reduce((p: number, d: unknown) => p * Number(isObj(d) ? (d.size ?? 0) : 0), 1);
}

/**
 * Drops the value attr of Consts whose values come from the weights (so it is not decoded as
 * zeros first) and refuses Consts that have neither: their values would silently be zeros.
 */
function prepareNodes(nodes: unknown, weightNames: Set<string>, file: string, what: string): J[] {
  if (!Array.isArray(nodes)) throw new FormatError(`${file}: ${what} must be a list of nodes`, { file });
  return nodes.map((n, i) => {
    if (!isObj(n)) throw new FormatError(`${file}: ${what}[${i}] is not an object`, { file });
    if (n.op !== 'Const' || typeof n.name !== 'string') return n;
    const attr = isObj(n.attr) ? { ...n.attr } : {};
    const value = isObj(attr.value) ? attr.value.tensor : undefined;
    if (weightNames.has(n.name)) {
      delete attr.value;
      return { ...n, attr };
    }
    if (!hasInlineValues(value) && declaredElements(value) > 0) {
      throw new FormatError(`${file}: constant '${n.name}' has no weight in weightsManifest and no inline values`, { file, node: n.name });
    }
    return n;
  });
}

/** Reads a tfjs graph model: a model.json path or a folder holding one. */
export async function readTfjsGraphModel(path: string): Promise<Graph> {
  try {
    return readModel(path);
  } catch (e) {
    if (e instanceof ParityError) throw e;
    // A structurally odd model.json (wrong types where the format has objects or lists).
    throw new FormatError(`${path}: malformed TensorFlow.js model (${errorMessage(e)})`, { file: path, cause: e });
  }
}

function readModel(path: string): Graph {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.json') : path;
  if (!existsSync(file)) throw new FormatError(`${file}: file not found (expected a TensorFlow.js model.json)`, { file });
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(`${file}: not a valid model.json (${errorMessage(e)})`, { file });
  }
  if (!isObj(json)) throw new FormatError(`${file}: model.json must hold a JSON object`, { file });
  const topo = json.modelTopology;
  if (!isObj(topo) || !Array.isArray(topo.node)) {
    const fmt = json.format ? `; its format is '${String(json.format)}'${json.format === 'layers-model' ? ', read it as a candidate (tfjs layers model) instead' : ''}` : '';
    throw new FormatError(`${file}: not a TensorFlow.js graph model (no modelTopology.node${fmt})`, { file });
  }

  // Weight specs, grouped as in the manifest: offsets restart in every group.
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new FormatError(`${file}: weightsManifest must be a list`, { file });
  const groups: { paths: string[]; specs: WeightSpec[] }[] = [];
  let index = 0;
  for (const [gi, g] of manifest.entries()) {
    if (!isObj(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights ?? [])) throw new FormatError(`${file}: weightsManifest group ${gi} needs 'paths' and 'weights' lists`, { file });
    if (g.paths.some((p) => typeof p !== 'string')) throw new FormatError(`${file}: weightsManifest group ${gi} has a path that is not a string`, { file });
    groups.push({ paths: g.paths as string[], specs: ((g.weights as unknown[] | undefined) ?? []).map((w) => checkSpec(w, file, index++)) });
  }
  const weightNames = new Set(groups.flatMap((g) => g.specs.map((s) => s.name)));

  const lib = isObj(topo.library) ? topo.library : {};
  const libFunctions = Array.isArray(lib.function) ? lib.function : [];
  const gdJson = {
    node: prepareNodes(topo.node, weightNames, file, 'modelTopology.node'),
    library: {
      ...lib,
      function: libFunctions.map((f: unknown, i: number) =>
        isObj(f) ? { ...f, nodeDef: prepareNodes(f.nodeDef ?? f.node_def ?? [], weightNames, file, `modelTopology.library.function[${i}].nodeDef`), node_def: undefined } : f,
      ),
    },
    ...(isObj(topo.versions) ? { versions: topo.versions } : {}),
  };
  let gd: J;
  try {
    gd = messageFromJson(tfType('GraphDef'), gdJson) as unknown as J;
  } catch (e) {
    throw new FormatError(`${file}: modelTopology is not a GraphDef in JSON form (${errorMessage(e)})`, { file, cause: e });
  }
  const graph = graphFromGraphDef(gd, { path: file, format: 'tfjs-graph' });

  // Weights of function-body Consts share the one namespace tfjs looks weights up in.
  const byName = new Map<string, GraphNode>();
  for (const f of graph.functions.values()) for (const n of f.nodes) byName.set(n.name, n);
  for (const n of graph.nodes) byName.set(n.name, n);

  const dir = dirname(file);
  for (const [gi, g] of groups.entries()) {
    if (g.specs.length === 0) continue;
    const shardPaths: string[] = [];
    for (const p of g.paths) {
      const sp = resolve(dir, p);
      const rel = relative(resolve(dir), sp);
      if (rel.startsWith('..') || rel.startsWith(sep) || /^[A-Za-z]:/.test(rel)) throw new FormatError(`${file}: weight shard path '${p}' leaves the model folder`, { file });
      if (!existsSync(sp) || !statSync(sp).isFile()) {
        throw new FormatError(`${file}: weight shard '${p}' of group ${gi} (weights '${g.specs[0]!.name}'${g.specs.length > 1 ? ` ... '${g.specs[g.specs.length - 1]!.name}'` : ''}) is missing; expected at ${sp}`, { file: sp, node: g.specs[0]!.name });
      }
      shardPaths.push(sp);
    }
    // Read straight into one buffer: each weight byte is copied once between the file and the views.
    const buf = readConcatenated(shardPaths);
    const where = () => `shard${g.paths.length > 1 ? 's' : ''} ${g.paths.map((p) => `'${p}'`).join(' + ')}`;
    let off = 0;
    for (const spec of g.specs) {
      const { tensor, bytes } = decodeWeight(spec, buf, off, where, file);
      off += bytes;
      const node = byName.get(spec.name);
      if (!node) throw new FormatError(`${file}: weight '${spec.name}' (in ${where()}) belongs to no node of the graph`, { file, node: spec.name });
      node.attrs.value = { type: 'tensor', value: tensor };
    }
  }

  applySignature(graph, json.signature, file);
  return graph;
}

/** model.json's `signature` (tensor name -> TensorInfo) sets the graph's inputs and outputs. */
function applySignature(graph: Graph, sig: unknown, file: string): void {
  if (!isObj(sig)) return;
  const nodes = new Map(graph.nodes.map((n) => [n.name, n]));
  const specs = (part: unknown): Record<string, TensorSpec> => {
    const out: Record<string, TensorSpec> = {};
    if (!isObj(part)) return out;
    for (const [alias, info] of Object.entries(part)) {
      let m: J;
      try {
        m = messageFromJson(tfType('TensorInfo'), info) as unknown as J;
      } catch (e) {
        throw new FormatError(`${file}: signature entry '${alias}' is not a TensorInfo (${errorMessage(e)})`, { file });
      }
      const ref = parseInputRef(String(m.name || alias));
      const dtype: DType = m.dtype ? dtypeFromEnum(m.dtype, { file, node: alias }) : 'float32';
      out[alias] = { name: tensorKey(ref.node, ref.index), dtype, shape: decodeShape(m.tensor_shape as J | undefined) };
    }
    return out;
  };
  const inputs = specs(sig.inputs);
  const outputs = specs(sig.outputs);
  graph.signatures = { serving_default: { inputs, outputs } };
  const ins = Object.values(inputs);
  if (ins.length && ins.every((s) => nodes.get(parseInputRef(s.name).node)?.op === 'Placeholder')) {
    // A signature shape of unknown rank says less than the Placeholder's own attr.
    graph.inputs = ins.map((s) => {
      const own = graph.inputs.find((p) => p.name === s.name);
      return s.shape === null && own ? { ...s, shape: own.shape } : s;
    });
  }
  const outs = Object.values(outputs).map((s) => s.name).filter((n) => nodes.has(parseInputRef(n).node));
  graph.outputs = outs.length ? outs : sinkOutputs(graph.nodes);
}
