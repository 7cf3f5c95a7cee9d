import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../../src/core/errors.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import type { Graph, GraphFunction, GraphNode } from '../../src/graph/ir.js';
import { runGraph } from '../fixtures/graph.js';
import { tensorListDoubling } from '../fixtures/tensorlist-loop.js';

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

  it('only functions the graph runs, and only body nodes their outputs need, must be executable', async () => {
    const { findUnsupportedOps } = await import('../../src/interpreter/interpreter.js');
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.op('PartitionedCall', 'call', ['x'], { f: A.func('neg') });
    const graph = g.build(['call']);
    // A SavedModel library also holds save/restore functions nothing calls, and bodies with side nodes.
    graph.functions.set('neg', fn('neg', ['a'], ['o'], [node('n', 'Neg', ['a']), { name: 'side', op: 'SaveV2', inputs: ['a'], attrs: {} }], { o: 'n:y:0' }));
    graph.functions.set('__inference__traced_save_9', fn('__inference__traced_save_9', ['p'], ['o'], [{ name: 'save', op: 'SaveV2', inputs: ['p'], attrs: {} }], { o: 'save:output:0' }));
    graph.functions.set('called_by_unused', fn('called_by_unused', ['p'], ['o'], [{ name: 'c', op: 'PartitionedCall', inputs: ['p'], attrs: { f: A.func('__inference__traced_save_9') } }], { o: 'c:output:0' }));
    expect(findUnsupportedOps(graph)).toEqual([]);
    expect((await runGraph(roundTrip(graph), { x: tf.tensor1d([1, -2]) })).get('call')!.values).toEqual([-1, 2]);
    // Called from the main graph, the unsupported body op is reported with its function.
    g.op('PartitionedCall', 'save_call', ['x'], { f: A.func('called_by_unused') });
    const g2 = g.build(['call']);
    g2.functions = graph.functions;
    expect(findUnsupportedOps(g2)).toEqual([{ op: 'SaveV2', nodes: ['__inference__traced_save_9/save'] }]);
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
    const graph = tensorListDoubling();
    const before = tf.memory().numTensors;
    const r = await runGraph(roundTrip(graph), { xs: tf.tensor2d([[1, 2], [3, 4], [5, 6]]) });
    expect(r.get('out')!.shape).toEqual([3, 2]);
    expect(r.get('out')!.values).toEqual([2, 4, 6, 8, 10, 12]);
    // List elements are released when the run ends (only the feed created above remains).
    expect(tf.memory().numTensors).toBe(before + 1);
  });
});

