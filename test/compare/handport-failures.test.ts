import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { compare } from '../../src/index.js';
import { consoleReport } from '../../src/report/console.js';
import { htmlReport } from '../../src/report/html.js';
import { junitReport } from '../../src/report/junit.js';
import { markdownReport } from '../../src/report/markdown.js';

/**
 * Issue 23 on the small fixtures with the shape of its failures (test/fixtures/handport-failures,
 * made by test/fixtures/gen/handport_failures.py: tfjs graph originals, torch hand ports).
 */
const DIR = join(import.meta.dirname, '..', 'fixtures', 'handport-failures');
const S = 'StatefulPartitionedCall/model/';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('shapes that part (failure 3)', () => {
  it("a 2x2 max pool given padding=1 (7 becomes 8): the max pool is the root cause, named on both sides with both shapes, layout-aware", async () => {
    const r = await compare(join(DIR, 'shapes', 'model.json'), join(DIR, 'shapes', 'pool-padding.onnx'), { seed: 1 });
    expect(r.verdict).toBe('not-equivalent');
    expect(r.shapesPart).toMatchObject({
      reference: `${S}max_pooling2d/MaxPool`,
      referenceShape: [1, 7, 7, 6],
      candidate: '/pool/MaxPool_output_0',
      candidateShape: [1, 6, 8, 8],
      isRootCause: true,
    });
    expect(r.shapesPart!.text).toBe(
      `shapes part here: reference \`${S}max_pooling2d/MaxPool\` (MaxPool) gives [1,7,7,6], the candidate's \`/pool/MaxPool_output_0\` (MaxPool) gives [1,6,8,8] (reference NHWC, candidate NCHW: H and W differ, H 7 vs 8, W 7 vs 8)`,
    );
    // No pair is blamed: before, the global pooling three layers on was the root cause, "its own".
    expect(r.rootCause).toBeUndefined();
    expect(r.summary).toMatch(new RegExp(`^not equivalent: shapes part at '${S}max_pooling2d/MaxPool' \\(MaxPool\\)`));
    const mean = r.pairs.find((p) => p.reference === `${S}global_average_pooling2d/Mean`)!;
    // The layers past the parting pair with nothing because their shapes differ: no "the conversion may lack them".
    expect(r.pairs.every((p) => !p.unpairedBefore)).toBe(true);
    expect(mean.ownDiscounted).toMatch(/^re-running it on the reference's inputs re-ran unpaired candidate layers before it too/);
    // Every report says it.
    expect(consoleReport(r, { color: false })).toContain(`Root cause (where the shapes part; no pair before it fails):\n  ${r.shapesPart!.text}`);
    expect(markdownReport(r)).toContain('**Root cause:** shapes part here: reference');
    expect(junitReport(r)).toContain('type="ShapesPart"');
    expect(htmlReport(r)).toContain('"shapesPart"');
  });

  it('a conv given padding=1 where TF has VALID: the conv is where the shapes part, not the global pooling after it', async () => {
    const r = await compare(join(DIR, 'shapes', 'model.json'), join(DIR, 'shapes', 'conv-padding.onnx'), { seed: 1 });
    expect(r.verdict).toBe('not-equivalent');
    expect(r.shapesPart).toMatchObject({ reference: `${S}conv2d_1/Conv2D`, referenceShape: [1, 5, 5, 8], candidate: '/conv2/Conv_output_0', candidateShape: [1, 8, 7, 7], isRootCause: true });
    expect(r.rootCause).toBeUndefined();
  });

  it('the correct port: equivalent, no parting', async () => {
    const r = await compare(join(DIR, 'shapes', 'model.json'), join(DIR, 'shapes', 'correct.onnx'), { seed: 1 });
    expect(r.verdict).toBe('equivalent');
    expect(r.shapesPart).toBeUndefined();
    expect(r.outputs.every((o) => o.pair !== undefined)).toBe(true);
  });
});

describe('heads listed in another order by the signature (failures 1, 2, 5)', () => {
  for (const port of ['correct', 'correct-unnamed'] as const) {
    it(`${port}: every output of both sides paired, equivalent also with --fail-on all`, async () => {
      for (const failOn of ['outputs', 'all'] as const) {
        const r = await compare(join(DIR, 'heads', 'model.json'), join(DIR, 'heads', `${port}.onnx`), { seed: 1, failOn });
        expect(r.verdict).toBe('equivalent');
        expect(r.outputs.filter((o) => o.side === 'candidate')).toHaveLength(3);
        expect(r.outputs.every((o) => o.pair !== undefined)).toBe(true);
        expect(r.why[0]).toBe('every output is paired and within tolerance (3 output pairs for 3 candidate outputs)');
      }
    });
  }
  it("one head's dense weight reshaped: its dense layer is the root cause, every output paired", async () => {
    const r = await compare(join(DIR, 'heads', 'model.json'), join(DIR, 'heads', 'head-dense-reshape-unnamed.onnx'), { seed: 1 });
    expect(r.verdict).toBe('not-equivalent');
    expect(r.pairs[r.rootCause!]!.reference).toBe(`${S}head_b/BiasAdd`);
    expect(r.outputs.every((o) => o.pair !== undefined)).toBe(true);
    expect(r.why).toContain(`the output '${S}head_b/Softmax' (Softmax) ~ 'output_1' (Softmax) fails: allclose`);
  });
});

describe('a Keras-style rebuild with tfjs-layers under its own layer names, PReLUs frozen at the root scope in the original (failure 7)', () => {
  // face/: the original (handport_failures.py face_case) builds each PReLU from Maximum/Minimum/Mul/AddV2
  // named `Maximum_k`, `Minimum_k`, `mul_k`, `add_k` at the root scope; the rebuild (handport_face_rebuild.ts)
  // is ZeroPadding2D, Conv2D, BatchNormalization, PReLU, DepthwiseConv2D, ... named stem_*, dw1*, pw1*, ...
  const face = (v: string) => compare(join(DIR, 'face', 'model.json'), join(DIR, 'face', v, 'model.json'), { seed: 1 });
  /** The rebuild's layer each reference layer end pairs with, one for one (the pairing of the correct rebuild). */
  const ONE_FOR_ONE: [string, string][] = [
    [`${S}zero_padding2d/Pad`, 'stem_pad'], [`${S}conv2d/BiasAdd`, 'stem_conv'], [`${S}batch_normalization/FusedBatchNormV3`, 'stem_bn'], ['add', 'stem_prelu'],
    [`${S}zero_padding2d_1/Pad`, 'dw1_pad'], [`${S}depthwise_conv2d/BiasAdd`, 'dw1'], ['add_1', 'dw1_prelu'], [`${S}conv2d_1/BiasAdd`, 'pw1'], [`${S}batch_normalization_1/FusedBatchNormV3`, 'pw1_bn'],
    [`${S}zero_padding2d_2/Pad`, 'dw2_pad'], [`${S}depthwise_conv2d_1/BiasAdd`, 'dw2'], ['add_2', 'dw2_prelu'], [`${S}conv2d_2/BiasAdd`, 'pw2'], [`${S}batch_normalization_2/FusedBatchNormV3`, 'pw2_bn'], ['add_3', 'pw2_prelu'],
    [`${S}global_average_pooling2d/Mean`, 'gap'], [`${S}dense/BiasAdd`, 'embedding'],
  ];
  const pairsOf = (r: Awaited<ReturnType<typeof face>>) => r.pairs.map((p) => [p.reference, p.candidate]);

  for (const v of ['correct', 'bn-folded']) {
    it(`${v}: equivalent also with failOn 'all', every layer paired by its values`, async () => {
      const r = await compare(join(DIR, 'face', 'model.json'), join(DIR, 'face', v, 'model.json'), { seed: 1, failOn: 'all' });
      expect(r.verdict).toBe('equivalent');
      // bn-folded: pw1 computes the conv and its batch norm, so it pairs with the batch norm's output.
      const folded = ONE_FOR_ONE.filter(([, c]) => c !== 'pw1_bn').map(([ref, c]): [string, string] => (c === 'pw1' ? [`${S}batch_normalization_1/FusedBatchNormV3`, c] : [ref, c]));
      expect(pairsOf(r)).toEqual(v === 'correct' ? ONE_FOR_ONE : folded);
      expect(r.pairs.every((p) => p.strategy === 'numeric' && !p.unsure)).toBe(true);
    });
  }

  for (const [v, root, rootCand] of [
    ['bn-eps', `${S}batch_normalization_1/FusedBatchNormV3`, 'pw1_bn'],
    ['dw-hw-swap', `${S}depthwise_conv2d/BiasAdd`, 'dw1'],
    ['dw-symmetric-pad', `${S}depthwise_conv2d_1/BiasAdd`, 'dw2'],
  ] as const) {
    it(`${v}: the root cause is ${rootCand}; past it the depthwise convs pair with the depthwise nodes, not with pieces of a PReLU, and no later own error fails`, async () => {
      const r = await face(v);
      expect(r.verdict).toBe('not-equivalent');
      const rc = r.pairs[r.rootCause!]!;
      expect([rc.reference, rc.candidate]).toEqual([root, rootCand]);
      expect(rc.own!.pass).toBe(false);
      // Before: dw1 ~ mul_1, dw2 ~ mul_2, pw2_prelu ~ mul_3 with the depthwise nodes unmatched, and 9-12 own errors failing.
      const expected = v === 'dw-symmetric-pad' ? ONE_FOR_ONE.filter(([, c]) => c !== 'dw2_pad') : ONE_FOR_ONE;
      expect(pairsOf(r)).toEqual(expected);
      expect(r.pairs.filter((p) => p.index > r.rootCause! && p.own && !p.own.pass && !p.ownDiscounted).map((p) => p.reference)).toEqual([]);
      for (const k of ['Minimum_1', 'mul_1', 'Minimum_2', 'mul_2', 'mul_3']) expect(r.pairs.some((p) => p.reference === k), k).toBe(false);
      if (v === 'dw-symmetric-pad') {
        // The pads pair with nothing (17 vs 18): the port has its pad, so no "if the conversion lacks it"; both named, with both shapes.
        expect(rc.unpairedBefore).toBeUndefined();
        expect(rc.differsBefore).toEqual([{ reference: `${S}zero_padding2d_2/Pad`, referenceOp: 'Pad', referenceShape: [1, 17, 17, 12], candidate: 'dw2_pad', candidateType: 'ZeroPadding2D', candidateShape: [1, 18, 18, 12] }]);
        expect(consoleReport(r, { color: false })).toContain(
          `between its inputs and it the reference's ${S}zero_padding2d_2/Pad (Pad) gives [1,17,17,12] where the candidate's dw2_pad (ZeroPadding2D) gives [1,18,18,12]: the conversion computes it differently there (neither side pairs)`,
        );
        expect(markdownReport(r)).toContain("the candidate's dw2_pad (ZeroPadding2D) gives [1,18,18,12]");
        expect(htmlReport(r)).toContain("the candidate's dw2_pad (ZeroPadding2D) gives [1,18,18,12]");
      }
      // The worst pairs name no correct layer as failing on its own.
      const ownFailLines = consoleReport(r, { color: false }).split('\n').filter((l) => l.includes('(FAIL)'));
      expect(ownFailLines.length).toBeGreaterThan(0);
      for (const l of ownFailLines) expect(l).toContain(` ${root} `);
    });
  }
});

describe("a fault behind a softmax that saturates: every pair from the bug on is found by shape alone (the sweep's liveness misses)", () => {
  const sat = (v: string, failOn?: 'outputs') => compare(join(DIR, 'saturate', 'model.json'), join(DIR, 'saturate', `${v}.onnx`), { seed: 1, ...(failOn ? { failOn } : {}) });
  it('the correct port: equivalent, every pair by values', async () => {
    const r = await sat('correct');
    expect(r.verdict).toBe('equivalent');
    expect(r.pairs.every((p) => p.strategy !== 'shape')).toBe(true);
  });
  for (const [v, layer, op] of [['conv-hw-swap', 'conv2d_1/BiasAdd', 'BiasAdd'], ['bn-eps', 'batch_normalization_1/FusedBatchNormV3', 'AddV2']] as const) {
    it(`${v}: the output agrees, yet the layer right after the sure agreeing pairs, paired by shape, misses on their values: not equivalent, said in words`, async () => {
      const r = await sat(v);
      const out = r.pairs.find((p) => p.isOutput)!;
      expect(out.pass).toBe(true);
      const p = r.pairs.find((q) => q.reference === `${S}${layer}`)!;
      expect(p.strategy).toBe('shape');
      expect(r.verdict).toBe('not-equivalent');
      expect(r.summary).toMatch(new RegExp(`^not equivalent: '${S}${layer}' \\(${op}\\) ~ '[^']+' \\(\\w+\\) computes something different \\(its own error max_abs [^,]+, cosine [0-9.]+; paired by shape alone, right after layers paired surely that agree, whose values it is re-run on`));
      expect(r.pairs[r.rootCause!]!.reference).toBe(`${S}${layer}`);
      // The outputs-only rule does not see it.
      expect((await sat(v, 'outputs')).verdict).toBe('equivalent');
    });
  }
});
