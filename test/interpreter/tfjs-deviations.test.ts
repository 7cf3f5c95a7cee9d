import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTfjsGraphModel } from '../../src/formats/tfjs-graph-writer.js';
import { A, GraphBuilder, runGraph } from '../fixtures/graph.js';
import { loadConverterGraphModel } from '../fixtures/tfjs-graph-model.js';

/**
 * Places where tfjs (the GraphModel the real-model tests compare against) computes something
 * other than TensorFlow's op definition. The reference interpreter keeps TF's semantics; these
 * tests pin both sides so that a real-model test's exception stays justified: if tfjs is fixed,
 * the tfjs half fails and the exception can go.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('tfjs deviations from TF semantics', () => {
  it('Cast float32 -> bool: TF is x != 0 (NaN is true); the tfjs wasm kernel copies the floats into a Uint8Array', async () => {
    // 0.0026 is a typical normalised box area: the handtrack model's Cast(area -> bool) validity mask.
    const values = [0.0026, 0.5, -0.3, 1.5, 2, 256, -1, 0, -0, NaN, Infinity];
    // TF: Eigen's scalar_cast_op<float, bool> is static_cast<bool>, which is false only for +-0
    // (C++ [conv.bool]); numpy's astype(bool) agrees: [T T T T T T T F F T T].
    const TF = [1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1];

    const g = new GraphBuilder();
    g.placeholder('x', 'float32', [values.length]);
    g.op('Cast', 'y', ['x'], { SrcT: A.dtype('float32'), DstT: A.dtype('bool'), Truncate: A.bool(false) });
    const graph = g.build(['y']);
    const x = tf.tensor1d(values, 'float32');

    const ours = (await runGraph(graph, { x }, ['y'])).get('y')!;
    expect(ours.dtype).toBe('bool');
    expect(ours.values).toEqual(TF);

    const dir = mkdtempSync(join(tmpdir(), 'parity-dev-'));
    dirs.push(dir);
    const gm = loadConverterGraphModel(writeTfjsGraphModel(graph, dir));
    const y = gm.execute({ x }, 'y') as tf.Tensor;
    const theirs = Array.from(y.dataSync());
    if (tf.getBackend() === 'wasm') {
      // tfjs-backend-wasm kernels/Cast.ts: `outVals.set(inVals)` from a Float32Array into the bool
      // output's Uint8Array, i.e. ECMAScript ToUint8 (truncate, wrap mod 256, NaN/inf -> 0).
      expect(theirs).toEqual(Array.from(Uint8Array.from(values)));
      expect(theirs).not.toEqual(TF);
    } else if (tf.getBackend() === 'cpu') {
      // The cpu backend's Cast to bool is notEqual(x, 0): TF's semantics.
      expect(theirs).toEqual(TF);
    }
    tf.dispose([x, y]);
    gm.dispose();
  });
});
