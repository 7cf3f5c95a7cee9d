import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionError, FormatError, InputError, ParityError, UnsupportedError } from '../../src/core/errors.js';
import type { Activation, Runner } from '../../src/core/runner.js';
import { loadOnnxRunner, type OnnxRunner } from '../../src/runners/onnx/index.js';
import { OnnxModel } from '../../src/runners/onnx/model.js';
import { CNN, attr, cnnModel, encodeModel, ELEM, int64Model, int64Tensor, nhwcModel, unknownOpModel, withExternalData } from '../fixtures/onnx-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'parity-onnx-'));
function save(name: string, bytes: Uint8Array): string {
  const f = join(dir, name);
  writeFileSync(f, bytes);
  return f;
}

interface Got {
  name: string;
  type: string;
  shape: number[];
  dtype: string;
  data: Float32Array | Int32Array | Uint8Array;
  producedFrom: string[];
  layout?: string;
  index: number;
}

async function collect(r: Runner, feeds: Map<string, tf.Tensor>, record?: string[]): Promise<Got[]> {
  const out: Got[] = [];
  for await (const a of r.run(feeds, record ? { record } : {}) as AsyncIterable<Activation>) {
    out.push({ name: a.name, type: a.type, shape: a.tensor.shape.slice(), dtype: a.tensor.dtype, data: a.tensor.dataSync().slice() as Float32Array, producedFrom: a.producedFrom, layout: a.layout, index: a.index });
    a.tensor.dispose();
  }
  return out;
}

function seeded(n: number, seed: string, scale = 1): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
}

/** Plain NCHW convolution in float64: x [N,C,H,W], w [O,C,K,K], symmetric pads, square stride. */
function convNchw(x: Float32Array, [n, c, h, w]: number[], wt: Float32Array, b: Float32Array, o: number, k: number, stride: number, pad: number): { data: Float64Array; shape: number[] } {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(n! * o * oh * ow);
  for (let bi = 0; bi < n!; bi++)
    for (let oc = 0; oc < o; oc++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = b[oc]!;
          for (let ic = 0; ic < c!; ic++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = y * stride - pad + ky;
                const ix = xx * stride - pad + kx;
                if (iy < 0 || iy >= h! || ix < 0 || ix >= w!) continue;
                s += x[((bi * c! + ic) * h! + iy) * w! + ix]! * wt[((oc * c! + ic) * k + ky) * k + kx]!;
              }
          out[((bi * o + oc) * oh + y) * ow + xx] = s;
        }
  return { data: out, shape: [n!, o, oh, ow] };
}

