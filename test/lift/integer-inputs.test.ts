import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import type { DType } from '../../src/core/dtype.js';
import type { Graph } from '../../src/graph/ir.js';
import { lift } from '../../src/lift/index.js';
import { pseudo, writePb } from './graphs.js';
import { configLayers, outDir } from './support.js';

type J = Record<string, unknown>;

/**
 * Integer model inputs (images as uint8/int32, as handtrack and movenet take them): the InputLayer
 * keeps the dtype, the graph's Cast becomes keras.ops.cast (keras/src/ops/core.py Cast(dtype)),
 * and movenet's unstack of its batch of one (Unpack num=1, then ExpandDims/Squeeze of axis 0)
 * becomes keras.ops reshape/expand_dims/squeeze. The proof feeds both models the same seeded
 * integers.
 */

const f = (shape: number[], seed: number, scale = 0.5) => host('float32', shape, pseudo(shape.reduce((a, b) => a * b, 1), seed, scale));
const i32 = (shape: number[], v: number[]) => host('int32', shape, v);

function convRelu(g: GraphBuilder, x: string): string {
  const w = g.const('net/conv/kernel', f([3, 3, 3, 4], 5, 0.05));
  const b = g.const('net/conv/bias', f([4], 6, 0.1));
  const c = g.op('Conv2D', 'net/conv/Conv2D', [x, w], { strides: A.ints([1, 1, 1, 1]), padding: A.str('SAME'), data_format: A.str('NHWC') });
  return g.op('Relu', 'net/conv/Relu', [g.op('BiasAdd', 'net/conv/BiasAdd', [c, b], { data_format: A.str('NHWC') })]);
}

/** dtype input -> Cast(float32) -> Conv2D+BiasAdd+Relu. */
function castConv(dtype: DType): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('pixels', dtype, [1, 6, 6, 3]);
  const t = g.op('Cast', 'net/Cast', [x], { SrcT: A.dtype(dtype), DstT: A.dtype('float32'), Truncate: A.bool(false) });
  return g.build([convRelu(g, t)], `cast-${dtype}.pb`);
}

/** int32 input -> Cast -> Unpack(num=1) -> ExpandDims(0) -> Squeeze(0) -> ExpandDims(0) -> conv (movenet's head). */
function unstackBatch(num = 1): Graph {
  const g = new GraphBuilder();
  const x = g.placeholder('input', 'int32', [num, 6, 6, 3]);
  let t = g.op('Cast', 'net/Cast', [x], { SrcT: A.dtype('int32'), DstT: A.dtype('float32'), Truncate: A.bool(false) });
  t = g.op('Unpack', 'net/unstack', [t], { num: A.int(num), axis: A.int(0) });
  const zero = g.const('net/resize/ExpandDims/dim', i32([], [0]));
  t = g.op('ExpandDims', 'net/resize/ExpandDims', [t, zero]);
  t = g.op('Squeeze', 'net/resize/Squeeze', [t], { squeeze_dims: A.ints([0]) });
  const axis = g.const('net/stack/axis', i32([], [0]));
  t = g.op('ExpandDims', 'net/stack', [t, axis]);
  return g.build([convRelu(g, t)], 'unstack.pb');
}

const byName = (layers: J[], name: string) => layers.find((l) => l.name === name);
const argOf = (l: J) => ((l.inbound_nodes as J[])[0]!.args as J[])[0]!.config as J;

