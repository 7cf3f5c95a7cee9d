import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import type { ActInfo } from '../../src/compare/align/index.js';
import { align } from '../../src/compare/align/index.js';
import type { PairResult, Result } from '../../src/compare/result.js';
import { compare } from '../../src/index.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder, host } from '../../src/graph/builder.js';
import { writeTfjsGraphModel } from '../../src/formats/tfjs-graph-writer.js';
import { setDeterministicWeights, writeKeras3 } from '../fixtures/keras-writer.js';

/**
 * Alignment on hand ports (issue 23, failures 4, 6 and 7; issue 27, item 8): pairs stay one for
 * one past a divergence, parallel branches pair by their wiring, names that values contradict
 * are not trusted. Fixtures: test/fixtures/handport-failures (torch-exported hand ports of tiny TF
 * graphs, test/fixtures/gen/handport_failures.py), and a Keras model with a tfjs graph export of
 * it whose layer names are shifted by one, as Keras 3 exports them.
 */
const here = dirname(fileURLToPath(import.meta.url));
const fx = (f: string) => join(here, '../fixtures/handport-failures', f);
const P = 'StatefulPartitionedCall/model/';
const short = (n: string) => n.replace(P, '');

function pairOf(r: Result, reference: string): PairResult | undefined {
  return r.pairs.find((p) => short(p.reference) === reference);
}

/** Every pairable reference activation is paired or listed unmatched, and none is both. */
function accountedFor(r: Result, referenceNames: string[]): void {
  const paired = new Set(r.pairs.map((p) => short(p.reference)));
  const unmatched = new Set(r.unmatched.reference.map(short));
  for (const n of referenceNames) expect(paired.has(n) !== unmatched.has(n), n).toBe(true);
}

describe('past a divergence in a chain, pairs stay one for one (failures 4 and 7)', () => {
  for (const [port, root] of [
    ['conv-hw-swap', 'conv2d_1/BiasAdd'],
    ['bn-eps', 'batch_normalization/FusedBatchNormV3'],
  ] as const) {
    it(`${port}: the root cause is ${root}, and every later layer's own error passes`, async () => {
      const r = await compare(fx('chain/model.json'), fx(`chain/${port}.onnx`), { seed: 1 });
      expect(r.verdict).toBe('not-equivalent');
      const rc = r.pairs[r.rootCause!]!;
      expect(short(rc.reference)).toBe(root);
      expect(rc.own?.pass).toBe(false);
      const later = r.pairs.filter((p) => p.index > rc.index && p.own);
      expect(later.length).toBeGreaterThanOrEqual(8);
      for (const p of later) expect(p.own!.pass, `${short(p.reference)} ~ ${p.candidate}`).toBe(true);
      // A layer pairs with the last node of its TF scope: the conv with its BiasAdd (not the
      // Conv2D before the bias), the PReLU frozen into Relu/Minimum/Mul/AddV2 with its AddV2.
      expect(pairOf(r, 'conv2d_2/BiasAdd')?.candidate).toBe('/convs.2/Conv_output_0');
      expect(pairOf(r, 'p_re_lu/add')?.candidate).toBe('/prelu/PRelu_output_0');
      expect(pairOf(r, 'p_re_lu/Relu')).toBeUndefined();
      expect(pairOf(r, 'batch_normalization_2/FusedBatchNormV3')?.candidateType).toBe('BatchNormalization');
    }, 60_000);
  }
});

