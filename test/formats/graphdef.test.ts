import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { cnnGraph } from '../../cases/gen/cnn.js';
import { FormatError } from '../../src/core/errors.js';
import { encodeGraphDef, graphToPbtxt } from '../../src/formats/graphdef-writer.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { graphStats, loadGraph } from '../../src/formats/index.js';
import { readGraphDefText } from '../../src/formats/pbtxt.js';
import { bfloat16ToFloat, decodeTensorProto, halfToFloat } from '../../src/formats/tensor-proto.js';
import { tfType } from '../../src/proto/index.js';
import { runGraph } from '../fixtures/graph.js';

const SHARED = join(import.meta.dirname, '../../../shared/models/tf2onnx-tests');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'parity-fmt-'));
}

describe('TensorProto decoding', () => {
  const T = tfType('TensorProto');
  const dec = (o: Record<string, unknown>) => decodeTensorProto(T.decode(T.encode(T.fromObject(o)).finish()) as unknown as Record<string, unknown>);
  it('half and bfloat16 bit patterns', () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555].map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, Infinity, 0.333251953125]);
    expect([0x3f80, 0xc040, 0x0000].map(bfloat16ToFloat)).toEqual([1, -3, 0]);
    const h = dec({ dtype: 19, tensor_shape: { dim: [{ size: 3 }] }, half_val: [0x3c00, 0xc000, 0x3800] });
    expect(h.dtype).toBe('float16');
    expect(Array.from(h.data as Float32Array)).toEqual([1, -2, 0.5]);
    const b = dec({ dtype: 14, tensor_shape: { dim: [{ size: 2 }] }, tensor_content: Uint8Array.from([0x80, 0x3f, 0x40, 0xc0]) });
    expect(Array.from(b.data as Float32Array)).toEqual([1, -3]);
  });
  it('a short value list repeats its last value to fill the shape', () => {
    const t = dec({ dtype: 1, tensor_shape: { dim: [{ size: 2 }, { size: 3 }] }, float_val: [1.5, 2.5] });
    expect(Array.from(t.data as Float32Array)).toEqual([1.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
    const z = dec({ dtype: 3, tensor_shape: { dim: [{ size: 3 }] } });
    expect(Array.from(z.data as Int32Array)).toEqual([0, 0, 0]);
  });
  it('every integer dtype, int64 beyond 2^53, bool, string, from tensor_content and value fields', () => {
    const i64 = dec({ dtype: 9, tensor_shape: { dim: [{ size: 2 }] }, int64_val: ['9007199254740993', '-5'] });
    expect(Array.from(i64.data as BigInt64Array)).toEqual([9007199254740993n, -5n]);
    const u8 = dec({ dtype: 4, tensor_shape: { dim: [{ size: 2 }] }, tensor_content: Uint8Array.from([255, 7]) });
    expect(Array.from(u8.data as Uint8Array)).toEqual([255, 7]);
    const i16 = dec({ dtype: 5, tensor_shape: { dim: [{ size: 2 }] }, int_val: [-300, 12] });
    expect(Array.from(i16.data as Int16Array)).toEqual([-300, 12]);
    const d = dec({ dtype: 2, tensor_shape: { dim: [{ size: 1 }] }, double_val: [0.1] });
    expect((d.data as Float64Array)[0]).toBe(0.1);
    const bo = dec({ dtype: 10, tensor_shape: { dim: [{ size: 3 }] }, bool_val: [true, false] });
    expect(Array.from(bo.data as Uint8Array)).toEqual([1, 0, 0]);
    const s = dec({ dtype: 7, tensor_shape: { dim: [{ size: 2 }] }, string_val: [Uint8Array.from([104, 105]), Uint8Array.from([0, 255])] });
    expect((s.data as Uint8Array[]).map((x) => Array.from(x))).toEqual([[104, 105], [0, 255]]);
    const u64 = dec({ dtype: 23, tensor_shape: { dim: [{ size: 1 }] }, uint64_val: ['18446744073709551615'] });
    expect((u64.data as BigUint64Array)[0]).toBe(18446744073709551615n);
    const f = dec({ dtype: 1, tensor_shape: { dim: [{ size: 2 }] }, tensor_content: new Uint8Array(new Float32Array([1.25, -8]).buffer) });
    expect(Array.from(f.data as Float32Array)).toEqual([1.25, -8]);
  });
  it('refuses tensor_content whose size does not match the shape, and huge declared shapes', () => {
    expect(() => dec({ dtype: 1, tensor_shape: { dim: [{ size: 3 }] }, tensor_content: new Uint8Array(8) })).toThrow(/tensor_content has 8 bytes, expected 12/);
    expect(() => dec({ dtype: 1, tensor_shape: { dim: [{ size: 1000000 }, { size: 1000000 }] }, float_val: [1] })).toThrow(/over the budget/);
  });
});

