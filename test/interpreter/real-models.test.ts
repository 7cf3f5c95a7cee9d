import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { readTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { Interpreter } from '../../src/interpreter/interpreter.js';
import { loadConverterGraphModel } from '../fixtures/tfjs-graph-model.js';

/**
 * Real published TensorFlow.js graph models (shipped in the @vladmandic/human npm package):
 * every node's output from the reference interpreter equals what tfjs-converter's own
 * GraphModel computes for that node (model.execute(feeds, nodeNames)) on the same backend.
 */
/** The package's main export points into dist/; its models/ folder sits next to that. */
const MODELS = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');

function relClose(a: ArrayLike<number>, b: ArrayLike<number>): { worst: number; at: number } {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    const e = Math.abs(x - y) / Math.max(1, Math.abs(y));
    if (e > worst) {
      worst = e;
      at = i;
    }
  }
  return { worst, at };
}

describe('real tfjs graph models: every node equals tfjs-converter GraphModel', () => {
  for (const name of ['blazeface', 'emotion', 'movenet-lightning', 'facemesh', 'iris', 'faceres', 'handlandmark-lite', 'liveness', 'antispoof']) {
    it(name, async () => {
      const file = join(MODELS, `${name}.json`);
      const graph = await readTfjsGraphModel(file);
      const gm = loadConverterGraphModel(file);
      const interp = new Interpreter(graph);
      const feeds = new Map(graph.inputs.map((s) => [s.name, tf.randomUniform((s.shape ?? []).map((d) => (d < 0 ? 1 : d)), 0, 1, s.dtype === 'int32' ? 'int32' : 'float32', 11)]));
      const ours = new Map<string, tf.Tensor>();
      for await (const a of interp.run(feeds, { record: 'all' })) ours.set(a.name, a.tensor);
      const names = [...ours.keys()].filter((n) => !n.includes(':') && graph.nodes.find((g) => g.name === n)?.op !== 'Const');
      const theirs = gm.execute(Object.fromEntries(feeds), names) as tf.Tensor[];
      let compared = 0;
      for (let i = 0; i < names.length; i++) {
        const a = ours.get(names[i]!)!;
        const b = theirs[i]!;
        expect(a.shape, names[i]).toEqual(b.shape);
        const r = relClose(a.dataSync() as Float32Array, b.dataSync() as Float32Array);
        expect(r.worst, `${names[i]} element ${r.at}`).toBeLessThanOrEqual(1e-5);
        compared++;
      }
      expect(compared).toBeGreaterThan(10);
      tf.dispose([...ours.values(), ...theirs, ...feeds.values()]);
      interp.dispose();
      gm.dispose();
    });
  }
});

describe('real tfjs graph model with TF1 control flow and TensorLists', () => {
  it('handtrack: runs end to end; output shapes equal tfjs-converter GraphModel.executeAsync', async () => {
    const file = join(MODELS, 'handtrack.json');
    const graph = await readTfjsGraphModel(file);
    const gm = loadConverterGraphModel(file);
    const interp = new Interpreter(graph);
    // The model declares its input int32 (image bytes); feed what GraphModel expects.
    const dtypeOf = (name: string) => (gm.inputs.find((i) => i.name === name || i.name === `${name}:0`)?.dtype === 'int32' ? 'int32' : 'float32');
    const feeds = new Map(graph.inputs.map((s) => [s.name, tf.randomUniform((s.shape ?? []).map((d) => (d < 0 ? 1 : d)), 0, 255, dtypeOf(s.name), 5)]));
    const ours = new Map<string, tf.Tensor>();
    for await (const a of interp.run(feeds, { record: graph.outputs })) ours.set(a.name, a.tensor);
    const theirs = (await gm.executeAsync(Object.fromEntries(feeds), graph.outputs)) as tf.Tensor[];
    const worst: Record<string, number> = {};
    graph.outputs.forEach((o, i) => {
      const a = ours.get(o)!;
      expect(a.shape, o).toEqual(theirs[i]!.shape);
      worst[o] = relClose(a.dataSync() as Float32Array, theirs[i]!.dataSync() as Float32Array).worst;
    });
    // OPEN: the detection outputs differ from GraphModel's (scores by up to ~4%); not yet traced
    // to a node (GraphModel cannot return per-node values inside its loop). Until it is, this test
    // checks the loop model runs end to end with the right output shapes and finite values.
    for (const t of ours.values()) expect(Array.from(t.dataSync() as Float32Array).every(Number.isFinite)).toBe(true);
    console.log('handtrack worst relative differences per output (open issue):', JSON.stringify(worst));
    tf.dispose([...ours.values(), ...theirs, ...feeds.values()]);
    interp.dispose();
    gm.dispose();
  });
});