describe('a TF conv with its Relu fused, a port Conv then Relu (failure 4)', () => {
  const act = (name: string, type: string, data: number[], producedFrom: string[], role?: ActInfo['role']): ActInfo => ({
    name,
    type,
    shape: [1, 2, 2, 2],
    dtype: 'float32',
    index: 0,
    producedFrom,
    data: Float32Array.from(data),
    ...(role ? { role } : {}),
  });
  const v = (k: number) => Array.from({ length: 8 }, (_, i) => Math.sin(i * k + 1));
  const P = 'StatefulPartitionedCall/sequential_1/';
  it('past a divergence the fused conv pairs with the Relu and the frozen batch norm Add with the BatchNormalization, one for one', () => {
    // As liveness exports it: _FusedConv2D (BiasAdd, Relu) named like the activation, the batch
    // norm frozen into Mul and Add; the port (torch): Conv, Relu, BatchNormalization, which
    // reads a running mean torch re-exports through an Identity. Past the first pair every
    // value differs (a divergence); the output is an anchor.
    const refs = [
      act(`${P}batch_normalization_1/FusedBatchNormV3`, 'Add', v(40), ['x']),
      act(`${P}activation_2/Relu`, '_FusedConv2D', v(1), [`${P}batch_normalization_1/FusedBatchNormV3`], 'activation'),
      act(`${P}batch_normalization_2/FusedBatchNormV3/Mul`, 'Mul', v(2), [`${P}activation_2/Relu`]),
      act(`${P}batch_normalization_2/FusedBatchNormV3`, 'Add', v(3), [`${P}batch_normalization_2/FusedBatchNormV3/Mul`]),
      act(`${P}activation_3/Relu`, '_FusedConv2D', v(4), [`${P}batch_normalization_2/FusedBatchNormV3`], 'activation'),
      act(`${P}batch_normalization_3/FusedBatchNormV3/Mul`, 'Mul', v(5), [`${P}activation_3/Relu`]),
      act(`${P}batch_normalization_3/FusedBatchNormV3`, 'Add', v(6), [`${P}batch_normalization_3/FusedBatchNormV3/Mul`]),
      act(`${P}out/Softmax`, 'Softmax', v(30), [`${P}batch_normalization_3/FusedBatchNormV3`]),
    ];
    const cands = [
      act('bns.1.running_mean', 'Identity', v(20), ['bns.0.running_mean']),
      act('/bns.0/BatchNormalization_output_0', 'BatchNormalization', v(40), ['x'], 'affine'),
      act('/convs.1/Conv_output_0', 'Conv', v(11), ['/bns.0/BatchNormalization_output_0', 'convs.1.weight'], 'affine'),
      act('/Relu_1_output_0', 'Relu', v(12), ['/convs.1/Conv_output_0'], 'activation'),
      act('/bns.1/BatchNormalization_output_0', 'BatchNormalization', v(13), ['/Relu_1_output_0', 'bns.1.weight', 'bns.1.running_mean'], 'affine'),
      act('/convs.2/Conv_output_0', 'Conv', v(14), ['/bns.1/BatchNormalization_output_0', 'convs.2.weight'], 'affine'),
      act('/Relu_2_output_0', 'Relu', v(15), ['/convs.2/Conv_output_0'], 'activation'),
      act('/bns.2/BatchNormalization_output_0', 'BatchNormalization', v(16), ['/Relu_2_output_0', 'bns.2.weight'], 'affine'),
      act('out', 'Softmax', v(30), ['/bns.2/BatchNormalization_output_0']),
    ];
    const a = align(refs, cands);
    expect(a.pairs.map((p) => [p.reference.replace(P, ''), p.candidate])).toEqual([
      ['batch_normalization_1/FusedBatchNormV3', '/bns.0/BatchNormalization_output_0'],
      ['activation_2/Relu', '/Relu_1_output_0'],
      ['batch_normalization_2/FusedBatchNormV3', '/bns.1/BatchNormalization_output_0'],
      ['activation_3/Relu', '/Relu_2_output_0'],
      ['batch_normalization_3/FusedBatchNormV3', '/bns.2/BatchNormalization_output_0'],
      ['out/Softmax', 'out'],
    ]);
    expect(a.unmatched.reference.map((n) => n.replace(P, ''))).toEqual(['batch_normalization_2/FusedBatchNormV3/Mul', 'batch_normalization_3/FusedBatchNormV3/Mul']);
  });
});

