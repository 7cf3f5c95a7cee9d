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
import type { Graph } from '../../src/graph/ir.js';
import golden from '../fixtures/goldens/tf2onnx_graphs.json' with { type: 'json' };
import { A, GraphBuilder, host, runGraph } from '../fixtures/graph.js';

const SHARED = join(import.meta.dirname, '../../../shared/models/tf2onnx-tests');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'parity-fmt-'));
}

/** A graph of the ops registered in the interpreter's basic family, with constants of many dtypes. */
function plumbingGraph(): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('x', 'float32', [-1, 3]);
  const w = g.const('w', host('float32', [2, 3], [1.5, -2, 0.25, 3, 1e-8, -0]));
  g.const('h', host('float16', [2], [1, -2]));
  g.const('b16', host('bfloat16', [1], [-3]));
  g.const('i64', host('int64', [2], [9007199254740993n, -1n] as unknown as number[]));
  g.const('flags', host('bool', [3], [1, 0, 1]));
  g.const('u8', host('uint8', [2], [0, 255]));
  g.const('s', { dtype: 'string', shape: [2], data: [Uint8Array.from([104, 105]), Uint8Array.from([0, 0x80, 10])] });
  g.op('Identity', 'xi', [x], { T: A.dtype('float32') });
  g.op('IdentityN', 'pair', [x, w, '^h'], { T: A.list({ dtypes: ['float32', 'float32'] }), _note: A.str('a "quoted"\nline') });
  g.op('Identity', 'second', ['pair:1'], { T: A.dtype('float32') });
  const graph = g.build(['xi', 'pair', 'second']);
  graph.functions.set('body', {
    name: 'body',
    inputArgs: [{ name: 'a', dtype: 'float32' }],
    outputArgs: [{ name: 'r', typeAttr: 'T' }],
    ret: { r: 'n:output:0' },
    nodes: [{ name: 'n', op: 'Identity', inputs: ['a'], attrs: { T: A.dtype('float32') } }],
    attrs: {},
  });
  return graph;
}

describe('GraphDef .pb and .pbtxt readers agree with each other and with the graph written', () => {
  it('a GraphBuilder graph: identical Graph IR through both, identical activations', async () => {
    const g = plumbingGraph();
    const d = tmp();
    writeFileSync(join(d, 'g.pb'), encodeGraphDef(g));
    writeFileSync(join(d, 'g.pbtxt'), graphToPbtxt(g));
    const a = await loadGraph(join(d, 'g.pb'));
    const b = await loadGraph(join(d, 'g.pbtxt'));
    expect(a.source).toEqual({ path: join(d, 'g.pb'), format: 'pb' });
    expect(b.source.format).toBe('pbtxt');
    // Identical to each other and to what was written (values, dtypes, shapes, attrs, order).
    expect(b.nodes).toEqual(a.nodes);
    expect(a.nodes).toEqual(g.nodes);
    expect([...b.functions]).toEqual([...a.functions]);
    expect(a.functions.get('body')).toEqual(g.functions.get('body'));
    expect(a.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 3] }]);
    expect(b.inputs).toEqual(a.inputs);
    // Unconsumed, non-constant nodes; pair is read by 'second', the constants are excluded.
    expect(a.outputs).toEqual(['xi', 'second']);
    const i64 = a.nodes.find((n) => n.name === 'i64')!.attrs.value;
    expect(i64?.type === 'tensor' && Array.from(i64.value.data as BigInt64Array)).toEqual([9007199254740993n, -1n]);

    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const outs = ['xi', 'pair', 'pair:1', 'second'];
    const ra = await runGraph(a, { x }, outs);
    const rb = await runGraph(b, { x }, outs);
    x.dispose();
    for (const k of outs) expect(rb.get(k)).toEqual(ra.get(k));
    expect(ra.get('xi')!.values).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ra.get('second')!.values).toEqual([1.5, -2, 0.25, 3, Math.fround(1e-8), -0]);
  });

  it('the example CNN gives identical activations through .pb and .pbtxt', async () => {
    const g = cnnGraph();
    const d = tmp();
    writeFileSync(join(d, 'cnn.pb'), encodeGraphDef(g));
    writeFileSync(join(d, 'cnn.pbtxt'), graphToPbtxt(g));
    const a = await loadGraph(join(d, 'cnn.pb'));
    const b = await loadGraph(join(d, 'cnn.pbtxt'));
    expect(b.nodes).toEqual(a.nodes);
    const x = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 3);
    const ra = await runGraph(a, { x });
    const rb = await runGraph(b, { x });
    x.dispose();
    expect([...ra.keys()]).toEqual([...rb.keys()]);
    for (const [k, v] of ra) expect(rb.get(k)!.values).toEqual(v.values);
    expect(ra.get('probs/Softmax')!.shape).toEqual([1, 10]);
    // conv1 3x3x3x4 + 4, conv2 3x3x4x4 (+bn 4x4) ... as cases/gen/cnn.ts declares them
    expect(graphStats(a).parameters).toBe(108 + 4 + 16 + 36 + 4 + 640 + 10);
  });
});

