import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { A } from '../../src/graph/attrs.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { compare } from '../../src/index.js';
import { consoleReport } from '../../src/report/console.js';
import { junitReport } from '../../src/report/junit.js';
import { markdownReport } from '../../src/report/markdown.js';

/**
 * Which pairs are outputs: a reference from a training graph (a checkpoint's .meta) ends in its
 * loss, while the conversion's output is the prediction the loss reads. The prediction's pair
 * is an output all the same (the candidate's), so the verdict follows it, not every layer.
 */
beforeAll(async () => {
  await initBackend('wasm');
});

describe('outputs of either model', () => {
  const f32 = A.dtype('float32');
  const dir = mkdtempSync(join(tmpdir(), 'outputs-'));
  const w = Float32Array.from({ length: 16 * 4 }, (_, k) => Math.sin(k * 0.7) * 0.5);
  const b = Float32Array.from({ length: 4 }, (_, k) => k * 0.1);

  // The reference: pred = x·w + b, and the loss sum(pred²) that nothing reads (its only sink).
  const ref = new GraphBuilder();
  {
    const x = ref.placeholder('x', 'float32', [2, 16]);
    const h = ref.op('MatMul', 'h', [x, ref.const('w', { dtype: 'float32', shape: [16, 4], data: w })], { T: f32 });
    const pred = ref.op('Add', 'pred', [h, ref.const('b', { dtype: 'float32', shape: [4], data: b })], { T: f32 });
    const sq = ref.op('Square', 'loss/Square', [pred], { T: f32 });
    const axes = ref.const('loss/axes', { dtype: 'int32', shape: [2], data: Int32Array.of(0, 1) });
    ref.op('Sum', 'loss', [sq, axes], { T: f32, Tidx: A.dtype('int32'), keep_dims: A.bool(false) });
    writeFileSync(join(dir, 'train.pb'), encodeGraphDef(ref.build(['loss'])));
  }
  // The candidate: the prediction only, computed through an `h` twice as large, halved after:
  // `h` fails, the output does not.
  const cand = (bias: Float32Array) => {
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [2, 16]);
    const h = g.op('MatMul', 'h', [x, g.const('w', { dtype: 'float32', shape: [16, 4], data: w.map((v) => v * 2) })], { T: f32 });
    const half = g.op('Mul', 'h_half', [h, g.const('half', { dtype: 'float32', shape: [], data: Float32Array.of(0.5) })], { T: f32 });
    const pred = g.op('Add', 'pred', [half, g.const('b', { dtype: 'float32', shape: [4], data: bias })], { T: f32 });
    return encodeGraphDef(g.build([pred]));
  };
  writeFileSync(join(dir, 'serve.pb'), cand(b));
  // A candidate whose only output (the row sums of `h`, of a shape nothing in the reference has)
  // pairs with nothing in the reference.
  {
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [2, 16]);
    const h = g.op('MatMul', 'h', [x, g.const('w', { dtype: 'float32', shape: [16, 4], data: w })], { T: f32 });
    const axis = g.const('axis', { dtype: 'int32', shape: [], data: Int32Array.of(1) });
    const rows = g.op('Sum', 'extra', [h, axis], { T: f32, Tidx: A.dtype('int32'), keep_dims: A.bool(false) });
    writeFileSync(join(dir, 'other.pb'), encodeGraphDef(g.build([rows])));
  }
  writeFileSync(join(dir, 'serve-bias.pb'), cand(b.map((v, i) => (i === 2 ? v + 0.01 : v))));

  it("pairs the candidate's output as an output where the reference's own outputs pair with nothing", async () => {
    const r = await compare(join(dir, 'train.pb'), join(dir, 'serve.pb'), { seed: 3, ownError: false, failOn: 'outputs' });
    const byRef = new Map(r.pairs.map((p) => [p.reference, p]));
    expect(byRef.get('pred')?.isOutput).toBe(true);
    expect(byRef.get('h')?.isOutput).toBe(false);
    expect(byRef.get('h')?.pass).toBe(false);
    // With --fail-on outputs the verdict follows the output (which passes), not `h`.
    expect(r.verdict).toBe('equivalent');
    expect(r.summary).toMatch(/1 output\(s\) within tolerance/);
    expect(r.unmatched.reference).toEqual(expect.arrayContaining(['loss']));
    // The loss is accounted for: one number computed from the paired output, not counted.
    expect(r.outputs.find((o) => o.name === 'loss')).toMatchObject({ side: 'reference', excused: true, unpaired: expect.stringContaining("computed from the paired output 'pred'") });
    // The console says the failing layer does not decide this verdict.
    expect(consoleReport(r, { color: false })).toContain('First divergence (an intermediate layer; the outputs pass, so the verdict does):\n  reference h (MatMul)');
    // By default (--fail-on layers) `h`, paired by name, computes something different: the
    // candidate's doubled `h` is compensated after it, which the verdict cannot know.
    const layers = await compare(join(dir, 'train.pb'), join(dir, 'serve.pb'), { seed: 3, ownError: false });
    expect(layers.verdict).toBe('not-equivalent');
    expect(layers.summary).toMatch(/^not equivalent: 'h' \(MatMul\) ~ 'h' \(MatMul\) differs .*its own error was not computed\); the outputs agree on these inputs; they may not on others$/);
    // Every layer counts with --fail-on all.
    const all = await compare(join(dir, 'train.pb'), join(dir, 'serve.pb'), { seed: 3, ownError: false, failOn: 'all' });
    expect(all.verdict).toBe('not-equivalent');
  });

  it('says so when no output of either model is in a pair, and an output in no pair is not equivalent (issue 23)', async () => {
    const r = await compare(join(dir, 'train.pb'), join(dir, 'other.pb'), { seed: 3, ownError: false });
    expect(r.pairs.map((p) => `${p.reference}~${p.candidate}`)).toContain('h~h');
    expect(r.pairs.some((p) => p.isOutput)).toBe(false);
    expect(r.unmatched.candidate).toContain('extra');
    // Every pair passes, but the candidate's only output, 'extra' [2], pairs with nothing: what it
    // computes was never compared. Before issue 23 this was EQUIVALENT.
    expect(r.pairs.every((p) => p.pass)).toBe(true);
    expect(r.verdict).toBe('not-equivalent');
    expect(r.summary).toBe(`not equivalent: 2 outputs in no pair ('loss', 'extra'); 0 of ${r.pairs.length} pairs fail; no output of either model is in a pair (every pair decides the verdict)`);
    expect(r.outputs.find((o) => o.name === 'extra')).toMatchObject({ side: 'candidate', shape: [2], unpaired: expect.stringMatching(/^no reference output has its shape \[2\]/) });
    // The reference's loss is not the candidate's output 'extra': nothing paired is above it, so it counts too.
    expect(r.outputs.find((o) => o.name === 'loss')?.excused).toBeUndefined();
    const text = consoleReport(r, { color: false });
    expect(text).toContain('no output of either model is in a pair: every pair decides the verdict');
    expect(text).toContain("UNPAIRED: the candidate's output 'extra' [2] float32: no reference output has its shape [2]");
    // The Markdown and JUnit reports say it too (JUnit: a failing test case per output in no pair).
    expect(markdownReport(r)).toContain("- UNPAIRED: the candidate's output 'extra' [2] float32: no reference output has its shape [2]");
    expect(junitReport(r)).toMatch(/<testcase [^>]*name="unpaired candidate output extra"[^>]*>\s*<failure message="in no pair: no reference output has its shape \[2\]/);
    // With an output in a pair, the console does not say it.
    const paired = await compare(join(dir, 'train.pb'), join(dir, 'serve.pb'), { seed: 3, ownError: false });
    expect(consoleReport(paired, { color: false })).not.toContain('no output of either model');
  });

  it('fails on that output when it differs', async () => {
    const r = await compare(join(dir, 'train.pb'), join(dir, 'serve-bias.pb'), { seed: 3, ownError: false });
    expect(r.verdict).toBe('not-equivalent');
    const pred = r.pairs.find((p) => p.reference === 'pred')!;
    expect(pred.isOutput).toBe(true);
    expect(pred.pass).toBe(false);
    expect(pred.metrics.max_abs).toBeCloseTo(0.01, 5);
  });
});