describe('TF1 dynamic RNN-style loop with TensorArrayV3', () => {
  it('reads x_t from one TensorArray, writes h_t to another, gathers all steps: h_t = tanh(w h + x_t)', async () => {
    const g = new GraphBuilder();
    const fr = { frame_name: A.str('rnn/while'), is_constant: A.bool(false) };
    const cst = { ...fr, is_constant: A.bool(true) };
    g.placeholder('xs', 'float32', [3, 2]);
    g.const('T', host('int32', [], [3]));
    g.const('idx', host('int32', [3], [0, 1, 2]));
    g.const('i0', host('int32', [], [0]));
    g.const('h0', host('float32', [2], [0, 0]));
    g.const('w', host('float32', [], [0.5]));
    g.op('TensorArrayV3', 'in_ta', ['T'], { dtype: f32 });
    g.op('TensorArrayScatterV3', 'in_ta/scatter', ['in_ta', 'idx', 'xs', 'in_ta:1'], { T: f32 });
    g.op('TensorArrayV3', 'out_ta', ['T'], { dtype: f32 });
    for (const [n, src, c] of [['rnn/Enter_i', 'i0', fr], ['rnn/Enter_h', 'h0', fr], ['rnn/Enter_flow', 'out_ta:1', fr], ['rnn/Enter_in', 'in_ta', cst], ['rnn/Enter_inflow', 'in_ta/scatter', cst], ['rnn/Enter_out', 'out_ta', cst], ['rnn/Enter_w', 'w', cst], ['rnn/Enter_T', 'T', cst]] as const) g.op('Enter', n, [src], c);
    g.op('Merge', 'rnn/Merge_i', ['rnn/Enter_i', 'rnn/Next_i']);
    g.op('Merge', 'rnn/Merge_h', ['rnn/Enter_h', 'rnn/Next_h']);
    g.op('Merge', 'rnn/Merge_flow', ['rnn/Enter_flow', 'rnn/Next_flow']);
    g.op('Less', 'rnn/Less', ['rnn/Merge_i', 'rnn/Enter_T']);
    g.op('LoopCond', 'rnn/LoopCond', ['rnn/Less']);
    for (const v of ['i', 'h', 'flow']) {
      g.op('Switch', `rnn/Switch_${v}`, [`rnn/Merge_${v}`, 'rnn/LoopCond']);
      g.op('Identity', `rnn/Id_${v}`, [`rnn/Switch_${v}:1`]);
      g.op('Exit', `rnn/Exit_${v}`, [`rnn/Switch_${v}`]);
    }
    g.op('TensorArrayReadV3', 'rnn/x_t', ['rnn/Enter_in', 'rnn/Id_i', 'rnn/Enter_inflow'], { dtype: f32 });
    g.op('Mul', 'rnn/wh', ['rnn/Id_h', 'rnn/Enter_w']);
    g.op('AddV2', 'rnn/pre', ['rnn/wh', 'rnn/x_t']);
    g.op('Tanh', 'rnn/h', ['rnn/pre']);
    g.op('TensorArrayWriteV3', 'rnn/write', ['rnn/Enter_out', 'rnn/Id_i', 'rnn/h', 'rnn/Id_flow'], { T: f32 });
    g.nodes.push({ name: 'rnn/one', op: 'Const', inputs: ['^rnn/Id_i'], attrs: { dtype: A.dtype('int32'), value: A.tensor(host('int32', [], [1])) } });
    g.op('AddV2', 'rnn/inc', ['rnn/Id_i', 'rnn/one']);
    g.op('NextIteration', 'rnn/Next_i', ['rnn/inc']);
    g.op('NextIteration', 'rnn/Next_h', ['rnn/h']);
    g.op('NextIteration', 'rnn/Next_flow', ['rnn/write']);
    g.op('TensorArrayGatherV3', 'outputs', ['out_ta', 'idx', 'rnn/Exit_flow'], { dtype: f32, element_shape: A.shape([2]) });
    const xs = [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]];
    const r = await runGraph(roundTrip(g.build(['outputs', 'rnn/Exit_h'])), { xs: tf.tensor2d(xs) });
    let h = [0, 0];
    const want: number[] = [];
    for (const x of xs) {
      h = h.map((v, j) => Math.tanh(0.5 * v + x[j]!));
      want.push(...h);
    }
    expect(r.get('outputs')!.shape).toEqual([3, 2]);
    // float32 vs the float64 recurrence here: within 1e-6.
    r.get('outputs')!.values.forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
    r.get('rnn/Exit_h')!.values.forEach((v, k) => expect(v).toBeCloseTo(h[k]!, 6));
  });
});

describe('loop activation recording', () => {
  it("'last' keeps only the final iteration, without iteration marks", async () => {
    const { Interpreter, lastIterations } = await import('../../src/interpreter/interpreter.js');
    expect(lastIterations([{ name: 'l/body@iter0/a' }, { name: 'l/body@iter1/a' }, { name: 'l/body@iter1/m@iter0/b' }, { name: 'l/body@iter1/m@iter1/b' }, { name: 'x' }]).map((a) => a.name)).toEqual([
      'l/body/a',
      'l/body/m/b',
      'x',
    ]);
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [1]);
    g.const('i0', host('int32', [], [0]));
    g.op('While', 'loop', ['i0', 'x'], { cond: A.func('cond'), body: A.func('body') });
    const graph = g.build(['loop:1']);
    graph.functions.set('cond', fn('cond', ['i', 'x'], ['go'], [constNode('n', 4, 'int32'), node('less', 'Less', ['i', 'n:output:0'])], { go: 'less:z:0' }));
    graph.functions.set('body', fn('body', ['i', 'x'], ['i1', 'x1'], [constNode('one', 1, 'int32'), node('inc', 'AddV2', ['i', 'one:output:0']), node('dbl', 'AddV2', ['x', 'x'])], { i1: 'inc:z:0', x1: 'dbl:z:0' }));
    const interp = new Interpreter(graph, { loopActivations: 'last' });
    const names: string[] = [];
    let last = 0;
    for await (const a of interp.run(new Map([['x', tf.tensor1d([1])]]))) {
      names.push(a.name);
      if (a.name === 'loop/body/dbl') last = (a.tensor.dataSync() as Float32Array)[0]!;
      a.tensor.dispose();
    }
    interp.dispose();
    expect(names.filter((n) => n.includes('@iter'))).toEqual([]);
    expect(names.filter((n) => n === 'loop/body/dbl')).toEqual(['loop/body/dbl']);
    expect(last).toBe(16); // 1 doubled four times: the last iteration's value
  });
});
