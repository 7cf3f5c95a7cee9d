import type { DType } from '../core/dtype.js';
import { DTYPE_TO_TF_ENUM, TF_DTYPE_ENUM, dtypeSize } from '../core/dtype.js';
import { FormatError } from '../core/errors.js';
import type { HostData, HostTensor, Shape } from '../core/tensor.js';
import { bytesBackedTensor, checkTensorBudget, numElements } from '../core/tensor.js';
import type { Attr, FuncRef, Graph, GraphFunction, GraphNode } from '../graph/ir.js';
import { parseInputRef } from '../graph/ir.js';

/**
 * Decoding of TensorFlow protobuf messages (as protobufjs decodes them, keepCase) into the
 * Graph IR. No protobuf object leaves src/formats.
 */

type Msg = Record<string, unknown>;
/** Where a value sits, for error messages. */
export interface Where {
  file?: string;
  node?: string;
}

function where(w: Where): string {
  return `${w.file ? `${w.file}: ` : ''}${w.node ? `node '${w.node}': ` : ''}`;
}

/** int64 as protobufjs gives it (number, Long, or string) -> number; refuses values past 2^53. */
export function toNum(v: unknown, w: Where = {}): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new FormatError(`${where(w)}'${v}' is not an integer tf-parity can hold exactly`, w);
    return n;
  }
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean };
    const big = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
    const signed = !l.unsigned && l.high < 0 ? big - (1n << 64n) : big;
    if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new FormatError(`${where(w)}integer ${signed} is too large`, w);
    }
    return Number(signed);
  }
  return 0;
}

function toBig(v: unknown, unsigned: boolean): bigint {
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number };
    const big = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
    return !unsigned && l.high < 0 ? big - (1n << 64n) : big;
  }
  return 0n;
}

export function dtypeFromEnum(v: unknown, w: Where): DType {
  const n = typeof v === 'number' ? v : toNum(v, w);
  // Reference types (DT_FLOAT_REF = 101, ...) carry the same values as their base type.
  const base = n > 100 ? n - 100 : n;
  const d = TF_DTYPE_ENUM[base];
  if (!d) throw new FormatError(`${where(w)}dtype ${UNSUPPORTED_DTYPES[base] ?? 'enum ' + n} is not supported (supported: ${Object.values(TF_DTYPE_ENUM).join(', ')})`, w);
  return d;
}

/** DataType enum values TF has and tf-parity does not compute in, named for messages. */
const UNSUPPORTED_DTYPES: Record<number, string> = {
  0: 'DT_INVALID',
  24: 'DT_FLOAT8_E5M2', 25: 'DT_FLOAT8_E4M3FN', 26: 'DT_FLOAT8_E4M3FNUZ', 27: 'DT_FLOAT8_E4M3B11FNUZ',
  28: 'DT_FLOAT8_E5M2FNUZ', 29: 'DT_INT4', 30: 'DT_UINT4', 31: 'DT_INT2', 32: 'DT_UINT2',
};

export function decodeShape(m: Msg | undefined | null): Shape {
  if (!m) return null;
  if (m.unknown_rank) return null;
  const dims = (m.dim as Msg[] | undefined) ?? [];
  return dims.map((d) => toNum(d.size));
}

/** IEEE half -> float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** bfloat16 bits -> float (the upper half of a float32). */
export function bfloat16ToFloat(b: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, (b & 0xffff) << 16, true);
  return buf.getFloat32(0, true);
}

const TYPED: Partial<Record<DType, { new (b: ArrayBuffer, o: number, n: number): HostData; new (n: number): HostData }>> = {
  float32: Float32Array as never,
  float64: Float64Array as never,
  int8: Int8Array as never,
  int16: Int16Array as never,
  int32: Int32Array as never,
  int64: BigInt64Array as never,
  uint8: Uint8Array as never,
  uint16: Uint16Array as never,
  uint32: Uint32Array as never,
  uint64: BigUint64Array as never,
  bool: Uint8Array as never,
  complex64: Float32Array as never,
  complex128: Float64Array as never,
  qint8: Int8Array as never,
  quint8: Uint8Array as never,
  qint16: Int16Array as never,
  quint16: Uint16Array as never,
  qint32: Int32Array as never,
};

