import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { UnsupportedError, InputError } from '../../src/core/errors.js';
import { Interpreter } from '../../src/interpreter/interpreter.js';
import { GraphBuilder, host, runGraph } from '../fixtures/graph.js';

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
