import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { storedBytes } from '../../src/core/tensor.js';
import { encodeGraphDef } from '../../src/formats/graphdef-writer.js';
import { readGraphDef } from '../../src/formats/graphdef.js';
import { attrTensor } from '../../src/graph/attrs.js';
import { Interpreter } from '../../src/interpreter/interpreter.js';
import { compare } from '../../src/index.js';
import { A, GraphBuilder } from '../fixtures/graph.js';

/**
 * Big constants are not kept on the backend between runs (PARITY_CONST_CACHE_BYTES): each run,
 * and each own-error re-run of a node alone, uploads them again from the graph's host bytes, and
 * `parity lift` reads those bytes too. So the host bytes must stay readable after an upload,
 * including bytes left unaligned in the file's buffer (uploaded as they are, never copied at read
 * time). y = x @ W with W = 0.5 * [[1,2,3,4],[5,6,7,8],[9,10,11,12]] and x = [1,2,3]:
 * y = 0.5 * [1+10+27, 2+12+30, 3+14+33, 4+16+36] = [19, 22, 25, 28] (by hand).
 */
const W = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], (v) => v * 0.5);
const Y = [19, 22, 25, 28];

function dense(scale = 1): Uint8Array {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', [1, 3]);
  g.const('w', { dtype: 'float32', shape: [3, 4], data: W.map((v) => v * scale) });
  g.op('MatMul', 'y', ['x', 'w'], { T: A.dtype('float32'), transpose_a: A.bool(false), transpose_b: A.bool(false) });
  g.op('Relu', 'r', ['y'], { T: A.dtype('float32') });
  return encodeGraphDef(g.build(['r']));
}

/**
 * The encoded graph read from a buffer where it starts `shift` bytes in (so its views sit at every
 * alignment). A Node Buffer, as files are read: its `slice` is a view, not a copy.
 */
function readShifted(bytes: Uint8Array, shift: number) {
  const at = Buffer.alloc(bytes.length + shift);
  at.set(bytes, shift);
  return readGraphDef(at.subarray(shift), 'dense.pb');
}

async function output(interp: Interpreter, x: tf.Tensor): Promise<number[]> {
  let y: number[] = [];
  for await (const a of interp.run(new Map([['x', x]]))) {
    if (a.name === 'y') y = Array.from(a.tensor.dataSync());
    a.tensor.dispose();
  }
  return y;
}

afterEach(() => vi.unstubAllEnvs());

describe('constants after their upload', () => {
  it('read back by each run, by a node re-run alone and on the host, aligned or not, kept on the backend or not', async () => {
    const bytes = dense();
    let unaligned = 0;
    for (let shift = 0; shift < 4; shift++) {
      for (const cache of [0, 1 << 20]) {
        const graph = readShifted(bytes, shift);
        const w = attrTensor(graph.nodes.find((n) => n.name === 'w')!, 'value');
        if (storedBytes(w)) unaligned++;
        const interp = new Interpreter(graph, { constCacheBytes: cache });
        const x = tf.tensor2d([[1, 2, 3]]);
        const before = tf.memory().numTensors;
        try {
          const at = `shift ${shift}, cache ${cache}`;
          expect(await output(interp, x), at).toEqual(Y);
          // Nothing of the constant is left on the backend when the cache keeps nothing.
          if (cache === 0) expect(tf.memory().numTensors, at).toBe(before);
          // Own error: the node alone on given inputs reads its constant again.
          const [y] = await interp.runSingle('y', [x]);
          expect(Array.from(y!.dataSync()), at).toEqual(Y);
          y!.dispose();
          expect(await output(interp, x), at).toEqual(Y);
          // Lift and the input hints read the constant's values on the host.
          expect(Array.from(w.data as Float32Array), at).toEqual(Array.from(W));
        } finally {
          x.dispose();
          interp.dispose();
        }
      }
    }
    // The unaligned path was taken (3 of the 4 shifts leave W's bytes off a 4-byte boundary).
    expect(unaligned).toBe(6);
  });

  it('a constant of more than 1 MiB at every alignment arrives on the backend as written (copied in chunks when unaligned)', async () => {
    // 300,000 float32 values (1.2 MB: a full 1 MiB chunk and a partial one), value i = i / 4.
    const n = 300_000;
    const values = Float32Array.from({ length: n }, (_, i) => i / 4);
    const g = new GraphBuilder();
    g.const('big', { dtype: 'float32', shape: [n], data: values });
    g.op('Identity', 'out', ['big'], { T: A.dtype('float32') });
    const bytes = encodeGraphDef(g.build(['out']));
    for (let shift = 0; shift < 4; shift++) {
      const interp = new Interpreter(readShifted(bytes, shift), { constCacheBytes: 0 });
      try {
        let got: Float32Array | undefined;
        for await (const a of interp.run(new Map())) {
          if (a.name === 'out') got = a.tensor.dataSync() as Float32Array;
          a.tensor.dispose();
        }
        expect(got?.length, `shift ${shift}`).toBe(n);
        let wrong = 0;
        for (let i = 0; i < n; i++) if (got![i] !== i / 4) wrong++;
        expect(wrong, `shift ${shift}`).toBe(0);
      } finally {
        interp.dispose();
      }
    }
  });

  it('own error of a layer whose weights nothing keeps on the backend', async () => {
    vi.stubEnv('PARITY_CONST_CACHE_BYTES', '0');
    const dir = mkdtempSync(join(tmpdir(), 'const-upload-'));
    writeFileSync(join(dir, 'ref.pb'), dense());
    writeFileSync(join(dir, 'cand.pb'), dense(1.01));
    const r = await compare(join(dir, 'ref.pb'), join(dir, 'cand.pb'), { atol: 1e-3, rtol: 0, inputs: ['x=constant(1)'] });
    // x = [1,1,1]: reference y = 0.5 * [15, 18, 21, 24]; the candidate's is 1.01 times that, all
    // of it its own error (its input is the reference's), at most 0.01 * 12 = 0.12.
    const y = r.pairs.find((p) => p.reference === 'y')!;
    expect(y.pass).toBe(false);
    expect(y.own?.metrics.max_abs).toBeCloseTo(0.12, 5);
  });
});
