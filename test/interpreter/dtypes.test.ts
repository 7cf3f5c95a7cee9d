import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { hostToTf } from '../../src/backend/convert.js';
import { outputLine } from '../../src/cli/commands/run.js';
import type { DType } from '../../src/core/dtype.js';
import type { HostTensor } from '../../src/core/tensor.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { loadGraph } from '../../src/formats/index.js';
import { generateFeeds } from '../../src/inputs/generate.js';
import { readNpz, writeNpz } from '../../src/inputs/npz.js';
import { Interpreter } from '../../src/interpreter/interpreter.js';
import { A, GraphBuilder, host, runHost } from '../fixtures/graph.js';

/**
 * TensorFlow's dtypes kept where tfjs computes in float32/int32: what a run shows and saves is
 * TF's dtype, values only moved keep their exact values, narrow integers wrap as TF's do, and a
 * wide integer past int32 is an error naming the node. Expected values are the inputs themselves
 * or worked out by hand in the comments.
 */

const run = runHost;

const u64 = (shape: number[], v: bigint[]): HostTensor => ({ dtype: 'uint64', shape, data: BigUint64Array.from(v) });

/** Values not representable in float32 (1/3, 0.1) or int32-only-as-int64. */
const FEEDS: Record<string, HostTensor> = {
  f64: host('float64', [1, 2], [1 / 3, 0.1]),
  f32: host('float32', [1, 2], [-0.75, 0.5]),
  i64: host('int64', [1, 2], [2147483647n, -2147483648n]),
  i32: host('int32', [1, 2], [4, -4]),
  i16: host('int16', [1, 2], [-32768, 32767]),
  i8: host('int8', [1, 2], [-128, 127]),
  u8: host('uint8', [1, 2], [0, 255]),
  u16: host('uint16', [1, 2], [0, 65535]),
  u32: host('uint32', [1, 2], [0, 2147483647]),
  u64: u64([1, 2], [2n, 2147483647n]),
  b: host('bool', [1, 2], [true, false]),
};

/** The mlnet-types_test shape: a placeholder per dtype, each read by an Identity `o_<name>`. */
function identities(): ReturnType<GraphBuilder['build']> {
  const g = new GraphBuilder();
  for (const [k, v] of Object.entries(FEEDS)) g.placeholder(k, v.dtype, [-1, 2]);
  for (const [k, v] of Object.entries(FEEDS)) g.op('Identity', `o_${k}`, [k], { T: A.dtype(v.dtype) });
  return g.build(Object.keys(FEEDS).map((k) => `o_${k}`));
}

function values(h: HostTensor): (number | bigint)[] {
  return Array.from(h.data as ArrayLike<number | bigint>);
}