/** y = x W^T + b for x [m,k], W [n,k]. */
function gemmTransB(x: ArrayLike<number>, m: number, k: number, w: Float32Array, b: Float32Array, n: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = b[j]!;
      for (let p = 0; p < k; p++) s += x[i * k + p]! * w[j * k + p]!;
      y[i * n + j] = s;
    }
  return y;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function bitsOf(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

describe('ONNX runner: the example CNN', () => {
  const cnn = cnnModel();
  const file = save('cnn.onnx', cnn.bytes);
  const input = seeded(1 * 3 * 9 * 7, 'cnn-input', 2);
  let runner: OnnxRunner;
  let acts: Got[];
  const get = (n: string): Got => acts.find((a) => a.name === n)!;

  beforeAll(async () => {
    runner = await loadOnnxRunner(file);
    const x = tf.tensor(input, cnn.inputShape);
    acts = await collect(runner, new Map([['input', x]]));
    x.dispose();
  });
  afterAll(() => runner.dispose());

  it('lists the graph inputs (symbolic batch as -1) and outputs', () => {
    expect(runner.kind).toBe('onnx');
    expect(runner.inputs()).toEqual([{ name: 'input', dtype: 'float32', shape: [-1, 3, 9, 7] }]);
    expect(runner.outputs()).toEqual(['probs']);
  });

  it('yields every node output in topological order, with op, inputs and layout', () => {
    expect(acts.map((a) => [a.name, a.type])).toEqual(cnn.values.map((v) => [v.name, v.op]));
    expect(acts.map((a) => a.index)).toEqual([0, 1, 2, 3, 4, 5]);
    // Initializers (weights) are not activations: only the data inputs are listed.
    expect(acts.map((a) => a.producedFrom)).toEqual([['input'], ['conv_out'], ['relu_out'], ['pool_out'], ['flat_out'], ['logits']]);
    expect(acts.map((a) => a.shape)).toEqual([[1, 4, 5, 4], [1, 4, 5, 4], [1, 4, 2, 2], [1, 16], [1, 5], [1, 5]]);
    expect(acts.map((a) => a.layout)).toEqual(['NCHW', 'NCHW', 'NCHW', undefined, undefined, undefined]);
  });

  it('Conv output equals a plain NCHW convolution (pads 1, stride 2, bias)', () => {
    const ref = convNchw(input, cnn.inputShape, cnn.convW, cnn.convB, CNN.cout, CNN.k, CNN.stride, CNN.pad);
    expect(get('conv_out').shape).toEqual(ref.shape);
    expect(maxAbsDiff(get('conv_out').data, ref.data)).toBeLessThan(1e-5);
    // Padding and stride actually matter for this input: a mistake would show far above 1e-5.
    expect(Math.max(...Array.from(ref.data, Math.abs))).toBeGreaterThan(0.5);
  });

  it('each later layer equals its plain-JS definition applied to the previous ORT output', () => {
    const conv = get('conv_out').data;
    expect(Array.from(get('relu_out').data)).toEqual(Array.from(conv, (v) => Math.max(0, v)));
    const relu = get('relu_out').data;
    const pool: number[] = [];
    for (let c = 0; c < 4; c++)
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 2; x++) {
          let m = -Infinity;
          for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) m = Math.max(m, relu[(c * 5 + 2 * y + dy) * 4 + 2 * x + dx]!);
          pool.push(m);
        }
    expect(Array.from(get('pool_out').data)).toEqual(pool);
    expect(Array.from(get('flat_out').data)).toEqual(pool);
    const logits = gemmTransB(get('flat_out').data, 1, 16, cnn.gemmW, cnn.gemmB, 5);
    expect(maxAbsDiff(get('logits').data, logits)).toBeLessThan(1e-5);
    const l = Array.from(get('logits').data);
    const e = l.map((v) => Math.exp(v - Math.max(...l)));
    const sum = e.reduce((a, b) => a + b, 0);
    expect(maxAbsDiff(get('probs').data, e.map((v) => v / sum))).toBeLessThan(1e-6);
  });

  it('final output has the same bits as onnxruntime running the unmodified model', async () => {
    const s = await ort.InferenceSession.create(cnn.bytes, { graphOptimizationLevel: 'disabled' });
    const r = await s.run({ input: new ort.Tensor('float32', input.slice(), cnn.inputShape) });
    await s.release();
    expect(bitsOf(get('probs').data as Float32Array)).toBe(bitsOf(r.probs!.data as Float32Array));
  });

  it("with graphOptimizationLevel 'all' it matches a default session bit for bit, intermediates still there", async () => {
    const all = await loadOnnxRunner(file, { graphOptimizationLevel: 'all' });
    const x = tf.tensor(input, cnn.inputShape);
    const got = await collect(all, new Map([['input', x]]));
    x.dispose();
    all.dispose();
    const s = await ort.InferenceSession.create(cnn.bytes);
    const r = await s.run({ input: new ort.Tensor('float32', input.slice(), cnn.inputShape) });
    await s.release();
    expect(got.map((a) => a.name)).toEqual(cnn.values.map((v) => v.name));
    expect(bitsOf(got.at(-1)!.data as Float32Array)).toBe(bitsOf(r.probs!.data as Float32Array));
  });

  it('typed value_info for the intermediates changes nothing', async () => {
    const typed = await loadOnnxRunner(save('cnn-typed.onnx', cnnModel({ valueInfo: true }).bytes));
    const x = tf.tensor(input, cnn.inputShape);
    const got = await collect(typed, new Map([['input', x]]));
    x.dispose();
    typed.dispose();
    expect(got.map((a) => a.name)).toEqual(acts.map((a) => a.name));
    for (let i = 0; i < got.length; i++) expect(bitsOf(got[i]!.data as Float32Array)).toBe(bitsOf(acts[i]!.data as Float32Array));
  });

  it('record limits what is fetched and yielded', async () => {
    const x = tf.tensor(input, cnn.inputShape);
    const got = await collect(runner, new Map([['input', x]]), ['pool_out', 'probs']);
    x.dispose();
    expect(got.map((a) => a.name)).toEqual(['pool_out', 'probs']);
    expect(Array.from(got[0]!.data)).toEqual(Array.from(get('pool_out').data));
  });

  it('runSingle of the Gemm node on given inputs (batch 2) equals plain JS', async () => {
    const xs = seeded(2 * 16, 'gemm-in', 3);
    const before = tf.memory().numTensors;
    const x = tf.tensor(xs, [2, 16]);
    const outs = await runner.runSingle('logits', [x]);
    x.dispose();
    expect(outs).toHaveLength(1);
    expect(outs[0]!.shape).toEqual([2, 5]);
    expect(maxAbsDiff(outs[0]!.dataSync(), gemmTransB(xs, 2, 16, cnn.gemmW, cnn.gemmB, 5))).toBeLessThan(1e-5);
    outs[0]!.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runSingle of the Conv node equals the plain convolution; wrong arity is an InputError', async () => {
    const x = tf.tensor(input, cnn.inputShape);
    const [y] = await runner.runSingle('conv_out', [x]);
    expect(maxAbsDiff(y!.dataSync(), convNchw(input, cnn.inputShape, cnn.convW, cnn.convB, 4, 3, 2, 1).data)).toBeLessThan(1e-5);
    y!.dispose();
    await expect(runner.runSingle('conv_out', [x, x])).rejects.toThrow(InputError);
    await expect(runner.runSingle('no_such_value', [x])).rejects.toThrow(/no node produces 'no_such_value'/);
    x.dispose();
  });

  it('feeds that do not fit are InputErrors naming the input', async () => {
    const wrong = tf.zeros([1, 9, 7, 3]);
    await expect(collect(runner, new Map([['input', wrong]]))).rejects.toThrow(/input 'input' expects shape \[\?,3,9,7\], the feed has shape \[1,9,7,3\]/);
    await expect(collect(runner, new Map([['other', wrong]]))).rejects.toThrow(InputError);
    wrong.dispose();
  });

  it('leaves no tensors behind when the activations are disposed', async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor(input, cnn.inputShape);
    await collect(runner, new Map([['input', x]]));
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('ONNX runner: bad files and unsupported ops', () => {
  const good = cnnModel().bytes;

  it.each([1, 9, 40, Math.floor(good.length / 2), good.length - 1])('a file truncated to %i bytes is a FormatError naming it', async (n) => {
    const f = save(`trunc-${n}.onnx`, good.slice(0, n));
    const err = await loadOnnxRunner(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).message).toContain(f);
    expect((err as FormatError).file).toBe(f);
  });

  it('a file that is not ONNX at all is a FormatError naming it', async () => {
    for (const [name, bytes] of [['text.onnx', new TextEncoder().encode('{"format": "graph-model"}')], ['zeros.onnx', new Uint8Array(64)], ['empty.onnx', new Uint8Array(0)]] as const) {
      const f = save(name, bytes);
      await expect(loadOnnxRunner(f)).rejects.toThrow(FormatError);
      await expect(loadOnnxRunner(f)).rejects.toThrow(f);
    }
  });

  it('a missing file is an InputError naming it', async () => {
    await expect(loadOnnxRunner(join(dir, 'nope.onnx'))).rejects.toThrow(InputError);
  });

  it("an op from an unknown domain ('com.example' Frobnicate) is named with its node, before anything runs", async () => {
    const f = save('frob.onnx', unknownOpModel());
    const err = (await loadOnnxRunner(f).catch((e: unknown) => e)) as UnsupportedError;
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(err.message).toContain(f);
    expect(err.message).toContain('com.example::Frobnicate');
    expect(err.items).toEqual([{ op: 'com.example::Frobnicate', nodes: ['frob'] }]);
  });

  it('an op onnxruntime does not register in the standard domain is reported from its error', async () => {
    const bytes = encodeModel({
      nodes: [{ op: 'Frobnicate', name: 'f1', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', elem: ELEM.float, shape: [2] }],
      outputs: [{ name: 'y', elem: ELEM.float, shape: [2] }],
    });
    const f = save('std-frob.onnx', bytes);
    const err = (await loadOnnxRunner(f).catch((e: unknown) => e)) as UnsupportedError;
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(err.message).toContain(f);
    expect(err.items).toEqual([{ op: 'Frobnicate', nodes: ['f1'] }]);
  });

  it('a model that fails while it runs is an ExecutionError naming the file and the node, without onnxruntime\'s C++ source locations', async () => {
    const bytes = encodeModel({
      nodes: [{ op: 'Reshape', name: 'reshape_it', inputs: ['x', 'shape'], outputs: ['y'] }],
      inputs: [{ name: 'x', elem: ELEM.float, shape: [6] }, { name: 'shape', elem: ELEM.int64, shape: [1] }],
      outputs: [{ name: 'y', elem: ELEM.float, shape: [4] }],
    });
    const f = save('bad-reshape.onnx', bytes);
    const r = await loadOnnxRunner(f);
    const x = tf.zeros([6]);
    const shape = tf.tensor([4], [1], 'int32');
    const err = (await collect(r, new Map([['x', x], ['shape', shape]])).catch((e: unknown) => e)) as ExecutionError;
    tf.dispose([x, shape]);
    r.dispose();
    expect(err).toBeInstanceOf(ExecutionError);
    expect(err.message).toContain(f);
    expect(err.message).toContain("Name:'reshape_it'");
    expect(err.message).toMatch(/cannot be reshaped/);
    expect(err.message).not.toMatch(/onnxruntime_src|\.h:\d+|\.cc:\d+/);
  });

  it('a model onnxruntime refuses for another reason is a ParityError naming the file', async () => {
    const bytes = encodeModel({
      nodes: [{ op: 'Add', name: 'a', inputs: ['x', 'missing'], outputs: ['y'] }],
      inputs: [{ name: 'x', elem: ELEM.float, shape: [2] }],
      outputs: [{ name: 'y', elem: ELEM.float, shape: [2] }],
    });
    const f = save('dangling.onnx', bytes);
    const err = await loadOnnxRunner(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParityError);
    expect((err as Error).message).toContain(f);
    expect((err as Error).message).toContain("'missing'");
  });
});

/**
 * 'big' (an int64 constant) reaches a Slice's ends through Concat and Unsqueeze, or feeds an Add
 * besides: only in the first case is every use of it an index ONNX clamps.
 */
function sliceModel(otherUse: 'Slice' | 'Add'): Uint8Array {
  return encodeModel({
    nodes: [
      { op: 'Unsqueeze', name: 'u', inputs: ['big', 'axes'], outputs: ['big1'] },
      { op: 'Concat', name: 'c', inputs: ['big1', 'big1'], outputs: ['ends'], attrs: [attr.int('axis', 0)] },
      { op: 'Slice', name: 's', inputs: ['x', 'starts', 'ends'], outputs: ['y'] },
      ...(otherUse === 'Add' ? [{ op: 'Add', name: 'a', inputs: ['big', 'big'], outputs: ['z'] }] : []),
    ],
    initializers: [int64Tensor('big', [], [-1]), int64Tensor('axes', [1], [0]), int64Tensor('starts', [2], [0, 0])],
    inputs: [{ name: 'x', elem: ELEM.float, shape: [2, 3] }],
    outputs: [{ name: 'y', elem: ELEM.float, shape: [2, 3] }, ...(otherUse === 'Add' ? [{ name: 'z', elem: ELEM.int64, shape: [] }] : [])],
  });
}

function indexValueNames(bytes: Uint8Array): string[] {
  return [...OnnxModel.decode(bytes, 'slice.onnx').indexValues].sort();
}

describe('ONNX runner: dtypes, layouts, external data', () => {
  it('int64 inputs are fed from int32 tensors; int64 outputs come back as int32', async () => {
    const m = int64Model(7);
    const r = await loadOnnxRunner(save('i64.onnx', m.bytes));
    expect(r.inputs()).toEqual([{ name: 'ids', dtype: 'int64', shape: [3] }]);
    const ids = tf.tensor([1, 3, 0], [3], 'int32');
    const got = await collect(r, new Map([['ids', ids]]));
    ids.dispose();
    r.dispose();
    expect(got.map((a) => [a.name, a.dtype])).toEqual([['rows', 'float32'], ['scaled_ids', 'int32']]);
    const rows = [1, 3, 0].flatMap((i) => [m.table[2 * i]!, m.table[2 * i + 1]!]);
    expect(Array.from(got[0]!.data)).toEqual(rows);
    expect(Array.from(got[1]!.data)).toEqual([7, 21, 0]);
  });

  it('an int64 value outside int32 is an ExecutionError naming it; recording around it works', async () => {
    const f = save('i64-big.onnx', int64Model(3_000_000_000).bytes);
    const r = await loadOnnxRunner(f);
    const ids = tf.tensor([1, 3, 0], [3], 'int32');
    const err = (await collect(r, new Map([['ids', ids]])).catch((e: unknown) => e)) as ExecutionError;
    expect(err).toBeInstanceOf(ExecutionError);
    expect(err.message).toContain(f);
    expect(err.message).toContain("'scaled_ids'");
    expect(err.message).toContain('3000000000');
    // The hint names what the user can do with compare: no --record (compare has none).
    expect(err.message).not.toContain('--record');
    expect(err.message).toContain('parity inspect');
    // inspect (runner.warnings) names the constant and its use before anything runs.
    expect(r.warnings).toEqual([expect.stringMatching(/initializer 'scale' holds 3000000000 .*used by scaled \(Mul\)/)]);
    const rows = await collect(r, new Map([['ids', ids]]), ['rows']);
    expect(rows.map((a) => a.name)).toEqual(['rows']);
    ids.dispose();
    r.dispose();
  });

  it("torch's F.pad export (a Slice end of -2^63+1, clamped to the dimension as ONNX defines it) runs, and gives torch's output", async () => {
    // test/fixtures/gen/torch_pad.py: F.pad(x, (0, 1, 0, 1)) -> Conv 3x3/2 -> ReLU, exported by torch.onnx (opset 13).
    const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch-pad');
    const j = JSON.parse(readFileSync(join(fixture, 'pad.json'), 'utf8')) as { x: number[]; xShape: number[]; y: number[]; yShape: number[] };
    const r = await loadOnnxRunner(join(fixture, 'pad.onnx'));
    expect(r.warnings).toEqual([]);
    const x = tf.tensor(j.x, j.xShape);
    const got = await collect(r, new Map([['x', x]]));
    x.dispose();
    r.dispose();
    // The constant torch writes for "to the start" reads as the int32 bound; the Slice reverses the rows of
    // [[0,1],[0,1],[0,0],[0,0]] (torch lists the last dim first) into ONNX's begin/end order.
    expect(Array.from(got.find((a) => a.name === '/Constant_5_output_0')!.data)).toEqual([-2147483648]);
    expect(Array.from(got.find((a) => a.name === '/Slice_output_0')!.data)).toEqual([0, 0, 0, 0, 0, 1, 0, 1]);
    expect(got.find((a) => a.name === '/Pad_output_0')!.shape).toEqual([1, 2, 7, 7]);
    const y = got.find((a) => a.name === 'y')!;
    expect(y.shape).toEqual(j.yShape);
    expect(maxAbsDiff(y.data, j.y)).toBeLessThan(1e-6);
  });

  it('a value beyond int32 used only as a Slice start or end is an index: every other use stays an error', () => {
    expect(indexValueNames(sliceModel('Slice'))).toEqual(['big', 'big1', 'ends', 'starts']);
    expect(indexValueNames(sliceModel('Add'))).toEqual(['big1', 'ends', 'starts']);
  });

  it('a model kept NHWC at its edges (tf2onnx style) marks those values NHWC', async () => {
    const r = await loadOnnxRunner(save('nhwc.onnx', nhwcModel()));
    const x = tf.tensor(seeded(60, 'nhwc'), [1, 6, 5, 2]);
    const got = await collect(r, new Map([['x', x]]));
    x.dispose();
    r.dispose();
    expect(got.map((a) => [a.name, a.shape.join('x'), a.layout])).toEqual([
      ['x_nchw', '1x2x6x5', 'NCHW'],
      ['c', '1x3x6x5', 'NCHW'],
      ['c_nhwc', '1x6x5x3', 'NHWC'],
      ['y', '1x6x5x3', 'NHWC'],
      // After a Reshape nothing is known: the model's layout, NHWC since its input is.
      ['r', '1x6x5x3', 'NHWC'],
    ]);
  });

  it('initializers in an external data file (with an offset) give the same values as embedded ones', async () => {
    const cnn = cnnModel();
    const { model, data } = withExternalData(cnn.bytes, 'conv_w', 'weights/conv_w.bin');
    const sub = mkdtempSync(join(dir, 'ext-'));
    const f = join(sub, 'model.onnx');
    writeFileSync(f, model);
    // Missing data file first: a FormatError naming the model and the initializer.
    await expect(loadOnnxRunner(f)).rejects.toThrow(/initializer 'conv_w'.*conv_w\.bin/);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(sub, 'weights'));
    writeFileSync(join(sub, 'weights', 'conv_w.bin'), data);
    const ext = await loadOnnxRunner(f);
    const emb = await loadOnnxRunner(save('cnn-emb.onnx', cnn.bytes));
    const x = tf.tensor(seeded(189, 'ext'), cnn.inputShape);
    const a = await collect(ext, new Map([['input', x]]));
    const b = await collect(emb, new Map([['input', x]]));
    x.dispose();
    ext.dispose();
    emb.dispose();
    expect(a.map((v) => bitsOf(v.data as Float32Array))).toEqual(b.map((v) => bitsOf(v.data as Float32Array)));
    // The external file is one the model is read from (the Result's sha256 covers it).
    expect(ext.files()).toEqual([join(sub, 'weights', 'conv_w.bin')]);
    expect(emb.files()).toEqual([]);
  });
});
