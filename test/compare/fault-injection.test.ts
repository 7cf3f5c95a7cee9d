import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CNN_INPUT_SHAPE, FAULT_LAYER, cnnGraph, type CnnFault } from '../../cases/gen/cnn.js';
import { renamedTfjsCopy } from '../../cases/gen/renamed.js';
import type { PairResult, Result } from '../../src/compare/result.js';
import { ActivationStore } from '../../src/compare/store.js';
import { compare } from '../../src/index.js';
import { consoleReport } from '../../src/report/console.js';
import { jsonReport } from '../../src/report/index.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { writeTfjsGraphModel } from '../../src/formats/tfjs-graph-writer.js';
import type { Graph } from '../../src/graph/ir.js';
import { parseInputRef } from '../../src/graph/ir.js';

/**
 * Fault injection: the original CNN as a frozen .pb; candidates are the same model with exactly
 * one layer perturbed. The tool must name that layer as the root cause, and pass the unperturbed one.
 */
const dir = mkdtempSync(join(tmpdir(), 'parity-faults-'));
const original = join(dir, 'cnn.pb');
writeFileSync(original, encodeGraphDef(cnnGraph()));
const FAULTS = Object.keys(FAULT_LAYER) as Exclude<CnnFault, 'none'>[];

/** The same graph with every node renamed n0, n1, …: names share nothing with the original. */
function renamed(g: Graph): Graph {
  const map = new Map(g.nodes.map((n, i) => [n.name, n.op === 'Placeholder' ? n.name : `n${i}`]));
  const ref = (r: string) => {
    const p = parseInputRef(r);
    const nn = map.get(p.node)!;
    return p.control ? `^${nn}` : p.index ? `${nn}:${p.index}` : nn;
  };
  return { ...g, nodes: g.nodes.map((n) => ({ ...n, name: map.get(n.name)!, inputs: n.inputs.map(ref) })), outputs: g.outputs.map(ref) };
}

function scopeOf(name: string): string {
  return name.split('/')[0]!;
}

/**
 * A not-equivalent Result's root cause, whose own error fails, with more than `minLater` later
 * layers re-run on the reference's inputs, each of which passes: past the fault the layers pair
 * one for one (a layer one off would not pass).
 */
function rootCauseAndLaterOwnPass(r: Result, minLater: number, label = (n: string) => n): PairResult {
  expect(r.verdict).toBe('not-equivalent');
  const rc = r.pairs[r.rootCause!]!;
  expect(rc.own?.pass).toBe(false);
  const later = r.pairs.filter((p) => p.index > rc.index && p.own);
  expect(later.length).toBeGreaterThan(minLater);
  for (const p of later) expect(p.own!.pass, `${label(p.reference)} ~ ${p.candidate}`).toBe(true);
  return rc;
}

describe('fault injection: tfjs graph candidates', () => {
  for (const names of ['same names', 'renamed'] as const) {
    it(`${names}: the unperturbed conversion is equivalent`, async () => {
      const g = cnnGraph(undefined, 'none');
      const cand = writeTfjsGraphModel(names === 'renamed' ? renamed(g) : g, join(dir, `good-${names.replace(' ', '-')}`));
      const r = await compare(original, cand, { seed: 3 });
      expect(r.verdict).toBe('equivalent');
      expect(r.firstDivergence).toBeUndefined();
      expect(r.pairs.length).toBeGreaterThanOrEqual(8);
      if (names === 'renamed') expect(r.pairs.every((p) => p.strategy === 'numeric' || p.strategy === 'shape' || p.strategy === 'output')).toBe(true);
    });
    for (const fault of FAULTS) {
      it(`${names}: ${fault} is found in layer ${FAULT_LAYER[fault]}`, async () => {
        const g = cnnGraph(undefined, fault);
        const cand = writeTfjsGraphModel(names === 'renamed' ? renamed(g) : g, join(dir, `${fault}-${names.replace(' ', '-')}`));
        const r = await compare(original, cand, { seed: 3, inputs: ['x=normal(0,1)'] });
        expect(r.verdict).toBe('not-equivalent');
        expect(r.rootCause).toBeDefined();
        const rc = r.pairs[r.rootCause!]!;
        expect(scopeOf(rc.reference)).toBe(FAULT_LAYER[fault]);
        expect(rc.own?.pass).toBe(false);
        // Layers after the fault fail only by inheritance: their own error passes.
        const later = r.pairs.filter((p) => p.index > rc.index && !p.pass && p.own);
        for (const p of later) if (scopeOf(p.reference) !== FAULT_LAYER[fault]) expect(p.own!.pass).toBe(true);
      });
    }
  }
  void CNN_INPUT_SHAPE;
});

