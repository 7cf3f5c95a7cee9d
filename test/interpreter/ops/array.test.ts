import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { A, GraphBuilder, host, runGraph, runOp } from '../../fixtures/graph.js';
import { goldenCases, i32, opError } from '../../fixtures/array-goldens.js';
const f32 = (shape: number[], v: number[]) => host('float32', shape, v);
const iota = (shape: number[], from = 0) => f32(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + from));

describe('array ops vs numpy', () => {
  goldenCases('array');
});

describe('Reshape', () => {
  it('infers one -1 dim', async () => {
    const [y] = await runOp('Reshape', [iota([2, 3, 4]), i32([3], [4, -1, 2])]);
    expect(y!.shape).toEqual([4, 3, 2]);
    expect(y!.values).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  it('a bad element count names the node and both shapes', async () => {
    const e = await opError('Reshape', [iota([2, 3]), i32([2], [4, 2])]);
    expect(e.node).toBe('out');
    expect(e.message).toMatch(/node 'out' \(Reshape\): cannot reshape a tensor of shape \[2,3\] \(6 elements\) to \[4,2\] \(8 elements\)/);
    expect((await opError('Reshape', [iota([2, 3]), i32([2], [4, -1])])).message).toMatch(/shape \[2,3\].*to \[4,-1\]: 6 is not a multiple of 4/);
    expect((await opError('Reshape', [iota([2, 3]), i32([2], [-1, -1])])).message).toMatch(/more than one -1/);
  });
});

describe('shape ops', () => {
  it('Shape/ShapeN/Size/Rank give int32 (out_type int64 included)', async () => {
    const x = iota([2, 1, 3]);
    expect((await runOp('Shape', [x], { out_type: A.dtype('int64') }))[0]).toMatchObject({ dtype: 'int32', shape: [3], values: [2, 1, 3] });
    expect((await runOp('Size', [x]))[0]).toMatchObject({ dtype: 'int32', shape: [], values: [6] });
    expect((await runOp('Rank', [x]))[0]).toMatchObject({ dtype: 'int32', shape: [], values: [3] });
    const [a, b] = await runOp('ShapeN', [x, f32([], [1])], {}, 2);
    expect(a!.values).toEqual([2, 1, 3]);
    expect(b!.shape).toEqual([0]);
  });

  it('ExpandDims with a negative dim, Squeeze refuses a non-1 dim', async () => {
    expect((await runOp('ExpandDims', [iota([2, 3]), i32([], [-1])]))[0]!.shape).toEqual([2, 3, 1]);
    expect((await runOp('ExpandDims', [iota([2, 3]), i32([1], [0])]))[0]!.shape).toEqual([1, 2, 3]);
    expect((await opError('ExpandDims', [iota([2, 3]), i32([], [3])])).message).toMatch(/dim 3 is out of range/);
    expect((await opError('Squeeze', [iota([1, 3]), ], { squeeze_dims: A.ints([1]) })).message).toMatch(/cannot squeeze dim 1 of size 3/);
  });

  it('Fill keeps the value dtype; ZerosLike/OnesLike keep int32 and bool', async () => {
    expect((await runOp('Fill', [i32([2], [2, 2]), i32([], [7])]))[0]).toMatchObject({ dtype: 'int32', values: [7, 7, 7, 7] });
    expect((await runOp('Fill', [i32([1], [3]), host('bool', [], [true])]))[0]).toMatchObject({ dtype: 'bool', values: [1, 1, 1] });
    expect((await runOp('Fill', [i32([1], [2]), f32([], [-1.5])]))[0]).toMatchObject({ dtype: 'float32', values: [-1.5, -1.5] });
    expect((await runOp('OnesLike', [i32([2], [5, 6])]))[0]).toMatchObject({ dtype: 'int32', values: [1, 1] });
    expect((await runOp('ZerosLike', [host('bool', [2], [true, true])]))[0]).toMatchObject({ dtype: 'bool', values: [0, 0] });
  });

  it('BroadcastArgs and BroadcastTo refuse incompatible shapes', async () => {
    expect((await runOp('BroadcastArgs', [i32([3], [2, 1, 3]), i32([2], [4, 1])]))[0]!.values).toEqual([2, 4, 3]);
    expect((await opError('BroadcastArgs', [i32([1], [2]), i32([1], [3])])).message).toMatch(/\[2\] and \[3\] are not broadcast-compatible/);
    expect((await opError('BroadcastTo', [iota([2, 3]), i32([2], [3, 3])])).message).toMatch(/cannot broadcast \[2,3\] to \[3,3\]/);
  });

  it('InvertPermutation', async () => {
    expect((await runOp('InvertPermutation', [i32([4], [2, 0, 3, 1])]))[0]!.values).toEqual([1, 3, 0, 2]);
  });
});

describe('Range and LinSpace', () => {
  it('int range, negative delta, float range with float32 accumulation', async () => {
    expect((await runOp('Range', [i32([], [3]), i32([], [18]), i32([], [4])]))[0]).toMatchObject({ dtype: 'int32', values: [3, 7, 11, 15] });
    expect((await runOp('Range', [i32([], [5]), i32([], [-2]), i32([], [-3])]))[0]!.values).toEqual([5, 2, -1]);
    expect((await runOp('Range', [i32([], [2]), i32([], [2]), i32([], [1])]))[0]!.shape).toEqual([0]);
    const [f] = await runOp('Range', [f32([], [1]), f32([], [0]), f32([], [-0.25])], { Tidx: A.dtype('float32') });
    expect(f).toMatchObject({ dtype: 'float32', values: [1, 0.75, 0.5, 0.25] });
    // ceil(|2 - 0| / 0.7) = 3 values: 0, 0.7, 1.4 (each rounded to float32 as TF accumulates)
    const [g] = await runOp('Range', [f32([], [0]), f32([], [2]), f32([], [0.7])], { Tidx: A.dtype('float32') });
    const f32r = Math.fround;
    expect(g!.values).toEqual([0, f32r(0.7), f32r(f32r(0.7) + f32r(0.7))]);
  });

  it('Range refuses a delta going the wrong way, as TF does', async () => {
    expect((await opError('Range', [i32([], [0]), i32([], [5]), i32([], [-1])])).message).toMatch(/'out'.*start 0 < limit 5 with delta -1 < 0/);
    expect((await opError('Range', [i32([], [0]), i32([], [5]), i32([], [0])])).message).toMatch(/delta must not be 0/);
  });

  it('LinSpace ends exactly at stop; num 1 gives start', async () => {
    expect((await runOp('LinSpace', [f32([], [1]), f32([], [2]), i32([], [5])]))[0]!.values).toEqual([1, 1.25, 1.5, 1.75, 2]);
    expect((await runOp('LinSpace', [f32([], [3]), f32([], [9]), i32([], [1])]))[0]!.values).toEqual([3]);
    expect((await opError('LinSpace', [f32([], [3]), f32([], [9]), i32([], [0])])).message).toMatch(/num must be positive/);
  });
});

describe('multi-output ops', () => {
  it('Unpack outputs are addressable as node, node:1, node:2', async () => {
    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [3, 2]);
    g.op('Unpack', 'u', ['x'], { num: A.int(3), axis: A.int(0) });
    g.op('Neg', 'n', ['u:2']);
    const res = await runGraph(g.build(['u', 'u:1', 'n']), { x: tf.tensor2d([[1, 2], [3, 4], [5, 6]]) });
    expect(res.get('u')!.values).toEqual([1, 2]);
    expect(res.get('u:1')!.values).toEqual([3, 4]);
    expect(res.get('u:2')!.values).toEqual([5, 6]);
    expect(res.get('n')!.values).toEqual([-5, -6]);
  });

  it('Unpack num must match the dim; Split/SplitV refuse uneven or over-full splits', async () => {
    expect((await opError('Unpack', [iota([3, 2])], { num: A.int(2) })).message).toMatch(/num 2 does not match dim 0 of size 3/);
    expect((await opError('Split', [i32([], [1]), iota([2, 5])], { num_split: A.int(2) })).message).toMatch(/dim 1 of size 5 cannot be split into 2/);
    expect((await opError('SplitV', [iota([2, 5]), i32([2], [6, -1]), i32([], [1])], { num_split: A.int(2) })).message).toMatch(/add up to more than dim 1/);
    expect((await opError('SplitV', [iota([2, 5]), i32([2], [-1, -1]), i32([], [1])], { num_split: A.int(2) })).message).toMatch(/more than one -1/);
  });
});

describe('padding', () => {
  it('MirrorPad refuses paddings TF refuses (REFLECT needs pad < dim)', async () => {
    const e = await opError('MirrorPad', [iota([3, 2]), i32([2, 2], [0, 0, 2, 0])], { mode: A.str('REFLECT') });
    expect(e.message).toMatch(/'out'.*REFLECT paddings \[2,0\] of dim 1 must be <= 1/);
    const [y] = await runOp('MirrorPad', [iota([3, 2]), i32([2, 2], [0, 0, 2, 0])], { mode: A.str('SYMMETRIC') });
    expect(y!.values).toEqual([1, 0, 0, 1, 3, 2, 2, 3, 5, 4, 4, 5]);
  });

  it('Pad refuses negative paddings and a wrong paddings shape', async () => {
    expect((await opError('Pad', [iota([2]), i32([1, 2], [-1, 0])])).message).toMatch(/non-negative/);
    expect((await opError('Pad', [iota([2, 2]), i32([1, 2], [1, 0])])).message).toMatch(/shape \[2,2\] for an input of rank 2, found \[1,2\]/);
  });
});

describe('reversal keeps dtypes', () => {
  it('ReverseV2 on bool and int32', async () => {
    const [b] = await runOp('ReverseV2', [host('bool', [2, 3], [true, false, false, true, true, false]), i32([1], [1])]);
    expect(b).toMatchObject({ dtype: 'bool', values: [0, 0, 1, 0, 1, 1] });
    const [i] = await runOp('Reverse', [i32([2, 2], [1, 2, 3, 4]), host('bool', [2], [true, true])]);
    expect(i).toMatchObject({ dtype: 'int32', values: [4, 3, 2, 1] });
  });
});

describe('OneHot', () => {
  it('axis 0 by hand: depth rows, off values for negative and too-large indices', async () => {
    const [y] = await runOp('OneHot', [i32([3], [2, -1, 5]), i32([], [3]), f32([], [1]), f32([], [0])], { axis: A.int(0) });
    expect(y!.shape).toEqual([3, 3]);
    // rows are classes, columns are the three indices
    expect(y!.values).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0]);
  });
});