describe('bad .pb / .pbtxt input is a FormatError naming the file', () => {
  const pb = encodeGraphDef(cnnGraph());
  it('truncated and garbage bytes', () => {
    // (A cut exactly at a field boundary leaves a valid, smaller GraphDef; these cuts do not.)
    for (const cut of [100, Math.floor(pb.length / 2), pb.length - 3]) {
      const e = (() => { try { readGraphDef(pb.subarray(0, pb.length - cut), 'trunc.pb'); } catch (x) { return x; } })();
      expect(e).toBeInstanceOf(FormatError);
      expect((e as Error).message).toMatch(/^trunc.pb: /);
    }
    expect(() => readGraphDef(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), 'junk.pb')).toThrow(/^junk.pb: /);
    expect(() => readGraphDef(new TextEncoder().encode('node { name: "a" op: "NoOp" }'), 'text.pb')).toThrow(/^text.pb: /);
    expect(() => readGraphDef(new Uint8Array(), 'empty.pb')).toThrow(/^empty.pb: empty file/);
  });
  it('pbtxt syntax error with line:column', () => {
    expect(() => readGraphDefText('node {\n  name: "a"\n  op: Const"\n}', 'bad.pbtxt')).toThrow(/^bad.pbtxt:3:7: expected a quoted string/);
  });
});

describe.skipIf(!existsSync(SHARED))('GraphDefs written by real TensorFlow (../shared/models)', () => {
  type Golden = { nodes: number; ops: Record<string, number>; first_nodes: [string, string][]; placeholders: string[]; float_const_elements: number; first_float_const: { name: string; shape: number[]; first: number[] } | null };
  const facts = golden as unknown as Record<string, Golden>;
  for (const [model, want] of Object.entries(facts)) {
    it(`${model}/frozen.pb: nodes, ops, constants as an independent wire walker saw them`, async () => {
      const g = await loadGraph(join(SHARED, model, 'frozen.pb'));
      const s = graphStats(g);
      expect(s.nodes).toBe(want.nodes);
      expect(Object.fromEntries(s.ops)).toEqual(want.ops);
      expect(g.nodes.slice(0, 5).map((n) => [n.name, n.op])).toEqual(want.first_nodes);
      expect(g.inputs.map((i) => i.name)).toEqual(want.placeholders);
      expect(s.parameters).toBe(want.float_const_elements);
      const fc = want.first_float_const;
      if (fc) {
        const c = g.nodes.find((n) => n.name === fc.name)!.attrs.value!;
        expect(c.type === 'tensor' && c.value.shape).toEqual(fc.shape);
        expect(c.type === 'tensor' && Array.from((c.value.data as Float32Array).subarray(0, 4))).toEqual(fc.first);
      }
    });
  }
  it('frozen regression model computes X * W + b with the weights TF stored', async () => {
    const g = await loadGraph(join(SHARED, 'regression/graphdef/frozen.pb'));
    expect(g.outputs).toEqual(['pred']);
    const r = await runGraph(g, { X: tf.tensor1d([2]) });
    expect(r.get('pred')!.values[0]).toBeCloseTo(2 * 0.21396178 + 1.04952538, 6);
  });
  it('a real .pb survives pbtxt round trip: same IR', async () => {
    const a = readGraphDef(new Uint8Array(readFileSync(join(SHARED, 'lstm/frozen.pb'))), 'lstm.pb');
    const b = readGraphDefText(graphToPbtxt(a), 'lstm.pbtxt');
    expect(b.nodes).toEqual(a.nodes);
  });
});