describe('fault injection: ONNX candidates (NCHW, names share nothing)', async () => {
  const { cnnOnnx } = await import('../../cases/gen/onnx-cnn.js');
  it('the unperturbed conversion is equivalent, every intermediate paired numerically with a transpose', async () => {
    const f = join(dir, 'good.onnx');
    writeFileSync(f, cnnOnnx());
    const r = await compare(original, f, { seed: 5 });
    expect(r.verdict).toBe('equivalent');
    expect(r.inputs[0]!.candidatePerm).toEqual([0, 3, 1, 2]);
    const conv = r.pairs.find((p) => p.candidate === 't1');
    expect(conv).toMatchObject({ reference: 'conv1/BiasAdd', strategy: 'numeric', transform: { perm: [0, 2, 3, 1] } });
    expect(r.pairs.length).toBeGreaterThanOrEqual(8);
  });
  for (const fault of FAULTS) {
    it(`${fault} is found in layer ${FAULT_LAYER[fault]}`, async () => {
      const f = join(dir, `${fault}.onnx`);
      writeFileSync(f, cnnOnnx(undefined, fault));
      const r = await compare(original, f, { seed: 5, inputs: ['x=normal(0,1)'] });
      expect(r.verdict).toBe('not-equivalent');
      const rc = r.pairs[r.rootCause!]!;
      expect(scopeOf(rc.reference)).toBe(FAULT_LAYER[fault]);
      expect(rc.own?.pass).toBe(false);
      // Nothing the reference computes is missing from the candidate.
      expect(rc.unpairedBefore).toBeUndefined();
    });
  }

  // The conversion left conv1's ReLU out: its conv pairs with conv1/BiasAdd by value, and the
  // batch norm after it, fed the reference's pre-ReLU values, is the first layer whose own error
  // fails. The Result says what the reference computes in between that nothing pairs with.
  it('a ReLU left out: the layer after it is the root cause, and the Result names the ReLU the candidate lacks', async () => {
    const { onnxRoot } = await import('../../src/proto/index.js');
    const T = onnxRoot().lookupType('onnx.ModelProto');
    const m = T.decode(cnnOnnx()) as unknown as { graph: { node: { opType?: string; op_type?: string; input: string[]; output: string[] }[] } };
    const at = m.graph.node.findIndex((n) => (n.opType ?? n.op_type) === 'Relu');
    const [relu] = m.graph.node.splice(at, 1);
    for (const n of m.graph.node) n.input = n.input.map((x) => (x === relu!.output[0] ? relu!.input[0]! : x));
    const f = join(dir, 'no-relu.onnx');
    writeFileSync(f, T.encode(m as never).finish());
    const r = await compare(original, f, { seed: 5, inputs: ['x=normal(0,1)'] });
    expect(r.verdict).toBe('not-equivalent');
    const rc = r.pairs[r.rootCause!]!;
    expect(rc.reference).toBe('bn1/FusedBatchNormV3');
    expect(rc.unpairedBefore).toEqual(['conv1/Relu']);
    expect(r.pairs.find((p) => p.reference === 'conv1/BiasAdd')).toMatchObject({ candidate: 't1', strategy: 'numeric', pass: true });
    // Past it the layers pair one for one (the port's layout Transpose, data movement, pairs with
    // no computing layer by shape alone), so each later own error passes.
    expect(r.pairs.find((p) => p.reference === 'dw1/Relu6')?.candidateType).toBe('Clip');
    for (const p of r.pairs.filter((q) => q.index > rc.index && q.own)) expect(p.own!.pass, p.reference).toBe(true);
    expect(consoleReport(r, { color: false })).toContain(
      'between its inputs and it the reference computes conv1/Relu (Relu), which no candidate layer pairs with: if the conversion lacks it, that is the fault',
    );
    // The Markdown report and the HTML page say it too.
    const { markdownReport } = await import('../../src/report/markdown.js');
    expect(markdownReport(r)).toContain('which no candidate layer pairs with');
    const { htmlReport } = await import('../../src/report/html.js');
    // The page shows the console's own text (console.ts betweenLines), embedded in its data.
    expect(htmlReport(r)).toContain('between its inputs and it the reference computes conv1/Relu (Relu), which no candidate layer pairs with: if the conversion lacks it, that is the fault');
    const { Ajv } = await import('ajv');
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../schema/result.schema.json'), 'utf8')));
    expect(validate(JSON.parse(jsonReport(r))), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe('ONNX written by PyTorch: a hand port of the CNN exported by torch.onnx (test/fixtures/gen/torch_cnn.py)', () => {
  const torchDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch-cnn');
  /** What the tool paired (reference -> candidate) and how each pair ended, for the checks below. */
  const byRef = (r: Awaited<ReturnType<typeof compare>>) => new Map(r.pairs.map((p) => [p.reference, p]));

  it('the correct port is equivalent: NCHW activations paired numerically through a transpose, the NCHW input fed transposed', async () => {
    const r = await compare(original, join(torchDir, 'cnn.onnx'), { seed: 5, inputs: ['x=normal(0,1)'] });
    expect(r.verdict).toBe('equivalent');
    expect(r.inputs[0]!.candidatePerm).toEqual([0, 3, 1, 2]);
    const p = byRef(r);
    // The exporter's names (/conv1/Conv, Clip for ReLU6, Gemm for Linear) share nothing usable with the TF scopes.
    expect(p.get('conv1/BiasAdd')).toMatchObject({ candidate: '/conv1/Conv_output_0', strategy: 'numeric', transform: { perm: [0, 2, 3, 1] } });
    expect(p.get('bn1/FusedBatchNormV3')).toMatchObject({ candidate: '/bn1/BatchNormalization_output_0', transform: { perm: [0, 2, 3, 1] } });
    expect(p.get('dw1/Relu6')).toMatchObject({ candidate: '/Clip_output_0', transform: { perm: [0, 2, 3, 1] } });
    // The permute back to NHWC before the flatten: the flattened vectors are in the same order.
    expect(p.get('flatten/Reshape')?.candidate).toBe('/Flatten_output_0');
    expect(p.get('fc1/BiasAdd')?.candidate).toBe('/fc1/Gemm_output_0');
    expect(p.get('probs/Softmax')?.candidate).toBe('probs');
    expect(r.pairs.every((q) => q.pass)).toBe(true);
  });

  it('the port that flattens NCHW (no permute before the flatten): the flatten is the root cause, everything before it passes', async () => {
    const r = await compare(original, join(torchDir, 'cnn-flatten-bug.onnx'), { seed: 5, inputs: ['x=normal(0,1)'] });
    expect(r.verdict).toBe('not-equivalent');
    const rc = r.pairs[r.rootCause!]!;
    expect([rc.reference, rc.candidate]).toEqual(['flatten/Reshape', '/Flatten_output_0']);
    expect(r.firstDivergence).toBe(rc.index);
    expect(rc.own?.pass).toBe(false);
    // The same values in another order: a wrong order, not a wrong scale.
    expect(rc.referenceStats.mean).toBeCloseTo(rc.candidateStats.mean, 5);
    for (const q of r.pairs.filter((x) => x.index < rc.index)) expect(q.pass, q.reference).toBe(true);
    // fc1 and the softmax fail only by inheritance.
    for (const name of ['fc1/BiasAdd', 'probs/Softmax']) {
      const q = byRef(r).get(name)!;
      expect(q.pass).toBe(false);
      expect(q.own?.pass, name).toBe(true);
    }
  });

  it("the port with BatchNorm2d's default epsilon (1e-5 for Keras's 1e-3): bn1 is the root cause", async () => {
    const r = await compare(original, join(torchDir, 'cnn-bn-eps.onnx'), { seed: 5, inputs: ['x=normal(0,1)'] });
    expect(r.verdict).toBe('not-equivalent');
    const rc = r.pairs[r.rootCause!]!;
    expect([rc.reference, rc.candidate]).toEqual(['bn1/FusedBatchNormV3', '/bn1/BatchNormalization_output_0']);
    expect(rc.own?.pass).toBe(false);
    expect(byRef(r).get('conv1/Relu')?.pass).toBe(true);
    for (const q of r.pairs.filter((x) => x.index > rc.index && x.own)) expect(q.own!.pass, q.reference).toBe(true);
  });
});

describe('a real model ported to NCHW ONNX (blazeface, cases/gen/onnx-port.ts; onnxruntime, values equal to rounding)', async () => {
  const { onnxPortOfGraph } = await import('../../cases/gen/onnx-port.js');
  const { readTfjsGraphModel } = await import('../../src/formats/tfjs-graph.js');
  const blaze = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models', 'blazeface.json');
  const graph = await readTfjsGraphModel(blaze);
  const short = (n: string) => n.replace('StatefulPartitionedCall/functional_1/', '');

  it('the correct port is equivalent, every layer paired by its values through the transpose', async () => {
    const f = join(dir, 'blazeface-port.onnx');
    writeFileSync(f, onnxPortOfGraph(graph));
    const r = await compare(blaze, f, { seed: 1 });
    expect(r.verdict).toBe('equivalent');
    expect(r.unmatched.reference).toEqual([]);
    // Every float activation of the original but its input: 32 depthwise, 37 convolutions, 31 adds, 31 relus, 2 pads, 3 pools, 4 reshapes, 4 outputs.
    expect(r.pairs.length).toBe(144);
    expect(r.pairs.filter((p) => p.strategy === 'numeric' || p.isOutput).length).toBe(144);
    expect(r.pairs.find((p) => short(p.reference) === 'conv2d/Relu')).toMatchObject({ candidateType: 'Relu', transform: { perm: [0, 2, 3, 1] } });
    // Not bitwise: onnxruntime's kernels round differently from tfjs's.
    expect(r.pairs.some((p) => p.metrics.max_abs > 0)).toBe(true);
  }, 60_000);

  it('NCHW activations copied into the metrics thread transposed measure what tfjs transposed measures on this thread', async () => {
    const f = join(dir, 'blazeface-port.onnx');
    writeFileSync(f, onnxPortOfGraph(graph));
    const { MetricsPool } = await import('../../src/compare/simd/pool.js');
    const pool = MetricsPool.get();
    for (let i = 0; i < 400 && !pool?.available(); i++) await new Promise((res) => setTimeout(res, 5));
    expect(pool?.available()).toBe(true);
    const before = pool!.transposed;
    const threaded = await compare(blaze, f, { seed: 2 });
    expect(pool!.transposed - before).toBeGreaterThan(50);
    await MetricsPool.shutdown();
    process.env.PARITY_METRICS_THREAD = '0';
    try {
      const here = await compare(blaze, f, { seed: 2 });
      expect(MetricsPool.get()).toBeNull();
      // Only the order of the kernel's sums may differ between the two.
      expect(threaded.pairs.length).toBe(here.pairs.length);
      for (const [i, p] of threaded.pairs.entries()) {
        const q = here.pairs[i]!;
        expect([p.reference, p.candidate]).toEqual([q.reference, q.candidate]);
        expect(p.metrics.max_abs, p.reference).toBe(q.metrics.max_abs);
        expect(p.metrics.max_rel, p.reference).toBe(q.metrics.max_rel);
        expect(p.metrics.mean_abs, p.reference).toBeCloseTo(q.metrics.mean_abs, 12);
        expect(p.metrics.cosine, p.reference).toBeCloseTo(q.metrics.cosine, 12);
      }
    } finally {
      delete process.env.PARITY_METRICS_THREAD;
      await MetricsPool.shutdown();
    }
  }, 60_000);

  it('a strided convolution padded the PyTorch way (symmetric) is the root cause; past it the layers pair one for one and their own error passes', async () => {
    const f = join(dir, 'blazeface-pads.onnx');
    writeFileSync(f, onnxPortOfGraph(graph, 'symmetric-pads'));
    const r = await compare(blaze, f, { seed: 1 });
    // Every value past it differs: pairs are by shape and wiring, and each is the same layer,
    // so re-run on the reference's inputs, each passes (a layer one off would not).
    const rc = rootCauseAndLaterOwnPass(r, 40, short);
    expect(short(rc.reference)).toBe('conv2d/Relu');
    expect(rc.candidateType).toBe('Relu');
    const opOf = (t: string) => ({ DepthwiseConv2dNative: 'Conv', _FusedConv2D: 'Conv', AddV2: 'Add', Relu: 'Relu', MaxPool: 'MaxPool', Pad: 'Pad', Reshape: 'Reshape', Identity: 'Identity' })[t];
    for (const p of r.pairs.filter((q) => q.index > rc.index && q.referenceOp !== '_FusedConv2D')) expect(p.candidateType, short(p.reference)).toBe(opOf(p.referenceOp));
  }, 120_000);
});

describe('more real models ported to NCHW ONNX (cases/gen/onnx-port.ts)', async () => {
  const { onnxPortOfGraph } = await import('../../cases/gen/onnx-port.js');
  const { readTfjsGraphModel } = await import('../../src/formats/tfjs-graph.js');
  const models = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
  const short = (n: string) => n.replace('StatefulPartitionedCall/model/', '');

  for (const [name, pairs] of [['emotion', 21], ['iris', 142]] as const) {
    it(`${name}: the correct port is equivalent, every layer paired by its values`, async () => {
      const f = join(dir, `${name}-port.onnx`);
      writeFileSync(f, onnxPortOfGraph(await readTfjsGraphModel(join(models, `${name}.json`))));
      const r = await compare(join(models, `${name}.json`), f, { seed: 1 });
      expect(r.verdict).toBe('equivalent');
      expect(r.unmatched.reference).toEqual([]);
      expect(r.pairs.length).toBe(pairs);
      expect(r.pairs.every((p) => p.strategy === 'numeric')).toBe(true);
    }, 60_000);
  }

  // iris: convolutions with a fused PReLU (one TF node; a Conv and a PRelu in the port), and
  // activations of 32 channels at 32x32 (NHWC and NCHW have the same shape).
  it('iris with its first convolution padded the PyTorch way: that is the root cause, and every later layer re-run on the reference inputs passes', async () => {
    const f = join(dir, 'iris-pads.onnx');
    writeFileSync(f, onnxPortOfGraph(await readTfjsGraphModel(join(models, 'iris.json')), 'symmetric-pads'));
    const r = await compare(join(models, 'iris.json'), f, { seed: 1 });
    // Past it nothing matches by value: a conv with a fused PReLU pairs with the PRelu after
    // the Conv (their roles), a square NCHW activation is read transposed (its layout), so
    // each pair is the same layer and its own error passes.
    const rc = rootCauseAndLaterOwnPass(r, 40, short);
    expect(short(rc.reference)).toBe('batch_normalization/FusedBatchNormV3');
    expect(rc.candidateType).toBe('PRelu');
    const bn1 = r.pairs.find((p) => short(p.reference) === 'batch_normalization_1/FusedBatchNormV3')!;
    expect(bn1).toMatchObject({ candidateType: 'PRelu', referenceShape: [1, 32, 32, 32], transform: { perm: [0, 2, 3, 1] } });
    expect(r.pairs.find((p) => short(p.reference) === 'depthwise_conv2d/depthwise')?.candidateType).toBe('Conv');
  }, 120_000);

  // One fault in the middle layer it fits, deep in the network: before it every pair is
  // numeric, past it by shape, wiring and role.
  for (const name of ['iris', 'blazeface'] as const) {
    for (const fault of ['kernel-hw', 'weight', 'no-activation'] as const) {
      it(`${name} with ${fault} in its middle layer: that layer is the root cause, and every later layer's own error passes`, async () => {
        let site: string | undefined;
        const f = join(dir, `${name}-${fault}.onnx`);
        writeFileSync(f, onnxPortOfGraph(await readTfjsGraphModel(join(models, `${name}.json`)), fault, { onFault: (n) => (site = n) }));
        const r = await compare(join(models, `${name}.json`), f, { seed: 1 });
        const rc = rootCauseAndLaterOwnPass(r, 4);
        expect(rc.index).toBe(r.firstDivergence);
        // The node the fault went into.
        expect(rc.reference).toBe(site);
        expect(r.pairs.filter((p) => p.index < rc.index).every((p) => p.strategy === 'numeric')).toBe(true);
      }, 120_000);
    }
  }
});

describe('fault injection: a hand-written Keras model whose layer names share nothing with the TF scopes', async () => {
  const { kerasCnn } = await import('../../cases/gen/keras-cnn.js');
  const rename = (n: string) => `layer_${[...n].reverse().join('')}`;
  it('the unperturbed conversion is equivalent, every layer paired by its values', async () => {
    const f = join(dir, 'renamed-good.keras');
    writeFileSync(f, await kerasCnn(undefined, 'none', rename));
    const r = await compare(original, f, { seed: 4 });
    expect(r.verdict).toBe('equivalent');
    expect(r.pairs.map((p) => [p.reference, p.candidate, p.strategy])).toEqual(
      [['conv1/Relu', 'conv1'], ['bn1/FusedBatchNormV3', 'bn1'], ['pool1/MaxPool', 'pool1'], ['dw1/Relu6', 'dw1'], ['flatten/Reshape', 'flatten'], ['fc1/BiasAdd', 'fc1'], ['probs/Softmax', 'probs']].map(
        ([a, b]) => [a, rename(b!), 'numeric'],
      ),
    );
  });
  for (const fault of FAULTS) {
    it(`${fault} is found in the layer that was ${FAULT_LAYER[fault]}`, async () => {
      const f = join(dir, `renamed-${fault}.keras`);
      writeFileSync(f, await kerasCnn(undefined, fault, rename));
      const r = await compare(original, f, { seed: 4, inputs: ['x=normal(0,1)'] });
      expect(r.verdict).toBe('not-equivalent');
      const rc = r.pairs[r.rootCause!]!;
      if (fault === 'dw1-activation') {
        // The layer that was dw1 computes the reference's pre-activation values and pairs with
        // them by value; the root cause is the layer after it, said to be fed without the
        // reference's dw1/Relu6, which the conversion lacks (before, its flatten paired by value
        // with dw1/BiasAdd, the dense layer after it failing its own error too).
        expect(r.pairs.find((p) => p.candidate === rename('dw1'))).toMatchObject({ reference: 'dw1/BiasAdd', strategy: 'numeric' });
        expect(rc.candidate).toBe(rename('flatten'));
        expect(rc.unpairedBefore).toEqual(['dw1/Relu6']);
      } else expect(rc.candidate).toBe(rename(FAULT_LAYER[fault]));
      expect(rc.own?.pass).toBe(false);
      // Past it the layers pair one for one (a pooling with a pooling, by role), so each later
      // layer re-run on the reference's inputs passes.
      for (const p of r.pairs.filter((q) => q.index > rc.index && q.own)) expect(p.own!.pass, p.candidate).toBe(true);
    });
  }
});

describe('fault injection: Keras .keras candidates (names follow the TF scopes)', async () => {
  const { kerasCnn } = await import('../../cases/gen/keras-cnn.js');
  it('the unperturbed conversion is equivalent, layers paired by name', async () => {
    const f = join(dir, 'good.keras');
    writeFileSync(f, await kerasCnn());
    const r = await compare(original, f, { seed: 4 });
    expect(r.verdict).toBe('equivalent');
    expect(r.pairs.map((p) => [p.reference, p.candidate])).toEqual([
      ['conv1/Relu', 'conv1'], ['bn1/FusedBatchNormV3', 'bn1'], ['pool1/MaxPool', 'pool1'], ['dw1/Relu6', 'dw1'],
      ['flatten/Reshape', 'flatten'], ['fc1/BiasAdd', 'fc1'], ['probs/Softmax', 'probs'],
    ]);
  });
  for (const fault of FAULTS) {
    it(`${fault} is found in layer ${FAULT_LAYER[fault]}`, async () => {
      const f = join(dir, `${fault}.keras`);
      writeFileSync(f, await kerasCnn(undefined, fault));
      const r = await compare(original, f, { seed: 4, inputs: ['x=normal(0,1)'] });
      expect(r.verdict).toBe('not-equivalent');
      const rc = r.pairs[r.rootCause!]!;
      expect(rc.candidate).toBe(FAULT_LAYER[fault]);
      expect(rc.own?.pass).toBe(false);
      for (const p of r.pairs.filter((q) => q.index > rc.index && q.own)) expect(p.own!.pass).toBe(true);
    });
  }
});

describe('low memory: pairs guessed while both run, and past PARITY_HOLD_BYTES only samples held', async () => {
  const { cnnOnnx } = await import('../../cases/gen/onnx-cnn.js');
  const withEnv = async <T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> => {
    const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    const set = (v: Record<string, string | undefined>) => {
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) delete process.env[k];
        else process.env[k] = x;
      }
    };
    set(vars);
    try {
      return await fn();
    } finally {
      set(before);
    }
  };
  const facts = (r: Awaited<ReturnType<typeof compare>>) => ({
    verdict: r.verdict,
    firstDivergence: r.firstDivergence,
    rootCause: r.rootCause,
    alignment: r.alignment,
    pairs: r.pairs.map((p) => ({ ...p })),
  });
  // Renamed tfjs graphs (identity pairs) and NCHW ONNX (every pair through a permutation), with
  // and without a fault; 0 holds nothing, 3000 bytes holds the first few activations only.
  const cases: [string, () => string][] = [
    ['renamed tfjs graph', () => writeTfjsGraphModel(renamed(cnnGraph(undefined, 'none')), join(dir, 'low-good'))],
    ['renamed tfjs graph, kernel transposed', () => writeTfjsGraphModel(renamed(cnnGraph(undefined, FAULTS[0]!)), join(dir, 'low-fault'))],
    ['ONNX', () => { const f = join(dir, 'low-good.onnx'); writeFileSync(f, cnnOnnx()); return f; }],
    ['ONNX with a fault', () => { const f = join(dir, 'low-fault.onnx'); writeFileSync(f, cnnOnnx(undefined, FAULTS[1]!)); return f; }],
  ];
  // Keras layers (paired by TF scope, after the runs; guessed by values meanwhile), with and without a fault.
  const { kerasCnn } = await import('../../cases/gen/keras-cnn.js');
  for (const fault of [undefined, FAULTS[2]!]) {
    const f = join(dir, `low-${fault ?? 'good'}.keras`);
    writeFileSync(f, await kerasCnn(undefined, fault));
    cases.push([`Keras${fault ? ` with ${fault}` : ''}`, () => f]);
  }
  for (const [what, make] of cases) {
    it(`${what}: the same Result as when everything is held and nothing guessed`, async () => {
      const cand = make();
      const run = () => compare(original, cand, { seed: 6, inputs: ['x=normal(0,1)'] });
      const full = facts(await withEnv({ PARITY_GUESS: '0', PARITY_HOLD_BYTES: undefined }, run));
      // Every activation guessed (these are all below the default size for guessing).
      for (const guess of [undefined, '0']) {
        for (const budget of [undefined, '0', '3000']) {
          if (guess === '0' && budget === undefined) continue;
          const env = { PARITY_GUESS: guess, PARITY_GUESS_MIN: '0', PARITY_HOLD_BYTES: budget };
          expect(facts(await withEnv(env, run)), `PARITY_GUESS=${guess ?? ''} PARITY_HOLD_BYTES=${budget ?? ''}`).toEqual(full);
        }
      }
      expect(full.pairs.length).toBeGreaterThanOrEqual(7);
    });
  }
});

describe('guessed pairs on a published model', () => {
  it('blazeface vs a renamed copy with one weight perturbed: the same Result (own error too), and far fewer values held', async () => {
    const human = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
    const d = mkdtempSync(join(tmpdir(), 'guess-real-'));
    // 64 weights of some early conv kernel (byte 40000 of the weights), scaled: one layer diverges.
    const cand = renamedTfjsCopy(join(human, 'blazeface.json'), d, (bin) => {
      const w = new Float32Array(bin.buffer, bin.byteOffset + 40000, 64);
      for (let i = 0; i < 64; i++) w[i] = w[i]! * 1.5 + 0.01;
    });
    // Peak bytes of values the comparison holds.
    const orig = { hold: ActivationStore.prototype.hold, release: ActivationStore.prototype.release, dispose: ActivationStore.prototype.dispose };
    let cur = 0;
    let peak = 0;
    const held = new WeakSet<object>();
    ActivationStore.prototype.hold = async function (this: ActivationStore, info, t, sample) {
      const owned = await orig.hold.call(this, info, t, sample);
      if (info.tensor || info.data) {
        held.add(info);
        cur += t.size * 4;
        peak = Math.max(peak, cur);
      }
      return owned;
    };
    ActivationStore.prototype.release = function (this: ActivationStore, h) {
      if (held.delete(h)) cur -= h.shape.reduce((a, b) => a * b, 1) * 4;
      orig.release.call(this, h);
    };
    ActivationStore.prototype.dispose = function (this: ActivationStore) {
      cur = 0;
      orig.dispose.call(this);
    };
    const run = async (guess: boolean) => {
      if (!guess) process.env.PARITY_GUESS = '0';
      peak = 0;
      try {
        const r = await compare(join(human, 'blazeface.json'), cand, { seed: 2 });
        return { r, peak };
      } finally {
        delete process.env.PARITY_GUESS;
      }
    };
    try {
      const off = await run(false);
      const on = await run(true);
      expect(off.r.verdict).toBe('not-equivalent');
      expect(off.r.rootCause).toBeDefined();
      const facts = (r: typeof off.r) => ({ verdict: r.verdict, firstDivergence: r.firstDivergence, rootCause: r.rootCause, alignment: r.alignment, pairs: r.pairs });
      expect(facts(on.r)).toEqual(facts(off.r));
      // Everything held (~140 MB of both models' activations) against a window of them (~21 MB).
      expect(on.peak).toBeLessThan(off.peak * 0.3);
    } finally {
      Object.assign(ActivationStore.prototype, orig);
    }
  }, 60_000);
});