describe('SpaceToDepth / DepthToSpace', () => {
  // TF's documented example: depth_to_space of a 1x2x2x4 tensor with block_size 2.
  const deep = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const wide = [1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16];

  it('DepthToSpace 1x2x2x4 -> 1x4x4x1 by hand, and SpaceToDepth back', async () => {
    const [d2s] = await runOp('DepthToSpace', [f32([1, 2, 2, 4], deep)], { block_size: A.int(2) });
    expect(d2s!.shape).toEqual([1, 4, 4, 1]);
    expect(d2s!.values).toEqual(wide);
    const [s2d] = await runOp('SpaceToDepth', [f32([1, 4, 4, 1], wide)], { block_size: A.int(2) });
    expect(s2d!.shape).toEqual([1, 2, 2, 4]);
    expect(s2d!.values).toEqual(deep);
  });

  it('SpaceToDepth 1x2x2x4 by hand: depth index (row*2 + col)*C + c', async () => {
    // x[0,h,w,c] = 100*h + 10*w + c
    const x: number[] = [];
    for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) for (let c = 0; c < 4; c++) x.push(100 * h + 10 * w + c);
    const [y] = await runOp('SpaceToDepth', [f32([1, 2, 2, 4], x)], { block_size: A.int(2) });
    expect(y!.shape).toEqual([1, 1, 1, 16]);
    expect(y!.values).toEqual([0, 1, 2, 3, 10, 11, 12, 13, 100, 101, 102, 103, 110, 111, 112, 113]);
    const [back] = await runOp('DepthToSpace', [f32([1, 1, 1, 16], y!.values)], { block_size: A.int(2) });
    expect(back!.values).toEqual(x);
  });

  it('NCHW gives the NHWC result transposed', async () => {
    // the 1x2x2x4 example as NCHW [1,4,2,2]: channel c holds deep[(h*2+w)*4+c]
    const nchw: number[] = [];
    for (let c = 0; c < 4; c++) for (let p = 0; p < 4; p++) nchw.push(deep[p * 4 + c]!);
    const [y] = await runOp('DepthToSpace', [f32([1, 4, 2, 2], nchw)], { block_size: A.int(2), data_format: A.str('NCHW') });
    expect(y!.shape).toEqual([1, 1, 4, 4]);
    expect(y!.values).toEqual(wide);
  });

  it('refuses sizes not divisible by the block', async () => {
    expect((await opError('SpaceToDepth', [iota([1, 3, 2, 1])], { block_size: A.int(2) })).message).toMatch(/height 3 and width 2 must be divisible by block_size 2/);
    expect((await opError('DepthToSpace', [iota([1, 1, 1, 6])], { block_size: A.int(2) })).message).toMatch(/depth 6 must be divisible/);
  });
});

