import { describe, expect, it } from 'vitest';
import { FormatError, LimitError } from '../../src/core/errors.js';
import type { HostTensor } from '../../src/core/tensor.js';
import {
  bfloat16ToFloat,
  decodeAttrValue,
  decodeFunctionDef,
  decodeNodeDef,
  decodeTensorProto,
  encodeTensorProto,
  floatToBfloat16,
  floatToHalf,
  graphFromGraphDef,
  halfToFloat,
} from '../../src/formats/tensor-proto.js';
import { tfType } from '../../src/proto/index.js';

type Msg = Record<string, unknown>;
const TP = tfType('TensorProto');
/** Through the binary wire format, as a .pb reader sees it. */
const wire = (o: Msg): Msg => TP.decode(TP.encode(TP.fromObject(o)).finish()) as unknown as Msg;
const dec = (o: Msg) => decodeTensorProto(wire(o), { file: 'f.pb', node: 'c' });
const shp = (...d: number[]) => ({ dim: d.map((size) => ({ size })) });
const bytes = (...b: number[]) => Uint8Array.from(b);
const vals = (h: HostTensor) => Array.from(h.data as ArrayLike<number | bigint>);

describe('half and bfloat16 bit patterns (hand-computed)', () => {
  it('IEEE half', () => {
    // 0x3C00 = 1.0, 0xC000 = -2.0, 0x7BFF = max 65504, 0x0001 = smallest subnormal 2^-24,
    // 0x3555 = (1 + 341/1024) * 2^-2, 0x7C00/0xFC00 = +-inf, 0x8000 = -0.
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x7c00, 0xfc00].map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125, Infinity, -Infinity]);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });
  it('bfloat16 is the upper half of a float32', () => {
    // 0x4049: exponent 128 -> 2^1, mantissa 73/128 -> 2 * 1.5703125
    expect([0x3f80, 0xc040, 0x4049, 0x0000, 0x7f80].map(bfloat16ToFloat)).toEqual([1, -3, 3.140625, 0, Infinity]);
  });
  it('float -> half / bfloat16 rounds to nearest even', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway, mantissa 0 is even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway, rounds up to even
    expect(floatToHalf(65520)).toBe(0x7c00); // past max half -> inf
    expect(floatToHalf(2 ** -24)).toBe(0x0001);
    expect(floatToBfloat16(1)).toBe(0x3f80);
    expect(floatToBfloat16(-3)).toBe(0xc040);
    expect(floatToBfloat16(1 + 2 ** -8)).toBe(0x3f80); // halfway -> even
    expect(floatToBfloat16(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });
});

