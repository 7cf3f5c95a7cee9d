import { describe, expect, it } from 'vitest';
import { A, host, runOp } from '../../fixtures/graph.js';
import { checkGolden, loadGoldens } from '../../fixtures/ops_math_goldens.js';

const MATMUL = /^(MatMul|BatchMatMul.*|Einsum|_FusedMatMul)$/;

describe('matmul family vs numpy goldens (test/fixtures/gen/ops_math.py)', () => {
  for (const c of loadGoldens('ops_math.json').filter((g) => MATMUL.test(g.op))) {
    it(c.name, () => checkGolden(c));
  }
});

const f = (shape: number[], v: number[]) => host('float32', shape, v);

describe('matmul by hand and refusals', () => {
  it('MatMul transpose_a of a hand-sized example', async () => {
    // a^T = [[1,3],[2,4]], b = I -> a^T
    const [r] = await runOp('MatMul', [f([2, 2], [1, 2, 3, 4]), f([2, 2], [1, 0, 0, 1])], { transpose_a: A.bool(true) });
    expect(r!.values).toEqual([1, 3, 2, 4]);
  });
  it('inner-dimension mismatch is named with both shapes', async () => {
    await expect(runOp('MatMul', [f([2, 3], [1, 2, 3, 4, 5, 6]), f([2, 3], [1, 2, 3, 4, 5, 6])])).rejects.toThrow(/\[2,3\] x \[2,3\] contracts 3 with 2/);
  });
  it('BatchMatMul (V1) does not broadcast batch dims', async () => {
    await expect(runOp('BatchMatMul', [f([2, 1, 1], [1, 2]), f([1, 1, 1], [3])])).rejects.toThrow(/does not broadcast/);
  });
  it('int32 matmul wraps like TF int32 arithmetic', async () => {
    const [r] = await runOp('MatMul', [host('int32', [1, 2], [65536, 1]), host('int32', [2, 1], [65536, 7])]);
    expect(r).toEqual({ shape: [1, 1], dtype: 'int32', values: [7] });
  });
  it('Einsum refuses bad equations clearly', async () => {
    const x = f([2, 2], [1, 2, 3, 4]);
    await expect(runOp('Einsum', [x], { equation: A.str('ij->k') })).rejects.toThrow(/output label 'k'/);
    await expect(runOp('Einsum', [x], { equation: A.str('ijk->i') })).rejects.toThrow(/3 labels but the operand has rank 2/);
    await expect(runOp('Einsum', [x, x, x], { equation: A.str('ij,jk,kl->il') })).rejects.toThrow(/1 or 2 operands/);
    await expect(runOp('Einsum', [f([2, 3], [1, 2, 3, 4, 5, 6]), x], { equation: A.str('ij,jk->ik') })).rejects.toThrow(/label 'j' has size 3 in one place and 2/);
  });
  it('Einsum diagonal keeps inf off the diagonal out of the result (gather, not mask-multiply)', async () => {
    const [r] = await runOp('Einsum', [f([2, 2], [1, Infinity, Infinity, 4])], { equation: A.str('ii->i') });
    expect(r!.values).toEqual([1, 4]);
  });
  it('_FusedMatMul refuses unknown fused_ops by name', async () => {
    const attrs = { fused_ops: A.list({ strings: ['BiasAdd', 'Swish'] }), num_args: A.int(1) };
    await expect(runOp('_FusedMatMul', [f([1, 1], [1]), f([1, 1], [1]), f([1], [0])], attrs)).rejects.toThrow(/Swish/);
  });
});