/**
 * `bytes` as a tensor of `dtype`, never copied at read time: a typed view over them when they are
 * aligned for it, else a tensor that keeps the bytes and makes its aligned copy only when its
 * values are read on the host (the backend copies the bytes themselves: core/tensor.ts).
 */
function viewOf(dtype: DType, shape: number[], bytes: Uint8Array, count: number): HostTensor {
  const C = TYPED[dtype]!;
  const per = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
  const el = dtypeSize(dtype) / per;
  if (bytes.byteOffset % el === 0) return { dtype, shape, data: new C(bytes.buffer as ArrayBuffer, bytes.byteOffset, count * per) };
  return bytesBackedTensor(dtype, shape, bytes, (b) => new C(new Uint8Array(b).buffer, 0, count * per));
}

function fill<T>(vals: ArrayLike<T>, n: number, w: Where, what: string): T[] | ArrayLike<T> {
  if (vals.length === n) return vals;
  if (vals.length > n) throw new FormatError(`${where(w)}${what} has ${vals.length} values for a tensor of ${n} elements`, w);
  // TF: a shorter list is padded by repeating its last value; an empty list means zeros
  // (every caller's typed array / converter turns 0 into its own zero).
  const out = new Array<T>(n);
  if (vals.length === 0) return out.fill(0 as T);
  for (let i = 0; i < n; i++) out[i] = vals[Math.min(i, vals.length - 1)]!;
  return out;
}

/** TensorProto -> HostTensor for every dtype TF uses. */
export function decodeTensorProto(m: Msg, w: Where = {}): HostTensor {
  const dtype = dtypeFromEnum(m.dtype ?? 0, w);
  const shape = decodeShape(m.tensor_shape as Msg) ?? [];
  for (const d of shape) if (d < 0) throw new FormatError(`${where(w)}constant has an unknown dimension in shape [${shape}]`, w);
  const n = numElements(shape);
  const size = dtypeSize(dtype);
  if (dtype === 'resource' || dtype === 'variant') throw new FormatError(`${where(w)}${dtype} tensors cannot be decoded as values`, w);
  // Strings: at least one array slot per element, whatever the values hold.
  checkTensorBudget(shape, dtype === 'string' ? 8 : size, w);
  const content = m.tensor_content as Uint8Array | undefined;
  if (content && content.length > 0 && dtype !== 'string') {
    if (content.length !== n * size) {
      throw new FormatError(`${where(w)}tensor_content has ${content.length} bytes, expected ${n * size} for ${dtype}[${shape}]`, w);
    }
    if (dtype === 'float16' || dtype === 'bfloat16') {
      // Widened straight from the bytes: no intermediate copy when they are unaligned.
      const dv = new DataView(content.buffer, content.byteOffset, content.byteLength);
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = dtype === 'float16' ? halfToFloat(dv.getUint16(2 * i, true)) : bfloat16ToFloat(dv.getUint16(2 * i, true));
      return { dtype, shape, data: f };
    }
    if (dtype === 'bool') return { dtype, shape, data: Uint8Array.from(content, (b) => (b ? 1 : 0)) };
    return viewOf(dtype, shape, content, n);
  }
  const arr = <T>(k: string): ArrayLike<T> => (m[k] as ArrayLike<T> | undefined) ?? [];
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: Float32Array.from(fill(arr<number>('float_val'), n, w, 'float_val')) };
    case 'float64':
      return { dtype, shape, data: Float64Array.from(fill(arr<number>('double_val'), n, w, 'double_val')) };
    case 'float16':
    case 'bfloat16': {
      const bits = fill(arr<number>('half_val'), n, w, 'half_val');
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = dtype === 'float16' ? halfToFloat(bits[i]! & 0xffff) : bfloat16ToFloat(bits[i]! & 0xffff);
      return { dtype, shape, data: f };
    }
    case 'int8': case 'int16': case 'int32': case 'uint8': case 'uint16':
    case 'qint8': case 'quint8': case 'qint16': case 'quint16': case 'qint32': {
      const v = fill(arr<number>('int_val'), n, w, 'int_val');
      const C = TYPED[dtype] as unknown as { from(x: ArrayLike<number>): HostData };
      return { dtype, shape, data: C.from(v) };
    }
    case 'uint32':
      return { dtype, shape, data: Uint32Array.from(fill(arr<number>('uint32_val'), n, w, 'uint32_val')) };
    case 'int64':
      return { dtype, shape, data: BigInt64Array.from(Array.from(fill(arr<unknown>('int64_val'), n, w, 'int64_val'), (v) => toBig(v, false))) };
    case 'uint64':
      return { dtype, shape, data: BigUint64Array.from(Array.from(fill(arr<unknown>('uint64_val'), n, w, 'uint64_val'), (v) => toBig(v, true))) };
    case 'bool':
      return { dtype, shape, data: Uint8Array.from(fill(arr<boolean>('bool_val'), n, w, 'bool_val'), (b) => (b ? 1 : 0)) };
    case 'string': {
      const v = arr<Uint8Array>('string_val');
      if (v.length !== n && !(v.length === 1 || v.length === 0)) throw new FormatError(`${where(w)}string_val has ${v.length} values for ${n} elements`, w);
      const out: Uint8Array[] = [];
      for (let i = 0; i < n; i++) out.push(v.length ? new Uint8Array(v[Math.min(i, v.length - 1)]!) : new Uint8Array());
      return { dtype, shape, data: out };
    }
    case 'complex64': {
      const v = arr<number>('scomplex_val');
      return { dtype, shape, data: Float32Array.from(fillPairs(v, n, w)) };
    }
    case 'complex128': {
      const v = arr<number>('dcomplex_val');
      return { dtype, shape, data: Float64Array.from(fillPairs(v, n, w)) };
    }
    default:
      throw new FormatError(`${where(w)}cannot decode a ${dtype} tensor`, w);
  }
}

