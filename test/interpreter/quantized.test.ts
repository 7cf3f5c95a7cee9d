import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/core/tensor.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { loadGraph } from '../../src/formats/index.js';
import { A, GraphBuilder, host, runHost } from '../fixtures/graph.js';

/**
 * TF1's eight-bit quantized ops against a numpy transcription of TF's kernels
 * (test/fixtures/gen/quantized_ops.py): every integer equal, every float bit-equal.
 */

const G = JSON.parse(readFileSync(new URL('../fixtures/goldens/quantized_ops.json', import.meta.url), 'utf8')) as Record<string, number[]>;
const quint8 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'quint8', shape, data: Uint8Array.from(v) });
const f = (v: number) => host('float32', [], [v]);
const q8 = A.dtype('quint8');

/** quantize_graph's shape of a quantized convolution, from a float input to a float output. */
function quantizedConvGraph() {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', G.x_shape!);
  g.op('QuantizeV2', 'xq', ['x', g.const('x_min', f(G.x_range![0]!)), g.const('x_max', f(G.x_range![1]!))], { T: q8, mode: A.str('MIN_FIRST') });
  g.const('w', quint8(G.w_shape!, G.w!));
  g.const('w_min', f(G.w_range![0]!));
  g.const('w_max', f(G.w_range![1]!));
  g.op('QuantizedConv2D', 'conv', ['xq', 'w', 'xq:1', 'xq:2', 'w_min', 'w_max'], {
    Tinput: q8, Tfilter: q8, out_type: A.dtype('qint32'), strides: A.ints([1, 2, 2, 1]), padding: A.str('SAME'),
  });
  g.op('RequantizationRange', 'rr', ['conv', 'conv:1', 'conv:2'], { Tinput: A.dtype('qint32') });
  g.op('Requantize', 'rq', ['conv', 'conv:1', 'conv:2', 'rr', 'rr:1'], { Tinput: A.dtype('qint32'), out_type: q8 });
  g.op('QuantizedRelu', 'relu', ['rq', 'rq:1', 'rq:2'], { Tinput: q8, out_type: q8 });
  g.op('Dequantize', 'out', ['relu', 'relu:1', 'relu:2'], { T: q8, mode: A.str('MIN_FIRST') });
  g.op('Dequantize', 'wf', ['w', 'w_min', 'w_max'], { T: q8, mode: A.str('MIN_COMBINED') });
  return g.build(['out', 'wf']);
}

const values = (h: HostTensor) => Array.from(h.data as ArrayLike<number>);

describe('TF1 quantized ops', () => {
  it("QuantizeV2, QuantizedConv2D, RequantizationRange, Requantize, QuantizedRelu and Dequantize give TF's integers and floats", async () => {
    const graph = readGraphDef(encodeGraphDef(quantizedConvGraph()), 'quant.pb');
    const { res } = await runHost(graph, { x: host('float32', G.x_shape!, G.x!) });
    expect(res.get('xq')!.dtype).toBe('quint8');
    expect(values(res.get('xq')!)).toEqual(G.xq);
    expect(res.get('conv')!.dtype).toBe('qint32');
    expect(res.get('conv')!.shape).toEqual(G.acc_shape);
    expect(values(res.get('conv')!)).toEqual(G.acc);
    expect([values(res.get('conv:1')!)[0], values(res.get('conv:2')!)[0]]).toEqual(G.acc_range);
    expect([values(res.get('rr')!)[0], values(res.get('rr:1')!)[0]]).toEqual(G.requant_range);
    expect(res.get('rq')!.dtype).toBe('quint8');
    expect(values(res.get('rq')!)).toEqual(G.requantized);
    expect(values(res.get('relu')!)).toEqual(G.relu);
    expect(res.get('out')!.dtype).toBe('float32');
    expect(values(res.get('out')!)).toEqual(G.dequantized);
    expect(values(res.get('wf')!)).toEqual(G.dequantized_filter_min_combined);
  });

  it('Requantize refuses a requested range without 0, naming the node', async () => {
    const g = new GraphBuilder();
    g.const('acc', { dtype: 'qint32', shape: [1], data: Int32Array.from([5]) });
    g.op('Requantize', 'rq', ['acc', g.const('a', f(-1)), g.const('b', f(1)), g.const('c', f(0.5)), g.const('d', f(2))], { Tinput: A.dtype('qint32'), out_type: q8 });
    await expect(runHost(g.build(['rq']))).rejects.toThrow(/node 'rq' \(Requantize\): requested_output_min must be <= 0, but got 0.5/);
  });
});

const QUANT = '/work/shared/models/tf-real/public/utensor-quant-conv';

describe.skipIf(!existsSync(QUANT))('utensor test_quant_conv.pb (real TF1 quantized graph)', () => {
  it('runs, and its output is within one output quantization level of the float output TF gave (output_conv.idx)', async () => {
    const graph = await loadGraph(`${QUANT}/test_quant_conv.pb`);
    const { res } = await runHost(graph, {}, ['out_conv']);
    // idx: magic (2 zero bytes, type 0x0d = float32, rank), big-endian dims, big-endian values.
    const b = readFileSync(`${QUANT}/output_conv.idx`);
    const rank = b[3]!;
    const dims = Array.from({ length: rank }, (_, i) => b.readUInt32BE(4 + 4 * i));
    const want = Array.from({ length: dims.reduce((a, c) => a * c, 1) }, (_, i) => b.readFloatBE(4 + 4 * rank + 4 * i));
    const out = res.get('out_conv')!;
    expect(out.shape).toEqual(dims);
    const [, hi] = [values(res.get('out_conv_eightbit_requant_range')!)[0]!, values(res.get('out_conv_eightbit_requant_range:1')!)[0]!];
    const level = hi / 255;
    const got = values(out);
    // The file holds the float convolution's output: the quantized graph is within one level of it.
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(level);
    expect(res.get('out_conv_eightbit_requantize')!.dtype).toBe('quint8');
  });
});
