import { describe, expect, it } from 'vitest';
import { A, host, runOp } from '../../fixtures/graph.js';
import { checkGolden, loadGoldens } from '../../fixtures/ops_math_goldens.js';

const REDUCE = /^(Sum|Mean|Max|Min|Prod|All|Any|ArgMax|ArgMin|EuclideanNorm)$/;

describe('reductions vs numpy goldens (test/fixtures/gen/ops_math.py)', () => {
  for (const c of loadGoldens('ops_math.json').filter((g) => REDUCE.test(g.op))) {
    it(c.name, () => checkGolden(c));
  }
});

const x23 = host('float32', [2, 3], [1, 2, 3, 4, 5, 6]);
const axes = (v: number[]) => host('int32', [v.length], v);

describe('reduction attributes and edge cases', () => {
  it('scalar reduction index and keep_dims default false', async () => {
    const [r] = await runOp('Sum', [x23, host('int32', [], [1])]);
    expect(r).toEqual({ shape: [2], dtype: 'float32', values: [6, 15] });
  });
  it('an empty axis list reduces nothing', async () => {
    const [r] = await runOp('Max', [x23, axes([])], { keep_dims: A.bool(true) });
    expect(r).toEqual({ shape: [2, 3], dtype: 'float32', values: [1, 2, 3, 4, 5, 6] });
  });
  it('reducing zero elements gives TF identities (0, 1, lowest, max, true, false)', async () => {
    const empty = host('float32', [0, 2], []);
    const a0 = axes([0]);
    expect((await runOp('Sum', [empty, a0]))[0]!.values).toEqual([0, 0]);
    expect((await runOp('Prod', [empty, a0]))[0]!.values).toEqual([1, 1]);
    expect((await runOp('Max', [empty, a0]))[0]!.values).toEqual([-3.4028234663852886e38, -3.4028234663852886e38]);
    expect((await runOp('Min', [host('int32', [2, 0], []), axes([1])]))[0]).toEqual({ shape: [2], dtype: 'int32', values: [2147483647, 2147483647] });
    expect((await runOp('All', [host('bool', [0], []), a0]))[0]!.values).toEqual([1]);
    expect((await runOp('Any', [host('bool', [0], []), a0]))[0]!.values).toEqual([0]);
  });
  it('duplicate and out-of-range axes are named', async () => {
    await expect(runOp('Sum', [x23, axes([1, -1])])).rejects.toThrow(/duplicate dimension 1/);
    await expect(runOp('Sum', [x23, axes([2])])).rejects.toThrow(/axis 2 is out of range/);
  });
  it('int Sum and Prod stay int32', async () => {
    const xi = host('int32', [2, 2], [3, -4, 5, 6]);
    expect((await runOp('Sum', [xi, axes([0])]))[0]).toEqual({ shape: [2], dtype: 'int32', values: [8, 2] });
    expect((await runOp('Prod', [xi, axes([1])]))[0]).toEqual({ shape: [2], dtype: 'int32', values: [-12, 30] });
  });
  it('ArgMax output_type int32, and an empty axis is an error', async () => {
    const [r] = await runOp('ArgMax', [x23, host('int32', [], [0])], { output_type: A.dtype('int32') });
    expect(r).toEqual({ shape: [3], dtype: 'int32', values: [1, 1, 1] });
    await expect(runOp('ArgMax', [host('float32', [0, 2], []), host('int32', [], [0])])).rejects.toThrow(/empty/);
    await expect(runOp('ArgMin', [x23, host('int32', [], [0])], { output_type: A.dtype('float32') })).rejects.toThrow(/output_type/);
  });
});