describe('parallel branches pair by their wiring (failure 6)', () => {
  const heads = ['cls_8/BiasAdd', 'reshape_cls_8/Reshape', 'box_8/BiasAdd', 'reshape_box_8/Reshape', 'cls_16/BiasAdd', 'reshape_cls_16/Reshape', 'box_16/BiasAdd', 'reshape_box_16/Reshape'];

  it('the correct port: every head conv and reshape paired by its values, equivalent with failOn all, the rest listed unmatched', async () => {
    const r = await compare(fx('branches/model.json'), fx('branches/correct.onnx'), { seed: 1, failOn: 'all' });
    expect(r.verdict).toBe('equivalent');
    for (const h of heads) {
      const p = pairOf(r, h);
      expect(p?.strategy, h).toBe('numeric');
      // Each head's conv with that head's Conv, not another head's.
      if (!h.startsWith('reshape')) expect(p!.candidate, h).toBe(`/${h.split('/')[0]}/Conv_output_0`);
    }
    accountedFor(r, [...heads, 'cls_8/Conv2D', 'box_16/Conv2D', 'conv2d_transpose/conv2d_transpose', 'conv2d_transpose/BiasAdd']);
    // The candidate's layout transposes before each reshape pair with nothing: listed.
    expect(r.unmatched.candidate).toEqual(expect.arrayContaining(['/Transpose_1_output_0', '/Transpose_3_output_0']));
  }, 60_000);

  it('a head reshaped on NCHW data: that reshape is the root cause', async () => {
    const r = await compare(fx('branches/model.json'), fx('branches/head-reshape-nchw.onnx'), { seed: 1, failOn: 'all' });
    expect(r.verdict).toBe('not-equivalent');
    const rc = r.pairs[r.rootCause!]!;
    expect(short(rc.reference)).toBe('reshape_box_16/Reshape');
    expect(rc.candidate).toBe('/Reshape_5_output_0');
    // Every other head pairs by values.
    for (const h of heads.filter((x) => x !== 'reshape_box_16/Reshape')) expect(pairOf(r, h)?.strategy, h).toBe('numeric');
  }, 60_000);

  it('a transposed conv shifted by a pixel: it is the root cause, and the heads past it pair head with head (own errors pass)', async () => {
    const r = await compare(fx('branches/model.json'), fx('branches/convtranspose-shift.onnx'), { seed: 1, failOn: 'all' });
    const rc = r.pairs[r.rootCause!]!;
    expect(short(rc.reference)).toBe('conv2d_transpose/BiasAdd');
    expect(rc.own?.pass).toBe(false);
    const later = r.pairs.filter((p) => p.index > rc.index && p.own);
    expect(later.length).toBeGreaterThanOrEqual(4);
    for (const p of later) expect(p.own!.pass, `${short(p.reference)} ~ ${p.candidate}`).toBe(true);
    // The heads of the 8x8 map read no transposed conv: they pair by values.
    for (const h of heads.slice(0, 4)) expect(pairOf(r, h)?.strategy, h).toBe('numeric');
    expect(pairOf(r, 'box_16/BiasAdd')?.candidate).toBe('/box_16/Conv_output_0');
    expect(pairOf(r, 'cls_16/BiasAdd')?.candidate).toBe('/cls_16/Conv_output_0');
  }, 60_000);
});

/**
 * Keras 3 exports a Sequential's `dense`, `dense_1`, `dense_2` to a tfjs graph as scopes
 * `dense_1`, `dense_1_2`, `dense_2_1` (each with a fused MatMul): the Keras `dense_1` is named
 * like the graph's `dense_1/Relu`, which is the Keras `dense`.
 */