describe('lift: integer inputs', () => {
  for (const dtype of ['uint8', 'int32'] as const) {
    it(`${dtype} input -> Cast -> Conv2D: InputLayer dtype ${dtype}, keras.ops.cast, proven`, async () => {
      const out = outDir();
      const r = await lift(writePb(castConv(dtype)), { out, seeds: 2 });
      expect(r.unliftable).toEqual([]);
      expect(r.status, r.unproven ?? r.proof?.summary).toBe('proven');
      expect(r.exitCode).toBe(0);
      const layers = configLayers(r.files[0]!);
      const input = byName(layers, 'pixels')!;
      expect(input.class_name).toBe('InputLayer');
      expect((input.config as J).dtype).toBe(dtype);
      const cast = layers[1]!;
      expect(cast).toMatchObject({ module: 'keras.src.ops.core', class_name: 'Cast', registered_name: 'Cast', config: { dtype: 'float32' } });
      expect(argOf(cast)).toMatchObject({ dtype, keras_history: ['pixels', 0, 0] });
      // The conv reads the cast's float32 output.
      const conv = layers.find((l) => l.class_name === 'Conv2D')!;
      expect(argOf(conv)).toMatchObject({ dtype: 'float32', keras_history: [cast.name, 0, 0] });
      // The proof really fed integers to both.
      expect(r.proof!.inputs[0]).toMatchObject({ name: 'pixels', dtype });
      const py = readFileSync(r.files[2]!, 'utf8');
      expect(py).toContain(`keras.Input(batch_shape=[None, 6, 6, 3], dtype="${dtype}", name="pixels")`);
      expect(py).toMatch(new RegExp(`= ops\\.cast\\(pixels, dtype="float32"\\)  # ${String(cast.name)}\n`));
    }, 120_000);
  }

  it('uint8 input -> Transpose -> Cast: the Permute between keeps uint8 (every lifted op but Cast keeps its dtype)', async () => {
    const g = new GraphBuilder();
    const x = g.placeholder('pixels', 'uint8', [1, 6, 6, 3]);
    let t = g.op('Transpose', 'net/transpose', [x, g.const('net/perm', i32([4], [0, 2, 1, 3]))]);
    t = g.op('Cast', 'net/Cast', [t], { SrcT: A.dtype('uint8'), DstT: A.dtype('float32'), Truncate: A.bool(false) });
    const r = await lift(writePb(g.build([convRelu(g, t)], 'permute.pb')), { out: outDir(), seeds: 2 });
    expect(r.status, r.unproven ?? r.proof?.summary).toBe('proven');
    const layers = configLayers(r.files[0]!);
    const cast = layers.find((l) => l.class_name === 'Cast')!;
    const permute = layers.find((l) => l.class_name === 'Permute')!;
    expect(argOf(permute)).toMatchObject({ dtype: 'uint8', keras_history: ['pixels', 0, 0] });
    expect(argOf(cast)).toMatchObject({ dtype: 'uint8', shape: [null, 6, 6, 3], keras_history: [permute.name, 0, 0] });
  }, 60_000);

  it('Unpack of a batch of one, ExpandDims/Squeeze of axis 0: keras.ops reshape/expand_dims/squeeze with full shapes, proven', async () => {
    const out = outDir();
    const r = await lift(writePb(unstackBatch()), { out, seeds: 2 });
    expect(r.unliftable).toEqual([]);
    expect(r.status, r.unproven ?? r.proof?.summary).toBe('proven');
    const layers = configLayers(r.files[0]!);
    const ops = layers.filter((l) => String(l.module).startsWith('keras.src.ops')).map((l) => [l.class_name, l.config]);
    expect(ops).toEqual([
      ['Cast', expect.objectContaining({ dtype: 'float32' })],
      ['Reshape', expect.objectContaining({ newshape: [6, 6, 3] })],
      ['ExpandDims', expect.objectContaining({ axis: 0 })],
      ['Squeeze', expect.objectContaining({ axis: 0 })],
      ['ExpandDims', expect.objectContaining({ axis: 0 })],
    ]);
    // Squeeze reads a tensor whose axis 0 Keras knows is 1 (it refuses squeezing an unknown batch).
    const squeeze = layers.find((l) => l.class_name === 'Squeeze')!;
    expect(argOf(squeeze).shape).toEqual([1, 6, 6, 3]);
  }, 120_000);

  it('nearest_neighbor_upsampling (Pack of a tensor with itself on axes 3 and 2, then Reshape): keras.ops.stack, proven', async () => {
    // TF OD API (handtrack's FPN): stack([x]*2, axis=3), stack([t]*2, axis=2), reshape to [N, 2H, 2W, C].
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [1, 3, 2, 4]);
    let t = g.op('Pack', 'up/stack', [x, x], { N: A.int(2), axis: A.int(3) });
    t = g.op('Pack', 'up/stack_1', [t, t], { N: A.int(2), axis: A.int(2) });
    t = g.op('Reshape', 'up/Reshape', [t, g.const('up/shape', i32([4], [1, 6, 4, 4]))]);
    const r = await lift(writePb(g.build([t], 'upsample.pb')), { out: outDir(), seeds: 2 });
    expect(r.status, r.unproven ?? r.proof?.summary).toBe('proven');
    const layers = configLayers(r.files[0]!);
    expect(layers.filter((l) => l.class_name === 'Stack').map((l) => [l.module, (l.config as J).axis, ((l.inbound_nodes as J[])[0]!.args as J[][])[0]!.length])).toEqual([
      ['keras.src.ops.numpy', 3, 2],
      ['keras.src.ops.numpy', 2, 2],
    ]);
  }, 60_000);

  it('Unpack into several tensors and a Cast to int8 are refused by name (exit 2)', async () => {
    const g = new GraphBuilder();
    const x = g.placeholder('input', 'float32', [2, 4]);
    const c = g.op('Cast', 'net/Cast', [x], { SrcT: A.dtype('float32'), DstT: A.dtype('int8'), Truncate: A.bool(false) });
    const u = g.op('Unpack', 'net/unstack', [x], { num: A.int(2), axis: A.int(0) });
    const r = await lift(writePb(g.build([c, u], 'bad.pb')), { out: outDir() });
    expect(r.exitCode).toBe(2);
    expect(r.unliftable.map((u) => [u.what, u.nodes])).toEqual(expect.arrayContaining([
      [expect.stringContaining('Cast to int8'), ['net/Cast']],
      [expect.stringContaining('Unpack into 2 tensors'), ['net/unstack']],
    ]));
  }, 60_000);
});
