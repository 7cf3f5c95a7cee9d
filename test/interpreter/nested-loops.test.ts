import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ExecutionError, ParityError } from '../../src/core/errors.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { A } from '../../src/graph/attrs.js';
import { host } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/ir.js';
import { describeLoops, raiseFrames } from '../../src/interpreter/frames.js';
import { Interpreter, findUnsupportedOps } from '../../src/interpreter/interpreter.js';
import { runGraph } from '../fixtures/graph.js';
import { TF1Graph, doubleLoop } from '../fixtures/tf1-loops.js';

/** TF1 while loops nested in TF1 while loops, built the way tf.compat.v1.while_loop builds them. */

const int = (v: number) => host('int32', [], [v]);
const toFloat = { SrcT: A.dtype('int32'), DstT: A.dtype('float32') };
const OUTER = 'while/while_context';
const INNER = 'while/while/while_context';

function roundTrip(g: Graph): Graph {
  return readGraphDef(encodeGraphDef(g), g.source.path);
}

async function run(g: Graph, feeds: Record<string, tf.Tensor>) {
  return runGraph(roundTrip(g), feeds);
}

describe('TF1 while loops nested in TF1 while loops', () => {
  it('the fixture emits what TF does: an inner frame entered from the outer one, an outside value through two Enters', () => {
    const g = doubleLoop(3, 2).build(['result']);
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    const frame = (name: string) => (byName.get(name)!.attrs.frame_name as { value: string }).value;
    // The inner loop's initial acc is the outer body's Identity.
    expect(byName.get('while/while/Enter_1')!.inputs).toEqual(['while/Identity_1']);
    expect(frame('while/while/Enter_1')).toBe(INNER);
    // `a` enters the outer frame, then the inner one, both as loop invariants.
    expect(byName.get('while/while/mul/Enter')!.inputs).toEqual(['a']);
    expect(frame('while/while/mul/Enter')).toBe(OUTER);
    expect(byName.get('while/while/mul/Enter_1')!.inputs).toEqual(['while/while/mul/Enter']);
    expect(frame('while/while/mul/Enter_1')).toBe(INNER);
    expect(byName.get('while/while/mul/Enter_1')!.attrs.is_constant).toEqual(A.bool(true));
    // The inner Exit is consumed inside the outer body: it is what the outer loop iterates.
    expect(byName.get('while/NextIteration_1')!.inputs).toEqual(['while/while/Exit_1']);
    expect(byName.get('while/while/add/y')!.inputs).toEqual(['^while/while/Identity']);
  });

  it('double loop: acc = acc*a + (i+1)(j+1) matches the hand-computed value', async () => {
    // a = 2, acc0 = 1, N = 3, M = 2: 1 -> 3 -> 8 -> 18 -> 40 -> 83 -> 172
    // (closed form: acc0 a^6 + sum over steps t of (i+1)(j+1) a^(5-t) = 64 + 32 + 32 + 16 + 16 + 6 + 6).
    const r = await run(doubleLoop(3, 2).build(['result', 'count']), { a: tf.scalar(2), acc0: tf.scalar(1) });
    expect(r.get('result')!.values).toEqual([172]);
    expect(r.get('count')!.values).toEqual([3]);
    // a = 0.5, acc0 = 4, N = M = 2: 4 -> 3 -> 3.5 -> 3.75 -> 5.875
    const s = await run(doubleLoop(2, 2).build(['result']), { a: tf.scalar(0.5), acc0: tf.scalar(4) });
    expect(s.get('result')!.values).toEqual([5.875]);
  });

  it('an inner loop whose trip count is the outer loop variable runs i times', async () => {
    //   s = 0; for i in range(n): for j in range(i): s += j + 1   =>   s = (n-1) n (n+1) / 6
    const t = new TF1Graph();
    const n = t.placeholder('n', 'int32', []);
    const s0 = t.placeholder('s0', 'float32', []);
    const [, sOut] = t.whileLoop(
      'while',
      [t.const('Const', int(0)), s0],
      ([i]) => t.op('Less', 'Less', [i!, n]),
      ([i, s]) => {
        const [, sIn] = t.whileLoop(
          'while',
          [t.const('Const', int(0)), s!],
          ([j]) => t.op('Less', 'Less', [j!, i!]),
          ([j, s2]) => {
            const j1 = t.op('AddV2', 'add', [j!, t.const('add/y', int(1))]);
            return [j1, t.op('AddV2', 'add_1', [s2!, t.op('Cast', 'Cast', [j1], toFloat)])];
          },
        );
        return [t.op('AddV2', 'add', [i!, t.const('add/y', int(1))]), sIn!];
      },
    );
    t.op('Identity', 's', [sOut!]);
    const g = t.build(['s']);
    // The inner condition reads the outer loop variable through an inner loop-invariant Enter.
    expect(g.nodes.find((x) => x.name === 'while/while/Less')!.inputs).toEqual(['while/while/Merge', 'while/while/Less/Enter']);
    expect(g.nodes.find((x) => x.name === 'while/while/Less/Enter')!.inputs).toEqual(['while/Identity']);
    for (const N of [0, 1, 4, 6]) {
      const r = await run(g, { n: tf.scalar(N, 'int32'), s0: tf.scalar(0) });
      expect(r.get('s')!.values, `n = ${N}`).toEqual([((N - 1) * N * (N + 1)) / 6 + 0]); // + 0: no -0 for n = 0
      // Inner iterations per outer iteration i: exactly i of them (0 .. i-1).
      const re = /^while\/while_context\/body@iter(\d+)\/while\/while\/while_context\/body@iter(\d+)\/while\/while\/add_1$/;
      const seen = [...r.keys()].map((k) => re.exec(k)).filter((m) => m !== null).map((m) => [Number(m[1]), Number(m[2])]);
      const want: number[][] = [];
      for (let i = 0; i < N; i++) for (let j = 0; j < i; j++) want.push([i, j]);
      expect(seen).toEqual(want);
    }
  });

  it('an inner loop reads invariants and an initial value from outside both loops', async () => {
    //   acc = acc0; for i in range(3): w = z0; for j in range(4): w = w + x;  acc = acc + w
    //   =>  acc = acc0 + 3 (z0 + 4 x)
    const t = new TF1Graph();
    const x = t.placeholder('x', 'float32', [3]);
    const z0 = t.placeholder('z0', 'float32', [3]);
    const acc0 = t.placeholder('acc0', 'float32', [3]);
    const [, accOut] = t.whileLoop(
      'while',
      [t.const('Const', int(0)), acc0],
      ([i]) => t.op('Less', 'Less', [i!, t.const('Less/y', int(3))]),
      ([i, acc]) => {
        const [, w] = t.whileLoop(
          'while',
          [t.const('Const', int(0)), z0],
          ([j]) => t.op('Less', 'Less', [j!, t.const('Less/y', int(4))]),
          ([j, w2]) => [t.op('AddV2', 'add', [j!, t.const('add/y', int(1))]), t.op('AddV2', 'add_1', [w2!, x])],
        );
        return [t.op('AddV2', 'add', [i!, t.const('add/y', int(1))]), t.op('AddV2', 'add_1', [acc!, w!])];
      },
    );
    t.op('Identity', 'acc', [accOut!]);
    const g = t.build(['acc']);
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    // z0, the inner loop's initial value, enters the outer loop as an invariant, then the inner loop as a variable.
    expect(byName.get('while/while/Enter')!.inputs).toEqual(['z0']);
    expect(byName.get('while/while/Enter')!.attrs.is_constant).toEqual(A.bool(true));
    expect(byName.get('while/while/Enter_2')!.inputs).toEqual(['while/while/Enter']);
    expect(byName.get('while/while/Enter_2')!.attrs.is_constant).toEqual(A.bool(false));
    const xs = [1, -2, 0.5];
    const zs = [0.25, 1, -1];
    const accs = [10, 0, -3];
    const r = await run(g, { x: tf.tensor1d(xs), z0: tf.tensor1d(zs), acc0: tf.tensor1d(accs) });
    expect(r.get('acc')!.values).toEqual(accs.map((v, k) => v + 3 * (zs[k]! + 4 * xs[k]!)));
  });

  it('records inner iterations as <outer frame>/body@iterK/<inner frame>/body@iterJ/<node>; last keeps the final one of each', async () => {
    const g = roundTrip(doubleLoop(3, 2).build(['result']));
    const feeds = { a: tf.scalar(2), acc0: tf.scalar(1) };
    const r = await runGraph(g, feeds);
    const at = (i: number, j: number, node: string) => `${OUTER}/body@iter${i}/${INNER}/body@iter${j}/${node}`;
    // acc after each inner step, in order: 3, 8 | 18, 40 | 83, 172
    expect(r.get(at(0, 0, 'while/while/add_1'))!.values).toEqual([3]);
    expect(r.get(at(0, 1, 'while/while/add_1'))!.values).toEqual([8]);
    expect(r.get(at(1, 0, 'while/while/add_1'))!.values).toEqual([18]);
    expect(r.get(at(2, 1, 'while/while/add_1'))!.values).toEqual([172]);
    expect(r.get(at(1, 0, 'while/while/mul_1'))!.values).toEqual([2]); // (i+1)(j+1) at i=1, j=0
    expect(r.has(at(2, 2, 'while/while/add_1'))).toBe(false);
    expect(r.has(at(3, 0, 'while/while/add_1'))).toBe(false);
    // The inner condition is evaluated M + 1 times per outer iteration; the inner Exit is an outer-body value.
    expect(r.get(`${OUTER}/body@iter0/${INNER}/cond@iter2/while/while/Less`)!.values).toEqual([0]);
    expect(r.get(`${OUTER}/body@iter1/while/while/Exit_1`)!.values).toEqual([40]);
    expect(r.get(`${OUTER}/body@iter1/while/Cast`)!.values).toEqual([2]);

    const interp = new Interpreter(g, { loopActivations: 'last' });
    const last = new Map<string, number[]>();
    for await (const a of interp.run(new Map(Object.entries(feeds)))) {
      expect(last.has(a.name), a.name).toBe(false);
      last.set(a.name, Array.from(a.tensor.dataSync()));
      a.tensor.dispose();
    }
    interp.dispose();
    expect([...last.keys()].filter((n) => n.includes('@iter'))).toEqual([]);
    expect(last.get(`${OUTER}/body/${INNER}/body/while/while/add_1`)).toEqual([172]);
    expect(last.get(`${OUTER}/body/while/while/Exit_1`)).toEqual([172]);
    expect(last.get('result')).toEqual([172]);
  });

  it('every loop has its own iteration limit, nested ones included', async () => {
    process.env.PARITY_MAX_LOOP_ITERATIONS = '3';
    try {
      // 3 outer iterations, 2 inner ones each (6 inner iterations in all): within the limit of 3 per loop.
      const ok = await run(doubleLoop(3, 2).build(['result']), { a: tf.scalar(2), acc0: tf.scalar(1) });
      expect(ok.get('result')!.values).toEqual([172]);
      const g = roundTrip(doubleLoop(2, 10).build(['result']));
      const err = await runGraph(g, { a: tf.scalar(1), acc0: tf.scalar(0) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExecutionError);
      expect((err as ExecutionError).message).toBe(
        `nested-loops.pb: while loop '${INNER}' (nested in '${OUTER}') (LoopCond 'while/while/LoopCond'): still looping after 3 iterations (PARITY_MAX_LOOP_ITERATIONS) (in iteration 0 of while loop '${OUTER}')`,
      );
      expect((err as ExecutionError).node).toBe('while/while/LoopCond');
    } finally {
      delete process.env.PARITY_MAX_LOOP_ITERATIONS;
    }
  });

  it('three levels deep: acc += (i+1)(j+1)(k+1) over 2 x 3 x 2 iterations', async () => {
    const t = new TF1Graph();
    const acc0 = t.placeholder('acc0', 'float32', []);
    // for v in range(limit): acc = body(float(v + 1), acc)
    const loop = (limit: number, acc: string, body: (v: string, acc: string) => string): string => {
      const [, out] = t.whileLoop(
        'while',
        [t.const('Const', int(0)), acc],
        ([v]) => t.op('Less', 'Less', [v!, t.const('Less/y', int(limit))]),
        ([v, a]) => {
          const v1 = t.op('AddV2', 'add', [v!, t.const('add/y', int(1))]);
          return [v1, body(t.op('Cast', 'Cast', [v1], toFloat), a!)];
        },
      );
      return out!;
    };
    const out = loop(2, acc0, (fi, a1) => loop(3, a1, (fj, a2) => loop(2, a2, (fk, a3) => t.op('AddV2', 'add_1', [a3, t.op('Mul', 'mul', [t.op('Mul', 'mul', [fi, fj]), fk])]))));
    t.op('Identity', 'acc', [out]);
    const g = t.build(['acc']);
    expect(describeLoops(raiseFrames(g)).map((l) => l.frame)).toEqual(['while/while_context', 'while/while/while_context', 'while/while/while/while_context']);
    // acc0 + (1 + 2)(1 + 2 + 3)(1 + 2) = 1 + 54; at i = 1, j = 2, k = 1 the term is 2 * 3 * 2
    const r = await run(g, { acc0: tf.scalar(1) });
    expect(r.get('acc')!.values).toEqual([55]);
    expect(r.get('while/while_context/body@iter1/while/while/while_context/body@iter2/while/while/while/while_context/body@iter1/while/while/while/mul_1')!.values).toEqual([12]);
  });

  it('loop-body constants without their control input (as in converted graphs) are copied into the loops', async () => {
    const g = doubleLoop(3, 2).build(['result']);
    for (const n of g.nodes) if (n.op === 'Const') n.inputs = [];
    const r = await run(g, { a: tf.scalar(2), acc0: tf.scalar(1) });
    expect(r.get('result')!.values).toEqual([172]);
  });

  it('inspect sees through both frames: loops listed nested, nothing unsupported', () => {
    const g = doubleLoop(3, 2).build(['result']);
    expect(findUnsupportedOps(g)).toEqual([]);
    expect(describeLoops(raiseFrames(g))).toEqual([
      { frame: OUTER, outerFrames: [], variables: 2, invariants: 1, exits: 2 },
      { frame: INNER, outerFrames: [OUTER], variables: 2, invariants: 2, exits: 2 },
    ]);
  });
});

describe('malformed nesting is refused with an error naming the file and node', () => {
  const refuse = (g: Graph): ExecutionError => {
    let caught: unknown;
    try {
      new Interpreter(g).dispose();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ExecutionError);
    return caught as ExecutionError;
  };

  it('an inner Exit read outside the outer frame, next to a value from outside', () => {
    const t = doubleLoop(3, 2);
    t.g.op('AddV2', 'z', ['while/while/Exit_1', 'a'], { T: A.dtype('float32') });
    const e = refuse(t.build(['z']));
    expect(e.node).toBe('z');
    expect(e.message).toBe(
      `nested-loops.pb: node 'z' (AddV2) has inputs from different while-loop frames: ` +
        `'while/while/Exit_1' (the Exit of frame '${INNER}', so in frame '${OUTER}') and 'a' (outside every loop) (values leave a frame only through its own Exit nodes)`,
    );
    // inspect lists it instead of failing.
    expect(findUnsupportedOps(t.build(['z'])).find((u) => u.op === 'TF1 while-loop frame')).toEqual({ op: 'TF1 while-loop frame', nodes: [e.message] });
  });

  it("an inner Exit used as the graph's output", () => {
    const t = doubleLoop(3, 2);
    t.g.op('Identity', 'y', ['while/while/Exit_1'], { T: A.dtype('float32') });
    const e = refuse(t.build(['y']));
    expect(e.node).toBe('y');
    expect(e.message).toMatch(/^nested-loops\.pb: the graph's output 'y' is inside TF1 while-loop frame 'while\/while_context'/);
    expect(e.message).toContain(`because it reads 'while/while/Exit_1', the Exit of frame '${INNER}', which leads back into '${OUTER}'`);
    // Asking for an ordinary body node as an output says where its values are recorded.
    const asked = (() => {
      try {
        new Interpreter(doubleLoop(3, 2).build(['result']), { outputs: ['while/while/mul'] });
      } catch (err) {
        return err as ParityError;
      }
    })();
    expect(asked?.code).toBe('input');
    expect(asked?.message).toContain(`recorded as '${OUTER}/body@iterK/${INNER}/body@iterK/while/while/mul'`);
  });

  it('an inner Enter taking a value from outside both loops directly: the frame has no single parent', () => {
    const g = doubleLoop(3, 2).build(['result']);
    // Skip the outer loop's Enter of `a`: one inner Enter now comes from the top level, the others from the outer frame.
    g.nodes.find((n) => n.name === 'while/while/mul/Enter_1')!.inputs = ['a'];
    const e = refuse(g);
    // Which of the two is "wrong" cannot be told; both are named, the one met second is the error's node.
    expect(e.node).toBe('while/while/Enter_1');
    expect(e.message).toBe(
      `nested-loops.pb: Enter 'while/while/Enter_1' of frame '${INNER}' takes 'while/Identity_1' (in frame '${OUTER}'), ` +
        `but Enter 'while/while/mul/Enter_1' of the same frame takes 'a' (outside every loop): the frame's parent cannot be determined (mismatched parent frames)`,
    );
  });

  it('an Exit outside every frame, and a loop variable read through its Enter', () => {
    const t = doubleLoop(3, 2);
    t.g.op('Exit', 'stray', ['a'], { T: A.dtype('float32') });
    expect(refuse(t.build(['result'])).message).toBe("nested-loops.pb: Exit 'stray' is not inside any while-loop frame");
    const g = doubleLoop(3, 2).build(['result']);
    g.nodes.find((n) => n.name === 'while/while/mul')!.inputs[0] = 'while/while/Enter_1';
    const e = refuse(g);
    expect(e.node).toBe('while/while/mul');
    expect(e.message).toContain("reads 'while/while/Enter_1', the Enter of a loop variable, instead of its Merge");
  });
});