async function shiftedNamesPair(dir: string): Promise<{ graph: string; keras: string }> {
  const model = tfl.sequential({
    name: 'sequential',
    layers: [
      tfl.layers.flatten({ name: 'flatten', inputShape: [4, 3] }),
      tfl.layers.dense({ name: 'dense', units: 8, activation: 'relu' }),
      tfl.layers.dense({ name: 'dense_1', units: 8, activation: 'relu' }),
      tfl.layers.dense({ name: 'dense_2', units: 5, activation: 'softmax' }),
    ],
  });
  setDeterministicWeights(model, 3);
  const keras = await writeKeras3(model, join(dir, 'mlp.keras'));
  const S = 'StatefulPartitionedCall/sequential_1/';
  const g = new GraphBuilder();
  g.placeholder('input_layer', 'float32', [-1, 4, 3]);
  g.const(`${S}flatten_1/Reshape/shape`, host('int32', [2], [-1, 12]));
  let x = g.op('Reshape', `${S}flatten_1/Reshape`, ['input_layer', `${S}flatten_1/Reshape/shape`], { T: A.dtype('float32'), Tshape: A.dtype('int32') });
  const scopes = ['dense_1', 'dense_1_2', 'dense_2_1'];
  model.layers.slice(1).forEach((layer, k) => {
    const [kernel, bias] = layer.getWeights();
    const sc = `${S}${scopes[k]}/`;
    g.const(`${sc}Cast/ReadVariableOp`, host('float32', kernel!.shape, kernel!.dataSync() as Float32Array));
    g.const(`${sc}BiasAdd/ReadVariableOp`, host('float32', bias!.shape, bias!.dataSync() as Float32Array));
    const last = k < 2;
    x = g.op('_FusedMatMul', `${sc}${last ? 'Relu' : 'BiasAdd'}`, [x, `${sc}Cast/ReadVariableOp`, `${sc}BiasAdd/ReadVariableOp`], {
      T: A.dtype('float32'),
      transpose_a: A.bool(false),
      transpose_b: A.bool(false),
      num_args: A.int(1),
      epsilon: A.float(0),
      fused_ops: A.list({ strings: last ? ['BiasAdd', 'Relu'] : ['BiasAdd'] }),
    });
  });
  x = g.op('Softmax', `${S}dense_2_1/Softmax`, [x], { T: A.dtype('float32') });
  x = g.op('Identity', 'Identity', [x], { T: A.dtype('float32') });
  const graph = writeTfjsGraphModel(g.build([x], 'mlp'), join(dir, 'tfjs'));
  return { graph, keras };
}

describe('names that the values contradict are not trusted (issue 27, item 8)', () => {
  it('a Keras model against its tfjs export with names shifted by one: equivalent, no first divergence, every layer paired with itself, and the Result says the names were not trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parity-shifted-'));
    const { graph, keras } = await shiftedNamesPair(dir);
    const r = await compare(graph, keras, { seed: 1 });
    expect(r.verdict).toBe('equivalent');
    expect(r.firstDivergence).toBeUndefined();
    expect(r.pairs.every((p) => p.pass)).toBe(true);
    const S = 'StatefulPartitionedCall/sequential_1/';
    expect(r.pairs.find((p) => p.candidate === 'dense')?.reference).toBe(`${S}dense_1/Relu`);
    expect(r.pairs.find((p) => p.candidate === 'dense_1')?.reference).toBe(`${S}dense_1_2/Relu`);
    expect(r.run.warnings?.some((w) => /names not trusted/.test(w) && w.includes("'dense_1'"))).toBe(true);
  }, 60_000);

  it('names the values agree with are trusted: no warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parity-trusted-'));
    const model = tfl.sequential({ name: 'sequential', layers: [tfl.layers.dense({ name: 'dense', units: 6, activation: 'relu', inputShape: [5] }), tfl.layers.dense({ name: 'out', units: 3 })] });
    setDeterministicWeights(model, 5);
    const good = await writeKeras3(model, join(dir, 'good.keras'));
    const r = await compare(good, good, { seed: 1 });
    expect(r.verdict).toBe('equivalent');
    expect(r.run.warnings ?? []).toEqual([]);
  }, 60_000);

  const real = '/work/shared/models/keras-real';
  for (const [name, graph, keras] of [
    ['k3_mlp_l2_tfjs', 'tfjs_model_mlp/model.json', 'Digit_Recognition_MLP.keras'],
    ['k3_mnist_cnn_tfjs', 'tfjs_model/model.json', 'Subhadip_Hensh_MNIST_CNN.keras'],
  ] as const) {
    describe.skipIf(!existsSync(join(real, name)))(`real: ${name}`, () => {
      it('its tfjs export against the .keras: equivalent, with no false first divergence', async () => {
        const r = await compare(join(real, name, graph), join(real, name, keras), { seed: 1 });
        expect(r.verdict).toBe('equivalent');
        expect(r.firstDivergence).toBeUndefined();
        expect(r.pairs.every((p) => p.pass)).toBe(true);
      }, 120_000);
    });
  }
});
