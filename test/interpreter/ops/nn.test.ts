import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../../../src/core/errors.js';
import { A, expectClose, host, runOp } from '../../fixtures/graph.js';
import { loadGoldens, runGoldenCase } from '../../fixtures/nn-goldens.js';

/**
 * Activation and normalisation kernels against closed formulas evaluated in float64 numpy
 * (test/fixtures/gen/ops_nn.py), plus hand-worked values and the errors TF would raise.
 */
const golden = { cases: loadGoldens('ops_nn.json') };

describe('nn kernels vs numpy goldens', () => {
  for (const c of golden.cases) {
    it(c.name, () => runGoldenCase(c));
  }
});

const f32 = (shape: number[], values: number[]) => host('float32', shape, values);

describe('nn hand-worked values', () => {
  it('Selu uses TF constants alpha 1.6732632423543772 and scale 1.0507009873554805', async () => {
    const [y] = await runOp('Selu', [f32([3], [1, -1, 0])]);
    expectClose(y!.values, [1.0507009873554805, 1.0507009873554805 * 1.6732632423543772 * (Math.exp(-1) - 1), 0], 1e-7, 1e-6);
  });

  it('LeakyRelu defaults alpha to 0.2', async () => {
    const [y] = await runOp('LeakyRelu', [f32([3], [-1, -5, 2])]);
    expectClose(y!.values, [-0.2, -1, 2], 1e-7);
  });

  it('Softplus keeps relative precision far out on both sides', async () => {
    const [y] = await runOp('Softplus', [f32([6], [-20, -50, -12, -8, 50, 1e4])]);
    // A naive float32 log(1 + e^x) gives 0 for the first two and is ~1% off for -12.
    expectClose(y!.values, [2.0611536181902037e-9, 1.9287498479639178e-22, 6.144193477732806e-6, 3.3540637289576885e-4, 50, 1e4], 0, 1e-5);
  });

  it('FusedBatchNormV3 has six outputs, the reserve space empty', async () => {
    const c = f32([1], [1]);
    const outs = await runOp('FusedBatchNormV3', [f32([1, 1, 1, 1], [3]), c, f32([1], [0]), f32([1], [1]), f32([1], [3])], { is_training: A.bool(false), epsilon: A.float(1) }, 6);
    // (3 - 1) / sqrt(3 + 1) = 1.
    expectClose(outs[0]!.values, [1]);
    expect(outs.map((o) => o.shape)).toEqual([[1, 1, 1, 1], [1], [1], [1], [1], [0]]);
  });
});

describe('nn errors name the node and what was expected', () => {
  async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
    const e = await p.then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ExecutionError);
    expect((e as Error).message).toMatch(re);
    expect((e as Error).message).toMatch(/'out'/);
  }
  const x = f32([1, 2, 2, 3], new Array<number>(12).fill(1));

  it('BiasAdd refuses a bias that would only broadcast', async () => {
    await rejects(runOp('BiasAdd', [x, f32([1], [1])]), /bias has 1 values but the channel axis 3/);
    await rejects(runOp('BiasAdd', [x, f32([3], [1, 2, 3])], { data_format: A.str('NCHW') }), /channel axis 1 .* has 2/);
  });

  it('FusedBatchNorm checks parameter sizes against the channel count', async () => {
    const three = f32([3], [1, 1, 1]);
    await rejects(runOp('FusedBatchNormV3', [x, f32([1], [1]), three, three, three], { is_training: A.bool(false) }), /scale must be a vector of 3 values/);
    // Inference needs real statistics; only training may pass empty ones.
    await rejects(runOp('FusedBatchNormV3', [x, three, three, f32([0], []), f32([0], [])], { is_training: A.bool(false) }), /mean must be a vector of 3 values/);
  });

  it('LRN needs a 4-D input', async () => {
    await rejects(runOp('LRN', [f32([2, 3], [1, 2, 3, 4, 5, 6])]), /4-D/);
  });
});
