import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../../src/core/errors.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import type { Graph, GraphFunction, GraphNode } from '../../src/graph/ir.js';
import { runGraph } from '../fixtures/graph.js';

const f32 = A.dtype('float32');
const node = (name: string, op: string, inputs: string[], attrs: GraphNode['attrs'] = {}): GraphNode => ({ name, op, inputs, attrs: { T: f32, ...attrs } });
const constNode = (name: string, v: number, dtype: 'float32' | 'int32' = 'float32'): GraphNode => ({ name, op: 'Const', inputs: [], attrs: { dtype: A.dtype(dtype), value: A.tensor(host(dtype, [], [v])) } });

/** FunctionDef-style bodies: inputs by argument name, tensors as `node:out:index`. */
function fn(name: string, args: string[], outs: string[], nodes: GraphNode[], ret: Record<string, string>): GraphFunction {
  return { name, inputArgs: args.map((a) => ({ name: a })), outputArgs: outs.map((o) => ({ name: o })), ret, nodes, attrs: {} };
}

/** A GraphDef with a library, written to bytes and read back, so FunctionDef encoding is exercised too. */
function roundTrip(g: Graph): Graph {
  return readGraphDef(encodeGraphDef(g), 'control.pb');
}

describe('functions and TF2 control flow', () => {
  it('StatefulPartitionedCall runs the function, records inside it, and returns its outputs', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.op('StatefulPartitionedCall', 'call', ['x'], { f: A.func('affine'), Tin: A.list({ dtypes: ['float32'] }), Tout: A.list({ dtypes: ['float32'] }) });
    g.op('Identity', 'y', ['call'], { T: f32 });
    const graph = g.build(['y']);
    graph.functions.set('affine', fn('affine', ['a'], ['out'], [constNode('two', 2), node('mul', 'Mul', ['a', 'two:output:0']), constNode('one', 1), node('add', 'AddV2', ['mul:z:0', 'one:output:0'])], { out: 'add:z:0' }));
    const r = await runGraph(roundTrip(graph), { x: tf.tensor1d([1, -3]) });
    expect(r.get('y')!.values).toEqual([3, -5]);
    expect(r.get('call/mul')!.values).toEqual([2, -6]);
    expect([...r.keys()]).toEqual(['x', 'call/a', 'call/mul', 'call/add', 'call', 'y']);
  });

  it('a TF2 While with a function body gives the hand-computed recurrence h = tanh(w h + x)', async () => {
    const w = 0.5;
    const xs = [0.3, -0.2];
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.const('i0', host('int32', [], [0]));
    g.const('h0', host('float32', [2], [0, 0]));
    g.op('While', 'loop', ['i0', 'h0', 'x'], { cond: A.func('cond'), body: A.func('body'), T: A.list({ dtypes: ['int32', 'float32', 'float32'] }) });
    g.op('Identity', 'h', ['loop:1'], { T: f32 });
    const graph = g.build(['h']);
    graph.functions.set('cond', fn('cond', ['i', 'h', 'x'], ['go'], [constNode('n', 3, 'int32'), node('less', 'Less', ['i', 'n:output:0'], { T: A.dtype('int32') })], { go: 'less:z:0' }));
    graph.functions.set(
      'body',
      fn('body', ['i', 'h', 'x'], ['i1', 'h1', 'x1'], [
        constNode('one', 1, 'int32'),
        node('inc', 'AddV2', ['i', 'one:output:0'], { T: A.dtype('int32') }),
        constNode('w', w),
        node('wh', 'Mul', ['h', 'w:output:0']),
        node('pre', 'AddV2', ['wh:z:0', 'x']),
        node('act', 'Tanh', ['pre:z:0']),
      ], { i1: 'inc:z:0', h1: 'act:y:0', x1: 'x' }),
    );
    const r = await runGraph(roundTrip(graph), { x: tf.tensor1d(xs) });
    let h = [0, 0];
    for (let k = 0; k < 3; k++) h = h.map((v, j) => Math.tanh(w * v + xs[j]!));
    expect(r.get('h')!.values.map((v) => Number(v.toFixed(6)))).toEqual(h.map((v) => Number(v.toFixed(6))));
    expect(r.get('loop')!.values).toEqual([3]);
    // Activations inside the loop are recorded per iteration.
    expect(r.has('loop/body@iter0/act')).toBe(true);
    expect(r.has('loop/body@iter2/act')).toBe(true);
    expect(r.has('loop/body@iter3/act')).toBe(false);
  });

  it('If picks its branch from the condition; a runaway While is stopped with an error', async () => {
    const g = new GraphBuilder();
    g.placeholder('c', 'bool', []);
    g.placeholder('x', 'float32', [1]);
    g.op('StatelessIf', 'branch', ['c', 'x'], { then_branch: A.func('neg'), else_branch: A.func('sq') });
    const graph = g.build(['branch']);
    graph.functions.set('neg', fn('neg', ['a'], ['o'], [node('n', 'Neg', ['a'])], { o: 'n:y:0' }));
    graph.functions.set('sq', fn('sq', ['a'], ['o'], [node('s', 'Square', ['a'])], { o: 's:y:0' }));
    const t = await runGraph(graph, { c: tf.scalar(true, 'bool'), x: tf.tensor1d([3]) });
    expect(t.get('branch')!.values).toEqual([-3]);
    const e = await runGraph(graph, { c: tf.scalar(false, 'bool'), x: tf.tensor1d([3]) });
    expect(e.get('branch')!.values).toEqual([9]);

    const h = new GraphBuilder();
    h.placeholder('x', 'float32', [1]);
    h.op('While', 'forever', ['x'], { cond: A.func('yes'), body: A.func('id') });
    const hg = h.build(['forever']);
    hg.functions.set('yes', fn('yes', ['a'], ['o'], [{ name: 't', op: 'Const', inputs: [], attrs: { dtype: A.dtype('bool'), value: A.tensor(host('bool', [], [true])) } }], { o: 't:output:0' }));
    hg.functions.set('id', fn('id', ['a'], ['o'], [node('i', 'Identity', ['a'])], { o: 'i:output:0' }));
    process.env.PARITY_MAX_LOOP_ITERATIONS = '50';
    try {
      await expect(runGraph(hg, { x: tf.tensor1d([1]) })).rejects.toThrow(ExecutionError);
      await expect(runGraph(hg, { x: tf.tensor1d([1]) })).rejects.toThrow(/still looping after 50 iterations/);
    } finally {
      delete process.env.PARITY_MAX_LOOP_ITERATIONS;
    }
  });

  it('recursive functions are refused at a depth limit', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [1]);
    g.op('PartitionedCall', 'call', ['x'], { f: A.func('self') });
    const graph = g.build(['call']);
    graph.functions.set('self', fn('self', ['a'], ['o'], [{ name: 'again', op: 'PartitionedCall', inputs: ['a'], attrs: { f: A.func('self') } }], { o: 'again:output:0' }));
    await expect(runGraph(graph, { x: tf.tensor1d([1]) })).rejects.toThrow(/nested deeper than 32 levels/);
  });
});