describe('GraphDef readers', () => {
  it('a graph built in code gives identical activations through .pb and .pbtxt', async () => {
    const g = cnnGraph();
    const d = tmp();
    writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(g));
    writeFileSync(join(d, 'cnn.pbtxt'), graphToPbtxt(g));
    const a = await loadGraph(join(d, 'cnn.pb'));
    const b = await loadGraph(join(d, 'cnn.pbtxt'));
    expect(b.nodes.map((n) => n.name)).toEqual(a.nodes.map((n) => n.name));
    expect(b.nodes).toEqual(a.nodes.map((n) => n));
    const x = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 3);
    const ra = await runGraph(a, { x });
    const rb = await runGraph(b, { x });
    x.dispose();
    expect([...ra.keys()]).toEqual([...rb.keys()]);
    for (const [k, v] of ra) expect(rb.get(k)!.values).toEqual(v.values);
    expect(ra.get('probs/Softmax')!.shape).toEqual([1, 10]);
    expect(graphStats(a).parameters).toBe(108 + 4 + 16 + 36 + 4 + 640 + 10);
  });

  it('parses text format details: comments, escapes, lists, <> blocks, enums by name or number', () => {
    const text = `# a comment
node <
  name: "c" op: "Const"
  attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "value" value: { tensor { dtype: 1 tensor_shape { dim { size: 2 } } tensor_content: "\\000\\000\\200?\\000\\000\\000\\300" } } }
>
node { name: 'i' op: "Identity" input: ["c"] attr { key: "T" value { type: DT_FLOAT } } attr { key: "_s" value { s: "a\\tb" "c\\x41" } } }
versions { producer: 27 }
`;
    const g = readGraphDefText(text, 'x.pbtxt');
    expect(g.nodes.map((n) => [n.name, n.op, n.inputs])).toEqual([['c', 'Const', []], ['i', 'Identity', ['c']]]);
    const v = g.nodes[0]!.attrs.value;
    expect(v?.type === 'tensor' && Array.from(v.value.data as Float32Array)).toEqual([1, -2]);
    expect(g.nodes[1]!.attrs._s).toMatchObject({ type: 'string', value: 'a\tbcA' });
    expect(g.producer).toBe(27);
  });

  it('bad input: truncated .pb, garbage, pbtxt syntax error with line:column', () => {
    const pb = encodeGraphDef(cnnGraph());
    // (A cut exactly at a field boundary leaves a valid, smaller GraphDef; these cuts do not.)
    for (const cut of [100, Math.floor(pb.length / 2), pb.length - 3]) {
      expect(() => readGraphDef(pb.subarray(0, pb.length - cut), 'trunc.pb')).toThrow(FormatError);
      expect(() => readGraphDef(pb.subarray(0, pb.length - cut), 'trunc.pb')).toThrow(/trunc.pb: /);
    }
    expect(() => readGraphDef(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), 'junk.pb')).toThrow(/junk.pb: /);
    expect(() => readGraphDef(new Uint8Array(), 'empty.pb')).toThrow(/empty file/);
    expect(() => readGraphDefText('node {\n  name: "a"\n  op: Const"\n}', 'bad.pbtxt')).toThrow(/bad.pbtxt:3:\d+: /);
    expect(() => readGraphDefText('node {\n  nmae: "a"\n}', 'bad.pbtxt')).toThrow(/bad.pbtxt:2:3: unknown field 'nmae' in tensorflow.NodeDef/);
    expect(() => readGraphDefText('node {\n  name: "a"\n', 'open.pbtxt')).toThrow(/open.pbtxt:3:1: expected '}'/);
  });
});

describe.skipIf(!existsSync(SHARED))('GraphDefs written by real TensorFlow (../shared/models)', () => {
  it('frozen regression model: X * W + b', async () => {
    const g = await loadGraph(join(SHARED, 'regression/graphdef/frozen.pb'));
    expect(g.nodes.map((n) => n.op)).toEqual(['Placeholder', 'Const', 'Identity', 'Const', 'Identity', 'Mul', 'Add', 'Identity']);
    expect(g.outputs).toEqual(['pred']);
    const r = await runGraph(g, { X: tf.tensor1d([2]) });
    expect(r.get('pred')!.values[0]).toBeCloseTo(2 * 0.21396178 + 1.04952538, 6);
  });
  for (const m of ['fc-layers', 'ae0', 'lstm', 'gru']) {
    it(`${m}/frozen.pb decodes and runs`, async () => {
      const g = await loadGraph(join(SHARED, m, 'frozen.pb'));
      const stats = graphStats(g);
      expect(stats.nodes).toBeGreaterThan(5);
      const feeds: Record<string, tf.Tensor> = {};
      for (const s of g.inputs) feeds[s.name] = s.name === 'keep_prob' ? tf.ones([1]) : tf.randomUniform((s.shape ?? [1, 784]).map((d) => (d < 0 ? 1 : d)), 0, 1, 'float32', 1);
      const r = await runGraph(g, feeds);
      for (const o of g.outputs) expect(r.get(o)!.values.every(Number.isFinite)).toBe(true);
      Object.values(feeds).forEach((t) => t.dispose());
    });
  }
  it('the .pb bytes decode exactly as protoc --decode_raw sees them (node count)', () => {
    const bytes = readFileSync(join(SHARED, 'fc-layers/frozen.pb'));
    const g = readGraphDef(new Uint8Array(bytes), 'fc.pb');
    expect(new Set(g.nodes.map((n) => n.name)).size).toBe(g.nodes.length);
  });
});
