import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../../src/core/errors.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { A } from '../../src/graph/attrs.js';
import { host } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/ir.js';
import { compare } from '../../src/index.js';
import { Interpreter, findUnsupportedOps } from '../../src/interpreter/interpreter.js';
import { runGraph } from '../fixtures/graph.js';
import { TF1Graph } from '../fixtures/tf1-loops.js';

/**
 * TF1 conditionals (tf.compat.v1.cond: Switch/Merge with dead tensors), built the way TF's
 * CondContext builds them (test/fixtures/tf1-loops.ts), written to a GraphDef and read back.
 * Expected values are worked out by hand from each test's formula.
 */

const f32 = (v: number) => host('float32', [], [v]);
const int = (v: number) => host('int32', [], [v]);
const toFloat = { SrcT: A.dtype('int32'), DstT: A.dtype('float32') };
const T = tf.scalar(true, 'bool');
const F = tf.scalar(false, 'bool');

function roundTrip(g: Graph): Graph {
  return readGraphDef(encodeGraphDef(g), g.source.path);
}

interface Act {
  name: string;
  values: number[];
  producedFrom: string[];
}

/** Every recorded activation in order (Interpreter directly: producedFrom included). */
async function activations(g: Graph, feeds: Record<string, tf.Tensor>, outputs?: string[]): Promise<Act[]> {
  const interp = new Interpreter(g, outputs ? { outputs } : {});
  const acts: Act[] = [];
  try {
    for await (const a of interp.run(new Map(Object.entries(feeds)))) {
      acts.push({ name: a.name, values: Array.from(a.tensor.dataSync() as ArrayLike<number>), producedFrom: a.producedFrom });
      a.tensor.dispose();
    }
  } finally {
    interp.dispose();
  }
  return acts;
}

async function failure(p: Promise<unknown>): Promise<ExecutionError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(ExecutionError);
  return e as ExecutionError;
}

/** y = p ? x * 2 : x + 1 */
function simpleCond(pred: 'placeholder' | 'is_training' = 'placeholder'): TF1Graph {
  const t = new TF1Graph();
  const x = t.placeholder('x', 'float32', [3]);
  const p = pred === 'placeholder' ? t.placeholder('p', 'bool', []) : t.op('PlaceholderWithDefault', 'is_training', [t.const('is_training/input', host('bool', [], [false]))], { dtype: A.dtype('bool'), shape: A.shape([]) });
  const [m] = t.cond(
    'cond',
    p,
    () => [t.op('Mul', 'mul', [x, t.const('mul/y', f32(2))])],
    () => [t.op('AddV2', 'add', [x, t.const('add/y', f32(1))])],
  );
  t.op('Identity', 'y', [m!]);
  return t;
}

const XS = [1.5, -2, 0];