describe('TF1 while loops (Enter/Merge/Switch/NextIteration/Exit frames)', () => {
  /** What tf.compat.v1.while_loop builds for: i, h = 0, 0; while i < 3: i, h = i + 1, tanh(w*h + x). */
  function tf1Loop(): Graph {
    const g = new GraphBuilder();
    const fr = { frame_name: A.str('while/while_context'), is_constant: A.bool(false), parallel_iterations: A.int(10) };
    const cst = { ...fr, is_constant: A.bool(true) };
    g.placeholder('x', 'float32', [2]);
    g.const('i0', host('int32', [], [0]));
    g.const('h0', host('float32', [2], [0, 0]));
    g.const('w', host('float32', [], [0.5]));
    g.op('Enter', 'while/Enter', ['i0'], fr);
    g.op('Enter', 'while/Enter_1', ['h0'], fr);
    g.op('Enter', 'while/Enter_x', ['x'], cst);
    g.op('Enter', 'while/Enter_w', ['w'], cst);
    g.op('Merge', 'while/Merge', ['while/Enter', 'while/NextIteration']);
    g.op('Merge', 'while/Merge_1', ['while/Enter_1', 'while/NextIteration_1']);
    g.nodes.push({ name: 'while/Less/y', op: 'Const', inputs: ['^while/Merge'], attrs: { dtype: A.dtype('int32'), value: A.tensor(host('int32', [], [3])) } });
    g.op('Less', 'while/Less', ['while/Merge', 'while/Less/y']);
    g.op('LoopCond', 'while/LoopCond', ['while/Less']);
    g.op('Switch', 'while/Switch', ['while/Merge', 'while/LoopCond']);
    g.op('Switch', 'while/Switch_1', ['while/Merge_1', 'while/LoopCond']);
    g.op('Identity', 'while/Identity', ['while/Switch:1']);
    g.op('Identity', 'while/Identity_1', ['while/Switch_1:1']);
    g.nodes.push({ name: 'while/add/y', op: 'Const', inputs: ['^while/Identity'], attrs: { dtype: A.dtype('int32'), value: A.tensor(host('int32', [], [1])) } });
    g.op('AddV2', 'while/add', ['while/Identity', 'while/add/y']);
    g.op('Mul', 'while/mul', ['while/Identity_1', 'while/Enter_w']);
    g.op('AddV2', 'while/add_1', ['while/mul', 'while/Enter_x']);
    g.op('Tanh', 'while/Tanh', ['while/add_1']);
    g.op('NextIteration', 'while/NextIteration', ['while/add']);
    g.op('NextIteration', 'while/NextIteration_1', ['while/Tanh']);
    g.op('Exit', 'while/Exit', ['while/Switch']);
    g.op('Exit', 'while/Exit_1', ['while/Switch_1']);
    g.op('Identity', 'h', ['while/Exit_1']);
    return g.build(['h', 'while/Exit']);
  }

  it('runs the loop and matches the hand-computed recurrence, recording each iteration', async () => {
    const xs = [0.3, -0.2];
    const r = await runGraph(roundTrip(tf1Loop()), { x: tf.tensor1d(xs) });
    let h = [0, 0];
    for (let k = 0; k < 3; k++) h = h.map((v, j) => Math.tanh(0.5 * v + xs[j]!));
    expect(r.get('h')!.values.map((v) => Number(v.toFixed(6)))).toEqual(h.map((v) => Number(v.toFixed(6))));
    expect(r.get('while/Exit')!.values).toEqual([3]);
    expect(r.has('while/while_context/body@iter2/while/Tanh')).toBe(true);
    expect(r.has('while/while_context/body@iter3/while/Tanh')).toBe(false);
  });

  it('inspect sees through the frame: nothing unsupported', async () => {
    const { findUnsupportedOps } = await import('../../src/interpreter/interpreter.js');
    expect(findUnsupportedOps(tf1Loop())).toEqual([]);
  });
});

