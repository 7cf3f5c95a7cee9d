import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/core/errors.js';
import { parseTextFormat, readGraphDefText } from '../../src/formats/pbtxt.js';
import { tfType } from '../../src/proto/index.js';

type Msg = Record<string, unknown>;
const parse = (text: string, type = 'GraphDef') => parseTextFormat(text, tfType(type), 'm.pbtxt') as unknown as Msg;
const tensorOf = (text: string) => {
  const g = readGraphDefText(`node { name: "c" op: "Const" attr { key: "value" value { tensor { ${text} } } } }`, 't.pbtxt');
  const v = g.nodes[0]!.attrs.value!;
  if (v.type !== 'tensor') throw new Error('not a tensor');
  return v.value;
};
const errorOf = (text: string, type = 'GraphDef'): string => {
  try {
    parse(text, type);
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('text format syntax', () => {
  it('nested messages with {} or <>, optional colon, separators, comments', () => {
    const g = readGraphDefText(
      `# leading comment
node < name: "a" op: "Placeholder" ; attr: { key: "dtype" value: < type: DT_INT32 > } >  # trailing
node {
  name: 'b', op: "Identity" input: "a"  # comment inside
  attr { key: "T" value { type: 3 } }
}
versions: { producer: 42 min_consumer: 12 }
`,
      'x.pbtxt',
    );
    expect(g.nodes.map((n) => [n.name, n.op, n.inputs])).toEqual([['a', 'Placeholder', []], ['b', 'Identity', ['a']]]);
    expect(g.nodes[0]!.attrs.dtype).toEqual({ type: 'dtype', value: 'int32' });
    expect(g.nodes[1]!.attrs.T).toEqual({ type: 'dtype', value: 'int32' });
    expect(g.producer).toBe(42);
  });

  it('repeated fields by repetition and by [a, b] lists (scalars and messages)', () => {
    const g = readGraphDefText(
      `node { name: "a" op: "NoOp" }
node { name: "b" op: "NoOp" }
node { name: "c" op: "IdentityN" input: ["a", "b"] input: "^a"
  attr { key: "l" value { list { i: [1, -2, 0x10] i: 3 type: [DT_FLOAT, DT_INT64] shape: [{ dim { size: 2 } }, { unknown_rank: true }] } } } }`,
      'l.pbtxt',
    );
    const c = g.nodes[2]!;
    expect(c.inputs).toEqual(['a', 'b', '^a']);
    expect(c.attrs.l).toMatchObject({ type: 'list', ints: [1, -2, 16, 3], dtypes: ['float32', 'int64'], shapes: [[2], null] });
  });

  it('strings: C escapes, octal and hex bytes, adjacent literals concatenated', () => {
    const g = readGraphDefText(
      `node { name: "s" op: "Const" attr { key: "x" value { s: "a\\tb\\n" 'q\\'\\"\\\\'
      "\\101\\x42\\0" } } }`,
      's.pbtxt',
    );
    const x = g.nodes[0]!.attrs.x;
    expect(x?.type === 'string' && Array.from(x.bytes)).toEqual([97, 9, 98, 10, 113, 39, 34, 92, 65, 66, 0]);
  });

  it('bytes fields: tensor_content with octal escapes is raw little-endian data', () => {
    // 1.0f = 00 00 80 3F ('?' is 0x3F), -2.0f = 00 00 00 C0
    const t = tensorOf('dtype: DT_FLOAT tensor_shape { dim { size: 2 } } tensor_content: "\\000\\000\\200?\\000\\000\\000\\300"');
    expect(Array.from(t.data as Float32Array)).toEqual([1, -2]);
  });

  it('numbers: negatives, exponents, f suffix, inf/nan in any case, hex ints', () => {
    const t = tensorOf('dtype: DT_FLOAT tensor_shape { dim { size: 8 } } float_val: [-1.5, 2e-3, 1.25f, inf, -inf, nan, -Infinity, .5]');
    const v = Array.from(t.data as Float32Array);
    expect(v.slice(0, 5)).toEqual([-1.5, Math.fround(2e-3), 1.25, Infinity, -Infinity]);
    expect(v[5]).toBeNaN();
    expect(v.slice(6)).toEqual([-Infinity, 0.5]);
    const i = tensorOf('dtype: DT_INT64 tensor_shape { dim { size: 3 } } int64_val: [-9223372036854775808, 0x7fffffffffffffff, 9007199254740993]');
    expect(Array.from(i.data as BigInt64Array)).toEqual([-(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n]);
  });

  it('booleans in every spelling', () => {
    const t = tensorOf('dtype: DT_BOOL tensor_shape { dim { size: 6 } } bool_val: [true, false, t, f, 1, 0]');
    expect(Array.from(t.data as Uint8Array)).toEqual([1, 0, 1, 0, 1, 0]);
  });

  it('parses any message type; Any expansions become type_url + encoded bytes', () => {
    const sm = parse(
      `saved_model_schema_version: 1
meta_graphs {
  meta_info_def {
    tags: "serve"
    any_info { [type.googleapis.com/tensorflow.VersionDef] { producer: 5 } }
  }
  signature_def {
    key: "serving_default"
    value {
      inputs { key: "x" value { name: "x:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } } } }
      method_name: "tensorflow/serving/predict"
    }
  }
  object_graph_def {
    nodes { children { node_id: 1 local_name: "f" } user_object { identifier: "_generic_user_object" } }
    concrete_functions {
      key: "cf"
      value { canonicalized_input_signature { tuple_value { values { tensor_spec_value { name: "x" dtype: DT_FLOAT } } } } }
    }
  }
  graph_def { node { name: "x" op: "Placeholder" experimental_type { type_id: TFT_PRODUCT args { type_id: TFT_SOMETHING_NEWER } } } }
}`,
      'SavedModel',
    );
    const mg = (sm.meta_graphs as Msg[])[0]!;
    const info = (mg.meta_info_def as Msg).any_info as { type_url: string; value: Uint8Array };
    expect(info.type_url).toBe('type.googleapis.com/tensorflow.VersionDef');
    // VersionDef.producer is field 1, varint: key 0x08, value 5
    expect(Array.from(info.value)).toEqual([0x08, 0x05]);
    const sig = (mg.signature_def as Record<string, Msg>).serving_default!;
    expect((sig.inputs as Record<string, Msg>).x!.name).toBe('x:0');
    expect(((mg.object_graph_def as Msg).nodes as Msg[])[0]!.user_object).toMatchObject({ identifier: '_generic_user_object' });
  });
});

describe('text format errors carry file:line:column and what was expected', () => {
  it('syntax errors', () => {
    expect(errorOf('node {\n  name "a"\n}')).toBe("m.pbtxt:2:8: expected ':', found a string");
    expect(errorOf('node {\n  name: "a"\n  op: Const"\n}')).toBe('m.pbtxt:3:7: expected a quoted string, found \'Const\'');
    expect(errorOf('node {\n  nmae: "a"\n}')).toMatch(/^m.pbtxt:2:3: unknown field 'nmae' in tensorflow.NodeDef \(fields: name, op, input, device, attr/);
    expect(errorOf('node {\n  name: "a"\n')).toBe("m.pbtxt:3:1: expected '}' to close the message, found the end of the file");
    expect(errorOf('node { name: "a\n" }')).toBe('m.pbtxt:1:14: string literal is not closed before the end of the line');
    expect(errorOf('node { name: "\\q" }')).toMatch(/^m.pbtxt:1:16: unknown escape '\\q'/);
    expect(errorOf('node { name: "a" } @')).toBe("m.pbtxt:1:20: unexpected character '@'");
    expect(errorOf('node { attr { key: "T" value { type: DT_FLAOT } } }')).toBe("m.pbtxt:1:38: 'DT_FLAOT' is not a value of enum DataType");
    expect(errorOf('versions { producer: 1.5 }')).toBe("m.pbtxt:1:22: expected an integer, found '1.5'");
    expect(errorOf('versions { producer: 4294967296 }')).toBe('m.pbtxt:1:22: integer 4294967296 is out of range for int32');
    expect(errorOf('versions { producer: 1 producer: 2 }')).toBe("m.pbtxt:1:24: non-repeated field 'producer' is set twice");
    expect(errorOf('node { name: "a" op: "b" attr { key: "x" value { b: maybe } } }')).toBe("m.pbtxt:1:53: expected true or false, found 'maybe'");
    expect(errorOf('node [ { name: "a" } ] node { name: ["a", "b"] }')).toBe("m.pbtxt:1:37: field 'name' is not repeated");
    expect(errorOf('node { [ext.field]: 1 }')).toMatch(/^m.pbtxt:1:8: extensions \(\[\.\.\.\]\) are not supported/);
    expect(errorOf('meta_graphs { meta_info_def { any_info { [type.googleapis.com/foo.Bar] { } } } }', 'SavedModel')).toMatch(/^m.pbtxt:1:42: Any holds 'type.googleapis.com\/foo.Bar', a message type tf-parity does not know/);
  });

  it('readGraphDefText names the file for graph-level problems too', () => {
    expect(() => readGraphDefText('versions { producer: 1 }', 'empty.pbtxt')).toThrow(/^empty.pbtxt: the GraphDef has no nodes/);
    expect(() => readGraphDefText('node { name: "a" op: "Identity" input: "b" }', 'dangling.pbtxt')).toThrow(/^dangling.pbtxt: node 'a' reads 'b', which is not a node/);
  });
});