describe('SpaceToBatchND / BatchToSpaceND (TF documentation examples)', () => {
  it('1x4x4x1, block [2,2]', async () => {
    const [y] = await runOp('SpaceToBatchND', [iota([1, 4, 4, 1], 1), i32([2], [2, 2]), i32([2, 2], [0, 0, 0, 0])]);
    expect(y!.shape).toEqual([4, 2, 2, 1]);
    expect(y!.values).toEqual([1, 3, 9, 11, 2, 4, 10, 12, 5, 7, 13, 15, 6, 8, 14, 16]);
  });

  it('2x2x4x1 with paddings [[0,0],[2,0]] and back with the same crops', async () => {
    const [y] = await runOp('SpaceToBatchND', [iota([2, 2, 4, 1], 1), i32([2], [2, 2]), i32([2, 2], [0, 0, 2, 0])]);
    expect(y!.shape).toEqual([8, 1, 3, 1]);
    expect(y!.values).toEqual([0, 1, 3, 0, 9, 11, 0, 2, 4, 0, 10, 12, 0, 5, 7, 0, 13, 15, 0, 6, 8, 0, 14, 16]);
    const [z] = await runOp('BatchToSpaceND', [f32([8, 1, 3, 1], y!.values), i32([2], [2, 2]), i32([2, 2], [0, 0, 2, 0])]);
    expect(z!.shape).toEqual([2, 2, 4, 1]);
    expect(z!.values).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('refuses a padded size that the block does not divide', async () => {
    expect((await opError('SpaceToBatchND', [iota([1, 3, 4, 1]), i32([2], [2, 2]), i32([2, 2], [0, 0, 0, 0])])).message).toMatch(/padded size 3 of dim 1 is not divisible/);
  });
});

describe('index ops', () => {
  it('Where on a scalar and on an all-false tensor', async () => {
    expect((await runOp('Where', [host('bool', [], [true])]))[0]!.shape).toEqual([1, 0]);
    expect((await runOp('Where', [host('bool', [2, 2], [false, false, false, false])]))[0]).toMatchObject({ shape: [0, 2], dtype: 'int32' });
  });

  it('Unique keeps each NaN distinct (NaN != NaN)', async () => {
    const [y, idx] = await runOp('Unique', [f32([4], [NaN, 1, NaN, 1])], {}, 2);
    expect(y!.values).toEqual([NaN, 1, NaN]);
    expect(idx!.values).toEqual([0, 1, 2, 1]);
  });

  it('SparseToDense refuses out-of-bounds and (when validating) unordered indices', async () => {
    const args = (rows: number[]) => [i32([2, 2], rows), i32([2], [2, 2]), f32([2], [1, 2]), f32([], [0])];
    expect((await opError('SparseToDense', args([0, 0, 2, 1]))).message).toMatch(/sparse_indices\[1\] = \[2,1\] is out of bounds for shape \[2,2\]/);
    expect((await opError('SparseToDense', args([1, 0, 0, 1]))).message).toMatch(/out of order/);
    const [y] = await runOp('SparseToDense', args([1, 0, 0, 1]), { validate_indices: A.bool(false) });
    expect(y!.values).toEqual([0, 2, 1, 0]);
  });

  it('Bincount refuses negative values (TF on CPU)', async () => {
    expect((await opError('Bincount', [i32([2], [1, -1]), i32([], [3]), f32([0], [])])).message).toMatch(/input value -1 at position 1 is negative/);
  });

  it('MatrixBandPart keeps int32', async () => {
    const [y] = await runOp('MatrixBandPart', [i32([2, 2], [1, 2, 3, 4]), i32([], [0]), i32([], [-1])]);
    expect(y).toMatchObject({ dtype: 'int32', values: [1, 2, 0, 4] });
  });
});

it('array kernels leave no tensors behind', async () => {
  const before = tf.memory().numTensors;
  await runOp('SpaceToDepth', [iota([1, 2, 2, 4])], { block_size: A.int(2) });
  await runOp('OneHot', [i32([2], [0, 1]), i32([], [2]), f32([], [1]), f32([], [0])]);
  await runOp('ReverseV2', [host('bool', [2], [true, false]), i32([1], [0])]);
  expect(tf.memory().numTensors).toBe(before);
});
