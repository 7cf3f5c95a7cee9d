import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../../../src/core/errors.js';
import { A, expectClose, host, runOp } from '../../fixtures/graph.js';
import { checkGolden, loadGoldens } from '../../fixtures/ops_math_goldens.js';

const NOT_MATH = /^(Sum|Mean|Max|Min|Prod|All|Any|ArgMax|ArgMin|EuclideanNorm|MatMul|BatchMatMul.*|Einsum|_FusedMatMul)$/;

describe('math kernels vs numpy goldens (test/fixtures/gen/ops_math.py)', () => {
  for (const c of loadGoldens('ops_math.json').filter((g) => !NOT_MATH.test(g.op))) {
    it(c.name, () => checkGolden(c));
  }
});

const f = (v: number[], shape = [v.length]) => host('float32', shape, v);
const i32 = (v: number[], shape = [v.length]) => host('int32', shape, v);
const b = (v: boolean[], shape = [v.length]) => host('bool', shape, v);

async function one(op: string, inputs: Parameters<typeof runOp>[1], attrs: Parameters<typeof runOp>[2] = {}) {
  return (await runOp(op, inputs, attrs))[0]!;
}

describe('integer semantics TF enforces', () => {
  for (const op of ['FloorDiv', 'FloorMod', 'TruncateDiv', 'TruncateMod', 'Div', 'Mod']) {
    it(`${op} by an int zero is an error naming the node`, async () => {
      await expect(runOp(op, [i32([4, 5]), i32([1, 0])])).rejects.toThrow(/node 'out'.*Integer division by zero/);
    });
  }
  it('float division by zero gives inf/NaN, no error', async () => {
    expect((await one('FloorDiv', [f([1, -1, 0]), f([0, 0, 0])])).values).toEqual([Infinity, -Infinity, NaN]);
  });
  it('int Pow refuses negative exponents', async () => {
    await expect(runOp('Pow', [i32([2]), i32([-1])])).rejects.toThrow(/negative integer powers/);
  });
  it('int FloorDiv keeps int32 and broadcasts a scalar', async () => {
    const r = await one('FloorDiv', [i32([-7, 7, -1], [3]), i32([2], [])]);
    expect(r).toEqual({ shape: [3], dtype: 'int32', values: [-4, 3, -1] });
  });
});

describe('casts', () => {
  const cast = (dst: string, src: string) => ({ DstT: A.dtype(dst as 'int32'), SrcT: A.dtype(src as 'float32'), Truncate: A.bool(false) });
  it('float -> int32: NaN, inf and out-of-range give INT_MIN like x86 TF', async () => {
    const r = await one('Cast', [f([NaN, Infinity, -Infinity, 3e9, -3e9, -2147483648])], cast('int32', 'float32'));
    expect(r.values).toEqual([-2147483648, -2147483648, -2147483648, -2147483648, -2147483648, -2147483648]);
  });
  it('int -> bool and float -> bool are x != 0 (NaN is true)', async () => {
    expect((await one('Cast', [i32([0, -3, 1])], cast('bool', 'int32'))).values).toEqual([0, 1, 1]);
    const r = await one('Cast', [f([0, -0, 0.25, NaN])], cast('bool', 'float32'));
    expect(r).toEqual({ shape: [4], dtype: 'bool', values: [0, 0, 1, 1] });
    // No truncation to an integer first, no wrap mod 256 (what a Uint8Array copy would give: 0, 0, 0, 255).
    expect((await one('Cast', [f([0.0026, -0.3, 256, -1])], cast('bool', 'float32'))).values).toEqual([1, 1, 1, 1]);
  });
  it('bool -> float is 0/1', async () => {
    expect(await one('Cast', [b([true, false])], cast('float32', 'bool'))).toEqual({ shape: [2], dtype: 'float32', values: [1, 0] });
  });
  it('float -> int64 refuses values int32 cannot hold instead of wrapping', async () => {
    await expect(runOp('Cast', [f([5e9])], cast('int64', 'float32'))).rejects.toThrow(ExecutionError);
    expect((await one('Cast', [f([-2.9, 7.9])], cast('int64', 'float32'))).values).toEqual([-2, 7]);
  });
  it('float -> bfloat16 with Truncate drops mantissa bits; without it rounds to nearest', async () => {
    // 1 + 2^-8 + 2^-9 lies above the bfloat16 midpoint 1 + 2^-8: rounds up to 1 + 2^-7, truncates to 1.
    const v = 1 + 2 ** -8 + 2 ** -9;
    expect((await one('Cast', [f([v])], { ...cast('bfloat16', 'float32'), Truncate: A.bool(true) })).values).toEqual([1]);
    expect((await one('Cast', [f([v])], cast('bfloat16', 'float32'))).values).toEqual([1 + 2 ** -7]);
  });
});