describe('TensorProto from tensor_content (little-endian bytes written by hand)', () => {
  it('every fixed-size dtype', () => {
    expect(vals(dec({ dtype: 1, tensor_shape: shp(2), tensor_content: bytes(0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0) }))).toEqual([1, -2.5]);
    expect(vals(dec({ dtype: 2, tensor_shape: shp(1), tensor_content: bytes(0, 0, 0, 0, 0, 0, 0xe0, 0x3f) }))).toEqual([0.5]);
    expect(vals(dec({ dtype: 6, tensor_shape: shp(2), tensor_content: bytes(0xff, 0x7f) }))).toEqual([-1, 127]);
    expect(vals(dec({ dtype: 4, tensor_shape: shp(2), tensor_content: bytes(0xff, 7) }))).toEqual([255, 7]);
    expect(vals(dec({ dtype: 5, tensor_shape: shp(2), tensor_content: bytes(0x00, 0x80, 0x01, 0x00) }))).toEqual([-32768, 1]);
    expect(vals(dec({ dtype: 17, tensor_shape: shp(1), tensor_content: bytes(0xff, 0xff) }))).toEqual([65535]);
    expect(vals(dec({ dtype: 3, tensor_shape: shp(1), tensor_content: bytes(0xfe, 0xff, 0xff, 0xff) }))).toEqual([-2]);
    expect(vals(dec({ dtype: 22, tensor_shape: shp(1), tensor_content: bytes(0xff, 0xff, 0xff, 0xff) }))).toEqual([4294967295]);
    // 0x0020000000000001 = 2^53 + 1: not representable as a double, exact as BigInt
    expect(vals(dec({ dtype: 9, tensor_shape: shp(2), tensor_content: bytes(1, 0, 0, 0, 0, 0, 0x20, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) }))).toEqual([9007199254740993n, -1n]);
    expect(vals(dec({ dtype: 23, tensor_shape: shp(1), tensor_content: new Uint8Array(8).fill(0xff) }))).toEqual([18446744073709551615n]);
    expect(vals(dec({ dtype: 10, tensor_shape: shp(3), tensor_content: bytes(0, 1, 2) }))).toEqual([0, 1, 1]);
    expect(vals(dec({ dtype: 19, tensor_shape: shp(2), tensor_content: bytes(0x00, 0x3c, 0x00, 0xc0) }))).toEqual([1, -2]);
    expect(vals(dec({ dtype: 14, tensor_shape: shp(2), tensor_content: bytes(0x80, 0x3f, 0x40, 0xc0) }))).toEqual([1, -3]);
    // complex64: interleaved (re, im) float32 pairs: (1, -2.5)
    const c = dec({ dtype: 8, tensor_shape: shp(1), tensor_content: bytes(0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0) });
    expect([c.dtype, c.shape, vals(c)]).toEqual(['complex64', [1], [1, -2.5]]);
    const c2 = dec({ dtype: 18, tensor_shape: shp(1), tensor_content: bytes(0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0, 0, 0, 0, 0, 0, 0xf0, 0xbf) });
    expect([c2.dtype, vals(c2)]).toEqual(['complex128', [0.5, -1]]);
  });

  it('keeps half types widened but remembers the original dtype; scalars have shape []', () => {
    const h = dec({ dtype: 19, tensor_content: bytes(0x00, 0x38) });
    expect([h.dtype, h.shape, vals(h)]).toEqual(['float16', [], [0.5]]);
    expect(h.data).toBeInstanceOf(Float32Array);
  });

  it('makes a view over aligned bytes and copies unaligned ones once, values right either way', () => {
    const body = TP.encode(TP.fromObject({ dtype: 1, tensor_shape: shp(2), tensor_content: bytes(0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0) })).finish();
    // Where tensor_content starts in the message: its last 8 bytes.
    const contentAt = body.length - 8;
    for (let pad = 0; pad < 4; pad++) {
      const big = new Uint8Array(pad + body.length + 3);
      big.set(body, pad);
      const m = TP.decode(big.subarray(pad, pad + body.length)) as unknown as Msg;
      const t = decodeTensorProto(m);
      expect(vals(t)).toEqual([1, -2.5]);
      const aligned = (pad + contentAt) % 4 === 0;
      expect((t.data as Float32Array).buffer === big.buffer).toBe(aligned);
    }
  });
});