function fillPairs(v: ArrayLike<number>, n: number, w: Where): number[] {
  if (v.length % 2) throw new FormatError(`${where(w)}complex values come in pairs, found ${v.length}`, w);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.min(i, v.length / 2 - 1);
    out.push(k < 0 ? 0 : v[2 * k]!, k < 0 ? 0 : v[2 * k + 1]!);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Set fields of a protobufjs message are own properties; defaults live on the prototype. */
function has(m: Msg, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, k) && m[k] !== undefined && m[k] !== null;
}

export function decodeAttrValue(m: Msg, w: Where): Attr {
  if (has(m, 'list')) {
    const l = m.list as Msg;
    const a = <T>(k: string): T[] => Array.from((l[k] as ArrayLike<T> | undefined) ?? []);
    return {
      type: 'list',
      ints: a<unknown>('i').map((v) => toNum(v, w)),
      floats: a<number>('f').map(Math.fround),
      strings: a<Uint8Array>('s').map((b) => utf8.decode(b)),
      bools: a<boolean>('b'),
      dtypes: a<unknown>('type').map((t) => dtypeFromEnum(t, w)),
      shapes: a<Msg>('shape').map((s) => decodeShape(s)),
      tensors: a<Msg>('tensor').map((t) => decodeTensorProto(t, w)),
      funcs: a<Msg>('func').map((f) => decodeFunc(f, w)),
    };
  }
  if (has(m, 's')) return { type: 'string', value: utf8.decode(m.s as Uint8Array), bytes: new Uint8Array(m.s as Uint8Array) };
  if (has(m, 'i')) return { type: 'int', value: toNum(m.i, w) };
  if (has(m, 'f')) return { type: 'float', value: Math.fround(m.f as number) };
  if (has(m, 'b')) return { type: 'bool', value: !!m.b };
  if (has(m, 'type')) return { type: 'dtype', value: dtypeFromEnum(m.type, w) };
  if (has(m, 'shape')) return { type: 'shape', value: decodeShape(m.shape as Msg) };
  if (has(m, 'tensor')) return { type: 'tensor', value: decodeTensorProto(m.tensor as Msg, w) };
  if (has(m, 'func')) return { type: 'func', value: decodeFunc(m.func as Msg, w) };
  if (has(m, 'placeholder')) return { type: 'placeholder', value: m.placeholder as string };
  // An empty AttrValue is an empty list (e.g. `attr { key: "x" value { list {} } }` encodes to nothing).
  return { type: 'list', ints: [], floats: [], strings: [], bools: [], dtypes: [], shapes: [], tensors: [], funcs: [] };
}

function decodeFunc(m: Msg, w: Where): FuncRef {
  return { name: (m.name as string) ?? '', attrs: decodeAttrMap(m.attr as Record<string, Msg> | undefined, w) };
}

