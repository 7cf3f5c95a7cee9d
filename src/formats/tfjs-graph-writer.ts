import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DTYPE_TO_TF_ENUM } from '../core/dtype.js';
import type { DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import type { HostTensor, Shape } from '../core/tensor.js';
import type { Attr, Graph } from '../graph/ir.js';

/**
 * Writes a Graph as a TensorFlow.js graph model (model.json + one weights shard), the form
 * tfjs-converter produces: Const values move to the weights manifest. Used to generate example
 * candidates and test fixtures; float32/int32/bool constants only (what tfjs stores unquantised).
 */

const DT_NAME: Record<number, string> = {
  1: 'DT_FLOAT', 2: 'DT_DOUBLE', 3: 'DT_INT32', 4: 'DT_UINT8', 5: 'DT_INT16', 6: 'DT_INT8', 7: 'DT_STRING', 8: 'DT_COMPLEX64',
  9: 'DT_INT64', 10: 'DT_BOOL', 14: 'DT_BFLOAT16', 17: 'DT_UINT16', 18: 'DT_COMPLEX128', 19: 'DT_HALF', 20: 'DT_RESOURCE', 21: 'DT_VARIANT',
  22: 'DT_UINT32', 23: 'DT_UINT64',
};

function dtName(d: DType): string {
  return DT_NAME[DTYPE_TO_TF_ENUM[d]] ?? 'DT_INVALID';
}

function shapeJson(s: Shape): Record<string, unknown> {
  if (s === null) return { unknownRank: true };
  return { dim: s.map((d) => ({ size: String(d) })) };
}

function b64(s: Uint8Array): string {
  return Buffer.from(s).toString('base64');
}

function attrJson(a: Attr): Record<string, unknown> {
  switch (a.type) {
    case 'int': return { i: String(a.value) };
    case 'float': return { f: a.value };
    case 'bool': return { b: a.value };
    case 'string': return { s: b64(a.bytes) };
    case 'dtype': return { type: dtName(a.value) };
    case 'shape': return { shape: shapeJson(a.value) };
    case 'placeholder': return { placeholder: a.value };
    case 'func': return { func: { name: a.value.name, attr: Object.fromEntries(Object.entries(a.value.attrs).map(([k, v]) => [k, attrJson(v)])) } };
    case 'tensor': return { tensor: { dtype: dtName(a.value.dtype), tensorShape: shapeJson(a.value.shape) } };
    case 'list': {
      const l: Record<string, unknown> = {};
      if (a.ints.length) l.i = a.ints.map(String);
      if (a.floats.length) l.f = a.floats;
      if (a.bools.length) l.b = a.bools;
      if (a.strings.length) l.s = a.strings.map((s) => b64(new TextEncoder().encode(s)));
      if (a.dtypes.length) l.type = a.dtypes.map(dtName);
      if (a.shapes.length) l.shape = a.shapes.map(shapeJson);
      return { list: l };
    }
  }
}

function tensorBytes(h: HostTensor, name: string): { bytes: Uint8Array; dtype: 'float32' | 'int32' | 'bool' } {
  const d = h.data;
  if (d instanceof Float32Array) return { bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice(), dtype: 'float32' };
  if (d instanceof Int32Array) return { bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice(), dtype: 'int32' };
  if (h.dtype === 'bool') return { bytes: (d as Uint8Array).slice(), dtype: 'bool' };
  throw new InputError(`tfjs graph writer: constant '${name}' has dtype ${h.dtype}; only float32, int32 and bool are written`);
}

export function writeTfjsGraphModel(graph: Graph, dir: string, opts: { shardName?: string } = {}): string {
  mkdirSync(dir, { recursive: true });
  const shard = opts.shardName ?? 'group1-shard1of1.bin';
  const weights: { name: string; shape: number[]; dtype: string }[] = [];
  const chunks: Uint8Array[] = [];
  const nodes = graph.nodes.map((n) => {
    const attr: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(n.attrs)) attr[k] = attrJson(v);
    if (n.op === 'Const' && n.attrs.value?.type === 'tensor') {
      const h = n.attrs.value.value;
      const { bytes, dtype } = tensorBytes(h, n.name);
      weights.push({ name: n.name, shape: h.shape, dtype });
      chunks.push(bytes);
    }
    return { name: n.name, op: n.op, ...(n.inputs.length ? { input: n.inputs } : {}), ...(n.device ? { device: n.device } : {}), attr };
  });
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const buf = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    buf.set(c, off);
    off += c.length;
  }
  const model = {
    format: 'graph-model',
    generatedBy: 'tf-parity',
    convertedBy: 'tf-parity tfjs-graph-writer',
    modelTopology: { node: nodes, library: {}, versions: { producer: graph.producer ?? 1 } },
    weightsManifest: [{ paths: [shard], weights }],
    signature: {
      inputs: Object.fromEntries(graph.inputs.map((s) => [s.name + ':0', { name: s.name + ':0', dtype: dtName(s.dtype), tensorShape: shapeJson(s.shape) }])),
      outputs: Object.fromEntries(graph.outputs.map((o) => [o.includes(':') ? o : o + ':0', { name: o.includes(':') ? o : o + ':0' }])),
    },
  };
  const path = join(dir, 'model.json');
  writeFileSync(path, JSON.stringify(model));
  writeFileSync(join(dir, shard), buf);
  return path;
}