describe('TensorProto from the typed value fields', () => {
  it('every dtype', () => {
    expect(vals(dec({ dtype: 1, tensor_shape: shp(2), float_val: [1.5, -0.25] }))).toEqual([1.5, -0.25]);
    expect(vals(dec({ dtype: 2, tensor_shape: shp(1), double_val: [0.1] }))).toEqual([0.1]);
    expect(vals(dec({ dtype: 19, tensor_shape: shp(3), half_val: [0x3c00, 0xc000, 0x3800] }))).toEqual([1, -2, 0.5]);
    expect(vals(dec({ dtype: 14, tensor_shape: shp(2), half_val: [0x3f80, 0x4049] }))).toEqual([1, 3.140625]);
    expect(vals(dec({ dtype: 6, tensor_shape: shp(2), int_val: [-128, 127] }))).toEqual([-128, 127]);
    expect(vals(dec({ dtype: 4, tensor_shape: shp(2), int_val: [0, 255] }))).toEqual([0, 255]);
    expect(vals(dec({ dtype: 5, tensor_shape: shp(2), int_val: [-300, 12] }))).toEqual([-300, 12]);
    expect(vals(dec({ dtype: 17, tensor_shape: shp(1), int_val: [65535] }))).toEqual([65535]);
    expect(vals(dec({ dtype: 3, tensor_shape: shp(2), int_val: [-7, 2147483647] }))).toEqual([-7, 2147483647]);
    expect(vals(dec({ dtype: 22, tensor_shape: shp(1), uint32_val: [4000000000] }))).toEqual([4000000000]);
    expect(vals(dec({ dtype: 9, tensor_shape: shp(2), int64_val: ['9007199254740993', '-5'] }))).toEqual([9007199254740993n, -5n]);
    expect(vals(dec({ dtype: 23, tensor_shape: shp(1), uint64_val: ['18446744073709551615'] }))).toEqual([18446744073709551615n]);
    expect(vals(dec({ dtype: 10, tensor_shape: shp(2), bool_val: [true, false] }))).toEqual([1, 0]);
    expect(vals(dec({ dtype: 8, tensor_shape: shp(2), scomplex_val: [1, 2, 3, 4] }))).toEqual([1, 2, 3, 4]);
    expect(vals(dec({ dtype: 18, tensor_shape: shp(1), dcomplex_val: [0.5, -1] }))).toEqual([0.5, -1]);
    const s = dec({ dtype: 7, tensor_shape: shp(2), string_val: [bytes(104, 105), bytes(0, 255)] });
    expect((s.data as Uint8Array[]).map((x) => Array.from(x))).toEqual([[104, 105], [0, 255]]);
  });

  it('a short list repeats its last value; an empty list means zeros', () => {
    expect(vals(dec({ dtype: 1, tensor_shape: shp(2, 3), float_val: [1.5, 2.5] }))).toEqual([1.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
    expect(vals(dec({ dtype: 9, tensor_shape: shp(4), int64_val: ['5', '7'] }))).toEqual([5n, 7n, 7n, 7n]);
    expect(vals(dec({ dtype: 19, tensor_shape: shp(3), half_val: [0xc000] }))).toEqual([-2, -2, -2]);
    expect(vals(dec({ dtype: 10, tensor_shape: shp(3), bool_val: [true] }))).toEqual([1, 1, 1]);
    expect(vals(dec({ dtype: 18, tensor_shape: shp(3), dcomplex_val: [1, 2] }))).toEqual([1, 2, 1, 2, 1, 2]);
    const s = dec({ dtype: 7, tensor_shape: shp(3), string_val: [bytes(97)] });
    expect((s.data as Uint8Array[]).map((x) => Array.from(x))).toEqual([[97], [97], [97]]);
    expect(vals(dec({ dtype: 3, tensor_shape: shp(3) }))).toEqual([0, 0, 0]);
    expect(vals(dec({ dtype: 1, tensor_shape: shp(2) }))).toEqual([0, 0]);
    expect(vals(dec({ dtype: 9, tensor_shape: shp(2) }))).toEqual([0n, 0n]);
    expect(vals(dec({ dtype: 3, tensor_shape: shp(0) }))).toEqual([]);
  });
});

describe('TensorProto errors name the file and node', () => {
  it('tensor_content of the wrong size', () => {
    const e = (() => { try { dec({ dtype: 1, tensor_shape: shp(3), tensor_content: new Uint8Array(8) }); } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toBe("f.pb: node 'c': tensor_content has 8 bytes, expected 12 for float32[3]");
    expect(() => dec({ dtype: 1, tensor_shape: shp(2), tensor_content: new Uint8Array(9) })).toThrow(/9 bytes, expected 8/);
  });
  it('more values than elements, unknown dims, undecodable dtypes, huge shapes', () => {
    expect(() => dec({ dtype: 1, tensor_shape: shp(1), float_val: [1, 2] })).toThrow(/f.pb: node 'c': float_val has 2 values for a tensor of 1 elements/);
    expect(() => dec({ dtype: 1, tensor_shape: shp(-1), float_val: [1] })).toThrow(/unknown dimension/);
    expect(() => dec({ dtype: 29, tensor_shape: shp(1), int_val: [1] })).toThrow(/f.pb: node 'c': dtype DT_INT4 is not supported/);
    // TF1's quantized types are integers in int_val (or tensor_content), as their storage type.
    expect(dec({ dtype: 12, tensor_shape: shp(2), int_val: [7, 255] })).toEqual({ dtype: 'quint8', shape: [2], data: Uint8Array.from([7, 255]) });
    expect(dec({ dtype: 13, tensor_shape: shp(1), tensor_content: Uint8Array.from([0xff, 0xff, 0xff, 0xff]) })).toEqual({ dtype: 'qint32', shape: [1], data: Int32Array.from([-1]) });
    expect(() => dec({ dtype: 20, tensor_shape: shp(1) })).toThrow(/resource tensors cannot be decoded/);
    expect(() => dec({ dtype: 1, tensor_shape: shp(1000000, 1000000), float_val: [1] })).toThrow(LimitError);
    expect(() => dec({ dtype: 7, tensor_shape: shp(1000000, 1000000), string_val: [bytes(1)] })).toThrow(LimitError);
  });
});

describe('encodeTensorProto', () => {
  it('packs values little-endian into tensor_content', () => {
    const f16 = encodeTensorProto({ dtype: 'float16', shape: [2], data: Float32Array.from([1, -2]) });
    expect(Array.from(f16.tensor_content as Uint8Array)).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect(f16.dtype).toBe(19);
    const bf = encodeTensorProto({ dtype: 'bfloat16', shape: [2], data: Float32Array.from([1, -3]) });
    expect(Array.from(bf.tensor_content as Uint8Array)).toEqual([0x80, 0x3f, 0x40, 0xc0]);
    const i64 = encodeTensorProto({ dtype: 'int64', shape: [1], data: BigInt64Array.from([-2n]) });
    expect(Array.from(i64.tensor_content as Uint8Array)).toEqual([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const s = encodeTensorProto({ dtype: 'string', shape: [1], data: [bytes(65)] });
    expect(s.string_val).toEqual([bytes(65)]);
  });
});

describe('AttrValue, NodeDef, FunctionDef', () => {
  const AV = tfType('AttrValue');
  const av = (o: Msg) => decodeAttrValue(AV.decode(AV.encode(AV.fromObject(o)).finish()) as unknown as Msg, { file: 'g.pb', node: 'n' });
  it('every kind of value', () => {
    expect(av({ i: '-3' })).toEqual({ type: 'int', value: -3 });
    expect(av({ i: 0 })).toEqual({ type: 'int', value: 0 });
    expect(av({ f: 0.5 })).toEqual({ type: 'float', value: 0.5 });
    expect(av({ b: false })).toEqual({ type: 'bool', value: false });
    expect(av({ s: bytes(83, 65, 77, 69) })).toMatchObject({ type: 'string', value: 'SAME' });
    expect(av({ type: 9 })).toEqual({ type: 'dtype', value: 'int64' });
    expect(av({ type: 101 })).toEqual({ type: 'dtype', value: 'float32' }); // DT_FLOAT_REF
    expect(av({ shape: { dim: [{ size: -1 }, { size: 3 }] } })).toEqual({ type: 'shape', value: [-1, 3] });
    expect(av({ shape: { unknown_rank: true } })).toEqual({ type: 'shape', value: null });
    expect(av({ func: { name: 'body', attr: { T: { type: 1 } } } })).toEqual({ type: 'func', value: { name: 'body', attrs: { T: { type: 'dtype', value: 'float32' } } } });
    expect(av({ placeholder: 'T' })).toEqual({ type: 'placeholder', value: 'T' });
    expect(av({ list: { i: [1, 2, 2], type: [1, 3], shape: [{ dim: [{ size: 2 }] }], s: [bytes(120)] } })).toMatchObject({ type: 'list', ints: [1, 2, 2], dtypes: ['float32', 'int32'], shapes: [[2]], strings: ['x'] });
    expect(av({ list: {} })).toMatchObject({ type: 'list', ints: [], floats: [] });
    expect(() => av({ i: '9007199254740993' })).toThrow(/g.pb: node 'n': integer 9007199254740993 is too large/);
  });
  it('NodeDef needs a name, an op and well-formed inputs', () => {
    expect(decodeNodeDef({ name: 'a', op: 'Add', input: ['x', 'y:1', '^z'], attr: {} }, 'g.pb')).toEqual({ name: 'a', op: 'Add', inputs: ['x', 'y:1', '^z'], attrs: {} });
    expect(() => decodeNodeDef({ name: '', op: 'Add' }, 'g.pb')).toThrow(/g.pb: a node has no name/);
    expect(() => decodeNodeDef({ name: 'a', op: '' }, 'g.pb')).toThrow(/g.pb: node 'a' has no op/);
    expect(() => decodeNodeDef({ name: 'a', op: 'Add', input: ['x:'] }, 'g.pb')).toThrow(/node 'a' has a malformed input 'x:'/);
  });
  it('FunctionDef bodies keep `node:output_arg:index` inputs', () => {
    const f = decodeFunctionDef(
      {
        signature: { name: 'f', input_arg: [{ name: 'x', type: 1 }], output_arg: [{ name: 'y', type_attr: 'T' }] },
        node_def: [{ name: 'm', op: 'Mul', input: ['x', 'x'] }, { name: 'i', op: 'Identity', input: ['m:z:0'] }],
        ret: { y: 'i:output:0' },
      },
      'g.pb',
    );
    expect(f.inputArgs).toEqual([{ name: 'x', dtype: 'float32' }]);
    expect(f.outputArgs).toEqual([{ name: 'y', typeAttr: 'T' }]);
    expect(f.nodes.map((n) => n.inputs)).toEqual([['x', 'x'], ['m:z:0']]);
    expect(f.ret).toEqual({ y: 'i:output:0' });
  });
  it('graphFromGraphDef: inputs from Placeholders, outputs are unconsumed nodes, refuses dangling and duplicate names', () => {
    const gd = {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 3 }, shape: { shape: { dim: [{ size: -1 }, { size: 2 }] } } } },
        { name: 'c', op: 'Const', attr: { value: { tensor: { dtype: 3, tensor_shape: {}, int_val: [1] } } } },
        { name: 'y', op: 'Identity', input: ['x'] },
        { name: 'init', op: 'NoOp' },
        { name: 'initial_state', op: 'Identity', input: ['c'] },
      ],
      versions: { producer: 27 },
    };
    const g = graphFromGraphDef(gd, { path: 'g.pb', format: 'pb' });
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'int32', shape: [-1, 2] }]);
    expect(g.outputs).toEqual(['y', 'initial_state']);
    expect(g.producer).toBe(27);
    expect(() => graphFromGraphDef({ node: [{ name: 'y', op: 'Identity', input: ['nope:1'] }] }, { path: 'g.pb', format: 'pb' })).toThrow(/g.pb: node 'y' reads 'nope:1', which is not a node/);
    expect(() => graphFromGraphDef({ node: [{ name: 'y', op: 'NoOp' }, { name: 'y', op: 'NoOp' }] }, { path: 'g.pb', format: 'pb' })).toThrow(/node name 'y' appears twice/);
  });
});
