import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { UnsupportedError, InputError } from '../../src/core/errors.js';
import { Interpreter } from '../../src/interpreter/interpreter.js';
import { A, GraphBuilder, host, runGraph } from '../fixtures/graph.js';
import { tensorListDoubling } from '../fixtures/tensorlist-loop.js';

/**
 * Runs `interp` to its end (the names it yields), then once for each of those activations,
 * ending the run there (return() at that yield), each time checking that no tensor is left.
 */
async function stopAtEach(interp: Interpreter, feeds: Map<string, tf.Tensor>): Promise<string[]> {
  const all: string[] = [];
  for await (const a of interp.run(feeds)) {
    all.push(a.name);
    a.tensor.dispose();
  }
  for (let stopAt = 0; stopAt < all.length; stopAt++) {
    const before = tf.memory().numTensors;
    let k = 0;
    for await (const a of interp.run(feeds)) {
      a.tensor.dispose();
      if (k++ === stopAt) break;
    }
    expect(tf.memory().numTensors, `stopped after ${all[stopAt]}`).toBe(before);
  }
  return all;
}

describe('interpreter core', () => {
  it('runs a graph in topological order, records every node, frees intermediates', async () => {
    const g = new GraphBuilder();
    // Declared out of order on purpose: 'y' before its input 'c'.
    g.placeholder('x', 'float32', [2]);
    g.op('Identity', 'y', ['c']);
    g.const('c', host('float32', [2], [3, 4]));
    g.op('Identity', 'z', ['y', '^x']);
    const before = tf.memory().numTensors;
    const res = await runGraph(g.build(['z']), { x: tf.tensor([1, 2]) });
    // Constants are parameters, not activations: recorded only when asked for by name.
    expect([...res.keys()]).toEqual(['x', 'y', 'z']);
    expect(res.get('z')!.values).toEqual([3, 4]);
    // Only the feed we created above is left alive.
    expect(tf.memory().numTensors).toBe(before + 1);
  });

  it('a run its consumer ends early (return() at any yield) leaves no tensor behind', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.op('Neg', 'a', ['x']);
    g.op('Exp', 'b', ['a']);
    // 'a' is read again after 'b': it is live while 'b' is handed out.
    g.op('AddV2', 'c', ['b', 'a']);
    g.op('Split', 's', [g.const('axis', host('int32', [], [0])), 'c'], { num_split: A.int(2) });
    g.op('AddV2', 'd', ['s', 's:1']);
    const interp = new Interpreter(g.build(['d']));
    const x = tf.tensor([1, 2]);
    const all = await stopAtEach(interp, new Map([['x', x]]));
    expect(all).toEqual(['x', 'a', 'b', 'c', 's', 's:1', 'd']);
    x.dispose();
  });

  it('the same inside a While loop: what its body recorded and had not handed out yet is disposed', async () => {
    const interp = new Interpreter(tensorListDoubling());
    const xs = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    const all = await stopAtEach(interp, new Map([['xs', xs]]));
    // The loop's body activations come out with the While node, several at once.
    expect(all.filter((n) => n.includes('/')).length).toBeGreaterThan(3);
    xs.dispose();
  });

  it('a run that fails inside a function body disposes what the body had recorded', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.op('PartitionedCall', 'call', ['x'], { f: A.func('f') });
    g.op('Neg', 'y', ['call']);
    const graph = g.build(['y']);
    const T = { T: A.dtype('float32') };
    // neg and exp are recorded; then the Reshape to 7 elements of 2 fails.
    graph.functions.set('f', {
      name: 'f',
      inputArgs: [{ name: 'a' }],
      outputArgs: [{ name: 'out' }],
      ret: { out: 'bad:output:0' },
      attrs: {},
      nodes: [
        { name: 'neg', op: 'Neg', inputs: ['a'], attrs: T },
        { name: 'exp', op: 'Exp', inputs: ['neg:y:0'], attrs: T },
        { name: 'shape', op: 'Const', inputs: [], attrs: { dtype: A.dtype('int32'), value: A.tensor(host('int32', [1], [7])) } },
        { name: 'bad', op: 'Reshape', inputs: ['exp:y:0', 'shape:output:0'], attrs: { ...T, Tshape: A.dtype('int32') } },
      ],
    });
    const interp = new Interpreter(graph);
    const x = tf.tensor([1, 2]);
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const a of interp.run(new Map([['x', x]]))) {
          seen.push(a.name);
          a.tensor.dispose();
        }
      })(),
    ).rejects.toThrow(/bad|Reshape|7/);
    expect(seen).toEqual(['x']);
    // What is left is the interpreter's own: its cached constants.
    interp.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('lists every unsupported op with its nodes before running', () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [2]);
    g.op('FancyOp', 'a', ['x']);
    g.op('FancyOp', 'b', ['a']);
    g.op('OtherOp', 'c', ['b']);
    let err: unknown;
    try {
      new Interpreter(g.build(['c']));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as UnsupportedError).items).toEqual([
      { op: 'FancyOp', nodes: ['a', 'b'] },
      { op: 'OtherOp', nodes: ['c'] },
    ]);
  });

  it('names a feed typo and suggests the right input', async () => {
    const g = new GraphBuilder();
    g.placeholder('input_1', 'float32', [2]);
    g.op('Identity', 'y', ['input_1']);
    const interp = new Interpreter(g.build(['y']));
    await expect(async () => {
      for await (const a of interp.run(new Map([['inptu_1', tf.tensor([1, 2])]]))) a.tensor.dispose();
    }).rejects.toThrow(/feed 'inptu_1' is not a node.*did you mean 'input_1'/);
    await expect(async () => {
      for await (const a of interp.run(new Map())) a.tensor.dispose();
    }).rejects.toBeInstanceOf(InputError);
  });
});
