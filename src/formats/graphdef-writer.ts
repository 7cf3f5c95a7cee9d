import type { Attr, Graph, GraphNode } from '../graph/ir.js';
import { DTYPE_TO_TF_ENUM } from '../core/dtype.js';
import type { Shape } from '../core/tensor.js';
import { tfType } from '../proto/index.js';
import { encodeTensorProto } from './tensor-proto.js';

/**
 * Graph IR -> GraphDef, as binary (.pb) or text format (.pbtxt). Used by tests and by the code
 * that generates the example models in cases/.
 */
type Msg = Record<string, unknown>;

function shapeMsg(s: Shape): Msg {
  return s === null ? { unknown_rank: true } : { dim: s.map((d) => ({ size: d })) };
}

function attrMsg(a: Attr): Msg {
  const enc = new TextEncoder();
  switch (a.type) {
    case 'int': return { i: a.value };
    case 'float': return { f: a.value };
    case 'bool': return { b: a.value };
    case 'string': return { s: a.bytes };
    case 'dtype': return { type: DTYPE_TO_TF_ENUM[a.value] };
    case 'shape': return { shape: shapeMsg(a.value) };
    case 'tensor': return { tensor: encodeTensorProto(a.value) };
    case 'placeholder': return { placeholder: a.value };
    case 'func': return { func: { name: a.value.name, attr: Object.fromEntries(Object.entries(a.value.attrs).map(([k, v]) => [k, attrMsg(v)])) } };
    case 'list':
      return {
        list: {
          s: a.strings.map((x) => enc.encode(x)),
          i: a.ints,
          f: a.floats,
          b: a.bools,
          type: a.dtypes.map((d) => DTYPE_TO_TF_ENUM[d]),
          shape: a.shapes.map(shapeMsg),
          tensor: a.tensors.map(encodeTensorProto),
          func: a.funcs.map((f) => ({ name: f.name, attr: Object.fromEntries(Object.entries(f.attrs).map(([k, v]) => [k, attrMsg(v)])) })),
        },
      };
  }
}

function nodeMsg(n: GraphNode): Msg {
  return {
    name: n.name,
    op: n.op,
    input: n.inputs,
    ...(n.device ? { device: n.device } : {}),
    attr: Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, attrMsg(v)])),
  };
}

function graphMsg(g: Graph): Msg {
  return {
    node: g.nodes.map(nodeMsg),
    versions: { producer: g.producer ?? 1087 },
    library: {
      function: [...g.functions.values()].map((f) => ({
        signature: {
          name: f.name,
          input_arg: f.inputArgs.map((a) => ({ name: a.name, ...(a.dtype ? { type: DTYPE_TO_TF_ENUM[a.dtype] } : {}), ...(a.typeAttr ? { type_attr: a.typeAttr } : {}) })),
          output_arg: f.outputArgs.map((a) => ({ name: a.name, ...(a.dtype ? { type: DTYPE_TO_TF_ENUM[a.dtype] } : {}), ...(a.typeAttr ? { type_attr: a.typeAttr } : {}) })),
        },
        node_def: f.nodes.map(nodeMsg),
        ret: f.ret,
        attr: Object.fromEntries(Object.entries(f.attrs).map(([k, v]) => [k, attrMsg(v)])),
      })),
    },
  };
}

export function encodeGraphDef(g: Graph): Uint8Array {
  const T = tfType('GraphDef');
  return T.encode(T.fromObject(graphMsg(g))).finish();
}

function quote(b: Uint8Array): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x0a) s += '\\n';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\' + c.toString(8).padStart(3, '0');
  }
  return s + '"';
}

/** Text format of a protobufjs message, fields in declaration order (what TF's text_format writes). */
function textOf(T: import('protobufjs').Type, m: Msg, indent: string): string {
  let out = '';
  for (const field of T.fieldsArray) {
    const v = m[field.name];
    if (v === undefined || v === null) continue;
    field.resolve();
    const emit = (val: unknown): string => {
      if (field.map) {
        const entries = Object.entries(val as Record<string, unknown>);
        return entries
          .map(([k, mv]) => {
            const valueText = field.resolvedType && 'fieldsArray' in field.resolvedType
              ? `value {\n${textOf(field.resolvedType as import('protobufjs').Type, mv as Msg, indent + '    ')}${indent}  }`
              : `value: ${scalar(mv, field)}`;
            return `${indent}${field.name} {\n${indent}  key: ${JSON.stringify(k)}\n${indent}  ${valueText}\n${indent}}\n`;
          })
          .join('');
      }
      if (field.resolvedType && 'fieldsArray' in field.resolvedType) {
        return `${indent}${field.name} {\n${textOf(field.resolvedType as import('protobufjs').Type, val as Msg, indent + '  ')}${indent}}\n`;
      }
      return `${indent}${field.name}: ${scalar(val, field)}\n`;
    };
    if (field.repeated && Array.isArray(v)) for (const x of v) out += emit(x);
    else if (field.repeated && ArrayBuffer.isView(v) && field.type !== 'bytes') for (const x of Array.from(v as unknown as ArrayLike<number>)) out += emit(x);
    else out += emit(v);
  }
  return out;
}

function scalar(v: unknown, field: import('protobufjs').Field): string {
  if (field.resolvedType && 'values' in field.resolvedType) {
    const e = field.resolvedType as import('protobufjs').Enum;
    const name = Object.entries(e.values).find(([, n]) => n === v)?.[0];
    return name ?? String(v);
  }
  if (field.type === 'bytes') return quote(v as Uint8Array);
  if (field.type === 'string') return quote(new TextEncoder().encode(v as string));
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  return String(v);
}

/** GraphDef text format (.pbtxt). */
export function graphToPbtxt(g: Graph): string {
  const T = tfType('GraphDef');
  const m = T.toObject(T.fromObject(graphMsg(g)), { defaults: false, arrays: false, longs: String, enums: Number, bytes: Array }) as Msg;
  // bytes came back as arrays of numbers; make them Uint8Arrays for quoting.
  const fixBytes = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(fixBytes);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, fixBytes(v)]));
    return x;
  };
  return textOf(T, toBytes(T, fixBytes(m) as Msg), '');
}

/** Turns number arrays in bytes fields back into Uint8Array, recursively by schema. */
function toBytes(T: import('protobufjs').Type, m: Msg): Msg {
  const out: Msg = {};
  for (const [k, v] of Object.entries(m)) {
    const f = T.fields[k];
    if (!f) continue;
    f.resolve();
    const conv = (x: unknown): unknown => {
      if (f.type === 'bytes') return Uint8Array.from(x as number[]);
      if (f.resolvedType && 'fieldsArray' in f.resolvedType) return toBytes(f.resolvedType as import('protobufjs').Type, x as Msg);
      return x;
    };
    if (f.map) out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([mk, mv]) => [mk, conv(mv)]));
    else if (f.repeated && Array.isArray(v)) out[k] = v.map(conv);
    else out[k] = conv(v);
  }
  return out;
}
