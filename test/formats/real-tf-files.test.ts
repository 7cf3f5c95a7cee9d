import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/core/tensor.js';
import { describeModel } from '../../src/formats/describe.js';
import { loadGraph } from '../../src/formats/index.js';
import { host } from '../../src/graph/builder.js';
import { feedShapeWarnings, generateFeeds, loadFeeds } from '../../src/inputs/generate.js';
import { writeNpzFile } from '../../src/inputs/npz.js';
import { loadModel } from '../../src/runners/index.js';
import { runOutputs } from '../fixtures/run-outputs.js';

/**
 * Issue 22 on the real files in ../shared/models/tf-real (see its INDEX.md): each gives the
 * values its own project's tests assert, fed the way those tests feed it (by signature key,
 * shapes the C API accepts). Skipped where the folder is absent; every feature is also tested
 * on fixtures in tf-files.test.ts.
 */

// Beside the repository (../shared), or beside the folder of worktrees a developer checked it out in.
const ROOT = join(import.meta.dirname, '../..');
const REAL = [join(ROOT, '../shared/models/tf-real'), join(ROOT, '../../shared/models/tf-real')].find((p) => existsSync(p)) ?? join(ROOT, '../shared/models/tf-real');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs a model on feeds given as an .npz keyed as its users key them (loadFeeds resolves the names). */
async function run(path: string, arrays: Record<string, HostTensor>, opts: Parameters<typeof loadModel>[1] = {}) {
  const d = mkdtempSync(join(tmpdir(), 'real-tf-'));
  dirs.push(d);
  const npz = join(d, 'feeds.npz');
  writeNpzFile(npz, new Map(Object.entries(arrays)));
  const { runner } = await loadModel(path, opts);
  const feeds = loadFeeds(npz, runner.inputs());
  const inputs = runner.inputs();
  const out = await runOutputs(runner, feeds);
  return { out, warnings: feedShapeWarnings(inputs, feeds) };
}

const f = (v: number[], shape = [v.length]) => host('float32', shape, v);
const i = (v: number[]) => host('int32', [v.length], v);