function decodeAttrMap(m: Record<string, Msg> | undefined, w: Where): Record<string, Attr> {
  const out: Record<string, Attr> = {};
  if (!m) return out;
  for (const [k, v] of Object.entries(m)) out[k] = decodeAttrValue(v, w);
  return out;
}

export function decodeNodeDef(m: Msg, file?: string): GraphNode {
  const name = (m.name as string) ?? '';
  const op = (m.op as string) ?? '';
  if (!name) throw new FormatError(`${file ? `${file}: ` : ''}a node has no name`, { file });
  if (!op) throw new FormatError(`${file ? `${file}: ` : ''}node '${name}' has no op`, { file, node: name });
  const inputs = Array.from((m.input as string[] | undefined) ?? []);
  for (const r of inputs) {
    // Function bodies also use `node:output_arg:index`.
    if (!/^\^?[^:^]+(:[A-Za-z_]\w*)?(:\d+)?$/.test(r)) throw new FormatError(`${file ? `${file}: ` : ''}node '${name}' has a malformed input '${r}' (expected 'node', 'node:index' or '^node')`, { file, node: name });
  }
  return {
    name,
    op,
    inputs,
    attrs: decodeAttrMap(m.attr as Record<string, Msg> | undefined, { file, node: name }),
    ...(m.device ? { device: m.device as string } : {}),
  };
}

export function decodeFunctionDef(m: Msg, file?: string): GraphFunction {
  const sig = (m.signature as Msg) ?? {};
  const name = (sig.name as string) ?? '';
  const arg = (a: Msg) => ({
    name: a.name as string,
    ...(a.type ? { dtype: dtypeFromEnum(a.type, { file, node: name }) } : {}),
    ...(a.type_attr ? { typeAttr: a.type_attr as string } : {}),
  });
  return {
    name,
    inputArgs: ((sig.input_arg as Msg[]) ?? []).map(arg),
    outputArgs: ((sig.output_arg as Msg[]) ?? []).map(arg),
    ret: { ...((m.ret as Record<string, string>) ?? {}) },
    nodes: ((m.node_def as Msg[]) ?? []).map((n) => decodeNodeDef(n, file)),
    attrs: decodeAttrMap(m.attr as Record<string, Msg> | undefined, { file, node: name }),
  };
}

/** Ops that are never a model's output even when nothing consumes them. */
const NOT_OUTPUTS = new Set(['Const', 'NoOp', 'Placeholder', 'PlaceholderWithDefault', 'Assert', 'Print', 'PrintV2', 'SaveV2', 'RestoreV2', 'Save', 'Restore', 'Assign', 'AssignVariableOp', 'VarHandleOp', 'VariableV2', 'Variable', 'MergeV2Checkpoints', 'ShardedFilename', 'StringJoin']);

/**
 * TF1 tf.cond plumbing that is a sink when nothing uses it, never an output (and dead whenever
 * the other branch runs): a Switch, and a pivot (`cond/switch_t`, `cond/switch_f`: an Identity of
 * a Switch of the predicate on itself) that no branch constant hangs from.
 */
function isCondPlumbing(n: GraphNode, byName: Map<string, GraphNode>): boolean {
  if (n.op === 'Switch' || n.op === 'RefSwitch') return true;
  if (n.op !== 'Identity' || n.inputs.length !== 1) return false;
  const sw = byName.get(parseInputRef(n.inputs[0]!).node);
  return (sw?.op === 'Switch' || sw?.op === 'RefSwitch') && sw.inputs.length >= 2 && sw.inputs[0] === sw.inputs[1];
}

/** Sink nodes: nodes whose outputs no other node reads. */
export function sinkOutputs(nodes: GraphNode[]): string[] {
  const used = new Set<string>();
  for (const n of nodes) for (const r of n.inputs) used.add(parseInputRef(r).node);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  // save/* is the TF1 Saver's subgraph (its restore_all is a NoOp, but save/Const etc. are not).
  return nodes.filter((n) => !used.has(n.name) && !NOT_OUTPUTS.has(n.op) && !n.name.startsWith('save/') && !isCondPlumbing(n, byName)).map((n) => n.name);
}

