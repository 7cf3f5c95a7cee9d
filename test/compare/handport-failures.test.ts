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