describe('NaN, signed zero and special values', () => {
  it('Round keeps -0 for -0.5 and small negatives', async () => {
    const r = await one('Round', [f([-0.5, -0.2, 0.5])]);
    expect(r.values.map((v) => Object.is(v, -0))).toEqual([true, true, false]);
  });
  it('Maximum/Minimum propagate NaN from either side', async () => {
    expect((await one('Maximum', [f([NaN, 1, 2]), f([1, NaN, 1])])).values).toEqual([NaN, NaN, 2]);
    expect((await one('Minimum', [f([NaN, 1, 2]), f([1, NaN, 1])])).values).toEqual([NaN, NaN, 1]);
  });
  it('Erfc keeps relative precision in the tail (1 - erf would give 0)', async () => {
    // math.erfc(4), math.erfc(6), math.erfc(-5) from Python
    const r = await one('Erfc', [f([4, 6, -5])]);
    expectClose(r.values, [1.541725790028002e-8, 2.1519736712498913e-17, 1.9999999999984626], 0, 1e-6);
  });
  it('Sign keeps NaN', async () => {
    expect((await one('Sign', [f([NaN, -3, 0])])).values).toEqual([NaN, -1, 0]);
  });
  it('MulNoNan and DivNoNan give 0 where y is 0, even for inf/NaN x', async () => {
    expect((await one('MulNoNan', [f([Infinity, NaN, 2], [3, 1]), f([0, 3])])).values).toEqual([0, Infinity, 0, NaN, 0, 6]);
    expect((await one('DivNoNan', [f([1, 2]), f([0, 4])])).values).toEqual([0, 0.5]);
  });
  it('IsNan/IsInf/IsFinite', async () => {
    const x = f([NaN, Infinity, -Infinity, 1]);
    expect((await one('IsNan', [x])).values).toEqual([1, 0, 0, 0]);
    expect((await one('IsInf', [x])).values).toEqual([0, 1, 1, 0]);
    expect((await one('IsFinite', [x])).values).toEqual([0, 0, 0, 1]);
  });
  it('ClipByValue with min > max gives min (TF computes max(min(x, hi), lo))', async () => {
    expect((await one('ClipByValue', [f([-5, 0, 5]), f([2], []), f([1], [])])).values).toEqual([2, 2, 2]);
  });
});

describe('comparisons and logic', () => {
  it('comparisons broadcast and return bool', async () => {
    const x = f([1, 2, 3], [3, 1]);
    const y = f([2, 2], [2]);
    expect(await one('Less', [x, y])).toEqual({ shape: [3, 2], dtype: 'bool', values: [1, 1, 0, 0, 0, 0] });
    expect((await one('GreaterEqual', [x, y])).values).toEqual([0, 0, 1, 1, 1, 1]);
    expect((await one('LessEqual', [x, y])).values).toEqual([1, 1, 1, 1, 0, 0]);
    expect((await one('Greater', [x, y])).values).toEqual([0, 0, 0, 0, 1, 1]);
    expect((await one('Equal', [x, y])).values).toEqual([0, 0, 1, 1, 0, 0]);
    expect((await one('NotEqual', [x, y])).values).toEqual([1, 1, 0, 0, 1, 1]);
  });
  it('Equal/NotEqual with incompatible_shape_error=false give a scalar', async () => {
    const attrs = { incompatible_shape_error: A.bool(false) };
    expect(await one('Equal', [f([1, 2, 3]), f([1, 2])], attrs)).toEqual({ shape: [], dtype: 'bool', values: [0] });
    expect(await one('NotEqual', [f([1, 2, 3]), f([1, 2])], attrs)).toEqual({ shape: [], dtype: 'bool', values: [1] });
    await expect(runOp('Equal', [f([1, 2, 3]), f([1, 2])])).rejects.toThrow(/not broadcast-compatible/);
  });
  it('LogicalAnd/Or/Not', async () => {
    const x = b([true, true, false, false]);
    const y = b([true, false, true, false]);
    expect((await one('LogicalAnd', [x, y])).values).toEqual([1, 0, 0, 0]);
    expect((await one('LogicalOr', [x, y])).values).toEqual([1, 1, 1, 0]);
    expect((await one('LogicalNot', [x])).values).toEqual([0, 0, 1, 1]);
  });
  it('Select: scalar condition picks a whole input; a bad condition shape is named', async () => {
    expect((await one('Select', [b([false], []), f([1, 2]), f([3, 4])])).values).toEqual([3, 4]);
    await expect(runOp('Select', [b([true, false]), f([1, 2, 3]), f([4, 5, 6])])).rejects.toThrow(/condition of shape \[2\]/);
  });
  it('AddN sums every input', async () => {
    expect((await one('AddN', [f([1, 2]), f([10, 20]), f([100, 200])])).values).toEqual([111, 222]);
  });
  it('Cumsum on int32 with a negative axis', async () => {
    expect((await one('Cumsum', [i32([1, 2, 3, 4], [2, 2]), i32([-1], [])])).values).toEqual([1, 3, 3, 7]);
  });
});