describe('TF dtypes through the interpreter', () => {
  it('identities keep every dtype and every value (float64 and int64 exactly), in .npz too', async () => {
    const { res, warnings } = await run(identities(), FEEDS);
    const saved = readNpz(writeNpz(res), 'acts.npz');
    for (const [k, v] of Object.entries(FEEDS)) {
      for (const got of [res.get(`o_${k}`)!, saved.get(`o_${k}`)!]) {
        expect(got.dtype, k).toBe(v.dtype);
        expect(values(got), k).toEqual(values(v));
      }
    }
    // 1/3 as a double: float32 would have made it 0.3333333432674408.
    expect(saved.get('o_f64')!.data[0]).toBe(1 / 3);
    // Nothing was computed in a narrower type.
    expect(warnings).toEqual([]);
  });

  it('the graph written as a GraphDef and read back runs the same', async () => {
    const g = readGraphDef(encodeGraphDef(identities()), 'types.pb');
    const { res } = await run(g, FEEDS);
    expect(res.get('o_i64')!.dtype).toBe('int64');
    expect(values(res.get('o_i64')!)).toEqual([2147483647n, -2147483648n]);
    expect(values(res.get('o_f64')!)).toEqual([1 / 3, 0.1]);
  });

  it('constants keep their dtype and exact values through Reshape and Identity', async () => {
    const g = new GraphBuilder();
    g.const('c64', host('float64', [2], [0.1, 1e-40]));
    g.const('k64', host('int64', [2], [-7n, 2000000000n]));
    g.const('shape', host('int32', [2], [1, 2]));
    g.op('Reshape', 'r64', ['c64', 'shape'], { T: A.dtype('float64') });
    g.op('Identity', 'ik', ['k64'], { T: A.dtype('int64') });
    const { res } = await run(g.build(['r64', 'ik']));
    expect(res.get('r64')!).toEqual({ dtype: 'float64', shape: [1, 2], data: Float64Array.from([0.1, 1e-40]) });
    expect(res.get('ik')!.dtype).toBe('int64');
    expect(values(res.get('ik')!)).toEqual([-7n, 2000000000n]);
  });

  it('the console line names the TF dtype and prints 64-bit integers exactly', async () => {
    const { res } = await run(identities(), FEEDS);
    expect(outputLine('o_i64', res.get('o_i64')!)).toBe('o_i64: int64[1,2] min -2147483648 max 2147483647 first [2147483647, -2147483648]\n');
    expect(outputLine('o_u8', res.get('o_u8')!)).toMatch(/^o_u8: uint8\[1,2\] min 0 max 255 /);
    expect(outputLine('o_f64', res.get('o_f64')!)).toMatch(/^o_f64: float64\[1,2\] /);
  });

  it('narrow integer arithmetic wraps at its own width, as TF computes it', async () => {
    const g = new GraphBuilder();
    const t = (d: DType) => ({ T: A.dtype(d) });
    g.const('a8', host('int8', [2], [100, -100]));
    g.const('b8', host('int8', [2], [100, -100]));
    g.op('AddV2', 'add8', ['a8', 'b8'], t('int8'));
    g.const('a_u8', host('uint8', [2], [3, 250]));
    g.const('b_u8', host('uint8', [2], [5, 10]));
    g.op('Sub', 'sub_u8', ['a_u8', 'b_u8'], t('uint8'));
    g.op('AddV2', 'add_u8', ['a_u8', 'b_u8'], t('uint8'));
    g.const('a16', host('int16', [1], [300]));
    g.op('Mul', 'mul16', ['a16', 'a16'], t('int16'));
    const { res, warnings } = await run(g.build(['add8', 'sub_u8', 'add_u8', 'mul16']));
    // 200 - 256 = -56; -200 + 256 = 56
    expect(res.get('add8')!).toEqual(host('int8', [2], [-56, 56]));
    // 3 - 5 = -2 + 256 = 254; 250 - 10 = 240
    expect(res.get('sub_u8')!).toEqual(host('uint8', [2], [254, 240]));
    // 3 + 5 = 8; 250 + 10 = 260 - 256 = 4
    expect(res.get('add_u8')!).toEqual(host('uint8', [2], [8, 4]));
    // 300 * 300 = 90000 - 65536 = 24464
    expect(res.get('mul16')!).toEqual(host('int16', [1], [24464]));
    expect(warnings).toEqual([]);
  });

  it('int64 arithmetic in range is exact and int64; a result past int32 is an error naming the node', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'int64', [2]);
    g.const('k', host('int64', [2], [2000000000n, -2000000000n]));
    g.op('AddV2', 'sum', ['x', 'k'], { T: A.dtype('int64') });
    const ok = await run(g.build(['sum']), { x: host('int64', [2], [100000000n, -100000000n]) });
    expect(ok.res.get('sum')!.dtype).toBe('int64');
    expect(values(ok.res.get('sum')!)).toEqual([2100000000n, -2100000000n]);
    expect(ok.warnings).toHaveLength(1);
    expect(ok.warnings[0]).toMatch(/^int64 arithmetic is computed in int32 .* 1 node\(s\), first 'sum'.*error naming the node/);
    // 2e9 + 2e9 = 4e9: TF holds it in int64; int32 would wrap it to -294967296.
    await expect(run(g.build(['sum']), { x: host('int64', [2], [2000000000n, 0n]) })).rejects.toThrow(/node 'sum' \(AddV2\): its int64 result 4000000000 at element 0 does not fit in int32/);
  });

  it('past int32 is an error for reductions, unsigned differences and casts too', async () => {
    const g = new GraphBuilder();
    g.const('big', host('int64', [3], [2000000000n, 2000000000n, 5n]));
    g.const('axis', host('int32', [1], [0]));
    g.op('Sum', 'total', ['big', 'axis'], { T: A.dtype('int64'), Tidx: A.dtype('int32'), keep_dims: A.bool(false) });
    await expect(run(g.build(['total']))).rejects.toThrow(/node 'total' \(Sum\): its int64 result 4000000000/);
    const u = new GraphBuilder();
    u.const('a', host('uint32', [1], [3]));
    u.const('b', host('uint32', [1], [5]));
    u.op('Sub', 'd', ['a', 'b'], { T: A.dtype('uint32') });
    // 3 - 5 is 4294967294 in uint32.
    await expect(run(u.build(['d']))).rejects.toThrow(/node 'd' \(Sub\): its uint32 result -2 at element 0 does not fit/);
    const c = new GraphBuilder();
    c.const('f', host('float32', [2], [1.5, 3e9]));
    c.op('Cast', 'as64', ['f'], { SrcT: A.dtype('float32'), DstT: A.dtype('int64') });
    await expect(run(c.build(['as64']))).rejects.toThrow(/node 'as64' \(Cast\): value 3000000000 cast to int64 does not fit in int32/);
  });

  it('float64 computed in float32 says so once, and keeps the float64 dtype', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float64', [2]);
    g.op('Mul', 'sq', ['x', 'x'], { T: A.dtype('float64') });
    g.op('AddV2', 'twice', ['sq', 'sq'], { T: A.dtype('float64') });
    g.op('Identity', 'out', ['twice'], { T: A.dtype('float64') });
    const { res, warnings } = await run(g.build(['out']), { x: host('float64', [2], [0.5, 3]) });
    // 0.5^2 * 2 = 0.5; 3^2 * 2 = 18 (exact in float32 too)
    expect(res.get('out')!).toEqual(host('float64', [2], [0.5, 18]));
    expect(warnings).toEqual([expect.stringMatching(/^float64 is computed in float32 \(tfjs has no float64\) at 2 node\(s\), first 'sq'/)]);
    // Said once whatever the runs: a run stopped after the first node adds nothing, a second full run neither.
    const interp = new Interpreter(g.build(['out']));
    const x = hostToTf(host('float64', [2], [0.5, 3]));
    for (let k = 0; k < 2; k++) for await (const a of interp.run(new Map([['x', x]]))) a.tensor.dispose();
    for await (const a of interp.run(new Map([['x', x]]))) {
      a.tensor.dispose();
      break;
    }
    expect(interp.warnings).toEqual(warnings);
    x.dispose();
    interp.dispose();
  });

  it('an int64 input past int32 is refused naming the input', () => {
    expect(() => hostToTf(host('int64', [1], [2n ** 40n]), "input 'x'")).toThrow(/input 'x': int64 value 1099511627776 does not fit in int32/);
  });
});

const TYPES = '/work/shared/models/tf-real/public/mlnet-types_test';

describe.skipIf(!existsSync(TYPES))('mlnet-types_test (real TF1 SavedModel)', () => {
  it('each o_* equals its input in its own dtype', async () => {
    const graph = await loadGraph(TYPES);
    // The serving signature maps u8/u16/u32 onto i8/i16/i32 (as written by ML.NET's test); every placeholder is fed by name.
    const specs = graph.nodes.filter((n) => n.op === 'Placeholder').map((n) => ({ name: n.name, dtype: (n.attrs.dtype as { value: DType }).value, shape: [1, 2] }));
    const feeds = generateFeeds(specs, { seed: 3 });
    const outputs = graph.nodes.filter((n) => n.op === 'Identity').map((n) => n.name);
    const { res, warnings } = await run(graph, Object.fromEntries(feeds), outputs);
    expect(outputs.length).toBe(11);
    for (const o of outputs) {
      const input = feeds.get(o.slice(2))!;
      expect(res.get(o)!.dtype, o).toBe(input.dtype);
      expect(values(res.get(o)!), o).toEqual(values(input));
    }
    expect(warnings).toEqual([]);
    tf.disposeVariables();
  });
});
