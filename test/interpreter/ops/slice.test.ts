import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { A, GraphBuilder, host, runGraph, runOp } from '../../fixtures/graph.js';
import { goldenCases, i32, opError } from '../../fixtures/array-goldens.js';
const iota = (shape: number[]) => host('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i));

describe('slice ops vs numpy', () => {
  goldenCases('slice');
});

describe('StridedSlice', () => {
  it('stride 2 on a clamped negative range, by hand', async () => {
    // x = 0..9; x[-100:-1:3] -> start clamps to 0, stop is 9: 0, 3, 6
    const [y] = await runOp('StridedSlice', [iota([10]), i32([1], [-100]), i32([1], [-1]), i32([1], [3])]);
    expect(y!.values).toEqual([0, 3, 6]);
    // x[8:-100:-4] -> 8, 4, 0 (end clamps to "before 0", not to dim - 1)
    const [z] = await runOp('StridedSlice', [iota([10]), i32([1], [8]), i32([1], [-100]), i32([1], [-4])]);
    expect(z!.values).toEqual([8, 4, 0]);
  });

  it('a scalar with a new axis, and with an ellipsis only', async () => {
    const [y] = await runOp('StridedSlice', [host('int32', [], [7]), i32([1], [0]), i32([1], [0]), i32([1], [1])], { new_axis_mask: A.int(1) });
    expect(y).toMatchObject({ shape: [1], dtype: 'int32', values: [7] });
    const [z] = await runOp('StridedSlice', [host('int32', [], [7]), i32([1], [0]), i32([1], [0]), i32([1], [1])], { ellipsis_mask: A.int(1) });
    expect(z).toMatchObject({ shape: [], values: [7] });
  });

  it('takes begin/end from a fed tensor at run time', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [4, 3]);
    g.placeholder('b', 'int32', [2]);
    g.const('e', i32([2], [0, 0]));
    g.const('s', i32([2], [-1, 1]));
    g.op('StridedSlice', 'y', ['x', 'b', 'e', 's'], { end_mask: A.int(3) });
    const res = await runGraph(g.build(['y']), { x: tf.tensor2d([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]), b: tf.tensor1d([2, 1], 'int32') });
    // x[2::-1, 1:]
    expect(res.get('y')!.shape).toEqual([3, 2]);
    expect(res.get('y')!.values).toEqual([7, 8, 4, 5, 1, 2]);
  });

  it('refuses shrink with a negative stride and out-of-bounds shrink indices, as TF does', async () => {
    const e1 = await opError('StridedSlice', [iota([3, 4]), i32([1], [1]), i32([1], [2]), i32([1], [-1])], { shrink_axis_mask: A.int(1) });
    expect(e1.message).toMatch(/'out'.*stride -1/);
    const e2 = await opError('StridedSlice', [iota([3, 4]), i32([2], [0, 4]), i32([2], [1, 5]), i32([2], [1, 1])], { shrink_axis_mask: A.int(2) });
    expect(e2.message).toMatch(/'out'.*index 4 is out of bounds for dim 1 of size 4/);
    expect(e2.node).toBe('out');
  });

  it('refuses zero strides, two ellipses and too many indices', async () => {
    expect((await opError('StridedSlice', [iota([3]), i32([1], [0]), i32([1], [2]), i32([1], [0])])).message).toMatch(/strides\[0\] must be non-zero/);
    expect((await opError('StridedSlice', [iota([3, 2]), i32([2], [0, 0]), i32([2], [0, 0]), i32([2], [1, 1])], { ellipsis_mask: A.int(3) })).message).toMatch(/more than one bit/);
    expect((await opError('StridedSlice', [iota([3]), i32([2], [0, 0]), i32([2], [1, 1]), i32([2], [1, 1])])).message).toMatch(/more dims than the input's 1/);
  });
});

describe('Slice', () => {
  it('refuses a slice past the end, naming the node', async () => {
    const e = await opError('Slice', [iota([3, 4]), i32([2], [1, 2]), i32([2], [1, 3])]);
    expect(e.message).toMatch(/'out'.*begin 2 size 3 is out of range for dim 1 of size 4/);
  });
});

