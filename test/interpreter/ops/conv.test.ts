import { describe, expect, it } from 'vitest';
import { ExecutionError } from '../../../src/core/errors.js';
import { A, expectClose, host, runOp } from '../../fixtures/graph.js';
import { loadGoldens, runGoldenCase } from '../../fixtures/nn-goldens.js';

/**
 * Convolution and pooling kernels against float64 numpy goldens computed from the definitions
 * (test/fixtures/gen/ops_conv.py), plus hand-worked cases and the errors TF would raise.
 */
const golden = { cases: loadGoldens('ops_conv.json') };


describe('conv/pool kernels vs numpy goldens', () => {
  it('covers every op family the script generates', () => {
    const ops = new Set(golden.cases.map((c) => c.op));
    for (const op of ['Conv2D', 'DepthwiseConv2dNative', 'Conv2DBackpropInput', 'Conv3D', 'Conv3DBackpropInputV2', '_FusedConv2D', 'FusedDepthwiseConv2dNative', 'MaxPool', 'MaxPoolV2', 'AvgPool', 'MaxPool3D', 'AvgPool3D', 'MaxPoolWithArgmax', 'Dilation2D']) {
      expect(ops.has(op), op).toBe(true);
    }
  });
  for (const c of golden.cases) it(c.name, () => runGoldenCase(c));
});

const x5x5 = host('float32', [1, 5, 5, 1], Array.from({ length: 25 }, (_, i) => i + 1));

describe('conv/pool hand-worked cases', () => {
  it('AvgPool SAME divides border windows by their in-bounds count', async () => {
    // 1..25 in a 5x5 grid, 2x2 windows at stride 2: the last row/column windows are partly padding.
    const [y] = await runOp('AvgPool', [x5x5], { ksize: A.ints([1, 2, 2, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME') });
    expect(y!.shape).toEqual([1, 3, 3, 1]);
    expectClose(y!.values, [4, 6, 7.5, 14, 16, 17.5, 21.5, 23.5, 25]);
  });

  it('Conv2DBackpropInput of a 1x1 stride-2 conv scatters dy onto the even positions', async () => {
    // Forward: y[i,j] = 2*x[2i,2j] for a 3x3 input (VALID). Its adjoint places 2*dy on even positions.
    const [dx] = await runOp('Conv2DBackpropInput', [host('int32', [4], [1, 3, 3, 1]), host('float32', [1, 1, 1, 1], [2]), host('float32', [1, 2, 2, 1], [1, 2, 3, 4])], {
      strides: A.ints([1, 2, 2, 1]),
      padding: A.str('VALID'),
    });
    expect(dx!.shape).toEqual([1, 3, 3, 1]);
    expect(dx!.values).toEqual([2, 0, 4, 0, 0, 0, 6, 0, 8]);
  });

  it('MaxPoolWithArgmax returns the flat NHWC index of each maximum', async () => {
    const [y, idx] = await runOp('MaxPoolWithArgmax', [x5x5], { ksize: A.ints([1, 2, 2, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME') }, 2);
    expect(y!.values).toEqual([7, 9, 10, 17, 19, 20, 22, 24, 25]);
    // The value v sits at flat index v-1.
    expect(idx!.values).toEqual([6, 8, 9, 16, 18, 19, 21, 23, 24]);
  });
});

describe('conv/pool errors name the node and what was expected', () => {
  const x = host('float32', [1, 4, 4, 2], new Array<number>(32).fill(1));
  const w = host('float32', [3, 3, 2, 2], new Array<number>(36).fill(1));
  const b = host('float32', [2], [1, 2]);
  const conv = { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME') };

  async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
    const e = await p.then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ExecutionError);
    expect((e as Error).message).toMatch(re);
    expect((e as Error).message).toMatch(/'out'/);
  }

  it('refuses unknown fused_ops combinations, naming them', async () => {
    await rejects(runOp('_FusedConv2D', [x, w, b], { ...conv, fused_ops: A.list({ strings: ['BiasAdd', 'Softmax'] }), num_args: A.int(1) }), /fused_ops \[BiasAdd, Softmax\]/);
    await rejects(runOp('_FusedConv2D', [x, w, b], { ...conv, fused_ops: A.list({ strings: ['Relu'] }), num_args: A.int(1) }), /fused_ops \[Relu\]/);
    await rejects(runOp('_FusedConv2D', [x, w, b], { ...conv, fused_ops: A.list({ strings: ['BiasAdd', 'Relu', 'Relu'] }), num_args: A.int(1) }), /BiasAdd, Relu, Relu/);
  });

  it('checks the fused argument count against fused_ops and num_args', async () => {
    await rejects(runOp('_FusedConv2D', [x, w, b], { ...conv, fused_ops: A.list({ strings: ['FusedBatchNorm'] }), num_args: A.int(1) }), /need 4 extra inputs, found 1/);
    await rejects(runOp('_FusedConv2D', [x, w, b], { ...conv, fused_ops: A.list({ strings: ['BiasAdd'] }), num_args: A.int(2) }), /num_args is 2/);
  });

  it('refuses a fused bias whose size is not the channel count', async () => {
    await rejects(runOp('_FusedConv2D', [x, w, host('float32', [1], [1])], { ...conv, fused_ops: A.list({ strings: ['BiasAdd', 'Relu'] }), num_args: A.int(1) }), /bias has 1 values/);
  });

  it('refuses a filter whose in-depth does not divide the input depth', async () => {
    await rejects(runOp('Conv2D', [x, host('float32', [1, 1, 3, 1], [1, 1, 1])], conv), /not a multiple of the filter's in-depth 3/);
  });

  it('refuses an out_backprop that the forward conv of input_sizes cannot produce', async () => {
    await rejects(
      runOp('Conv2DBackpropInput', [host('int32', [4], [1, 4, 4, 2]), w, host('float32', [1, 3, 3, 2], new Array<number>(18).fill(1))], { strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME') }),
      /out_backprop spatial size \[3,3\].*expected \[2,2\]/,
    );
  });

  it('refuses explicit padding for AvgPool and pooling over the batch', async () => {
    await rejects(runOp('AvgPool', [x], { ksize: A.ints([1, 2, 2, 1]), strides: A.ints([1, 1, 1, 1]), padding: A.str('EXPLICIT'), explicit_paddings: A.ints([0, 0, 1, 1, 1, 1, 0, 0]) }), /EXPLICIT/);
    await rejects(runOp('MaxPool', [x], { ksize: A.ints([2, 2, 2, 1]), strides: A.ints([1, 1, 1, 1]), padding: A.str('VALID') }), /batch/);
  });

  it('refuses strides on the channel dim and a wrong-length explicit_paddings', async () => {
    await rejects(runOp('Conv2D', [x, w], { strides: A.ints([1, 1, 1, 2]), padding: A.str('SAME') }), /strides on the batch and channel dims must be 1/);
    await rejects(runOp('Conv2D', [x, w], { strides: A.ints([1, 1, 1, 1]), padding: A.str('EXPLICIT'), explicit_paddings: A.ints([1, 1, 1, 1]) }), /explicit_paddings must have 8 values/);
  });
});