describe.skipIf(!existsSync(REAL))('real TensorFlow files (../shared/models/tf-real)', () => {
  it("tfjs-node's times_three_float (TF 2.0.0-beta1): x=[1,2,3] to a scalar-declared input -> [3,6,9], with a warning", async () => {
    const { out, warnings } = await run(join(REAL, 'tfjs-node/times_three_float'), { x: f([1, 2, 3]) });
    expect(out.get('StatefulPartitionedCall')).toEqual({ shape: [3], values: [3, 6, 9] });
    expect(warnings).toEqual(["input 'serving_default_x (signature key x)' is declared [] but is fed [3]: running it as fed (as TF's C API does; the ops decide)"]);
  });

  it("tfjs-node's model_multi_output: two variables both named 'Variable' -> [2,4,6], [1,2,3]", async () => {
    const { out } = await run(join(REAL, 'tfjs-node/model_multi_output'), { x: i([1, 2, 3]), y: i([1, 2, 3]) });
    expect([...out.values()]).toEqual([{ shape: [3], values: [2, 4, 6] }, { shape: [3], values: [1, 2, 3] }]);
  });

  it("tfjs-node's module_with_multiple_signatures: serving_default -> [3,6,9], timestwo -> [2,4,6]", async () => {
    const path = join(REAL, 'tfjs-node/module_with_multiple_signatures');
    expect([...(await run(path, { x: f([1, 2, 3]) })).out.values()]).toEqual([{ shape: [3], values: [3, 6, 9] }]);
    expect([...(await run(path, { x: f([1, 2, 3]) }, { signature: 'timestwo' })).out.values()]).toEqual([{ shape: [3], values: [2, 4, 6] }]);
  });

  it("TF Serving's half_plus_two (TF1 Estimator export, ParseExample in other signatures): x=[[1],[2]] -> y=[[2.5],[3]]", async () => {
    const path = join(REAL, 'tf-serving/saved_model_half_plus_two_cpu/00000123');
    const { out } = await run(path, { x: f([1, 2], [2, 1]) });
    expect(out.get('y')).toEqual({ shape: [2, 1], values: [2.5, 3] });
    const d = await describeModel(path);
    expect(d.unsupported).toEqual([]);
    expect(d.unreached.map((u) => u.op)).toContain('ParseExample');
    // regress_x_to_y parses tf.Example: fed past the parser by tensor name. a=0.5, b=2.
    const past = await run(path, { 'ParseExample/ParseExample': f([4], [1, 1]) }, { signature: 'regress_x_to_y', feeds: [{ name: 'ParseExample/ParseExample' }] });
    expect([...past.out.values()]).toEqual([{ shape: [1, 1], values: [4] }]);
  });

  it("TF Serving's half_plus_two TF2: serving_default x=[1] -> 2.5; regress_x2_to_y3 inputs=[1] -> 3.5", async () => {
    const path = join(REAL, 'tf-serving/saved_model_half_plus_two_tf2_cpu/00000123');
    expect([...(await run(path, { x: f([1]) })).out.values()]).toEqual([{ shape: [1], values: [2.5] }]);
    expect([...(await run(path, { inputs: f([1]) }, { signature: 'regress_x2_to_y3' })).out.values()]).toEqual([{ shape: [1], values: [3.5] }]);
  });

  it("the Rust bindings' multiplication.pb (producer 9): a=[1,2,3], b=[4,5,6] -> c=[4,10,18]", async () => {
    const path = join(REAL, 'public/rust-multiplication/multiplication.pb');
    const g = await loadGraph(path);
    expect(g.producer).toBe(9);
    expect(g.inputs.map((s) => s.shape)).toEqual([null, null]);
    const { out, warnings } = await run(path, { a: f([1, 2, 3]), b: f([4, 5, 6]) });
    expect(out.get('c')).toEqual({ shape: [3], values: [4, 10, 18] });
    expect(warnings).toEqual([]);
  });

  it("ML.NET's cifar training checkpoint (Adam): default output the logits; Input -> Output equals the frozen model's", async () => {
    const ckpt = join(REAL, 'public/mlnet-cifar-ckpt');
    const g = await loadGraph(join(ckpt, 'model.ckpt'));
    expect(g.outputs).toEqual(['add_1']);
    expect(g.notes![0]).toMatch(/^default outputs are the inference sinks; set aside: .*losses and metrics that read labels \(Placeholder\)/);
    const input = generateFeeds([{ name: 'Input', dtype: 'float32', shape: [2, 32, 32, 3] }], { seed: 1 }).get('Input')!;
    const a = (await run(join(ckpt, 'model.ckpt'), { Input: input }, { outputs: ['Output'] })).out.get('Output')!;
    const b = (await run(join(REAL, 'public/mlnet-cifar-frozen/frozen_model.pb'), { Input: input })).out.get('Output')!;
    expect(a.shape).toEqual([2, 10]);
    expect(a.values).toEqual(b.values);
  });

  it("the Rust bindings' regression SavedModel (no serving_default): inspect describes it; signature w -> 0.2043", async () => {
    const path = join(REAL, 'public/rust-regression-sm2');
    await expect(loadGraph(path)).rejects.toThrow(/no signature 'serving_default'; the model has 'b', 'train', 'w'/);
    const d = await describeModel(path);
    expect(Object.keys(d.signatures)).toEqual(['b', 'train', 'w']);
    expect(d.notes[0]).toMatch(/run and compare need --signature NAME/);
    const { out } = await run(path, {}, { signature: 'w' });
    const [w] = [...out.values()];
    expect(w!.shape).toEqual([1]);
    expect(w!.values[0]).toBeCloseTo(0.2043, 4);
  });

  it("TensorFlow.NET's Keras LSTM SavedModel: input_1 [?,5,3] -> dense [?,1]", async () => {
    const path = join(REAL, 'public/tfnet-lstm-from-sequential');
    const g = await loadGraph(path);
    expect(g.inputs).toEqual([{ name: 'serving_default_input_1', dtype: 'float32', shape: [-1, 5, 3], alias: 'input_1' }]);
    const x = generateFeeds([{ name: 'input_1', dtype: 'float32', shape: [2, 5, 3] }], { seed: 0 }).get('input_1')!;
    const [y] = [...(await run(path, { input_1: x })).out.values()];
    expect(y!.shape).toEqual([2, 1]);
  });

  it('jsim: the tfjs graph models tensorflowjs_converter made of tiny_mnist.h5 are equivalent to it, every layer paired', async () => {
    const { compare } = await import('../../src/index.js');
    const dir = join(REAL, 'public/jsim-tfjs-graph-mnist');
    for (const web of ['web_model', 'web_model2']) {
      const r = await compare(join(dir, web, 'model.json'), join(dir, 'tiny_mnist.h5'), { failOn: 'all' });
      expect(r.verdict, web).toBe('equivalent');
      expect(r.pairs.length, web).toBeGreaterThanOrEqual(10);
      expect(r.pairs.filter((p) => p.isOutput).length, web).toBe(1);
    }
  });
});
