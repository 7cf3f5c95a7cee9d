import { describe, expect, it } from 'vitest';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { tfType } from '../../src/proto/index.js';

/**
 * Field numbers of proto/tensorflow/*.proto checked against TensorFlow's own numbering by
 * decoding bytes written here by hand, field by field (tensorflow/core/framework/*.proto,
 * tensorflow/core/protobuf/*.proto), without protobufjs on the writing side.
 */
const vint = (n: number): number[] => {
  const o: number[] = [];
  while (n > 127) {
    o.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  o.push(n);
  return o;
};
/** length-delimited field */
const ld = (num: number, ...payload: number[][]): number[] => {
  const p = payload.flat();
  return [...vint((num << 3) | 2), ...vint(p.length), ...p];
};
/** varint field */
const vf = (num: number, v: number): number[] => [...vint(num << 3), ...vint(v)];
/** fixed32 float field (unpacked form; proto3 parsers accept it for packed fields too) */
const f32 = (num: number, x: number): number[] => [...vint((num << 3) | 5), ...new Uint8Array(new Float32Array([x]).buffer)];
const str = (s: string): number[] => [...new TextEncoder().encode(s)];
/** map<string, V> entry: key = 1, value = 2 */
const entry = (num: number, key: string, value: number[]): number[] => ld(num, ld(1, str(key)), ld(2, value));

describe('TensorFlow field numbers (hand-encoded wire bytes)', () => {
  it('GraphDef / NodeDef / AttrValue / TensorProto / TensorShapeProto / VersionDef / FunctionDef', () => {
    const dim = (size: number) => ld(2 /* TensorShapeProto.dim */, vf(1 /* Dim.size */, size));
    const tensor = [
      ...vf(1, 1), // dtype DT_FLOAT
      ...ld(2, dim(3)), // tensor_shape
      ...f32(5, 1.5), // float_val
      ...f32(5, -2), // float_val (repeated; last value fills the rest)
    ];
    const constNode = [
      ...ld(1, str('c')), // name
      ...ld(2, str('Const')), // op
      ...ld(4, str('/device:CPU:0')), // device
      ...entry(5, 'value', ld(8 /* AttrValue.tensor */, tensor)),
      ...entry(5, 'dtype', vf(6 /* AttrValue.type */, 1)),
    ];
    const phNode = [
      ...ld(1, str('x')),
      ...ld(2, str('Placeholder')),
      ...entry(5, 'dtype', vf(6, 3)),
      ...entry(5, 'shape', ld(7 /* AttrValue.shape */, dim(2), dim(4))),
    ];
    const idNode = [
      ...ld(1, str('y')),
      ...ld(2, str('IdentityN')),
      ...ld(3, str('x')), // input
      ...ld(3, str('^c')),
      ...entry(5, 'T', ld(1 /* AttrValue.list */, vf(6 /* ListValue.type */, 3))),
      ...entry(5, 'k', vf(3 /* AttrValue.i */, 7)),
      ...entry(5, 'p', ld(2 /* AttrValue.s */, str('SAME'))),
      ...entry(5, 'b', vf(5 /* AttrValue.b */, 1)),
      ...entry(5, 'f', f32(4 /* AttrValue.f */, 0.25)),
      ...entry(5, 'fn', ld(10 /* AttrValue.func */, ld(1, str('body')))),
      ...entry(5, 'ph', ld(9 /* AttrValue.placeholder */, str('T'))),
      ...entry(5, 'u', ld(7, vf(3 /* TensorShapeProto.unknown_rank */, 1))),
      ...ld(7 /* NodeDef.experimental_type (FullTypeDef) */, vf(1, 3)),
    ];
    const fn = [
      ...ld(1 /* signature (OpDef) */, ld(1, str('body')), ld(2 /* input_arg */, ld(1, str('a')), vf(3, 1)), ld(3 /* output_arg */, ld(1, str('r')), ld(4, str('T')))),
      ...ld(3 /* node_def */, ld(1, str('n')), ld(2, str('Identity')), ld(3, str('a'))),
      ...entry(4 /* ret */, 'r', str('n:output:0')),
    ];
    const gd = Uint8Array.from([
      ...ld(1, phNode),
      ...ld(1, constNode),
      ...ld(1, idNode),
      ...ld(4 /* versions */, vf(1 /* producer */, 1234), vf(2, 12)),
      ...ld(2 /* library */, ld(1 /* function */, fn)),
    ]);
    const g = readGraphDef(gd, 'hand.pb');
    expect(g.nodes.map((n) => [n.name, n.op, n.inputs])).toEqual([['x', 'Placeholder', []], ['c', 'Const', []], ['y', 'IdentityN', ['x', '^c']]]);
    expect(g.producer).toBe(1234);
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'int32', shape: [2, 4] }]);
    const c = g.nodes[1]!;
    expect(c.device).toBe('/device:CPU:0');
    expect(c.attrs.dtype).toEqual({ type: 'dtype', value: 'float32' });
    expect(c.attrs.value?.type === 'tensor' && [c.attrs.value.value.shape, Array.from(c.attrs.value.value.data as Float32Array)]).toEqual([[3], [1.5, -2, -2]]);
    const y = g.nodes[2]!.attrs;
    expect(y.T).toMatchObject({ type: 'list', dtypes: ['int32'] });
    expect(y.k).toEqual({ type: 'int', value: 7 });
    expect(y.p).toMatchObject({ type: 'string', value: 'SAME' });
    expect(y.b).toEqual({ type: 'bool', value: true });
    expect(y.f).toEqual({ type: 'float', value: 0.25 });
    expect(y.fn).toEqual({ type: 'func', value: { name: 'body', attrs: {} } });
    expect(y.ph).toEqual({ type: 'placeholder', value: 'T' });
    expect(y.u).toEqual({ type: 'shape', value: null });
    const f = g.functions.get('body')!;
    expect(f.inputArgs).toEqual([{ name: 'a', dtype: 'float32' }]);
    expect(f.outputArgs).toEqual([{ name: 'r', typeAttr: 'T' }]);
    expect(f.nodes.map((n) => [n.name, n.op, n.inputs])).toEqual([['n', 'Identity', ['a']]]);
    expect(f.ret).toEqual({ r: 'n:output:0' });
  });

  it('TensorProto value fields: half_val 13, int64_val 10, tensor_content 4, string_val 8, bool_val 11', () => {
    const TP = tfType('TensorProto');
    const m = (b: number[]) => TP.decode(Uint8Array.from(b)) as unknown as Record<string, unknown>;
    expect(Array.from(m([...vf(13, 0x3c00)]).half_val as number[])).toEqual([0x3c00]);
    expect(String((m([...vf(10, 5)]).int64_val as unknown[])[0])).toBe('5');
    expect(Array.from(m(ld(4, [1, 2])).tensor_content as Uint8Array)).toEqual([1, 2]);
    expect(Array.from((m(ld(8, str('hi'))).string_val as Uint8Array[])[0]!)).toEqual([104, 105]);
    expect(m(vf(11, 1)).bool_val).toEqual([true]);
    expect(Array.from(m(ld(6, [...new Uint8Array(new Float64Array([0.5]).buffer)])).double_val as number[])).toEqual([0.5]);
    expect(Array.from(m(vf(16, 4000000000)).uint32_val as number[])).toEqual([4000000000]);
    expect(Array.from(m(ld(9, [...new Uint8Array(new Float32Array([1, 2]).buffer)])).scomplex_val as number[])).toEqual([1, 2]);
  });

  it('SavedModel / MetaGraphDef / SignatureDef / TensorInfo', () => {
    const tensorInfo = [...ld(1, str('x:0')), ...vf(2, 1), ...ld(3, ld(2, vf(1, 5)))];
    const sig = [...entry(1, 'x', tensorInfo), ...ld(3, str('tensorflow/serving/predict'))];
    const meta = [
      ...ld(1 /* meta_info_def */, ld(4 /* tags */, str('serve')), ld(5, str('2.15.0'))),
      ...ld(2 /* graph_def */, ld(1, ld(1, str('x')), ld(2, str('Placeholder')))),
      ...entry(5 /* signature_def */, 'serving_default', sig),
    ];
    const sm = tfType('SavedModel').decode(Uint8Array.from([...vf(1, 1), ...ld(2, meta)])) as unknown as {
      saved_model_schema_version: unknown;
      meta_graphs: { meta_info_def: { tags: string[]; tensorflow_version: string }; graph_def: { node: { name: string }[] }; signature_def: Record<string, { inputs: Record<string, { name: string; dtype: number; tensor_shape: { dim: { size: unknown }[] } }>; method_name: string }> }[];
    };
    expect(String(sm.saved_model_schema_version)).toBe('1');
    const mg = sm.meta_graphs[0]!;
    expect(mg.meta_info_def.tags).toEqual(['serve']);
    expect(mg.meta_info_def.tensorflow_version).toBe('2.15.0');
    expect(mg.graph_def.node[0]!.name).toBe('x');
    const s = mg.signature_def.serving_default!;
    expect(s.method_name).toBe('tensorflow/serving/predict');
    expect([s.inputs.x!.name, s.inputs.x!.dtype, String(s.inputs.x!.tensor_shape.dim[0]!.size)]).toEqual(['x:0', 1, '5']);
  });
});