describe('Gather', () => {
  it('an out-of-range index is an error naming the node, the position and the index', async () => {
    const e = await opError('GatherV2', [iota([4, 2]), i32([2, 2], [0, 1, 3, 4]), i32([], [0])]);
    expect(e.node).toBe('out');
    expect(e.message).toMatch(/node 'out' \(GatherV2\): indices\[1,1\] = 4 is not in \[0, 4\)/);
    const neg = await opError('Gather', [iota([4, 2]), i32([1], [-1])]);
    expect(neg.message).toMatch(/indices\[0\] = -1 is not in \[0, 4\)/);
  });

  it('GatherV2 with int64 indices and a bool params tensor', async () => {
    const [y] = await runOp('GatherV2', [host('bool', [2, 3], [true, false, false, false, true, true]), host('int64', [2], [2, 0]), i32([], [1])]);
    expect(y!.dtype).toBe('bool');
    expect(y!.values).toEqual([0, 1, 1, 0]);
  });

  it('batch_dims must not exceed the axis and batch dims must match', async () => {
    expect((await opError('GatherV2', [iota([2, 3]), i32([2, 1], [0, 1]), i32([], [0])], { batch_dims: A.int(1) })).message).toMatch(/batch_dims 1 must be <= axis 0/);
    expect((await opError('GatherV2', [iota([2, 3]), i32([3, 1], [0, 1, 2]), i32([], [1])], { batch_dims: A.int(1) })).message).toMatch(/differ in batch dim 0/);
  });

  it('ResourceGather gathers rows of the variable value', async () => {
    const [y] = await runOp('ResourceGather', [iota([3, 2]), i32([2], [2, 2])]);
    expect(y!.values).toEqual([4, 5, 4, 5]);
  });

  it('GatherNd refuses a tuple outside the params, naming the row', async () => {
    const e = await opError('GatherNd', [iota([2, 3]), i32([2, 2], [1, 2, 1, 3])]);
    expect(e.message).toMatch(/'out'.*indices row 1 = \[1,3\].*entry 1 \(3\) is not in \[0, 3\)/);
  });

  it('GatherNd with an empty index tuple returns the whole params per row', async () => {
    const [y] = await runOp('GatherNd', [iota([2, 2]), i32([3, 0], [])]);
    expect(y!.shape).toEqual([3, 2, 2]);
    expect(y!.values).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
  });
});

describe('Scatter', () => {
  it('ScatterNd adds duplicates (hand-worked) and refuses out-of-range tuples', async () => {
    const [y] = await runOp('ScatterNd', [i32([4, 1], [0, 2, 0, 0]), host('float32', [4], [1, 10, 100, 1000]), i32([1], [3])]);
    expect(y!.values).toEqual([1101, 0, 10]);
    const e = await opError('ScatterNd', [i32([2, 1], [0, 3]), host('float32', [2], [1, 2]), i32([1], [3])]);
    expect(e.message).toMatch(/'out'.*indices row 1 = \[3\] does not index into shape \[3\]/);
  });

  it('ScatterNd checks the updates shape', async () => {
    const e = await opError('ScatterNd', [i32([2, 1], [0, 1]), host('float32', [2, 3], [1, 2, 3, 4, 5, 6]), i32([2], [3, 2])]);
    expect(e.message).toMatch(/updates must have shape \[2,2\]/);
  });

  it('TensorScatterSub/Max/Min on int32 keep int32', async () => {
    const x = i32([4], [5, 5, 5, 5]);
    const idx = i32([3, 1], [1, 3, 1]);
    const u = i32([3], [2, 9, 4]);
    expect((await runOp('TensorScatterSub', [x, idx, u]))[0]).toMatchObject({ dtype: 'int32', values: [5, -1, 5, -4] });
    expect((await runOp('TensorScatterMax', [x, idx, u]))[0]!.values).toEqual([5, 5, 5, 9]);
    expect((await runOp('TensorScatterMin', [x, idx, u]))[0]!.values).toEqual([5, 2, 5, 5]);
  });
});

it('slice kernels leave no tensors behind', async () => {
  const before = tf.memory().numTensors;
  await runOp('StridedSlice', [iota([4, 4]), i32([2], [3, 0]), i32([2], [0, 4]), i32([2], [-2, 3])]);
  await runOp('GatherNd', [iota([2, 3, 2]), i32([2, 2, 1], [1, 0, 2, 1])], { batch_dims: A.int(1) });
  expect(tf.memory().numTensors).toBe(before);
});