describe('TensorList ops in a TF2 loop', () => {
  it('reads rows with GetItem, writes with SetItem, stacks the result: out = 2 * xs', async () => {
    const g = new GraphBuilder();
    g.placeholder('xs', 'float32', [3, 2]);
    g.const('eshape', host('int32', [1], [2]));
    g.const('n', host('int32', [], [3]));
    g.const('i0', host('int32', [], [0]));
    g.op('TensorListFromTensor', 'xs_list', ['xs', 'eshape']);
    g.op('TensorListReserve', 'acc', ['eshape', 'n']);
    g.op('While', 'loop', ['i0', 'acc', 'xs_list'], { cond: A.func('cond'), body: A.func('body') });
    g.op('TensorListStack', 'out', ['loop:1', 'eshape'], { element_dtype: f32 });
    const graph = g.build(['out']);
    graph.functions.set('cond', fn('cond', ['i', 'acc', 'xs'], ['go'], [constNode('lim', 3, 'int32'), node('less', 'Less', ['i', 'lim:output:0'])], { go: 'less:z:0' }));
    graph.functions.set(
      'body',
      fn('body', ['i', 'acc', 'xs'], ['i1', 'acc1', 'xs1'], [
        { name: 'shp', op: 'Const', inputs: [], attrs: { dtype: A.dtype('int32'), value: A.tensor(host('int32', [1], [2])) } },
        { name: 'row', op: 'TensorListGetItem', inputs: ['xs', 'i', 'shp:output:0'], attrs: { element_dtype: f32 } },
        constNode('two', 2),
        node('dbl', 'Mul', ['row:item:0', 'two:output:0']),
        { name: 'set', op: 'TensorListSetItem', inputs: ['acc', 'i', 'dbl:z:0'], attrs: { element_dtype: f32 } },
        constNode('one', 1, 'int32'),
        node('inc', 'AddV2', ['i', 'one:output:0']),
      ], { i1: 'inc:z:0', acc1: 'set:output_handle:0', xs1: 'xs' }),
    );
    const before = tf.memory().numTensors;
    const r = await runGraph(roundTrip(graph), { xs: tf.tensor2d([[1, 2], [3, 4], [5, 6]]) });
    expect(r.get('out')!.shape).toEqual([3, 2]);
    expect(r.get('out')!.values).toEqual([2, 4, 6, 8, 10, 12]);
    // List elements are released when the run ends (only the feed created above remains).
    expect(tf.memory().numTensors).toBe(before + 1);
  });
});