/** Decoded GraphDef message -> Graph IR. Node names must be unique; limits nesting of functions. */
export function graphFromGraphDef(gd: Msg, source: Graph['source']): Graph {
  const file = source.path;
  const rawNodes = (gd.node as Msg[] | undefined) ?? [];
  const nodes = rawNodes.map((n) => decodeNodeDef(n, file));
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.name)) throw new FormatError(`${file}: node name '${n.name}' appears twice`, { file, node: n.name });
    seen.add(n.name);
  }
  for (const n of nodes) {
    for (const r of n.inputs) {
      const src = parseInputRef(r).node;
      if (!seen.has(src)) {
        throw new FormatError(`${file}: node '${n.name}' reads '${r}', which is not a node of the graph (truncated or edited file?)`, { file, node: n.name });
      }
    }
  }
  const functions = new Map<string, GraphFunction>();
  const lib = gd.library as Msg | undefined;
  for (const f of (lib?.function as Msg[] | undefined) ?? []) {
    const fn = decodeFunctionDef(f, file);
    functions.set(fn.name, fn);
  }
  const versions = gd.versions as Msg | undefined;
  const producer = versions?.producer !== undefined ? toNum(versions.producer) : undefined;
  const inputs = nodes
    .filter((n) => n.op === 'Placeholder')
    .map((n) => ({
      name: n.name,
      dtype: n.attrs.dtype?.type === 'dtype' ? n.attrs.dtype.value : 'float32',
      shape: placeholderShape(n, producer),
    }));
  return {
    nodes,
    functions,
    source,
    inputs,
    outputs: sinkOutputs(nodes),
    ...(producer !== undefined ? { producer } : {}),
  };
}

/**
 * The last GraphDef producer version whose Placeholders wrote an empty `shape` attr for "shape
 * not given": TF's Placeholder shape function reads a rank-0 shape as unknown for graphs up to
 * this version (`graph_def_version() <= 21`, array_ops.cc; constant_op_test feeds [1, 2] to
 * such a placeholder of a producer-21 graph), as a scalar from 22 on.
 */
export const LEGACY_PLACEHOLDER_SHAPE_PRODUCER = 21;

/**
 * A Placeholder's shape as TF reads it: its `shape` attr; for graphs written by TF 1.1 and
 * earlier (producer <= 21) an empty one means unknown, and the shape TF recorded in
 * `_output_shapes` (when it has a rank) stands in for it. A graph without `versions` (TF reads
 * producer 0) is read as a current one: tfjs model.json files and hand-written text graphs omit it.
 */
export function placeholderShape(n: GraphNode, producer: number | undefined): Shape {
  const declared = n.attrs.shape?.type === 'shape' ? n.attrs.shape.value : null;
  if (producer === undefined || producer > LEGACY_PLACEHOLDER_SHAPE_PRODUCER || (declared !== null && declared.length > 0)) return declared;
  const recorded = n.attrs._output_shapes;
  const first = recorded?.type === 'list' ? recorded.shapes[0] : undefined;
  return first && first.length > 0 ? first : null;
}

/** HostTensor -> TensorProto plain object (for protobufjs fromObject), packed in tensor_content. */
export function encodeTensorProto(h: HostTensor): Msg {
  const base: Msg = { dtype: DTYPE_TO_TF_ENUM[h.dtype], tensor_shape: { dim: h.shape.map((d) => ({ size: d })) } };
  if (h.dtype === 'string') return { ...base, string_val: h.data as Uint8Array[] };
  if (h.dtype === 'float16' || h.dtype === 'bfloat16') {
    const f = h.data as Float32Array;
    const bits = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) bits[i] = h.dtype === 'float16' ? floatToHalf(f[i]!) : floatToBfloat16(f[i]!);
    return { ...base, tensor_content: new Uint8Array(bits.buffer) };
  }
  const d = h.data as Exclude<HostData, Uint8Array[]>;
  return { ...base, tensor_content: new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice() };
}

export function floatToHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant = (mant | 0x800000) >> (1 - e);
    return sign | ((mant + 0x1000) >> 13);
  }
  const h = sign | (e << 10) | (mant >> 13);
  // round to nearest even
  const rem = mant & 0x1fff;
  return rem > 0x1000 || (rem === 0x1000 && h & 1) ? h + 1 : h;
}

export function floatToBfloat16(v: number): number {
  const x = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