describe('TF1 tf.cond: Switch/Merge with dead tensors', () => {
  it('the fixture emits what CondContext does: pivots, pred_id, one Switch per external input, Merge(false, true)', () => {
    const g = simpleCond().build(['y'], 'cond.pb');
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    expect(byName.get('cond/Switch')!.inputs).toEqual(['p', 'p']);
    expect(byName.get('cond/switch_t')!.inputs).toEqual(['cond/Switch:1']);
    expect(byName.get('cond/switch_f')!.inputs).toEqual(['cond/Switch']);
    expect(byName.get('cond/pred_id')!.inputs).toEqual(['p']);
    expect(byName.get('cond/mul/Switch')!.inputs).toEqual(['x', 'cond/pred_id']);
    expect(byName.get('cond/mul')!.inputs).toEqual(['cond/mul/Switch:1', 'cond/mul/y']);
    expect(byName.get('cond/mul/y')!.inputs).toEqual(['^cond/switch_t']);
    expect(byName.get('cond/add')!.inputs).toEqual(['cond/add/Switch', 'cond/add/y']);
    expect(byName.get('cond/add/y')!.inputs).toEqual(['^cond/switch_f']);
    expect(byName.get('cond/Merge')!.inputs).toEqual(['cond/add', 'cond/mul']);
  });

  it('(a) y = p ? x*2 : x+1 for both values of p, with value_index', async () => {
    const g = roundTrip(simpleCond().build(['y'], 'cond.pb'));
    const t = await runGraph(g, { x: tf.tensor1d(XS), p: T }, ['y']);
    expect(t.get('y')!.values).toEqual([3, -4, 0]);
    expect(t.get('cond/Merge:1')!.values).toEqual([1]);
    expect(t.get('cond/Merge:1')!.dtype).toBe('int32');
    const f = await runGraph(g, { x: tf.tensor1d(XS), p: F }, ['y']);
    expect(f.get('y')!.values).toEqual([2.5, -1, 1]);
    expect(f.get('cond/Merge:1')!.values).toEqual([0]);
  });

  it('(a) the predicate from a PlaceholderWithDefault (is_training), defaulted and fed', async () => {
    const g = roundTrip(simpleCond('is_training').build(['y'], 'cond.pb'));
    expect((await runGraph(g, { x: tf.tensor1d(XS) }, ['y'])).get('y')!.values).toEqual([2.5, -1, 1]);
    expect((await runGraph(g, { x: tf.tensor1d(XS), is_training: T }, ['y'])).get('y')!.values).toEqual([3, -4, 0]);
  });

  it('(g) recorded activations exclude the untaken branch and every dead output', async () => {
    const g = roundTrip(simpleCond().build(['y'], 'cond.pb'));
    const t = await activations(g, { x: tf.tensor1d(XS), p: T }, ['y']);
    // The false branch's Switch runs (its inputs are live, as in TF); only its output 0 is the branch's, and dead.
    expect(t.map((a) => a.name)).toEqual(['x', 'p', 'cond/Switch:1', 'cond/switch_t', 'cond/pred_id', 'cond/mul/Switch:1', 'cond/mul', 'cond/add/Switch:1', 'cond/Merge', 'cond/Merge:1', 'y']);
    // The Merge was produced from the input it forwarded only.
    expect(t.find((a) => a.name === 'cond/Merge')!.producedFrom).toEqual(['cond/mul']);
    const f = await activations(g, { x: tf.tensor1d(XS), p: F }, ['y']);
    expect(f.map((a) => a.name)).toEqual(['x', 'p', 'cond/Switch', 'cond/switch_f', 'cond/pred_id', 'cond/mul/Switch', 'cond/add/Switch', 'cond/add', 'cond/Merge', 'cond/Merge:1', 'y']);
    expect(f.find((a) => a.name === 'cond/Merge')!.producedFrom).toEqual(['cond/add']);
    expect(f.find((a) => a.name === 'cond/add/Switch')!.values).toEqual(XS);
  });

  it('(b) an untaken branch that would fail is not executed', async () => {
    // y = p ? x @ w : x + 1, with w of a shape x cannot be multiplied by.
    const t = new TF1Graph();
    const x = t.placeholder('x', 'float32', [1, 3]);
    const p = t.placeholder('p', 'bool', []);
    const [m] = t.cond(
      'cond',
      p,
      () => [t.op('MatMul', 'MatMul', [x, t.const('w', host('float32', [2, 2], [1, 2, 3, 4]))])],
      () => [t.op('AddV2', 'add', [x, t.const('add/y', f32(1))])],
    );
    t.op('Identity', 'y', [m!]);
    const g = roundTrip(t.build(['y'], 'cond.pb'));
    const f = await runGraph(g, { x: tf.tensor2d([[1, 2, 3]]), p: F }, ['y']);
    expect(f.get('y')!.values).toEqual([2, 3, 4]);
    const e = await failure(runGraph(g, { x: tf.tensor2d([[1, 2, 3]]), p: T }, ['y']));
    expect(e.node).toBe('cond/MatMul');
    expect(e.message).toContain("node 'cond/MatMul' (MatMul): inner dimensions differ: [1,3] x [2,2]");
  });

  it('(b) a TF1 while loop on the untaken branch does not run (here it would never stop)', async () => {
    // y = p ? (while 0 < 10: v = v) : x + 1; the loop counter never moves.
    const t = new TF1Graph();
    const x = t.placeholder('x', 'float32', [2]);
    const p = t.placeholder('p', 'bool', []);
    const [m] = t.cond(
      'cond',
      p,
      () => {
        const [, v] = t.whileLoop('while', [t.const('Const', int(0)), x], ([i]) => t.op('Less', 'Less', [i!, t.const('Less/y', int(10))]), ([i, v2]) => [i!, v2!]);
        return [v!];
      },
      () => [t.op('AddV2', 'add', [x, t.const('add/y', f32(1))])],
    );
    t.op('Identity', 'y', [m!]);
    const g = roundTrip(t.build(['y'], 'cond.pb'));
    // The loop's initial values reach its Enters through the cond's Switches.
    expect(g.nodes.find((n) => n.name === 'cond/while/Enter_1')!.inputs).toEqual(['cond/while/Switch:1']);
    expect(findUnsupportedOps(g)).toEqual([]);
    process.env.PARITY_MAX_LOOP_ITERATIONS = '20';
    try {
      const r = await runGraph(g, { x: tf.tensor1d([1, -1]), p: F }, ['y']);
      expect(r.get('y')!.values).toEqual([2, 0]);
      // Only the Switch bringing x into the true branch ran (its live output 0 is not the branch's).
      expect([...r.keys()].filter((k) => k.includes('while'))).toEqual(['cond/while/Switch']);
      const e = await failure(runGraph(g, { x: tf.tensor1d([1, -1]), p: T }, ['y']));
      expect(e.message).toContain('still looping after 20 iterations');
    } finally {
      delete process.env.PARITY_MAX_LOOP_ITERATIONS;
    }
  });

  it('(c) nested cond: y = p ? (q ? -x : x^2) : x, all four cases', async () => {
    const t = new TF1Graph();
    const x = t.placeholder('x', 'float32', [2]);
    const p = t.placeholder('p', 'bool', []);
    const q = t.placeholder('q', 'bool', []);
    const [m] = t.cond('cond', p, () => t.cond('cond', q, () => [t.op('Neg', 'neg', [x])], () => [t.op('Square', 'square', [x])]), () => [x]);
    t.op('Identity', 'y', [m!]);
    const built = t.build(['y'], 'cond.pb');
    const byName = new Map(built.nodes.map((n) => [n.name, n]));
    // The inner cond's predicate and inputs are switched into the outer branch first.
    expect(byName.get('cond/cond/Switch/Switch')!.inputs).toEqual(['q', 'cond/pred_id']);
    expect(byName.get('cond/cond/Switch')!.inputs).toEqual(['cond/cond/Switch/Switch:1', 'cond/cond/Switch/Switch:1']);
    expect(byName.get('cond/cond/neg/Switch')!.inputs).toEqual(['x', 'cond/pred_id']);
    expect(byName.get('cond/cond/neg/Switch_1')!.inputs).toEqual(['cond/cond/neg/Switch:1', 'cond/cond/pred_id']);
    expect(byName.get('cond/Merge')!.inputs).toEqual(['cond/Switch_1', 'cond/cond/Merge']);
    const g = roundTrip(built);
    const xs = [2, -3];
    const cases: [tf.Tensor, tf.Tensor, number[]][] = [
      [T, T, [-2, 3]],
      [T, F, [4, 9]],
      [F, T, [2, -3]],
      [F, F, [2, -3]],
    ];
    for (const [pv, qv, want] of cases) {
      const r = await runGraph(g, { x: tf.tensor1d(xs), p: pv, q: qv }, ['y']);
      expect(r.get('y')!.values, `p=${pv.dataSync()[0]} q=${qv.dataSync()[0]}`).toEqual(want);
    }
    // With p false nothing of the inner cond runs except the outer branch's own Switches (their output 0 is live).
    const f = await runGraph(g, { x: tf.tensor1d(xs), p: F, q: T }, ['y']);
    expect([...f.keys()].filter((k) => k.startsWith('cond/cond/'))).toEqual(['cond/cond/Switch/Switch', 'cond/cond/neg/Switch']);
    expect(findUnsupportedOps(g)).toEqual([]);
  });

  it('(d) cond inside a TF1 while loop body: acc accumulates only even i', async () => {
    //   i, acc = 0, acc0
    //   while i < N: acc = acc + float(i) if i % 2 == 0 else acc; i += 1
    const build = (N: number): Graph => {
      const t = new TF1Graph();
      const acc0 = t.placeholder('acc0', 'float32', []);
      const [, accOut] = t.whileLoop(
        'while',
        [t.const('Const', int(0)), acc0],
        ([i]) => t.op('Less', 'Less', [i!, t.const('Less/y', int(N))]),
        ([i, acc]) => {
          const even = t.op('Equal', 'Equal', [t.op('FloorMod', 'FloorMod', [i!, t.const('FloorMod/y', int(2))]), t.const('Equal/y', int(0))]);
          const [a] = t.cond('cond', even, () => [t.op('AddV2', 'add', [acc!, t.op('Cast', 'Cast', [i!], toFloat)])], () => [acc!]);
          return [t.op('AddV2', 'add', [i!, t.const('add/y', int(1))]), a!];
        },
      );
      t.op('Identity', 'acc', [accOut!]);
      return roundTrip(t.build(['acc'], 'cond-loop.pb'));
    };
    const g5 = build(5);
    const byName = new Map(g5.nodes.map((n) => [n.name, n]));
    // The cond lives in the loop body: its Switches read the body's Identities.
    expect(byName.get('while/cond/add/Switch')!.inputs).toEqual(['while/Identity_1', 'while/cond/pred_id']);
    expect(byName.get('while/cond/Switch_1')!.inputs).toEqual(['while/Identity_1', 'while/cond/pred_id']);
    expect(byName.get('while/NextIteration_1')!.inputs).toEqual(['while/cond/Merge']);
    expect(findUnsupportedOps(g5)).toEqual([]);
    // acc0 = 0.5, N = 5: 0.5 + 0 + 2 + 4
    const r = await runGraph(g5, { acc0: tf.scalar(0.5) }, ['acc']);
    expect(r.get('acc')!.values).toEqual([6.5]);
    const at = (k: number, node: string) => `while/while_context/body@iter${k}/${node}`;
    expect(r.get(at(0, 'while/cond/add'))!.values).toEqual([0.5]);
    expect(r.get(at(2, 'while/cond/add'))!.values).toEqual([2.5]);
    expect(r.get(at(4, 'while/cond/add'))!.values).toEqual([6.5]);
    for (const k of [1, 3]) {
      expect(r.has(at(k, 'while/cond/add')), `iteration ${k}`).toBe(false);
      expect(r.has(at(k, 'while/cond/Cast')), `iteration ${k}`).toBe(false);
      expect(r.has(at(k, 'while/cond/switch_t')), `iteration ${k}`).toBe(false);
      expect(r.get(at(k, 'while/cond/Switch_1'))!.values).toEqual([k === 1 ? 0.5 : 2.5]);
    }
    expect([0, 1, 2, 3, 4].map((k) => r.get(at(k, 'while/cond/Merge:1'))!.values[0])).toEqual([1, 0, 1, 0, 1]);
    // N = 0 (no iteration), 1 (only i = 0), 4 (0 + 2)
    for (const [N, want] of [[0, 0.5], [1, 0.5], [4, 2.5]] as const) {
      expect((await runGraph(build(N), { acc0: tf.scalar(0.5) }, ['acc'])).get('acc')!.values, `N = ${N}`).toEqual([want]);
    }
  });

  it('(e) a control dependency on a dead node makes the node dead; a Merge ignores dead control inputs', async () => {
    const t = simpleCond();
    t.g.op('Identity', 'after', ['x', '^cond/mul'], { T: A.dtype('float32') });
    t.g.op('Merge', 'merge_ctl', ['x', 'y', '^cond/mul'], { T: A.dtype('float32'), N: A.int(2) });
    const g = roundTrip(t.build(['after', 'merge_ctl'], 'cond.pb'));
    const live = await runGraph(g, { x: tf.tensor1d(XS), p: T }, ['after', 'merge_ctl']);
    expect(live.get('after')!.values).toEqual(XS);
    const f = await runGraph(g, { x: tf.tensor1d(XS), p: F }, ['y', 'merge_ctl']);
    expect(f.has('after')).toBe(false);
    expect(f.get('merge_ctl')!.values).toEqual(XS);
    expect(f.get('merge_ctl:1')!.values).toEqual([0]);
    // The branch constant hangs from the untaken pivot by a control edge only: dead too.
    const e = await failure(runGraph(g, { x: tf.tensor1d(XS), p: F }, ['after']));
    expect(e.node).toBe('after');
    expect(e.message).toBe(
      "cond.pb: requested output 'after' has no value in this run (it is on the untaken branch of a TF1 conditional): " +
        "'after' (Identity) depends on the untaken output 'cond/mul/Switch:1' of Switch 'cond/mul/Switch' (its predicate 'cond/pred_id' was false)",
    );
    const c = await failure(runGraph(g, { x: tf.tensor1d(XS), p: F }, ['cond/mul/y']));
    expect(c.message).toContain("'cond/mul/y' (Const) depends on the untaken output 'cond/Switch:1' of Switch 'cond/Switch' (its predicate 'p' was false)");
  });

  it('a requested output on the untaken branch is an error naming the node and the Switch', async () => {
    const g = roundTrip(simpleCond().build(['y'], 'cond.pb'));
    const e = await failure(runGraph(g, { x: tf.tensor1d(XS), p: T }, ['cond/add']));
    expect(e.node).toBe('cond/add');
    expect(e.message).toBe(
      "cond.pb: requested output 'cond/add' has no value in this run (it is on the untaken branch of a TF1 conditional): " +
        "'cond/add' (AddV2) depends on the untaken output 'cond/add/Switch' of Switch 'cond/add/Switch' (its predicate 'cond/pred_id' was true)",
    );
    expect(e.message).not.toContain('\n');
    // The Switch's own untaken output likewise.
    const s = await failure(runGraph(g, { x: tf.tensor1d(XS), p: T }, ['cond/mul/Switch']));
    expect(s.message).toContain("'cond/mul/Switch' (Switch) depends on the untaken output 'cond/mul/Switch' of Switch 'cond/mul/Switch'");
  });

  it('the predicate must be a bool scalar', async () => {
    const t = new TF1Graph();
    const x = t.placeholder('x', 'float32', [2]);
    const p = t.placeholder('p', 'float32', []);
    const [m] = t.cond('cond', p, () => [t.op('Neg', 'neg', [x])], () => [x]);
    const g = roundTrip(t.build([m!], 'cond.pb'));
    // No branch constant needs a pivot here, so the first Switch to run is the one bringing x in.
    const e = await failure(runGraph(g, { x: tf.tensor1d([1, 2]), p: tf.scalar(1) }, ['cond/Merge']));
    expect(e.node).toBe('cond/neg/Switch');
    expect(e.message).toBe("cond.pb: node 'cond/neg/Switch' (Switch): the predicate 'cond/pred_id' must be a bool scalar, it is float32[]");
    const h = simpleCond().build(['y'], 'cond.pb');
    const v = await failure(runGraph(roundTrip(h), { x: tf.tensor1d(XS), p: tf.tensor1d([true, false], 'bool') }, ['y']));
    expect(v.message).toBe("cond.pb: node 'cond/Switch' (Switch): the predicate 'p' must be a bool scalar, it is bool[2]");
  });

  it('inspect: Switch and Merge are executable; unused pivots and Switches are not outputs', () => {
    expect(findUnsupportedOps(simpleCond().build(['y'], 'cond.pb'))).toEqual([]);
    // y = p ? x * 2 : x: the false branch has no constant, so nothing uses its pivot switch_f.
    const t = new TF1Graph();
    const x = t.placeholder('x', 'float32', [2]);
    const p = t.placeholder('p', 'bool', []);
    t.cond('cond', p, () => [t.op('Mul', 'mul', [x, t.const('mul/y', f32(2))])], () => [x]);
    t.g.op('Switch', 'stray', ['x', 'p'], { T: A.dtype('float32') });
    const g = roundTrip(t.build([], 'cond.pb'));
    expect(g.nodes.some((n) => n.name === 'cond/switch_f')).toBe(true);
    expect(g.outputs).toEqual(['cond/Merge']);
  });

  it('a node re-run alone (own error of a graph candidate): a Switch leaves its untaken output undefined, a Merge forwards its input', async () => {
    const interp = new Interpreter(simpleCond().build(['y'], 'cond.pb'));
    const x = tf.tensor1d(XS);
    try {
      const [d0, d1] = await interp.runSingle('cond/mul/Switch', [x, T]);
      expect(d0).toBeUndefined();
      expect(Array.from(d1!.dataSync())).toEqual(XS);
      const [e0, e1] = await interp.runSingle('cond/mul/Switch', [x, F]);
      expect(Array.from(e0!.dataSync())).toEqual(XS);
      expect(e1).toBeUndefined();
      const [m, idx] = await interp.runSingle('cond/Merge', [x]);
      expect(Array.from(m!.dataSync())).toEqual(XS);
      expect(idx).toBeUndefined();
      for (const t of [d1, e0, m]) t!.dispose();
    } finally {
      x.dispose();
      interp.dispose();
    }
  });

  it('compare: a bug on one branch shows only when that branch runs, found at its node', async () => {
    const d = mkdtempSync(join(tmpdir(), 'parity-cond-'));
    writeFileSync(join(d, 'ref.pb'), encodeGraphDef(simpleCond().build(['y'], 'ref.pb')));
    const buggy = simpleCond().build(['y'], 'cand.pb');
    buggy.nodes.find((n) => n.name === 'cond/mul/y')!.attrs.value = A.tensor(f32(2.5));
    writeFileSync(join(d, 'cand.pb'), encodeGraphDef(buggy));
    const taken = await compare(join(d, 'ref.pb'), join(d, 'cand.pb'), { inputs: ['p=bool(1)'], shapes: { x: [3] } });
    expect(taken.verdict).toBe('not-equivalent');
    expect(taken.pairs[taken.firstDivergence!]!.reference).toBe('cond/mul');
    expect(taken.pairs[taken.rootCause!]!.reference).toBe('cond/mul');
    expect(taken.pairs.some((p) => p.reference === 'cond/add')).toBe(false);
    const other = await compare(join(d, 'ref.pb'), join(d, 'cand.pb'), { inputs: ['p=bool(0)'], shapes: { x: [3] } });
    expect(other.verdict).toBe('equivalent');
    expect(other.pairs.some((p) => p.reference === 'cond/mul')).toBe(false);
    expect(other.pairs.some((p) => p.reference === 'cond/add')).toBe(true);
  });

  it('(f) no tensors leak across runs with conds, taken or not, in and out of loops, or when a run fails', async () => {
    const g = roundTrip(simpleCond().build(['y'], 'cond.pb'));
    // acc = acc0; for i in range(4): acc = acc * a if i % 2 == 0 else acc, with `a` from outside the loop.
    const t = new TF1Graph();
    const acc0 = t.placeholder('acc0', 'float32', []);
    const aIn = t.placeholder('a', 'float32', []);
    const [, accOut] = t.whileLoop(
      'while',
      [t.const('Const', int(0)), acc0],
      ([i]) => t.op('Less', 'Less', [i!, t.const('Less/y', int(4))]),
      ([i, acc]) => {
        const even = t.op('Equal', 'Equal', [t.op('FloorMod', 'FloorMod', [i!, t.const('FloorMod/y', int(2))]), t.const('Equal/y', int(0))]);
        const [a] = t.cond('cond', even, () => [t.op('Mul', 'mul', [acc!, aIn])], () => [acc!]);
        return [t.op('AddV2', 'add', [i!, t.const('add/y', int(1))]), a!];
      },
    );
    t.op('Identity', 'acc', [accOut!]);
    const loop = roundTrip(t.build(['acc'], 'cond-loop.pb'));
    // `a` enters the loop (as an invariant) before it is switched into the branch.
    expect(loop.nodes.find((n) => n.name === 'while/cond/mul/Switch_1')!.inputs).toEqual(['while/cond/mul/Enter', 'while/cond/pred_id']);
    const x = tf.tensor1d(XS);
    const acc = tf.scalar(1);
    const three = tf.scalar(3);
    const a = new Interpreter(g, { outputs: ['y'] });
    const b = new Interpreter(loop, { outputs: ['acc'] });
    const bad = new Interpreter(g, { outputs: ['cond/add'] });
    const drain = async (interp: Interpreter, feeds: Record<string, tf.Tensor>) => {
      for await (const act of interp.run(new Map(Object.entries(feeds)))) act.tensor.dispose();
    };
    // Warm up: constants are cached by each interpreter on first use.
    for (const p of [T, F]) await drain(a, { x, p });
    await drain(b, { acc0: acc, a: three });
    await drain(bad, { x, p: F });
    const before = tf.memory().numTensors;
    for (let k = 0; k < 10; k++) {
      await drain(a, { x, p: k % 2 ? T : F });
      await drain(b, { acc0: acc, a: three });
      await expect(drain(bad, { x, p: T })).rejects.toThrow(ExecutionError);
      expect(tf.memory().numTensors, `run ${k}`).toBe(before);
    }
    // 1 * 3 (i = 0) * 3 (i = 2)
    let last = 0;
    for await (const act of b.run(new Map([['acc0', acc], ['a', three]]))) {
      if (act.name === 'acc') last = act.tensor.dataSync()[0]!;
      act.tensor.dispose();
    }
    expect(last).toBe(9);
    for (const i of [a, b, bad]) i.dispose();
    x.dispose();
    acc.dispose();
    three.dispose();
  });
});
